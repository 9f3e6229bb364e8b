"""Each filter on a small catalog: what gets mirrored, and what is left out."""

from __future__ import annotations

import re
import secrets

import pytest

from pythonnest.core.exceptions import InvalidUpstream
from pythonnest.core.models import JournalEntry, Release, Upstream
from pythonnest.sync.options import FilterOptions
from tests.support.builders import build_wheel
from tests.sync.conftest import filenames
from tests.sync.fake_index import JSON_V1, FakeIndex

pytestmark = pytest.mark.django_db(transaction=True)

ALPHA = [
    "alpha-1.0-py3-none-any.whl",
    "alpha-1.0.tar.gz",
    "alpha-1.1-py3-none-any.whl",
    "alpha-1.1.tar.gz",
    "alpha-2.0rc1-py3-none-any.whl",
]
BETA = [
    "beta-0.1-cp311-cp311-manylinux_2_17_x86_64.whl",
    "beta-0.1-cp312-cp312-win_amd64.whl",
    "beta-0.1-py3-none-any.whl",
    "beta-0.1.tar.gz",
]


def mirror(update, catalog, **filters):
    summary, _ = update(catalog.url, filters=FilterOptions(**filters))
    assert not summary.failed, summary.failures
    return summary


def names_of(prefix: str) -> list[str]:
    return [name for name in filenames() if name.startswith(prefix)]


def test_an_allow_list_mirrors_only_what_it_names(catalog, update):
    mirror(update, catalog, allow=("beta",))
    assert filenames() == sorted(BETA)
    assert not any(path.startswith("/simple/alpha") for _, path in catalog.requests)


def test_a_block_list_leaves_out_what_it_names(catalog, update, distributions):
    mirror(update, catalog, block=("alpha", "beta"))
    assert filenames() == sorted(set(distributions) - set(ALPHA) - set(BETA))


def test_regular_expressions_match_whole_normalized_names(catalog, update):
    mirror(update, catalog, allow_regex=(re.compile("[ab].*"),), block_regex=(re.compile("b.t."),))
    assert filenames() == sorted(ALPHA)


def test_requirements_select_projects_and_versions(catalog, update, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("alpha>=1.1,<2  # the stable one\n--index-url https://example.invalid/simple\n")
    summary = mirror(update, catalog, requirements=(requirements,))
    assert filenames() == ["alpha-1.1-py3-none-any.whl", "alpha-1.1.tar.gz"]
    assert summary.skipped["version not required"] == 3


def test_requirements_with_their_dependency_closure(catalog, update, tmp_path):
    requirements = tmp_path / "requirements.txt"
    included = tmp_path / "more.txt"
    requirements.write_text("-r more.txt\n")
    included.write_text("gamma\n")
    mirror(update, catalog, requirements=(requirements,), with_dependencies=True)
    # gamma needs alpha>=1.1 and delta[fast]; delta's "fast" extra needs epsilon, its "slow" one zeta.
    assert filenames() == sorted(
        [
            "gamma-1.0-py3-none-any.whl",
            "alpha-1.1-py3-none-any.whl",
            "alpha-1.1.tar.gz",
            "alpha-2.0rc1-py3-none-any.whl",
            "delta-3.0-py3-none-any.whl",
            "epsilon-1.0-py3-none-any.whl",
        ]
    )
    # The next run knows the closure from the mirrored metadata, and has nothing to do.
    summary, _ = update(catalog.url, filters=FilterOptions(requirements=(requirements,), with_dependencies=True))
    assert summary.files_added == 0 and summary.projects_examined == 0


def test_latest_keeps_the_newest_releases(catalog, update):
    mirror(update, catalog, latest=1, allow=("alpha",))
    assert filenames() == ["alpha-2.0rc1-py3-none-any.whl"]


def test_latest_counts_releases_left_by_the_other_filters(catalog, update):
    catalog.yank("alpha-1.1.tar.gz")
    catalog.yank("alpha-1.1-py3-none-any.whl")
    mirror(update, catalog, latest=1, exclude_prereleases=True, allow=("alpha",))
    # 2.0rc1 is a pre-release and 1.1 is yanked: 1.0 is the latest release left.
    assert filenames() == ["alpha-1.0-py3-none-any.whl", "alpha-1.0.tar.gz"]


def test_latest_removes_releases_that_fall_behind(catalog, update, tmp_path):
    mirror(update, catalog, latest=2, allow=("alpha",))
    assert names_of("alpha") == ["alpha-1.1-py3-none-any.whl", "alpha-1.1.tar.gz", "alpha-2.0rc1-py3-none-any.whl"]
    catalog.add(build_wheel(tmp_path, "alpha", "2.0"))
    summary = mirror(update, catalog, latest=2, allow=("alpha",))
    # "Keep only the latest N": 1.1 falls behind 2.0 and 2.0rc1, and goes with its release.
    assert names_of("alpha") == ["alpha-2.0-py3-none-any.whl", "alpha-2.0rc1-py3-none-any.whl"]
    assert (summary.files_removed, summary.releases_removed) == (2, 1)
    assert sorted(Release.objects.filter(project__normalized_name="alpha").values_list("version", flat=True)) == [
        "2.0",
        "2.0rc1",
    ]
    # The removals went through the journal, so that an export carries them.
    assert JournalEntry.objects.filter(project_name="alpha", action=JournalEntry.Action.REMOVE_FILE).count() == 2


def test_a_smaller_latest_prunes_at_once_and_keep_deleted_does_not_stop_it(catalog, update):
    mirror(update, catalog, allow=("alpha",))
    summary, _ = update(catalog.url, keep_deleted=True, filters=FilterOptions(latest=1, allow=("alpha",)))
    assert not summary.failed, summary.failures
    # keep_deleted keeps what the upstream deletes; latest is the operator's own choice of what to keep.
    assert names_of("alpha") == ["alpha-2.0rc1-py3-none-any.whl"]


def test_latest_keeps_a_newer_release_it_did_not_choose(catalog, update):
    mirror(update, catalog, allow=("alpha",))
    catalog.yank("alpha-2.0rc1-py3-none-any.whl")
    mirror(update, catalog, latest=1, allow=("alpha",))
    # 2.0rc1 is yanked, so 1.1 is the latest release; the yanked 2.0rc1 is newer, not older: it stays, yanked.
    assert names_of("alpha") == ["alpha-1.1-py3-none-any.whl", "alpha-1.1.tar.gz", "alpha-2.0rc1-py3-none-any.whl"]
    assert Release.objects.get(project__normalized_name="alpha", version="2.0rc1").yanked


def test_latest_with_fewer_releases_than_n_removes_nothing(catalog, update):
    mirror(update, catalog, allow=("alpha",))
    for filename in ALPHA[2:]:
        catalog.yank(filename)
    summary = mirror(update, catalog, latest=3, allow=("alpha",))
    assert summary.files_removed == 0 and names_of("alpha") == sorted(ALPHA)


def test_a_dry_run_counts_what_latest_would_remove(catalog, update):
    mirror(update, catalog, allow=("alpha",))
    summary, events = update(catalog.url, dry_run=True, filters=FilterOptions(latest=1, allow=("alpha",)))
    assert summary.planned_projects == [("alpha", 0, 0, 4)]
    assert ("plan", "alpha: 0 file(s), 0 B, 4 to remove") in events
    assert names_of("alpha") == sorted(ALPHA)


def test_pre_releases_can_be_left_out(catalog, update):
    summary = mirror(update, catalog, exclude_prereleases=True)
    assert "alpha-2.0rc1-py3-none-any.whl" not in filenames()
    assert summary.skipped["pre-release"] == 1


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ({"sdist"}, ["alpha-1.0.tar.gz", "alpha-1.1.tar.gz"]),
        ({"bdist_wheel"}, [n for n in ALPHA if n.endswith(".whl")]),
    ],
)
def test_sdists_or_wheels_only(catalog, update, types, expected):
    mirror(update, catalog, package_types=frozenset(types), allow=("alpha",))
    assert filenames() == sorted(expected)


def test_wheel_platform_and_python_tags(catalog, update):
    mirror(
        update, catalog, allow=("beta",), platform=("manylinux*_x86_64", "any"), python_tag=("cp311", "cp312", "py3")
    )
    assert filenames() == sorted(
        ["beta-0.1-cp311-cp311-manylinux_2_17_x86_64.whl", "beta-0.1-py3-none-any.whl", "beta-0.1.tar.gz"]
    )


def test_excluded_tags(catalog, update):
    summary = mirror(update, catalog, allow=("beta",), exclude_platform=("win*",), exclude_python_tag=("cp311",))
    assert filenames() == ["beta-0.1-py3-none-any.whl", "beta-0.1.tar.gz"]
    assert summary.skipped["wheel tags"] == 2


def test_a_maximum_file_size(fake_index, update, tmp_path):
    small = build_wheel(tmp_path, "small", "1.0")
    big = build_wheel(tmp_path, "big", "1.0", module_source=f"DATA = {secrets.token_hex(100_000)!r}\n")
    fake_index.add(small)
    fake_index.add(big)
    summary = mirror(update, fake_index, max_file_size=50_000)
    assert filenames() == [small.name]
    assert summary.skipped["larger than max_file_size"] == 1


def test_package_narrows_one_run_and_records_no_progress(catalog, update):
    summary = mirror(update, catalog, packages=("beta",))
    assert filenames() == sorted(BETA)
    assert Upstream.objects.get().last_serial is None
    assert summary.via_names and summary.has_serials and summary.projects_upstream == 1


def test_package_reads_the_named_pages_not_the_whole_index(catalog, update):
    # PyPI's index lists about 700,000 projects: a run for a few reads only theirs.
    mirror(update, catalog, packages=("beta", "gamma"))
    pages = sorted(path for method, path in catalog.requests if method == "GET" and not path.startswith("/files/"))
    assert pages == ["/pypi/beta/json", "/pypi/gamma/json", "/simple/beta/", "/simple/gamma/"]
    assert "/simple/" not in pages


def test_package_without_serials_reads_no_json_api(distributions, update):
    index = FakeIndex(serials=False, json_pages=False, json_api=False).start()
    try:
        for path in distributions.values():
            index.add(path)
        summary = mirror(update, index, packages=("beta",))
        assert filenames() == sorted(BETA) and not summary.has_serials
        assert [path for _, path in index.requests if not path.startswith("/files/")] == ["/simple/beta/"]
    finally:
        index.stop()


def test_package_the_upstream_lacks_is_reported_and_a_mirrored_one_removed(catalog, update):
    mirror(update, catalog, packages=("beta", "zeta"))
    catalog.remove_project("zeta")
    summary, events = update(catalog.url, filters=FilterOptions(packages=("beta", "zeta", "no-such-project")))
    assert not summary.failed, summary.failures
    assert ("info", "no-such-project: the upstream has no such project") in events
    assert summary.projects_removed == 1
    assert filenames() == sorted(BETA)


def test_package_missing_from_another_upstream_leaves_what_one_upstream_gave(catalog, update):
    mirror(update, catalog, packages=("zeta",))
    other = FakeIndex().start()
    try:
        summary, events = update(other.url, filters=FilterOptions(packages=("zeta",)))
    finally:
        other.stop()
    assert not summary.failed, summary.failures
    assert ("info", "zeta: the upstream has no such project") in events
    assert summary.projects_removed == 0
    assert filenames() == ["zeta-1.0-py3-none-any.whl"]


def test_a_changed_filter_looks_at_every_project_again(catalog, update):
    mirror(update, catalog, latest=1, allow=("alpha",))
    mirror(update, catalog, allow=("alpha",))
    assert names_of("alpha") == sorted(ALPHA)


def test_a_dry_run_with_filters_counts_what_they_select(catalog, update):
    summary, events = update(
        catalog.url, dry_run=True, filters=FilterOptions(allow=("beta",), exclude_platform=("win*",))
    )
    assert summary.planned_projects[0][:2] == ("beta", 3)
    assert [kind for kind, _ in events] == ["plan"]
    assert filenames() == []


def test_package_reads_the_named_pages_even_where_the_changelog_is_followed(catalog, update):
    # After a run under ``allow = alpha``, the changelog names nothing new; beta is read all the same.
    catalog.xmlrpc = True
    mirror(update, catalog, allow=("alpha",))
    catalog.requests.clear()
    mirror(update, catalog, allow=("alpha",), packages=("beta",))
    assert names_of("beta") == sorted(BETA)
    assert "/simple/beta/" in {path for _, path in catalog.requests}


def test_a_run_after_a_package_run_still_follows_what_changed_before_it(catalog, update, tmp_path):
    catalog.xmlrpc = True
    mirror(update, catalog, allow=("alpha", "beta"))
    recorded = Upstream.objects.get().last_serial
    catalog.add(build_wheel(tmp_path, "alpha", "1.2"))
    for name in list(catalog.projects["beta"].files):
        catalog.yank(name, "broken")
    summary = mirror(update, catalog, allow=("alpha", "beta"), packages=("beta",))
    assert "alpha-1.2-py3-none-any.whl" not in filenames()
    assert Release.objects.get(project__normalized_name="beta").yanked_reason == "broken"
    # A run for some projects moves the upstream's serial for none.
    assert Upstream.objects.get().last_serial == recorded and not summary.via_changelog
    catalog.requests.clear()
    summary = mirror(update, catalog, allow=("alpha", "beta"))
    assert summary.via_changelog and "alpha-1.2-py3-none-any.whl" in filenames()
    # beta, read by the run for it, is not read again.
    assert "/simple/beta/" not in {path for _, path in catalog.requests}
    assert Upstream.objects.get().last_serial == catalog.serial


def test_a_dry_run_with_dependencies_says_it_does_not_count_them(catalog, update, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("gamma\n")
    summary, events = update(
        catalog.url, dry_run=True, filters=FilterOptions(requirements=(requirements,), with_dependencies=True)
    )
    # gamma's dependencies are known only once gamma is mirrored.
    assert [plan[0] for plan in summary.planned_projects] == ["gamma"]
    assert (
        "info",
        "dry run: the dependencies of the files it would fetch are not counted "
        "(the closure is read from the metadata of what is mirrored)",
    ) in events
    assert filenames() == []


def test_bad_data_in_a_dependency_stops_the_run_after_the_rounds_before_it(catalog, update, tmp_path):
    # The closure is read from what is mirrored: gamma is applied before its dependencies are planned.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("gamma\n")
    catalog.fault("/simple/delta/", "body", times=10, body=b"{not json", content_type=JSON_V1)
    options = FilterOptions(requirements=(requirements,), with_dependencies=True)
    with pytest.raises(InvalidUpstream, match="simple/delta/: malformed JSON"):
        update(catalog.url, filters=options)
    assert filenames() == ["gamma-1.0-py3-none-any.whl"]
    # The run is not recorded as complete: the next one plans it all again.
    assert Upstream.objects.get().last_serial is None
    catalog.faults.clear()
    mirror(update, catalog, requirements=(requirements,), with_dependencies=True)
    assert "delta-3.0-py3-none-any.whl" in filenames()
