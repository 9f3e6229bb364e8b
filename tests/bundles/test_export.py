"""``export``: ranges, the full state of each project, determinism, missing blobs, partial and private exports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from packaging.requirements import Requirement

from pythonnest.bundles import export
from pythonnest.bundles.export import ExportOptions, plan_export
from pythonnest.bundles.writers import DirectoryWriter
from pythonnest.core import peers, services
from pythonnest.core.exceptions import BundleError
from pythonnest.core.journal import current_serial
from pythonnest.core.models import File, Project, SyncState
from pythonnest.core.projects import set_project_private
from tests.bundles.conftest import SIX_FILES, add_files, export_bundle
from tests.support.builders import build_wheel
from tests.support.bundles import read_manifest_lines

pytestmark = pytest.mark.django_db(transaction=True)


def records(manifest: bytes) -> tuple[dict, list[dict], dict]:
    lines = read_manifest_lines(manifest)
    return lines[0], lines[1:-1], lines[-1]


def files_of(record: dict) -> dict[str, dict]:
    return {file["filename"]: file for release in record["releases"] for file in release["files"]}


def export_state(tag: str = "offline") -> int | None:
    state = peers.sync_state(tag, SyncState.Direction.EXPORT)
    return state.last_serial if state else None


def test_the_first_export_holds_everything(catalog, tmp_path):
    exported = export_bundle(tmp_path / "bundle", catalog)
    header, projects, summary = records(exported.manifest)
    assert (header["serial_from"], header["serial_to"]) == (0, current_serial())
    assert header["source_instance"] == peers.instance_id()
    assert header["tag"] == "offline" and header["selection"] is None
    assert [record["normalized_name"] for record in projects] == ["iniconfig", "python-dateutil", "six"]
    six = next(record for record in projects if record["normalized_name"] == "six")
    assert [release["version"] for release in six["releases"]] == ["1.16.0", "1.17.0"]
    assert sorted(files_of(six)) == sorted(SIX_FILES)
    assert all(file["blob_included"] for record in projects for file in files_of(record).values())
    # Every file and every wheel's core-metadata file travels, named by digest.
    expected = {file.sha256 for file in File.objects.all()} | {
        file.metadata_sha256 for file in File.objects.all() if file.metadata_sha256
    }
    blobs = {path.name for path in (exported.path / "blobs").iterdir()}
    assert blobs == expected
    for sha256 in blobs:
        assert hashlib.sha256((exported.path / "blobs" / sha256).read_bytes()).hexdigest() == sha256
    assert summary == {
        "type": "summary",
        "counts": {
            "projects": 3,
            "removed_projects": 0,
            "releases": 4,
            "files": 5,
            "blobs": len(expected),
            "blob_bytes": sum(catalog.size(sha256) for sha256 in expected),
            "missing_blobs": 0,
        },
    }
    digest = (exported.path / "manifest.sha256").read_text()
    assert digest == hashlib.sha256(exported.manifest).hexdigest() + "\n"
    assert export_state() == current_serial()


def test_the_file_records_carry_every_documented_field(catalog, tmp_path):
    exported = export_bundle(tmp_path / "bundle", catalog)
    _, projects, _ = records(exported.manifest)
    wheel = files_of(projects[-1])["six-1.17.0-py2.py3-none-any.whl"]
    row = File.objects.get(filename=wheel["filename"])
    assert wheel == {
        "filename": row.filename,
        "packagetype": "bdist_wheel",
        "python_version": row.python_version,
        "size": row.size,
        "sha256": row.sha256,
        "md5": row.md5,
        "blake2_256": row.blake2_256,
        "upload_time": row.upload_time.isoformat(),
        "requires_python": row.requires_python,
        "metadata_sha256": row.metadata_sha256,
        "metadata_size": catalog.size(row.metadata_sha256),
        "upstream_url": "",
        "blob_included": True,
    }


def test_the_same_data_exported_twice_gives_the_same_manifest_but_for_its_time(catalog, tmp_path):
    before = timezone.now()
    first = export_bundle(tmp_path / "first", catalog, serial=0)
    second = export_bundle(tmp_path / "second", catalog, serial=0)
    after = timezone.now()
    first_lines, second_lines = first.manifest.splitlines(), second.manifest.splitlines()
    assert first_lines[1:] == second_lines[1:]
    first_header, second_header = json.loads(first_lines[0]), json.loads(second_lines[0])
    # Each header says when its bundle was made; nothing else in them differs.
    first_created = datetime.fromisoformat(first_header.pop("created"))
    second_created = datetime.fromisoformat(second_header.pop("created"))
    assert before <= first_created <= second_created <= after
    assert first_header == second_header
    # Canonical lines: sorted keys, no spaces.
    for line in first_lines:
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert sorted(path.name for path in (first.path / "blobs").iterdir()) == sorted(
        path.name for path in (second.path / "blobs").iterdir()
    )


def test_an_incremental_export_holds_the_touched_projects_and_only_the_new_blobs(catalog, tmp_path, data_dir):
    first = export_bundle(tmp_path / "first", catalog)
    services.yank_release(Project.objects.get(normalized_name="iniconfig"), "2.0.0", "broken", source="test")
    built = build_wheel(tmp_path / "built", "six", "1.18.0")
    add_files(catalog, built.parent, [built.name])
    second = export_bundle(tmp_path / "second", catalog)
    header, projects, summary = records(second.manifest)
    assert (header["serial_from"], header["serial_to"]) == (first.plan.header.serial_to, current_serial())
    assert [record["normalized_name"] for record in projects] == ["iniconfig", "six"]
    iniconfig, six = projects
    assert iniconfig["releases"][0]["yanked"] is True and iniconfig["releases"][0]["yanked_reason"] == "broken"
    assert not any(file["blob_included"] for file in files_of(iniconfig).values())
    # six's full state travels; only the new file's bytes do.
    six_files = files_of(six)
    assert sorted(six_files) == sorted([*SIX_FILES, built.name])
    assert [name for name, file in six_files.items() if file["blob_included"]] == [built.name]
    new = File.objects.get(filename=built.name)
    assert {path.name for path in (second.path / "blobs").iterdir()} == {new.sha256, new.metadata_sha256}
    assert summary["counts"]["files"] == 5 and summary["counts"]["blobs"] == 2


def test_a_removed_project_is_an_explicit_deletion(catalog, tmp_path):
    export_bundle(tmp_path / "first", catalog)
    services.remove_project(Project.objects.get(normalized_name="iniconfig"), store=catalog, source="test")
    six = Project.objects.get(normalized_name="six")
    services.remove_file(six, "six-1.16.0.tar.gz", store=catalog, source="test")
    _, projects, summary = records(export_bundle(tmp_path / "second", catalog).manifest)
    assert projects[0] == {"type": "removed_project", "normalized_name": "iniconfig"}
    assert "six-1.16.0.tar.gz" not in files_of(projects[1])
    assert summary["counts"]["removed_projects"] == 1


def test_an_export_with_nothing_new_is_an_empty_range(catalog, tmp_path):
    first = export_bundle(tmp_path / "first", catalog)
    header, projects, summary = records(export_bundle(tmp_path / "second", catalog).manifest)
    assert header["serial_from"] == header["serial_to"] == first.plan.header.serial_to
    assert projects == [] and summary["counts"]["projects"] == 0


def test_serial_chooses_the_start(catalog, tmp_path):
    header, projects, _ = records(export_bundle(tmp_path / "b", catalog, serial=3).manifest)
    assert header["serial_from"] == 3
    # Serials 4 and 5 added the six 1.17 wheel... and the others: only what they touched.
    touched = sorted({record["normalized_name"] for record in projects})
    assert touched == ["iniconfig", "python-dateutil"]


@pytest.mark.parametrize("serial", [-1, 99])
def test_a_serial_outside_the_catalog_is_refused(catalog, tmp_path, serial):
    with pytest.raises(BundleError, match=f"--serial {serial} is outside this catalog's serials \\(0 to 5\\)"):
        export_bundle(tmp_path / "b", catalog, serial=serial)
    assert not (tmp_path / "b").exists()
    assert export_state() is None


def test_a_bad_tag_is_refused(catalog, tmp_path):
    with pytest.raises(BundleError, match="tag '../x' must be letters"):
        export_bundle(tmp_path / "b", catalog, tag="../x")


# -- missing blobs -----------------------------------------------------------------


def test_missing_blobs_fail_the_export_naming_every_file(catalog, tmp_path):
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    sdist = File.objects.get(filename="six-1.16.0.tar.gz")
    for sha256 in (wheel.sha256, wheel.metadata_sha256, sdist.sha256):
        catalog.delete(sha256)
    with pytest.raises(BundleError) as caught:
        export_bundle(tmp_path / "b", catalog)
    message = str(caught.value)
    assert message.startswith("3 file(s) to export are missing from the blob store: ")
    assert "six-1.16.0.tar.gz, six-1.17.0-py2.py3-none-any.whl, six-1.17.0-py2.py3-none-any.whl.metadata" in message
    assert "--allow-missing" in message and "\n" not in message
    assert not (tmp_path / "b").exists()
    assert export_state() is None


def test_allow_missing_exports_the_metadata_without_the_bytes(catalog, tmp_path):
    wheel = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    catalog.delete(wheel.sha256)
    exported = export_bundle(tmp_path / "b", catalog, allow_missing=True)
    assert exported.plan.missing == [wheel.filename]
    _, projects, summary = records(exported.manifest)
    record = files_of(projects[-1])[wheel.filename]
    assert record["blob_included"] is False
    assert record["sha256"] == wheel.sha256
    blobs = {path.name for path in (exported.path / "blobs").iterdir()}
    assert wheel.sha256 not in blobs
    # Its metadata file is there but the file is not: neither travels.
    assert wheel.metadata_sha256 not in blobs
    assert summary["counts"]["missing_blobs"] == 1


def test_the_export_command_names_the_missing_files(catalog, tmp_path, capsys):
    wheel = File.objects.get(filename="iniconfig-2.0.0-py3-none-any.whl")
    catalog.delete(wheel.sha256)
    with pytest.raises(CommandError, match="1 file\\(s\\) to export are missing from the blob store: iniconfig-2.0.0"):
        call_command("export", "--path", str(tmp_path / "b"), "--no-progress")
    call_command("export", "--path", str(tmp_path / "b"), "--allow-missing", "--no-progress")
    assert "1 file(s) exported without their blob: iniconfig-2.0.0-py3-none-any.whl" in capsys.readouterr().err


# -- partial exports ------------------------------------------------------------------


def test_a_partial_export_by_project_leaves_the_tag_where_it_was(catalog, tmp_path, capsys):
    call_command("export", "--path", str(tmp_path / "b"), "--project", "Six", "--tag", "lab", "--no-progress")
    assert "partial export: the tag's last serial is unchanged" in capsys.readouterr().out
    header, projects, _ = records((tmp_path / "b" / "manifest.jsonl").read_bytes())
    assert header["selection"] == {"projects": ["Six"], "requirements": []}
    assert [record["normalized_name"] for record in projects] == ["six"]
    assert projects[0]["partial_releases"] is False
    assert export_state("lab") is None
    # The next full export still starts at 0.
    full = export_bundle(tmp_path / "full", catalog, tag="lab")
    assert full.plan.header.serial_from == 0


def test_a_partial_export_by_requirements_keeps_the_matching_releases(catalog, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\nsix>=1.17  # the new one\niniconfig\n")
    call_command("export", "--path", str(tmp_path / "b"), "--requirements", str(requirements), "--no-progress")
    header, projects, _ = records((tmp_path / "b" / "manifest.jsonl").read_bytes())
    assert header["selection"] == {"projects": [], "requirements": ["iniconfig", "six>=1.17"]}
    by_name = {record["normalized_name"]: record for record in projects}
    assert sorted(by_name) == ["iniconfig", "six"]
    assert [release["version"] for release in by_name["six"]["releases"]] == ["1.17.0"]
    assert by_name["six"]["partial_releases"] is True
    assert by_name["iniconfig"]["partial_releases"] is False
    blobs = {path.name for path in (tmp_path / "b" / "blobs").iterdir()}
    assert File.objects.get(filename="six-1.16.0.tar.gz").sha256 not in blobs
    assert File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl").sha256 in blobs
    assert export_state("default") is None


def test_a_bad_requirements_file_names_the_line(catalog, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\nnot a requirement!!\n")
    with pytest.raises(CommandError, match=f"{requirements}:2: not a requirement"):
        call_command("export", "--path", str(tmp_path / "b"), "--requirements", str(requirements))
    with pytest.raises(CommandError, match="cannot read requirements file"):
        call_command("export", "--path", str(tmp_path / "b"), "--requirements", str(tmp_path / "absent.txt"))


def test_requirements_and_projects_in_plan_export(catalog, tmp_path):
    options = ExportOptions(tag="t", requirements=(Requirement("six<1.17"),), projects=frozenset({"iniconfig"}))
    plan = plan_export(options, store=catalog, scratch=tmp_path)
    _, projects, _ = records(plan.manifest_path.read_bytes())
    assert [record["normalized_name"] for record in projects] == ["iniconfig", "six"]
    assert [release["version"] for release in projects[1]["releases"]] == ["1.16.0"]


# -- private projects --------------------------------------------------------------------


@pytest.fixture
def private_six(catalog):
    group = Group.objects.create(name="lab-team")
    set_project_private(Project.objects.get(normalized_name="six"), group, source="test")
    return group


def with_tag_sections(settings, sections: dict) -> None:
    settings.PYTHONNEST = dataclasses.replace(django_settings.PYTHONNEST, sections=sections)


def test_a_private_project_is_withheld_from_a_tag_not_allowed_to_receive_it(private_six, tmp_path, capsys):
    call_command("export", "--path", str(tmp_path / "b"), "--tag", "public-side", "--no-progress")
    assert "1 private project(s) withheld: tag public-side may not receive them." in capsys.readouterr().out
    manifest = (tmp_path / "b" / "manifest.jsonl").read_bytes()
    _, projects, summary = records(manifest)
    assert [record["normalized_name"] for record in projects] == ["iniconfig", "python-dateutil"]
    assert b'"normalized_name":"six"' not in manifest and b"six-1." not in manifest
    # Not a byte of it either.
    blobs = {path.name for path in (tmp_path / "b" / "blobs").iterdir()}
    assert not blobs & set(File.objects.filter(project__normalized_name="six").values_list("sha256", flat=True))
    assert summary["counts"]["projects"] == 2


@pytest.mark.parametrize("groups", ["lab-team", "other, lab-team", "*"])
def test_a_tag_allowed_the_group_receives_the_private_project(private_six, tmp_path, settings, groups):
    with_tag_sections(settings, {"tag:lab": {"PRIVATE_GROUPS": groups}})
    call_command("export", "--path", str(tmp_path / "b"), "--tag", "lab", "--no-progress")
    _, projects, _ = records((tmp_path / "b" / "manifest.jsonl").read_bytes())
    six = next(record for record in projects if record["normalized_name"] == "six")
    assert six["private_group"] == "lab-team"
    assert len(files_of(six)) == 3


def test_another_group_does_not_open_the_tag(private_six, tmp_path, settings):
    with_tag_sections(settings, {"tag:lab": {"PRIVATE_GROUPS": "other-team"}, "tag:x": {"PRIVATE_GROUPS": "lab-team"}})
    call_command("export", "--path", str(tmp_path / "b"), "--tag", "lab", "--no-progress")
    assert b'"normalized_name":"six"' not in (tmp_path / "b" / "manifest.jsonl").read_bytes()


def test_a_project_made_private_after_the_tag_received_it_is_removed_by_the_next_export(catalog, tmp_path):
    call_command("export", "--path", str(tmp_path / "first"), "--tag", "public-side", "--no-progress")
    set_project_private(Project.objects.get(normalized_name="six"), Group.objects.create(name="lab"), source="test")
    call_command("export", "--path", str(tmp_path / "second"), "--tag", "public-side", "--no-progress")
    _, records_, summary = records((tmp_path / "second" / "manifest.jsonl").read_bytes())
    assert records_ == [{"type": "removed_project", "normalized_name": "six"}]
    assert summary["counts"]["removed_projects"] == 1 and summary["counts"]["files"] == 0
    assert not list((tmp_path / "second" / "blobs").iterdir())


def test_a_project_private_before_the_tag_ever_saw_it_is_not_named(catalog, tmp_path, store):
    call_command("export", "--path", str(tmp_path / "first"), "--tag", "public-side", "--no-progress")
    services.add_distribution_path(build_wheel(tmp_path, "hidden-thing", "1.0"), store=store)
    set_project_private(
        Project.objects.get(normalized_name="hidden-thing"), Group.objects.create(name="lab"), source="t"
    )
    call_command("export", "--path", str(tmp_path / "second"), "--tag", "public-side", "--no-progress")
    manifest = (tmp_path / "second" / "manifest.jsonl").read_bytes()
    assert b"hidden-thing" not in manifest
    assert records(manifest)[2]["counts"]["removed_projects"] == 0


def test_a_project_private_to_a_group_the_tag_receives_stays_when_moved_to_another(catalog, tmp_path, settings):
    with_tag_sections(settings, {"tag:lab": {"PRIVATE_GROUPS": "lab-team"}})
    six = Project.objects.get(normalized_name="six")
    set_project_private(six, Group.objects.create(name="lab-team"), source="test")
    call_command("export", "--path", str(tmp_path / "first"), "--tag", "lab", "--no-progress")
    set_project_private(six, Group.objects.create(name="board"), source="test")
    call_command("export", "--path", str(tmp_path / "second"), "--tag", "lab", "--no-progress")
    _, records_, _ = records((tmp_path / "second" / "manifest.jsonl").read_bytes())
    assert records_ == [{"type": "removed_project", "normalized_name": "six"}]


def test_a_bad_tag_section_stops_the_export_before_anything(catalog, tmp_path, settings):
    with_tag_sections(settings, {"tag:lab": {"PRIVATE_GROUP": "x"}})
    with pytest.raises(Exception, match="unknown key PRIVATE_GROUP in \\[tag:lab\\]"):
        call_command("export", "--path", str(tmp_path / "b"), "--tag", "lab")
    assert not (tmp_path / "b").exists()


def test_verify_bundle_names_a_bad_trusted_key_in_one_line(catalog, tmp_path, settings):
    exported = export_bundle(tmp_path / "b", catalog)
    with_tag_sections(settings, {"import": {"TRUSTED_KEYS": "ed25519 AAAA"}})
    with pytest.raises(CommandError, match="TRUSTED_KEYS: not an Ed25519 public key") as caught:
        call_command("verify-bundle", str(exported.path), "--no-progress")
    assert "\n" not in str(caught.value)


# -- the command's forms and options ---------------------------------------------------------


def test_dry_run_prints_the_counts_and_writes_nothing(catalog, tmp_path, capsys):
    call_command("export", "--dry-run", "--tag", "lab")
    out = capsys.readouterr().out
    assert "Bundle for tag lab: serials (0, 5], 3 project(s), 0 removed project(s), 4 release(s), 5 file(s)" in out
    assert "Dry run: nothing written." in out
    assert export_state("lab") is None
    assert list(tmp_path.iterdir()) == [catalog.root]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--path", "P", "--archive", "P.tar"], "give --path or --archive, not both"),
        (["--path", "P", "--volume-size", "1G"], "--volume-size needs --archive FILE"),
        (["--archive", "P.tar", "--volume-size", "lots"], "--volume-size: 'lots' is not a size"),
        ([], "give --path DIR or --archive FILE"),
    ],
)
def test_bad_command_lines(catalog, tmp_path, arguments, message):
    arguments = [argument.replace("P", str(tmp_path / "b")) for argument in arguments]
    with pytest.raises(CommandError, match=message):
        call_command("export", *arguments)
    assert export_state("default") is None


def test_archive_and_volumes_from_the_command(catalog, tmp_path, capsys):
    call_command("export", "--archive", str(tmp_path / "one.tar"), "--tag", "a", "--no-progress")
    call_command(
        "export", "--archive", str(tmp_path / "vol.tar"), "--volume-size", "300K", "--tag", "b", "--no-progress"
    )
    out = capsys.readouterr().out
    volumes = sorted(tmp_path.glob("vol.tar.*"))
    assert len(volumes) > 1
    assert all(path.stat().st_size <= 300 * 1024 for path in volumes)
    for path in [tmp_path / "one.tar", *volumes]:
        assert f"Wrote {path}" in out


@pytest.mark.parametrize("form", ["folder", "archive", "volumes"])
def test_a_full_disk_is_one_line_and_leaves_no_bundle_and_no_export_state(catalog, tmp_path, monkeypatch, form):
    call_command("export", "--path", str(tmp_path / "first"), "--no-progress")
    exported = export_state("default")
    services.yank_release(Project.objects.get(normalized_name="iniconfig"), "2.0.0", "broken", source="test")
    target = tmp_path / ("b" if form == "folder" else "b.tar")
    if form == "folder":
        # The folder is written under a name of its own: the disk fills up at the third blob.
        from pythonnest.bundles import writers

        calls = []

        def failing(self, sha256, source, size):
            calls.append(sha256)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
            return original(self, sha256, source, size)

        original = writers.DirectoryWriter.add_blob
        monkeypatch.setattr(writers.DirectoryWriter, "add_blob", failing)
        arguments = ["--path", str(target)]
    elif form == "archive":
        # A device that is always full stands where the archive is written.
        (tmp_path / "b.tar.partial").symlink_to("/dev/full")
        arguments = ["--archive", str(target)]
    else:
        (tmp_path / "b.tar.002.partial").symlink_to("/dev/full")
        arguments = ["--archive", str(target), "--volume-size", "300K"]
    with pytest.raises(CommandError) as caught:
        call_command("export", *arguments, "--serial", "0", "--no-progress")
    assert str(caught.value) == f"cannot write {target}: No space left on device"
    # Not a byte left of it (the first volume included), and the tag is where the first export left it.
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([catalog.root.name, "first"])
    assert export_state("default") == exported < current_serial()


def test_a_full_disk_while_writing_a_folder_leaves_nothing(catalog, tmp_path):
    options = ExportOptions(tag="offline")
    with export.scratch_directory() as scratch:
        plan = plan_export(options, store=catalog, scratch=Path(scratch))
        order = [sha256 for sha256, _ in plan.blobs]
        writer = DirectoryWriter(tmp_path / "b")

        def fill_the_disk(size):
            # The third blob's file is a device that is always full.
            if not (writer.staging / "blobs" / order[2]).exists():
                (writer.staging / "blobs" / order[2]).symlink_to("/dev/full")

        with pytest.raises(BundleError) as caught:
            export.write_bundle(plan, writer, store=catalog, on_blob=fill_the_disk)
    assert str(caught.value) == f"cannot write {tmp_path / 'b'}: No space left on device"
    assert [path.name for path in tmp_path.iterdir()] == [catalog.root.name]


def test_sign_key_from_the_export_section(catalog, tmp_path, settings):
    from pythonnest.bundles import signing

    private, public, key_id = signing.generate_key_pair(tmp_path / "keys" / "site")
    with_tag_sections(settings, {"export": {"SIGN_KEY": str(private)}})
    call_command("export", "--path", str(tmp_path / "b"), "--no-progress")
    body = json.loads((tmp_path / "b" / "manifest.sig").read_bytes())
    assert body["key_id"] == key_id
    digest = (tmp_path / "b" / "manifest.sha256").read_text().strip()
    trusted = signing.load_trusted_keys([str(public)], "TRUSTED_KEYS")
    assert signing.verify(signing.Signature.from_bytes((tmp_path / "b" / "manifest.sig").read_bytes()), digest, trusted)


def test_sync_status_shows_no_peer_for_an_export(catalog, tmp_path, capsys):
    call_command("export", "--path", str(tmp_path / "b"), "--tag", "lab", "--no-progress")
    capsys.readouterr()
    call_command("sync-status")
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("lab ")]
    # The exporting side cannot know who imports its bundles: its own id is no peer.
    assert row.split()[1:3] == ["export", str(current_serial())]
    assert row.endswith(" -") and peers.instance_id() not in row
    assert out.splitlines()[0].startswith(f"This instance: {peers.instance_id()}")
