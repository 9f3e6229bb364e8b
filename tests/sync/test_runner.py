"""A whole run of ``update`` against an index in a thread: what it fetches and what the catalog becomes."""

from __future__ import annotations

import hashlib
from urllib.parse import urljoin

import pytest

from pythonnest.core import services
from pythonnest.core.exceptions import UpstreamUnavailable
from pythonnest.core.journal import Action
from pythonnest.core.models import File, JournalEntry, Project, Release, Upstream, UpstreamProject
from pythonnest.sync import runner
from pythonnest.sync.options import FilterOptions
from tests.support.builders import build_wheel
from tests.sync.conftest import catalog_state, filenames
from tests.sync.fake_index import JSON_V1, FakeIndex, wheel_metadata

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_first_run_mirrors_every_file_with_its_upstream_facts(catalog, update, store, distributions):
    catalog.yank("alpha-1.0-py3-none-any.whl", "broken")
    catalog.yank("alpha-1.0.tar.gz", "broken")
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)
    assert summary.files_added == len(distributions) and summary.bytes_downloaded > 0
    for file in File.objects.all():
        upstream = catalog.find_file(file.filename)
        assert file.sha256 == hashlib.sha256(upstream.data).hexdigest()
        assert store.exists(file.sha256)
        # PEP 700's upload-time is the upstream's, not the time of the copy.
        assert file.upload_time == upstream.upload_time
        assert file.upstream_url == f"{catalog.url}files/{file.filename}"
    assert set(Project.objects.values_list("origin", flat=True)) == {Project.Origin.MIRRORED}
    assert Release.objects.get(project__normalized_name="alpha", version="1.0").yanked_reason == "broken"
    assert not Release.objects.get(project__normalized_name="alpha", version="1.1").yanked
    wheel = File.objects.get(filename="alpha-1.0-py3-none-any.whl")
    assert wheel.metadata_sha256 == hashlib.sha256(catalog.find_file(wheel.filename).metadata).hexdigest()
    assert set(JournalEntry.objects.values_list("source", flat=True)) == {"update"}
    upstream = Upstream.objects.get()
    assert upstream.url == catalog.url + "simple/" and upstream.last_serial == catalog.serial
    assert UpstreamProject.objects.count() == len(catalog.projects)


def test_a_second_run_with_no_change_fetches_only_the_index(catalog, update):
    update(catalog.url)
    catalog.requests.clear()
    summary, _ = update(catalog.url)
    assert not summary.failed and summary.files_added == 0 and summary.projects_examined == 0
    # The fake index offers no XML-RPC: the simple index is all there is to read.
    assert [path for method, path in catalog.requests if method == "GET"] == ["/simple/"]


def test_an_incremental_run_follows_adds_yanks_and_deletions(catalog, update, tmp_path, store):
    update(catalog.url)
    before = {name: serial for name, serial in UpstreamProject.objects.values_list("normalized_name", "last_serial")}
    catalog.add(build_wheel(tmp_path, "alpha", "1.2"))
    catalog.yank("beta-0.1.tar.gz", "no")
    for name in list(catalog.projects["beta"].files):
        catalog.yank(name, "bad build")
    catalog.remove("alpha-1.0.tar.gz")
    catalog.remove("alpha-1.0-py3-none-any.whl")
    removed_blob = File.objects.get(filename="alpha-1.0.tar.gz").sha256
    catalog.remove_project("zeta")
    catalog.requests.clear()

    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert (summary.files_added, summary.files_removed, summary.projects_removed) == (1, 2, 1)
    assert summary.releases_removed == 1 and summary.yanked == 1
    fetched = {path for _, path in catalog.requests}
    assert "/simple/gamma/" not in fetched, "an unchanged project is not read again"
    assert "/files/alpha-1.1.tar.gz" not in fetched
    assert "/files/alpha-1.2-py3-none-any.whl" in fetched
    assert not Project.objects.filter(normalized_name="zeta").exists()
    assert not Release.objects.filter(project__normalized_name="alpha", version="1.0").exists()
    assert Release.objects.get(project__normalized_name="beta").yanked_reason == "bad build"
    assert not store.exists(removed_blob)
    actions = list(JournalEntry.objects.filter(source="update").values_list("action", flat=True))
    assert actions.count(Action.REMOVE_PROJECT) == 1 and actions.count(Action.YANK_RELEASE) == 1
    after = dict(UpstreamProject.objects.values_list("normalized_name", "last_serial"))
    assert "zeta" not in after and after["alpha"] == catalog.projects["alpha"].serial > before["alpha"]

    # Unyank upstream: followed too.
    for name in list(catalog.projects["beta"].files):
        catalog.yank(name, False)
    summary, _ = update(catalog.url)
    assert summary.unyanked == 1 and not Release.objects.get(project__normalized_name="beta").yanked


def test_keep_deleted_keeps_what_the_upstream_removed(catalog, update):
    update(catalog.url)
    catalog.remove("alpha-1.0.tar.gz")
    catalog.remove_project("zeta")
    summary, _ = update(catalog.url, keep_deleted=True)
    assert not summary.failed
    assert File.objects.filter(filename="alpha-1.0.tar.gz").exists()
    assert Project.objects.filter(normalized_name="zeta").exists()
    assert summary.files_removed == summary.projects_removed == 0


def test_bytes_replaced_under_the_same_name_are_followed(fake_index, update, tmp_path):
    first = build_wheel(tmp_path / "one", "alpha", "1.0", summary="first")
    fake_index.add(first)
    update(fake_index.url)
    second = build_wheel(tmp_path / "two", "alpha", "1.0", summary="second")
    fake_index.projects["alpha"].files.clear()
    fake_index.add(second)
    summary, _ = update(fake_index.url)
    assert not summary.failed, summary.failures
    assert File.objects.get().sha256 == hashlib.sha256(second.read_bytes()).hexdigest()
    assert Release.objects.get().summary == "second"


@pytest.mark.parametrize("json_pages", [True, False], ids=["pep691", "pep503"])
def test_an_upstream_metadata_file_unlike_the_wheels_is_served_and_read_as_the_upstream_gave_it(
    fake_index, update, store, client, tmp_path, json_pages
):
    """As on PyPI, the PEP 658 file is the index's, with its digest, even where it differs from the wheel's METADATA."""
    fake_index.json_pages = json_pages
    wheel = build_wheel(tmp_path, "alpha", "1.0", summary="from the wheel", requires_dist=["beta"])
    same = build_wheel(tmp_path, "alpha", "1.1")
    fake_index.add(wheel)
    fake_index.add(same)
    inside = wheel_metadata(wheel)
    served = inside.replace(b"Summary: from the wheel", b"Summary: from the index").replace(
        b"Requires-Dist: beta", b"Requires-Dist: gamma>=2"
    )
    assert served != inside
    # The page lists the digest of the bytes the index serves.
    fake_index.find_file(wheel.name).metadata = served
    summary, _ = update(fake_index.url)
    assert not summary.failed and not summary.refused, (summary.failures, summary.refused)
    digest = hashlib.sha256(served).hexdigest()
    assert File.objects.get(filename=wheel.name).metadata_sha256 == digest
    assert store.path_for(digest).read_bytes() == served
    # The mirror lists that digest and serves those bytes.
    page = client.get("/simple/alpha/", HTTP_ACCEPT=JSON_V1).json()
    entry = next(file for file in page["files"] if file["filename"] == wheel.name)
    assert entry["core-metadata"] == {"sha256": digest}
    response = client.get(urljoin("/simple/alpha/", entry["url"]) + ".metadata")
    assert response.status_code == 200
    assert (b"".join(response.streaming_content) if response.streaming else response.content) == served
    assert fake_index.count(f"/files/{wheel.name}.metadata") == 1
    # The release says what pip reads from that file: its dependencies and summary.
    release = Release.objects.get(version="1.0")
    assert (release.summary, release.requires_dist) == ("from the index", ["gamma>=2"])
    assert client.get("/pypi/alpha/1.0/json").json()["info"]["requires_dist"] == ["gamma>=2"]
    # Where the index's file is the wheel's own, it is taken from the wheel, not fetched.
    assert fake_index.count(f"/files/{same.name}.metadata") == 0
    assert File.objects.get(filename=same.name).metadata_sha256 == hashlib.sha256(wheel_metadata(same)).hexdigest()


def test_a_local_project_is_never_touched(catalog, update, store, tmp_path):
    local = build_wheel(tmp_path, "alpha", "9.9")
    services.add_distribution_path(local, store=store)
    summary, _ = update(catalog.url)
    assert not summary.failed
    assert summary.projects_protected == 1
    assert list(File.objects.filter(project__normalized_name="alpha").values_list("filename", flat=True)) == [
        local.name
    ]
    assert Project.objects.get(normalized_name="alpha").origin == Project.Origin.LOCAL
    assert not any(path.startswith("/simple/alpha") for _, path in catalog.requests)


def test_a_new_project_takes_the_upstream_display_name(fake_index, update, tmp_path):
    fake_index.add(build_wheel(tmp_path, "Alpha.Beta", "1.0"), display_name="Alpha.Beta")
    update(fake_index.url)
    assert Project.objects.get().name == "Alpha.Beta"


def test_an_index_without_serials_is_compared_file_by_file(distributions, update, tmp_path):
    index = FakeIndex(serials=False, json_pages=False, json_api=False).start()
    try:
        for path in distributions.values():
            index.add(path)
        summary, _ = update(index.url)
        assert not summary.failed, summary.failures
        assert not summary.has_serials
        assert filenames() == sorted(distributions)
        assert Upstream.objects.get().last_serial is None
        index.add(build_wheel(tmp_path, "epsilon", "1.1"))
        index.yank("alpha-1.1.tar.gz", "oops")
        index.yank("alpha-1.1-py3-none-any.whl", "oops")
        index.remove("zeta-1.0-py3-none-any.whl")
        index.requests.clear()
        summary, _ = update(index.url)
        assert not summary.failed, summary.failures
        assert summary.projects_examined == len(index.projects)
        assert (summary.files_added, summary.files_removed, summary.yanked) == (1, 1, 1)
        downloads = [path for _, path in index.requests if path.startswith("/files/")]
        assert downloads == ["/files/epsilon-1.1-py3-none-any.whl"]
        assert Release.objects.get(project__normalized_name="alpha", version="1.1").yanked_reason == "oops"
        # Without digests from the upstream beyond sha256, md5 and blake2b are computed from the bytes.
        for file in File.objects.all():
            data = index.find_file(file.filename).data
            assert file.md5 == hashlib.md5(data).hexdigest()
            assert file.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    finally:
        index.stop()


def test_the_store_is_synced_before_the_catalog_points_at_new_blobs(catalog, update, store, monkeypatch):
    """Downloads are not fsynced one by one: a sync of the store precedes every catalog write that uses them."""
    synced: set[str] = set()
    cataloged: list[str] = []

    def sync() -> None:
        synced.update(path.name for path in store.root.rglob("*") if ".incoming" not in path.parts)

    def checked(write):
        def call(*args, **kwargs):
            items = args[0] if isinstance(args[0], list) else [services.StoredDistribution(args[0], args[1])]
            for item in items:
                assert item.digests.sha256 in synced, f"{item.info.parsed.filename} cataloged before a sync"
                cataloged.append(item.info.parsed.filename)
            return write(*args, **kwargs)

        return call

    monkeypatch.setattr(store, "sync", sync)
    monkeypatch.setattr(services, "add_stored_distributions", checked(services.add_stored_distributions))
    monkeypatch.setattr(services, "add_stored_distribution", checked(services.add_stored_distribution))
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert sorted(cataloged) == filenames()


def test_a_dry_run_says_what_it_would_fetch_and_changes_nothing(catalog, update, distributions):
    summary, events = update(catalog.url, dry_run=True)
    assert not summary.failed
    assert File.objects.count() == 0 and Upstream.objects.count() == 0
    assert sum(files for _, files, _, _ in summary.planned_projects) == len(distributions)
    size = sum(len(path.read_bytes()) for path in distributions.values())
    assert sum(size for _, _, size, _ in summary.planned_projects) == size
    assert ("plan", f"alpha: 5 file(s), {_kib(catalog, 'alpha')}") in events
    assert not any(path.startswith("/files/") for _, path in catalog.requests)
    assert any("would fetch 13 file(s)" in line for line in summary.lines())


def _kib(index, name):
    from pythonnest.sync.report import format_bytes

    return format_bytes(sum(len(file.data) for file in index.projects[name].files.values()))


def test_an_interrupted_catalog_resumes_without_downloading_again(catalog, update, store):
    update(catalog.url, limit=4)
    first = filenames()
    assert len(first) == 4
    summary, _ = update(catalog.url)
    assert not summary.failed
    downloads = [path for _, path in catalog.requests if path.startswith("/files/") and not path.endswith(".metadata")]
    assert len(downloads) == len(set(downloads)) == 13


def test_a_blob_left_by_a_killed_run_is_used_not_downloaded(catalog, update, store, distributions):
    path = distributions["gamma-1.0-py3-none-any.whl"]
    staged = store.stage_bytes(path.read_bytes())
    staged.commit()
    summary, _ = update(catalog.url)
    assert summary.files_reused == 1
    assert catalog.count("/files/gamma-1.0-py3-none-any.whl") == 0
    assert File.objects.filter(filename=path.name).exists()


def test_the_catalog_equals_the_upstream_after_several_rounds(catalog, update, tmp_path):
    update(catalog.url)
    state = catalog_state()
    update(catalog.url, init_all=True)
    assert catalog_state() == state


def test_a_batch_refused_by_a_concurrent_writer_is_cataloged_file_by_file(
    catalog, update, store, distributions, monkeypatch
):
    """Another writer adds one of alpha's files between the downloads and the batch: the others still go in."""
    real = services.add_stored_distributions
    raced = []

    def concurrent_add_then_batch(batch, **options):
        if not raced and batch[0].info.parsed.normalized_name == "alpha":
            raced.append(batch[1].info.parsed.filename)
            services.add_stored_distribution(batch[1].info, batch[1].digests, store=store, source="add")
        return real(batch, **options)

    monkeypatch.setattr(services, "add_stored_distributions", concurrent_add_then_batch)
    summary, _ = update(catalog.url)
    assert raced, "alpha's files were never cataloged as a batch"
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)
    # Each file once in the journal: the racing writer's entry, and one per file of the fallback.
    entries = list(JournalEntry.objects.filter(action=Action.ADD_FILE).values_list("filename", "source"))
    assert sorted(name for name, _ in entries) == sorted(distributions)
    assert (raced[0], "add") in entries


def test_a_run_after_the_first_follows_the_xmlrpc_changelog_without_the_index(catalog, update, tmp_path):
    catalog.xmlrpc = True
    update(catalog.url)
    catalog.add(build_wheel(tmp_path, "alpha", "1.2"))
    catalog.remove_project("zeta")
    catalog.requests.clear()
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert summary.via_changelog and summary.files_added == 1 and summary.projects_removed == 1
    assert "alpha-1.2-py3-none-any.whl" in filenames()
    assert not Project.objects.filter(normalized_name="zeta").exists()
    # The changelog said which projects to read: the index is not read, nor any unchanged project.
    assert catalog.requests[:2] == [("POST", "/pypi"), ("POST", "/pypi")]
    pages = {path for _, path in catalog.requests if path.startswith(("/simple/", "/pypi/"))}
    assert pages == {"/simple/alpha/", "/pypi/alpha/json", "/simple/zeta/"}
    assert Upstream.objects.get().last_serial == catalog.serial


def test_a_changelog_naming_a_project_from_elsewhere_leaves_it_alone(catalog, update, monkeypatch):
    # Two upstreams feed this mirror; the second one's changelog names a
    # project it made and deleted again, which the mirror has from the first.
    update(catalog.url, filters=FilterOptions(packages=("zeta",)))
    other = FakeIndex().start()
    monkeypatch.setattr(runner, "fetch_changes", lambda client, urls, since: ({"zeta": ("zeta", 7)}, 7))
    try:
        summary, events = update(other.url, serial=1)
    finally:
        other.stop()
    assert not summary.failed, summary.failures
    assert summary.via_changelog and summary.projects_removed == 0, events
    assert filenames() == ["zeta-1.0-py3-none-any.whl"]


def test_an_index_that_suddenly_lists_nothing_removes_nothing(catalog, update):
    # A captive portal or a proxy's error page can answer 200 with an empty index.
    update(catalog.url)
    before = catalog_state()
    catalog.projects.clear()
    mirrored = UpstreamProject.objects.count()
    with pytest.raises(UpstreamUnavailable, match=f"lists no projects, but {mirrored} were mirrored"):
        update(catalog.url)
    assert catalog_state() == before and UpstreamProject.objects.count() == mirrored > 0


def test_an_index_older_than_what_was_mirrored_is_refused_unless_starting_afresh(catalog, update):
    update(catalog.url)
    before, recorded = catalog_state(), catalog.serial
    # A stale cache in front of the upstream: an older index, from before beta existed.
    del catalog.projects["beta"]
    catalog.serial = 1
    with pytest.raises(UpstreamUnavailable, match=f"at serial 1, older than serial {recorded}"):
        update(catalog.url)
    assert catalog_state() == before and Upstream.objects.get().last_serial == recorded
    # An upstream rebuilt from scratch: --init-all takes it as it is.
    summary, _ = update(catalog.url, init_all=True)
    assert not summary.failed and not Project.objects.filter(normalized_name="beta").exists()


def test_a_repository_named_pypi_is_found_at_its_base_url(distributions, update):
    # Artifactory serves a repository named "pypi" at …/api/pypi/pypi/simple/: the URL ends in
    # /pypi, read first as XML-RPC (the original's …/pypi), whose /simple/ is missing here.
    index = FakeIndex()
    index.prefix = "/artifactory/api/pypi/pypi"
    index.start()
    try:
        for path in distributions.values():
            index.add(path)
        summary, _ = update(index.url.rstrip("/"))
        assert not summary.failed, summary.failures
        assert filenames() == sorted(distributions)
        assert summary.url == Upstream.objects.get().url == index.url + "simple/"
        assert index.requests[:2] == [
            ("GET", "/artifactory/api/pypi/simple/"),
            ("GET", "/artifactory/api/pypi/pypi/simple/"),
        ]
    finally:
        index.stop()


def test_a_url_ending_in_pypi_reads_the_original_xmlrpc_form_first(catalog, update):
    summary, _ = update(catalog.url + "pypi")
    assert not summary.failed and Upstream.objects.get().url == catalog.url + "simple/"
    assert ("GET", "/pypi/simple/") not in catalog.requests
