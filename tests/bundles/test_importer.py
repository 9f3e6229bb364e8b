"""``import``: checks before changes, gaps and sources, whole-or-nothing application.

Each test exports from a small catalog, then ``become_another_instance``
turns the test database into an empty instance that imports the bundle.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import signal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from pythonnest.bundles import importer, signing
from pythonnest.bundles.importer import ImportOptions, check_sequence, read_manifest
from pythonnest.bundles.reader import open_bundle
from pythonnest.core import peers, services
from pythonnest.core.exceptions import BundleError, BundleGap
from pythonnest.core.journal import Action, current_serial
from pythonnest.core.models import File, JournalEntry, PendingBlob, Project, RemovedFilename, SyncState
from pythonnest.core.services import add_distribution_path
from pythonnest.storage import local
from tests.bundles.conftest import (
    OTHER_FILES,
    SIX_FILES,
    catalog_state,
    export_bundle,
    import_paths,
    journal_serials,
)
from tests.support.builders import build_wheel
from tests.support.bundles import flip_byte, manifest_bytes, read_manifest_lines, rewrite_folder_manifest, sha256_hex
from tests.support.databases import backend

pytestmark = pytest.mark.django_db(transaction=True)


def store_files(store) -> set[str]:
    """Every blob in a store, without the staging folder."""
    if not store.root.exists():
        return set()
    return {path.name for path in store.root.rglob("*") if path.is_file() and ".incoming" not in path.parts}


def staging_files(store) -> list[Path]:
    folder = store.root / ".incoming"
    return list(folder.iterdir()) if folder.exists() else []


def facts_of(path: Path, tmp_path: Path, **options):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    source = open_bundle([path], scratch)
    try:
        return read_manifest(source, ImportOptions(**options))
    finally:
        source.close()


@pytest.fixture
def exported(catalog, tmp_path):
    """A full bundle of the catalog, and the catalog's state when it was made."""
    bundle = export_bundle(tmp_path / "bundle", catalog)
    return bundle, catalog_state()


# -- the round trip ------------------------------------------------------------------------


@pytest.fixture(params=["written in turn", "written behind", "copied in lanes"])
def blob_writes(request, monkeypatch):
    """Blobs written as they are hashed, by the store's writer thread, or (as large ones that
    lie whole in a file are) copied by the kernel in the hashing lanes, several at once."""
    if request.param == "written behind":
        monkeypatch.setattr(importer, "BACKGROUND_WRITE_SIZE", 0)
    if request.param == "copied in lanes":
        # Every blob, in pieces of two pages: each lane's writer copies the next while it hashes one.
        monkeypatch.setattr(importer, "KERNEL_COPY_SIZE", 1)
        monkeypatch.setattr(local, "COPY_PIECE", 2 * 4096)
        monkeypatch.setattr(local, "MAP_AT_LEAST", 4096)
    return request.param


def test_importing_makes_the_catalog_equal_to_the_source(exported, become_another_instance, blob_writes):
    bundle, source_state = exported
    store = become_another_instance()
    summary, plan = import_paths(bundle.path, store)
    assert plan is None
    assert catalog_state() == source_state
    # The bytes came along, verified.
    for file in File.objects.all():
        assert hashlib.sha256(store.path_for(file.sha256).read_bytes()).hexdigest() == file.sha256
        if file.metadata_sha256:
            assert store.exists(file.metadata_sha256)
    assert summary.counts.projects_created == 3
    assert summary.counts.files_added == 5
    assert summary.blobs_stored == len(store_files(store))
    assert staging_files(store) == []
    state = peers.sync_state("offline", SyncState.Direction.IMPORT)
    assert (state.last_serial, state.peer_instance, state.forced) == (
        bundle.plan.header.serial_to,
        bundle.plan.header.source_instance,
        [],
    )
    # Projects brought by a bundle are mirrored here: an upload may not take them over.
    assert set(Project.objects.values_list("origin", flat=True)) == {Project.Origin.MIRRORED}


def test_every_change_an_import_makes_is_journaled_here(exported, become_another_instance):
    bundle, _ = exported
    store = become_another_instance()
    import_paths(bundle.path, store)
    entries = list(JournalEntry.objects.order_by("serial"))
    assert [entry.serial for entry in entries] == list(range(1, len(entries) + 1))
    assert {entry.source for entry in entries} == {"import"}
    added = sorted(entry.filename for entry in entries if entry.action == Action.ADD_FILE)
    assert added == sorted(SIX_FILES + OTHER_FILES)
    for project in Project.objects.all():
        newest = JournalEntry.objects.filter(project_name=project.normalized_name).order_by("-serial").first()
        assert project.last_serial == newest.serial
    assert current_serial() == entries[-1].serial


def test_archive_and_volumes_import_like_a_folder(catalog, tmp_path, become_another_instance, blob_writes):
    archive = export_bundle(tmp_path / "one.tar", catalog, archive=True, serial=0)
    volumes = export_bundle(tmp_path / "vol.tar", catalog, archive=True, volume_size=300 * 1024, serial=0, tag="v")
    assert len(volumes.paths) > 1
    source_state = catalog_state()
    store = become_another_instance()
    import_paths(list(reversed(volumes.paths)), store)
    assert catalog_state() == source_state
    other = become_another_instance("again")
    import_paths(archive.path, other)
    assert catalog_state() == source_state


def test_importing_again_is_a_no_op(exported, become_another_instance, capsys, settings):
    bundle, source_state = exported
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    call_command("import", "--path", str(bundle.path), "--no-progress")
    serials, blobs = journal_serials(), store_files(store)
    capsys.readouterr()
    call_command("import", "--path", str(bundle.path), "--no-progress")
    out = capsys.readouterr().out
    assert out.strip() == (
        f"Already imported: tag offline is past serial {bundle.plan.header.serial_to}; nothing to do."
    )
    assert journal_serials() == serials
    assert store_files(store) == blobs
    assert catalog_state() == source_state


def test_incremental_bundles_carry_yanks_removals_and_new_files(catalog, tmp_path, become_another_instance):
    first = export_bundle(tmp_path / "1", catalog)
    six = Project.objects.get(normalized_name="six")
    services.yank_release(six, "1.16.0", "use 1.17", source="test")
    services.remove_file(six, "six-1.16.0.tar.gz", store=catalog, source="test")
    services.remove_project(Project.objects.get(normalized_name="iniconfig"), store=catalog, source="test")
    new_wheel = build_wheel(tmp_path / "built", "six", "1.18.0")
    add_distribution_path(new_wheel, store=catalog)
    second = export_bundle(tmp_path / "2", catalog)
    services.unyank_release(six, "1.16.0", source="test")
    services.remove_release(six, "1.18.0", store=catalog, source="test")
    third = export_bundle(tmp_path / "3", catalog)
    final_state = catalog_state()
    store = become_another_instance()
    import_paths(first.path, store)
    summary, _ = import_paths(second.path, store)
    assert (summary.counts.yanks, summary.counts.files_removed, summary.counts.projects_removed) == (1, 1, 1)
    assert Project.objects.get(normalized_name="six").releases.get(version="1.16.0").yanked_reason == "use 1.17"
    assert not Project.objects.filter(normalized_name="iniconfig").exists()
    assert RemovedFilename.objects.filter(filename="six-1.16.0.tar.gz").exists()
    import_paths(third.path, store)
    assert catalog_state() == final_state
    # Blobs nobody points at any more are gone.
    wanted = set(File.objects.values_list("sha256", flat=True)) | set(
        File.objects.exclude(metadata_sha256="").values_list("metadata_sha256", flat=True)
    )
    assert store_files(store) == wanted


# -- gaps and sources ------------------------------------------------------------------------


@pytest.fixture
def three_bundles(catalog, tmp_path, data_dir):
    bundles = [export_bundle(tmp_path / "1", catalog)]
    for version in ("3.0", "4.0"):
        add_distribution_path(build_wheel(tmp_path / "built", "extra-project", version), store=catalog)
        bundles.append(export_bundle(tmp_path / f"{len(bundles) + 1}", catalog))
    return bundles


def test_a_gap_is_refused_naming_the_missing_range_and_the_export_to_bring(three_bundles, become_another_instance):
    first, second, third = three_bundles
    store = become_another_instance()
    import_paths(first.path, store)
    before, serials = catalog_state(), journal_serials()
    last = first.plan.header.serial_to
    with pytest.raises(BundleGap) as caught:
        import_paths(third.path, store)
    message = str(caught.value)
    assert "\n" not in message
    assert f"tag offline has serials up to {last}" in message
    assert f"this bundle covers ({second.plan.header.serial_to}, {third.plan.header.serial_to}]" in message
    assert f"changes {last + 1} to {second.plan.header.serial_to} are missing" in message
    assert f"pythonnest-manage export --tag offline --serial {last}" in message
    assert "--force" in message
    assert catalog_state() == before and journal_serials() == serials
    assert peers.sync_state("offline", SyncState.Direction.IMPORT).last_serial == last


def test_a_gap_forced_is_accepted_and_recorded(three_bundles, become_another_instance, capsys, settings):
    first, second, third = three_bundles
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    import_paths(first.path, store)
    with pytest.raises(CommandError, match="gap: tag offline"):
        call_command("import", "--path", str(third.path), "--no-progress")
    capsys.readouterr()
    call_command("import", "--path", str(third.path), "--force", "--no-progress")
    captured = capsys.readouterr()
    last, gap_end = first.plan.header.serial_to, second.plan.header.serial_to
    assert f"warning: accepted a gap with --force: serials {last + 1} to {gap_end} of tag offline" in captured.err
    state = peers.sync_state("offline", SyncState.Direction.IMPORT)
    assert state.last_serial == third.plan.header.serial_to
    (forced,) = state.forced
    assert forced["missing_from"] == last and forced["missing_to"] == gap_end
    assert forced["bundle"] == [gap_end, third.plan.header.serial_to]
    # The state as of the third bundle: extra-project with both releases.
    assert sorted(Project.objects.get(normalized_name="extra-project").releases.values_list("version", flat=True)) == [
        "3.0",
        "4.0",
    ]
    call_command("sync-status")
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("offline ")]
    # An import's peer is the instance its bundles come from.
    assert row.endswith(f" {third.plan.header.source_instance}  (1 gap(s) forced)")
    # The skipped bundle is older than what was forced in: a no-op now.
    summary, _ = import_paths(second.path, store)
    assert summary.facts.already_imported


def test_the_first_bundle_of_a_tag_must_start_at_zero(three_bundles, become_another_instance):
    store = become_another_instance()
    with pytest.raises(BundleGap, match="tag offline has serials up to 0"):
        import_paths(three_bundles[1].path, store)
    assert Project.objects.count() == 0
    assert store_files(store) == set()


def test_check_sequence_marks_a_bundle_already_imported(three_bundles, tmp_path, become_another_instance):
    first, second, _ = three_bundles
    become_another_instance()
    with transaction.atomic():
        peers.record_sync(
            "offline",
            SyncState.Direction.IMPORT,
            last_serial=second.plan.header.serial_to,
            peer_instance=first.plan.header.source_instance,
        )
    for bundle in (first, second):
        facts = facts_of(bundle.path, tmp_path)
        check_sequence(facts, ImportOptions())
        assert facts.already_imported and facts.forced_gap is None


def test_an_import_that_another_one_overtook_changes_nothing(three_bundles, become_another_instance, monkeypatch):
    """The serials are checked again under the catalog lock: two imports at once cannot undo each other."""
    first, second, _ = three_bundles
    store = become_another_instance()
    real_store_blobs = importer._store_blobs

    def overtaken(facts, store, summary):
        real_store_blobs(facts, store, summary)
        # Another import of the tag commits while this one stages.
        with transaction.atomic():
            peers.record_sync(
                "offline",
                SyncState.Direction.IMPORT,
                last_serial=second.plan.header.serial_to,
                peer_instance=first.plan.header.source_instance,
            )

    monkeypatch.setattr(importer, "_store_blobs", overtaken)
    with pytest.raises(BundleError, match="moved past serial .* while this bundle was being imported"):
        import_paths(first.path, store)
    assert Project.objects.count() == 0


def test_a_bundle_from_another_source_under_the_same_tag_is_refused(three_bundles, tmp_path, become_another_instance):
    first, second, _ = three_bundles
    store = become_another_instance()
    import_paths(first.path, store)
    with transaction.atomic():
        peers.record_sync("offline", SyncState.Direction.IMPORT, last_serial=1, peer_instance="someone-else")
    before = catalog_state()
    with pytest.raises(BundleError) as caught:
        import_paths(second.path, store)
    assert str(caught.value) == (
        f"tag offline receives bundles from instance someone-else; this bundle comes from "
        f"{second.plan.header.source_instance}"
    )
    # Even --force does not mix two sources under one tag.
    with pytest.raises(BundleError, match="receives bundles from instance someone-else"):
        import_paths(second.path, store, force=True)
    assert catalog_state() == before


def test_another_tag_name_tracks_the_same_bundles_separately(three_bundles, become_another_instance):
    first, second, _ = three_bundles
    store = become_another_instance()
    import_paths(first.path, store, tag="from-lab")
    assert peers.sync_state("offline", SyncState.Direction.IMPORT) is None
    assert peers.sync_state("from-lab", SyncState.Direction.IMPORT).last_serial == first.plan.header.serial_to
    import_paths(second.path, store, tag="from-lab")


# -- partial bundles ------------------------------------------------------------------------------


def test_a_partial_bundle_does_not_hide_the_changes_it_left_out(catalog, tmp_path, become_another_instance):
    """A --project bundle must not make the next full bundle look already imported."""
    first = export_bundle(tmp_path / "1", catalog)
    add_distribution_path(build_wheel(tmp_path / "built", "wanted", "1.0"), store=catalog)
    add_distribution_path(build_wheel(tmp_path / "built", "left-out", "1.0"), store=catalog)
    partial = export_bundle(tmp_path / "partial", catalog, projects=frozenset({"wanted"}))
    full = export_bundle(tmp_path / "full", catalog)
    assert full.plan.header.serial_from == first.plan.header.serial_to
    final_state = catalog_state()
    store = become_another_instance()
    import_paths(first.path, store)
    import_paths(partial.path, store)
    assert Project.objects.filter(normalized_name="wanted").exists()
    summary, _ = import_paths(full.path, store)
    assert not summary.facts.already_imported
    assert catalog_state() == final_state


def test_a_partial_bundle_by_requirement_leaves_the_other_releases(catalog, tmp_path, become_another_instance):
    from packaging.requirements import Requirement

    full = export_bundle(tmp_path / "full", catalog)
    partial = export_bundle(tmp_path / "partial", catalog, serial=0, requirements=(Requirement("six==1.17.0"),))
    store = become_another_instance()
    import_paths(full.path, store)
    before = catalog_state()
    import_paths(partial.path, store, tag="partial")
    assert catalog_state() == before


# -- checks before anything changes ------------------------------------------------------------------


def assert_refused(bundle_path: Path, store, message: str, **options) -> str:
    """The import fails with one line holding ``message``; catalog, journal and store unchanged. Returns the line."""
    before, serials, blobs = catalog_state(), journal_serials(), store_files(store)
    with pytest.raises(BundleError) as caught:
        import_paths(bundle_path, store, **options)
    assert message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)
    assert catalog_state() == before and journal_serials() == serials
    assert store_files(store) == blobs
    assert staging_files(store) == []
    return str(caught.value)


def test_a_flipped_byte_in_a_blob_is_named(exported, become_another_instance, blob_writes):
    bundle, _ = exported
    victim = max((bundle.path / "blobs").iterdir())
    flip_byte(victim)
    store = become_another_instance()
    assert_refused(bundle.path, store, f"{victim}: blob {victim.name} is damaged: sha256 ")


def test_a_short_blob_is_named(exported, become_another_instance, blob_writes):
    bundle, _ = exported
    victim = min((bundle.path / "blobs").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1])
    assert_refused(bundle.path, become_another_instance(), f"blob {victim.name} is damaged:")


def test_a_long_blob_is_named(exported, become_another_instance, blob_writes):
    bundle, _ = exported
    victim = min((bundle.path / "blobs").iterdir())
    victim.write_bytes(victim.read_bytes() + b"\0")
    assert_refused(bundle.path, become_another_instance(), "more than the")


def test_a_missing_blob_is_named(exported, become_another_instance, blob_writes):
    bundle, _ = exported
    victim = sorted((bundle.path / "blobs").iterdir())[2]
    victim.unlink()
    # The file it belongs to is named, as the issue asks, with the blob.
    files = [
        (file["filename"], file["sha256"], file["metadata_sha256"])
        for line in read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
        if line.get("type") == "project"
        for release in line["releases"]
        for file in release["files"]
    ]
    (owner,) = {
        name + suffix
        for name, sha256, metadata_sha256 in files
        for suffix, digest in (("", sha256), (".metadata", metadata_sha256))
        if digest == victim.name
    }
    assert_refused(
        bundle.path,
        become_another_instance(),
        f"1 blob(s) named in the manifest are not in the bundle: {owner} (blob {victim.name}); the bundle is incomplete",
    )


def test_every_missing_blob_is_counted_and_the_first_ten_named(exported, become_another_instance, blob_writes):
    bundle, _ = exported
    blobs = sorted((bundle.path / "blobs").iterdir())
    for victim in blobs:
        victim.unlink()
    shown = min(10, len(blobs))
    more = f" and {len(blobs) - shown} more" if len(blobs) > shown else ""
    store = become_another_instance()
    with pytest.raises(BundleError) as caught:
        import_paths(bundle.path, store)
    message = str(caught.value)
    assert message.startswith(f"{len(blobs)} blob(s) named in the manifest are not in the bundle: ")
    assert message.count("(blob ") == shown and message.endswith(f"{more}; the bundle is incomplete")


def test_a_blob_the_manifest_does_not_name_is_refused(exported, become_another_instance):
    bundle, _ = exported
    stranger = b"not in the manifest"
    (bundle.path / "blobs" / sha256_hex(stranger)).write_bytes(stranger)
    assert_refused(bundle.path, become_another_instance(), f"blob {sha256_hex(stranger)} is not named in the manifest")


def test_a_truncated_manifest_is_named(exported, become_another_instance):
    bundle, _ = exported
    manifest = bundle.path / "manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes()[:-200])
    assert_refused(bundle.path, become_another_instance(), "manifest.jsonl is damaged or truncated (its sha256 is")


def test_a_truncated_archive_is_named(catalog, tmp_path, become_another_instance, blob_writes):
    bundle = export_bundle(tmp_path / "bundle.tar", catalog, archive=True)
    data = bundle.path.read_bytes()
    bundle.path.write_bytes(data[: len(data) - 30_000])
    assert_refused(bundle.path, become_another_instance(), f"{bundle.path}: unreadable or corrupt")


def test_a_flipped_byte_in_an_archive_blob_is_named(catalog, tmp_path, become_another_instance, blob_writes):
    bundle = export_bundle(tmp_path / "bundle.tar", catalog, archive=True)
    flip_byte(bundle.path, len(bundle.path.read_bytes()) - 15_000)
    assert_refused(bundle.path, become_another_instance(), f"{bundle.path}: blob ")


def test_a_manifest_without_its_summary_is_truncated(exported, become_another_instance):
    bundle, _ = exported
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    rewrite_folder_manifest(bundle.path, lines[:-1])
    assert_refused(bundle.path, become_another_instance(), "manifest: no summary line: the manifest is truncated")


def with_counts(summary: dict, **changes) -> dict:
    """The summary line with ``changes`` to its counts (None leaves a count out)."""
    counts = {**summary["counts"], **changes}
    return {**summary, "counts": {name: value for name, value in counts.items() if value is not None}}


def first_project_with(**changes):
    """A change of the manifest's lines: its first project record with ``changes``."""
    return lambda lines: [lines[0], {**lines[1], **changes}, *lines[2:]]


MANIFEST_DAMAGE = {
    "empty": (lambda lines: [], "manifest: empty"),
    "no header": (lambda lines: lines[1:], "not a PythonNest bundle header"),
    "records after the summary": (lambda lines: [*lines, lines[1]], "records after the summary"),
    "unknown record": (lambda lines: [lines[0], {"type": "surprise"}, *lines[1:]], "unknown record type 'surprise'"),
    "counts disagree": (
        lambda lines: [*lines[:-1], {"type": "summary", "counts": {**lines[-1]["counts"], "files": 99}}],
        "the summary's counts disagree",
    ),
    "a project twice": (lambda lines: [lines[0], lines[1], *lines[1:]], "appears twice"),
    "summary counts not an object": (
        lambda lines: [*lines[:-1], {"type": "summary", "counts": [3]}],
        "malformed summary",
    ),
    "a project twice, the second empty": (
        lambda lines: [
            lines[0],
            *lines[1:-1],
            {**lines[1], "releases": []},
            {"type": "summary", "counts": {**lines[-1]["counts"], "projects": lines[-1]["counts"]["projects"] + 1}},
        ],
        "iniconfig appears twice",
    ),
    "a project and its removal": (
        lambda lines: [lines[0], *lines[1:-1], {"type": "removed_project", "normalized_name": "iniconfig"}, lines[-1]],
        "iniconfig appears twice",
    ),
    "future version": (
        lambda lines: [{**lines[0], "format_version": 2}, *lines[1:]],
        "format version 2 is not supported",
    ),
    "unnormalized name": (
        first_project_with(normalized_name="IniConfig"),
        "'IniConfig' is not a normalized project name",
    ),
    "display name of another project": (
        first_project_with(name="other"),
        "display name 'other' does not match iniconfig",
    ),
    "removal of a bad name": (
        lambda lines: [lines[0], {"type": "removed_project", "normalized_name": "../x"}, *lines[1:]],
        "'../x' is not a normalized project name",
    ),
    # Found by an audit: each of these crashed with a traceback, some after the blobs were in place.
    "releases of numbers": (
        first_project_with(releases=[1]),
        "releases must be a list of objects",
    ),
    "releases as text": (
        first_project_with(releases="abc"),
        "releases must be a list of objects",
    ),
    "display name a number": (
        first_project_with(name=5),
        "the display name of iniconfig is not text",
    ),
    "a private group that is not a name": (
        first_project_with(private_group={}),
        "private_group must be a group's name",
    ),
    "a private group name too long": (
        first_project_with(private_group="g" * 500),
        "private_group must be a group's name",
    ),
    "partial_releases as text": (
        first_project_with(partial_releases="yes"),
        "partial_releases must be true or false",
    ),
    "a NUL character": (
        first_project_with(name="ini\x00config"),
        "a NUL character",
    ),
    "a serial no database holds": (
        lambda lines: [{**lines[0], "serial_to": 10**30}, *lines[1:]],
        "out of range",
    ),
    "a selection that is not an object": (
        lambda lines: [{**lines[0], "selection": "x"}, *lines[1:]],
        "the selection is not an object",
    ),
    # The tag's row keeps the source instance in 36 characters.
    "a source instance that is not a UUID": (
        lambda lines: [{**lines[0], "source_instance": "x" * 40}, *lines[1:]],
        "source_instance 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is not a UUID in canonical form",
    ),
    "a source instance in braces": (
        lambda lines: [{**lines[0], "source_instance": "{" + lines[0]["source_instance"] + "}"}, *lines[1:]],
        "is not a UUID in canonical form",
    ),
    "a source instance in capitals": (
        lambda lines: [{**lines[0], "source_instance": lines[0]["source_instance"].upper()}, *lines[1:]],
        "is not a UUID in canonical form",
    ),
    "a source instance as a number": (
        lambda lines: [{**lines[0], "source_instance": 12}, *lines[1:]],
        "source_instance int is not a UUID",
    ),
    "a creation time out of range": (
        lambda lines: [{**lines[0], "created": "0001-01-01T00:00:00+01:00"}, *lines[1:]],
        "malformed header (the time '0001-01-01T00:00:00+01:00' is out of range in UTC)",
    ),
    "nested too deeply": (
        first_project_with(origin=[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]),
        "manifest line 2: not valid JSON (arrays or objects nested more than 16 deep)",
    ),
    # docs/bundle-format.md: "The counts must agree with the records", every one of them.
    "removed projects miscounted": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], removed_projects=1)],
        "(removed_projects: 1 in the summary, 0 in the records)",
    ),
    "removed projects as false": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], removed_projects=False)],
        "(removed_projects: bool in the summary, 0 in the records)",
    ),
    "releases miscounted": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], releases=5)],
        "(releases: 5 in the summary, 4 in the records)",
    ),
    "blobs miscounted": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], blobs=lines[-1]["counts"]["blobs"] + 1)],
        "the summary's counts disagree with the records (blobs:",
    ),
    "blob bytes miscounted": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], blob_bytes=lines[-1]["counts"]["blob_bytes"] - 1)],
        "the summary's counts disagree with the records (blob_bytes:",
    ),
    "missing blobs where every blob travels": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], missing_blobs=1)],
        "(missing_blobs: 1 in the summary, 0 in the records)",
    ),
    "a count left out": (
        lambda lines: [*lines[:-1], with_counts(lines[-1], releases=None)],
        "(releases: none in the summary, 4 in the records)",
    ),
}


@pytest.mark.parametrize("damage", MANIFEST_DAMAGE)
def test_a_forged_manifest_is_refused_before_anything(exported, become_another_instance, damage):
    bundle, _ = exported
    change, message = MANIFEST_DAMAGE[damage]
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    rewrite_folder_manifest(bundle.path, change(lines))
    assert_refused(bundle.path, become_another_instance(), message)


def change_first_file(lines: list[dict], **changes) -> list[dict]:
    record = json.loads(json.dumps(lines[1]))
    record["releases"][0]["files"][0].update(changes)
    return [lines[0], record, *lines[2:]]


FILE_DAMAGE = {
    "filename of another project": ({"filename": "six-9.0-py3-none-any.whl"}, "does not belong to project iniconfig"),
    "a path for a filename": ({"filename": "../iniconfig-2.0.0-py3-none-any.whl"}, "is not a plain file name"),
    "not a distribution": ({"filename": "iniconfig-2.0.0.exe"}, "not a wheel"),
    "short sha256": ({"sha256": "abc"}, "malformed sha256"),
    "upper-case sha256": ({"sha256": "A" * 64}, "malformed sha256"),
    "sha256 and a newline": ({"sha256": "a" * 64 + "\n"}, "malformed sha256"),
    "md5 and a newline": ({"md5": "a" * 32 + "\n"}, "malformed md5"),
    "md5 not hex": ({"md5": "zz"}, "malformed md5"),
    "metadata sha256 short": ({"metadata_sha256": "abcd"}, "malformed metadata_sha256"),
    "negative size": ({"size": -1}, "bad size"),
    "size as text": ({"size": "12"}, "bad size"),
    "size as boolean": ({"size": True}, "bad size"),
    "bad time": ({"upload_time": "yesterday"}, "has a bad upload_time ('yesterday' is not an ISO 8601 time)"),
    "packagetype missing": ({"packagetype": None}, "bad packagetype"),
    "metadata size as text": ({"metadata_size": "12"}, "metadata_size"),
    "metadata size negative": ({"metadata_size": -5}, "metadata_size"),
    "blob_included as text": ({"blob_included": "no"}, "blob_included"),
    "a size no database holds": ({"size": 10**30}, "bad size"),
    "upstream_url a list": ({"upstream_url": ["https://x/"]}, "bad upstream_url"),
    "upstream_url too long": ({"upstream_url": "https://x/" + "a" * 2000}, "bad upstream_url"),
    # Found by a second audit: each passed the checks and failed inside the catalog's transaction,
    # after the blobs were in place (the widths on PostgreSQL and MariaDB only, the times everywhere).
    "a time before year 1 in UTC": ({"upload_time": "0001-01-01T00:00:00+01:00"}, "out of range in UTC"),
    "a time after year 9999 in UTC": ({"upload_time": "9999-12-31T23:30:00-01:00"}, "out of range in UTC"),
    "a time without its offset": ({"upload_time": "2026-01-01T00:00:00"}, "has no UTC offset"),
    "a time as a number": ({"upload_time": 1767225600}, "bad upload_time (the time is int, not text)"),
    # PostgreSQL refuses both ("time zone displacement out of range", "invalid input syntax").
    "an offset of twenty hours": ({"upload_time": "2026-01-01T00:00:00+20:00"}, "has an offset no time zone has"),
    "an offset of a fraction of a second": (
        {"upload_time": "2026-01-01T00:00:00+00:00:30.500000"},
        "has an offset no time zone has",
    ),
    "md5 too long": ({"md5": "a" * 33}, "malformed md5"),
    "md5 too short": ({"md5": "a" * 31}, "malformed md5"),
    "blake2_256 too long": ({"blake2_256": "b" * 65}, "malformed blake2_256"),
    "blake2_256 too short": ({"blake2_256": "b" * 32}, "malformed blake2_256"),
    "sha256 a number": ({"sha256": 7}, "malformed sha256"),
    "packagetype too long": ({"packagetype": "bdist_wheel" * 2}, "packagetype is longer than 20 characters"),
    "python_version too long": ({"python_version": "py3" * 34}, "python_version is longer than 100 characters"),
    "requires_python too long": ({"requires_python": ">=3" + ",>=3" * 64}, "requires_python is longer than 255"),
    "a NUL character in a file's field": ({"python_version": "py\x003"}, "a NUL character"),
}


@pytest.mark.parametrize("damage", FILE_DAMAGE)
def test_a_forged_file_record_is_refused_before_anything(exported, become_another_instance, damage):
    bundle, _ = exported
    changes, message = FILE_DAMAGE[damage]
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    assert lines[1]["normalized_name"] == "iniconfig"
    rewrite_folder_manifest(bundle.path, change_first_file(lines, **changes))
    assert_refused(bundle.path, become_another_instance(), message)


def change_first_release(lines: list[dict], **changes) -> list[dict]:
    record = json.loads(json.dumps(lines[1]))
    record["releases"][0].update(changes)
    return [lines[0], record, *lines[2:]]


RELEASE_DAMAGE = {
    "summary too long": ({"summary": "s" * 513}, "summary is longer than 512 characters"),
    "summary not text": ({"summary": ["a", "list"]}, "summary is not text"),
    "description not text": ({"description": 12}, "description is not text"),
    "requires_python too long": ({"requires_python": ">=3" + "," * 300}, "requires_python is longer than 255"),
    "classifiers not a list": ({"classifiers": "Framework :: Django"}, "classifiers is malformed"),
    "requires_dist of numbers": ({"requires_dist": [1, 2]}, "requires_dist is malformed"),
    "project_urls a list": ({"project_urls": ["https://example.org"]}, "project_urls is malformed"),
    "version too long": ({"version": "1." + "0" * 120}, "version is longer than 100 characters"),
    # 100 characters, whose canonical form (1.1...1a0) has 101.
    "canonical version too long": ({"version": "1" + ".1" * 49 + "a"}, "the version is too long"),
    "created before year 1 in UTC": ({"created": "0001-01-01T00:00:00+01:00"}, "bad created time"),
    "created after year 9999 in UTC": ({"created": "9999-12-31T23:59:59-00:01"}, "out of range in UTC"),
    "created without its offset": ({"created": "2026-01-01T00:00:00"}, "has no UTC offset"),
    "created not a time": ({"created": "soon"}, "bad created time ('soon' is not an ISO 8601 time)"),
    "metadata_version too long": ({"metadata_version": "2.1" * 4}, "metadata_version is longer than 10 characters"),
    "description_content_type too long": (
        {"description_content_type": "text/markdown" * 20},
        "description_content_type is longer than 255 characters",
    ),
    "a NUL character in a classifier": ({"classifiers": ["Framework \x00 Django"]}, "a NUL character"),
}


@pytest.mark.parametrize("damage", RELEASE_DAMAGE)
def test_release_values_the_database_could_not_hold_are_refused_before_anything(
    exported, become_another_instance, damage
):
    """SQLite would store them; PostgreSQL and MariaDB would fail in the middle of the transaction."""
    bundle, _ = exported
    changes, message = RELEASE_DAMAGE[damage]
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    rewrite_folder_manifest(bundle.path, change_first_release(lines, **changes))
    assert_refused(bundle.path, become_another_instance(), message)


def test_a_display_name_too_long_is_refused(exported, become_another_instance):
    bundle, _ = exported
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    lines[1]["normalized_name"], lines[1]["name"] = "ini-config", "ini" + "_" * 200 + "config"
    rewrite_folder_manifest(bundle.path, lines)
    assert_refused(bundle.path, become_another_instance(), "display name of ini-config is longer than 200 characters")


def test_the_same_file_twice_is_refused(exported, become_another_instance):
    bundle, _ = exported
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    six = lines[3]
    six["releases"][1]["files"].append(six["releases"][0]["files"][0])
    lines[-1]["counts"]["files"] += 1
    rewrite_folder_manifest(bundle.path, lines)
    assert_refused(bundle.path, become_another_instance(), "appears twice in the manifest")


def test_a_release_twice_is_refused(exported, become_another_instance):
    bundle, _ = exported
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    six = lines[3]
    six["releases"][1]["version"] = "1.16"
    rewrite_folder_manifest(bundle.path, lines)
    assert_refused(bundle.path, become_another_instance(), "release 1.16 of six appears twice")


def rewrite_manifest_bytes(folder: Path, data: bytes) -> None:
    """Replace a bundle folder's manifest with bytes no writer of dicts would make, and its digest to match."""
    (folder / "manifest.jsonl").write_bytes(data)
    (folder / "manifest.sha256").write_text(sha256_hex(data) + "\n", encoding="ascii")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # json.loads raises ValueError (not JSONDecodeError) past 4,300 digits, RecursionError when nested deep.
        (None, "manifest line 1: not valid JSON (a number of more than 4300 digits)"),
        (b"[" * 100_000, "manifest line 2: not valid JSON (arrays or objects nested more than 16 deep)"),
        (b'{"type":"project","last_serial":' + b"9" * 5000 + b"}", "manifest line 2: not valid JSON (a number"),
    ],
)
def test_json_that_python_cannot_read_is_refused(exported, become_another_instance, line, message):
    bundle, _ = exported
    header, *rest = bundle.manifest.splitlines(keepends=True)
    serial_to = f'"serial_to":{bundle.plan.header.serial_to},'.encode()
    if line is None:  # the header's serial, 5,000 digits long
        header = header.replace(serial_to, b'"serial_to":' + b"1" * 5000 + b",")
        assert b"1" * 5000 in header
    else:
        rest.insert(0, line + b"\n")
    rewrite_manifest_bytes(bundle.path, b"".join([header, *rest]))
    assert_refused(bundle.path, become_another_instance(), message)


@pytest.mark.parametrize(
    "place",
    [
        lambda project: project["releases"][0].update(summary="PLACE"),
        lambda project: project["releases"][0].update(classifiers=["PLACE"]),
        lambda project: project["releases"][0].update(project_urls={"PLACE": "https://example.org"}),
        lambda project: project["releases"][0]["files"][0].update(requires_python=">=3PLACE"),
    ],
)
def test_a_lone_surrogate_is_refused_before_anything(exported, become_another_instance, place):
    """JSON's \\ud800 escape makes a string that no database (nor UTF-8) can hold."""
    bundle, _ = exported
    lines = read_manifest_lines(bundle.manifest)
    place(lines[1])
    data = manifest_bytes(lines)
    assert data.count(b"PLACE") == 1
    rewrite_manifest_bytes(bundle.path, data.replace(b"PLACE", b"\\ud800"))
    assert_refused(bundle.path, become_another_instance(), "manifest line 2: a lone surrogate (not Unicode text) in ")


@pytest.fixture
def small_files_only():
    """Files of this process may not grow past a size (RLIMIT_FSIZE): a write beyond it fails with EFBIG.

    A real failure of the local disk, which even root meets (a full disk cannot be made in a test).
    """
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    # Without this, the kernel kills the process instead of failing the write.
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def limit(size: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    signal.signal(signal.SIGXFSZ, handler)


def test_a_store_that_cannot_take_a_blob_is_named_not_the_bundle(
    exported, become_another_instance, blob_writes, small_files_only
):
    """A full local disk used to read "unreadable or corrupt while reading blob": the operator looked at the bundle."""
    bundle, _ = exported
    store = become_another_instance()
    largest = max(path.stat().st_size for path in (bundle.path / "blobs").iterdir())
    assert len(bundle.manifest) < largest // 2
    small_files_only(largest // 2)
    refusal = assert_refused(bundle.path, store, f"{store.root}: cannot write blob ")
    assert refusal.endswith(
        "into the blob store (File too large): a problem of this instance, not of the bundle; the catalog is unchanged"
    )


def test_a_store_that_cannot_place_the_blobs_is_named(exported, become_another_instance):
    """Moving the verified blobs into place fails (here a file stands where a folder of blobs goes)."""
    bundle, _ = exported
    store = become_another_instance()
    store.root.mkdir()
    for blob in (bundle.path / "blobs").iterdir():
        (store.root / blob.name[:2]).write_bytes(b"in the way")
    before, serials = catalog_state(), journal_serials()
    with pytest.raises(BundleError) as caught:
        import_paths(bundle.path, store)
    assert str(caught.value).startswith(f"{store.root}: cannot move the verified blobs into the blob store (")
    assert "\n" not in str(caught.value)
    assert catalog_state() == before and journal_serials() == serials
    assert staging_files(store) == []


def test_a_local_project_is_never_overwritten_by_a_bundle(exported, become_another_instance, data_dir):
    bundle, _ = exported
    store = become_another_instance()
    add_distribution_path(data_dir / "iniconfig-2.0.0.tar.gz", store=store)
    assert_refused(bundle.path, store, "the bundle changes project(s) iniconfig, which are local to this instance")


def test_a_removal_of_a_name_local_here_leaves_the_local_project_alone(
    catalog, tmp_path, become_another_instance, data_dir, capsys, settings
):
    # The source deleted its iniconfig; a first export names every project deleted in public.
    services.remove_project(Project.objects.get(normalized_name="iniconfig"), store=catalog, source="test")
    bundle = export_bundle(tmp_path / "bundle", catalog)
    store = become_another_instance()
    # Here, iniconfig is another project: uploaded on this instance.
    add_distribution_path(data_dir / "iniconfig-2.0.0.tar.gz", store=store)
    local_files = set(File.objects.filter(project__normalized_name="iniconfig").values_list("filename", flat=True))
    settings.PYTHONNEST_BLOB_ROOT = store.root
    capsys.readouterr()
    call_command("import", "--path", str(bundle.path), "--no-progress")
    out = capsys.readouterr().out
    iniconfig = Project.objects.get(normalized_name="iniconfig")
    assert iniconfig.origin == Project.Origin.LOCAL
    assert set(iniconfig.files.values_list("filename", flat=True)) == local_files
    assert Project.objects.filter(normalized_name="six").exists()
    assert "0 removed;" in out
    assert "1 project(s) the bundle removes are local to this instance and were left alone: iniconfig" in out


# -- signatures ------------------------------------------------------------------------------------


@pytest.fixture
def keys(tmp_path):
    private, public, key_id = signing.generate_key_pair(tmp_path / "keys" / "site")
    other_private, _, other_id = signing.generate_key_pair(tmp_path / "keys" / "other")
    trusted = signing.load_trusted_keys([str(public)], "TRUSTED_KEYS")
    return {"private": private, "id": key_id, "other_private": other_private, "other_id": other_id, "trusted": trusted}


def test_a_signed_bundle_is_checked_against_the_trusted_keys(catalog, tmp_path, keys, become_another_instance):
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    store = become_another_instance()
    summary, _ = import_paths(bundle.path, store, require_signature=True, trusted_keys=keys["trusted"])
    assert summary.facts.signed_by == keys["id"]


def test_a_signature_left_unchecked_is_a_warning_on_standard_error(
    catalog, tmp_path, keys, become_another_instance, capsys, settings
):
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    settings.PYTHONNEST_BLOB_ROOT = become_another_instance().root
    capsys.readouterr()
    call_command("import", "--path", str(bundle.path), "--no-progress")
    captured = capsys.readouterr()
    assert ", signed but not checked (no TRUSTED_KEYS)" in captured.out
    assert captured.err.splitlines() == [
        "warning: the bundle is signed, but TRUSTED_KEYS in [import] is empty: its signature was not checked "
        "(set TRUSTED_KEYS, and REQUIRE_SIGNATURE to refuse unsigned bundles)"
    ]


def test_a_signed_archive_is_checked_too(catalog, tmp_path, keys):
    bundle = export_bundle(tmp_path / "b.tar", catalog, archive=True, sign_key=keys["private"])
    facts = facts_of(bundle.path, tmp_path, require_signature=True, trusted_keys=keys["trusted"])
    assert facts.signed_by == keys["id"]


def test_an_unknown_key_is_refused(catalog, tmp_path, keys, become_another_instance):
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["other_private"])
    store = become_another_instance()
    assert_refused(
        bundle.path,
        store,
        f"signed by key {keys['other_id']}, which is not among the trusted keys",
        trusted_keys=keys["trusted"],
    )


def test_a_wrong_signature_is_refused(catalog, tmp_path, keys, become_another_instance):
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    body = json.loads((bundle.path / "manifest.sig").read_bytes())
    other = signing.sign(signing.load_private_key(keys["other_private"]), "0" * 64)
    body["signature"] = __import__("base64").b64encode(other.signature).decode()
    (bundle.path / "manifest.sig").write_text(json.dumps(body))
    assert_refused(
        bundle.path,
        become_another_instance(),
        f"the signature by key {keys['id']} does not match the manifest",
        trusted_keys=keys["trusted"],
    )


def test_a_signature_over_another_manifest_is_refused(catalog, tmp_path, keys, become_another_instance):
    """A forger who rewrites the manifest and its digest keeps the old signature: refused."""
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    lines = read_manifest_lines((bundle.path / "manifest.jsonl").read_bytes())
    lines[1]["releases"][0]["yanked"] = True
    rewrite_folder_manifest(bundle.path, lines)
    assert_refused(bundle.path, become_another_instance(), "does not match the manifest", trusted_keys=keys["trusted"])


def test_an_unsigned_bundle_is_refused_when_a_signature_is_required(exported, keys, become_another_instance):
    bundle, _ = exported
    assert_refused(
        bundle.path,
        become_another_instance(),
        "the bundle is not signed, and REQUIRE_SIGNATURE is set",
        require_signature=True,
        trusted_keys=keys["trusted"],
    )


def test_a_malformed_signature_file_is_refused(exported, keys, become_another_instance):
    bundle, _ = exported
    (bundle.path / "manifest.sig").write_bytes(b"garbage")
    assert_refused(bundle.path, become_another_instance(), "manifest.sig: malformed signature")


def test_a_signature_of_the_wrong_shape_is_refused_even_with_no_trusted_keys(
    catalog, tmp_path, keys, become_another_instance
):
    """Without TRUSTED_KEYS a signature is not checked, but one export could not have written is refused."""
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    body = json.loads((bundle.path / "manifest.sig").read_bytes())
    body["signature"] = body["signature"][:8]
    (bundle.path / "manifest.sig").write_text(json.dumps(body))
    assert_refused(bundle.path, become_another_instance(), "manifest.sig: malformed signature (a signature of 6 bytes")


def test_a_required_signature_with_no_trusted_key_is_refused(catalog, tmp_path, keys, become_another_instance):
    bundle = export_bundle(tmp_path / "b", catalog, sign_key=keys["private"])
    assert_refused(bundle.path, become_another_instance(), "not among the trusted keys", require_signature=True)


# -- whole or nothing ------------------------------------------------------------------------------


def test_a_failure_while_applying_changes_nothing_in_the_catalog(exported, become_another_instance, monkeypatch):
    """The tag's serial is recorded last, in the same transaction: failing there undoes every project."""
    bundle, source_state = exported
    store = become_another_instance()
    original = peers.record_sync
    applied = []

    def fail_at_the_end(*args, **kwargs):
        applied.append(Project.objects.count())
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(peers, "record_sync", fail_at_the_end)
    with pytest.raises(RuntimeError):
        import_paths(bundle.path, store)
    assert applied == [3]
    assert Project.objects.count() == 0 and File.objects.count() == 0 and JournalEntry.objects.count() == 0
    assert current_serial() == 0
    assert SyncState.objects.count() == 0
    monkeypatch.setattr(peers, "record_sync", original)
    # The blobs were put in place first (content addressing makes that
    # harmless); running the import again finishes the job.
    import_paths(bundle.path, store)
    assert catalog_state() == source_state


def test_a_dry_run_changes_nothing(exported, become_another_instance, capsys, settings):
    bundle, _ = exported
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    call_command("import", "--path", str(bundle.path), "--dry-run", "--no-progress")
    out = capsys.readouterr().out
    # The exported catalog: four releases in three projects.
    assert (
        "Dry run: would create 3 project(s), update 0, remove 0; add 4 release(s) and 5 file(s), remove 0 file(s);"
        in out
    )
    assert "Nothing changed." in out
    assert Project.objects.count() == 0 and JournalEntry.objects.count() == 0
    assert store_files(store) == set()
    assert peers.sync_state("offline", SyncState.Direction.IMPORT) is None


def test_verify_bundle_checks_every_blob_without_importing(
    exported, become_another_instance, blob_writes, capsys, settings
):
    bundle, _ = exported
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    call_command("verify-bundle", str(bundle.path), "--no-progress")
    assert "Bundle OK: instance " in capsys.readouterr().out
    assert Project.objects.count() == 0 and store_files(store) == set()
    flip_byte(min((bundle.path / "blobs").iterdir()))
    with pytest.raises(CommandError, match="is damaged"):
        call_command("verify-bundle", str(bundle.path), "--no-progress")


def test_the_import_command_needs_a_bundle(db):
    with pytest.raises(CommandError, match="give --path DIR or --archive FILE"):
        call_command("import")


# -- missing blobs ------------------------------------------------------------------------------------


def test_files_exported_without_their_blob_are_listed_and_answer_404(
    catalog, tmp_path, become_another_instance, client, settings
):
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    # Mirrored by update: the source would redirect there; the offline side cannot reach it.
    File.objects.filter(pk=wheel.pk).update(upstream_url="https://files.example.org/six.whl")
    kept_copy = tmp_path / "kept"
    shutil.copytree(catalog.root, kept_copy)
    catalog.delete(wheel.sha256)
    catalog.delete(wheel.metadata_sha256)
    bundle = export_bundle(tmp_path / "b", catalog, allow_missing=True)
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    summary, _ = import_paths(bundle.path, store)
    assert summary.missing_blobs == [wheel.filename, f"{wheel.filename}.metadata"]
    assert File.objects.filter(filename=wheel.filename).exists()
    url = f"/packages/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256[4:]}/{wheel.filename}"
    answer = client.get(url)
    assert answer.status_code == 404
    assert b"is known to this index but its content is not on this server" in answer.content


def test_allow_missing_with_a_surviving_metadata_file_still_imports(catalog, tmp_path, become_another_instance):
    """Only the wheel's bytes are gone, its .metadata file is still there (but travels only with them)."""
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    catalog.delete(wheel.sha256)
    bundle = export_bundle(tmp_path / "b", catalog, allow_missing=True)
    store = become_another_instance()
    summary, _ = import_paths(bundle.path, store)
    assert summary.missing_blobs == [wheel.filename, f"{wheel.filename}.metadata"]


def test_a_wheel_that_travels_without_its_metadata_file_is_listed_and_that_file_answers_404(
    catalog, tmp_path, become_another_instance, client, settings, capsys
):
    """The wheel's bytes are there and travel; only its .metadata file is gone from the source's store."""
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    catalog.delete(wheel.metadata_sha256)
    bundle = export_bundle(tmp_path / "b", catalog, allow_missing=True)
    assert bundle.plan.missing == [f"{wheel.filename}.metadata"]
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    call_command("import", "--path", str(bundle.path), "--no-progress")
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"1 file(s) came without their content and answer 404 until a later bundle brings it: {wheel.filename}.metadata"
    )
    prefix = f"/packages/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256[4:]}/{wheel.filename}"
    assert client.get(prefix).status_code == 200
    answer = client.get(f"{prefix}.metadata")
    assert answer.status_code == 404
    assert b"is known to this index but its content is not on this server" in answer.content


def test_a_later_bundle_brings_the_missing_blobs(catalog, tmp_path, become_another_instance, client, settings):
    """The operator restores the downloads folder and exports again with --serial 0, nothing else changed."""
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    kept = tmp_path / "kept"
    shutil.copytree(catalog.root, kept)
    shutil.rmtree(catalog.root)
    first = export_bundle(tmp_path / "first", catalog, allow_missing=True)
    assert len(first.plan.missing) == 9  # five files and four wheels' .metadata files
    shutil.copytree(kept, catalog.root)
    again = export_bundle(tmp_path / "again", catalog, serial=0)
    assert again.plan.missing == []
    store = become_another_instance()
    settings.PYTHONNEST_BLOB_ROOT = store.root
    import_paths(first.path, store)
    assert store_files(store) == set()
    summary, _ = import_paths(again.path, store)
    assert summary.missing_blobs == []
    assert store.exists(wheel.sha256) and store.exists(wheel.metadata_sha256)
    url = f"/packages/{wheel.sha256[:2]}/{wheel.sha256[2:4]}/{wheel.sha256[4:]}/{wheel.filename}"
    answer = client.get(url)
    assert answer.status_code == 200
    assert hashlib.sha256(b"".join(answer.streaming_content)).hexdigest() == wheel.sha256


def test_a_later_bundle_after_new_changes_brings_the_missing_blobs(catalog, tmp_path, become_another_instance):
    """The workaround today: once the source has changed, a --serial 0 export is not 'already imported'."""
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    kept = tmp_path / "kept"
    shutil.copytree(catalog.root, kept)
    shutil.rmtree(catalog.root)
    first = export_bundle(tmp_path / "first", catalog, allow_missing=True)
    shutil.copytree(kept, catalog.root)
    add_distribution_path(build_wheel(tmp_path / "built", "later", "1.0"), store=catalog)
    again = export_bundle(tmp_path / "again", catalog, serial=0)
    store = become_another_instance()
    import_paths(first.path, store)
    summary, _ = import_paths(again.path, store)
    assert summary.missing_blobs == []
    assert store.exists(wheel.sha256) and store.exists(wheel.metadata_sha256)


def test_the_next_export_to_the_tag_brings_the_bytes_it_owed(catalog, tmp_path, become_another_instance):
    """No --serial 0 needed: the tag remembers which files went without their bytes."""
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    kept = tmp_path / "kept"
    shutil.copytree(catalog.root, kept)
    shutil.rmtree(catalog.root)
    first = export_bundle(tmp_path / "first", catalog, allow_missing=True)
    owed = set(PendingBlob.objects.filter(tag="offline").values_list("filename", flat=True))
    assert owed == set(File.objects.values_list("filename", flat=True))
    # Still missing at the next export: still owed, once each.
    still = export_bundle(tmp_path / "still", catalog, allow_missing=True)
    assert sorted(still.plan.missing) == sorted(first.plan.missing)
    assert PendingBlob.objects.filter(tag="offline").count() == len(owed)
    # Another tag owes nothing.
    assert not PendingBlob.objects.exclude(tag="offline").exists()

    shutil.copytree(kept, catalog.root)
    serial = current_serial()
    again = export_bundle(tmp_path / "again", catalog)
    assert (again.plan.header.serial_from, again.plan.header.serial_to) == (serial, serial)
    assert again.plan.missing == [] and not PendingBlob.objects.exists()
    assert wheel.sha256 in {sha256 for sha256, _ in again.plan.blobs}
    # Settled: the export after that carries nothing.
    assert len(export_bundle(tmp_path / "after", catalog).plan.blobs) == 0

    store = become_another_instance()
    import_paths(first.path, store)
    import_paths(still.path, store)
    assert store_files(store) == set()
    summary, _ = import_paths(again.path, store)
    assert summary.missing_blobs == []
    assert store.exists(wheel.sha256) and store.exists(wheel.metadata_sha256)


def test_a_partial_export_settles_only_what_it_carries(catalog, tmp_path):
    kept = tmp_path / "kept"
    shutil.copytree(catalog.root, kept)
    shutil.rmtree(catalog.root)
    export_bundle(tmp_path / "first", catalog, allow_missing=True)
    shutil.copytree(kept, catalog.root)
    export_bundle(tmp_path / "six-only", catalog, projects=frozenset({"six"}))
    owed = set(PendingBlob.objects.filter(tag="offline").values_list("project_name", flat=True))
    assert owed == {"iniconfig", "python-dateutil"}


def many_files_bundle(folder: Path, count: int) -> Path:
    """A bundle of one project with ``count`` wheels, carried without their bytes."""
    from pythonnest.bundles.format import Header

    files = [
        {
            "filename": f"bulk-1.0-{index}-py3-none-any.whl",
            "packagetype": "bdist_wheel",
            "python_version": "py3",
            "size": 10,
            "sha256": hashlib.sha256(str(index).encode()).hexdigest(),
            "md5": "",
            "blake2_256": "",
            "upload_time": "2026-01-01T00:00:00+00:00",
            "requires_python": "",
            "metadata_sha256": "",
            "metadata_size": None,
            "upstream_url": "",
            "blob_included": False,
        }
        for index in range(count)
    ]
    release = {
        "version": "1.0",
        "yanked": False,
        "yanked_reason": "",
        "created": "2026-01-01T00:00:00+00:00",
        "files": files,
    }
    project = {
        "type": "project", "name": "bulk", "normalized_name": "bulk", "origin": "local", "private_group": None,
        "last_serial": count, "partial_releases": False, "releases": [release],
    }  # fmt: skip
    header = Header("0f219c07-b9f4-45c6-93dd-4dee38528ae1", "offline", 0, count, "2026-01-01T00:00:00+00:00", None)
    counts = {"projects": 1, "removed_projects": 0, "releases": 1, "files": count, "blobs": 0, "blob_bytes": 0}
    summary = {"type": "summary", "counts": {**counts, "missing_blobs": count}}
    folder.mkdir()
    rewrite_folder_manifest(folder, [header.to_json(), project, summary])
    return folder


@pytest.mark.skipif(backend() != "sqlite", reason="a limit of sqlite's")
def test_a_bundle_with_more_files_than_sqlite_allows_parameters(tmp_path, become_another_instance):
    """sqlite builds limit a query's parameters (32,766 by default, 250,000 on Debian); a seed has more files.

    The limit is lowered here so that 1,200 files stand for a real seed.
    """
    import sqlite3

    from django.db import connection

    bundle = many_files_bundle(tmp_path / "bundle", 1200)
    store = become_another_instance()
    connection.ensure_connection()
    connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    try:
        summary, _ = import_paths(bundle, store)
    finally:
        connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 250_000)
    assert summary.counts.files_added == 1200
    assert File.objects.count() == 1200


def test_a_private_project_arrives_private(catalog, tmp_path, become_another_instance):
    from django.contrib.auth.models import Group

    from pythonnest.core.projects import set_project_private

    group = Group.objects.create(name="lab-team")
    set_project_private(Project.objects.get(normalized_name="six"), group, source="test")
    bundle = export_bundle(tmp_path / "b", catalog, private_groups=frozenset({"lab-team"}))
    store = become_another_instance()
    import_paths(bundle.path, store)
    six = Project.objects.select_related("private_group").get(normalized_name="six")
    assert six.private_group.name == "lab-team"
    assert Project.objects.get(normalized_name="iniconfig").private_group is None
