"""Adding distributions: the catalog, the journal and the blobs stay in step."""

from __future__ import annotations

import hashlib

import pytest

from pythonnest.core import services
from pythonnest.core.exceptions import DuplicateFile, IntegrityFailure, InvalidDistribution
from pythonnest.core.journal import Action, current_serial
from pythonnest.core.models import File, JournalEntry, Project, Release
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_sdist, build_wheel

pytestmark = pytest.mark.django_db


def blob_files(store):
    return sorted(path for path in store.root.rglob("*") if path.is_file())


def test_each_added_file_is_one_journal_entry(store, data_dir):
    names = ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz", "six-1.17.0-py2.py3-none-any.whl"]
    serials = [add_distribution_path(data_dir / name, store=store).serial for name in names]
    assert serials == [1, 2, 3]
    entries = list(JournalEntry.objects.order_by("serial"))
    assert [(entry.serial, entry.action, entry.filename) for entry in entries] == [
        (1, Action.ADD_FILE, names[0]),
        (2, Action.ADD_FILE, names[1]),
        (3, Action.ADD_FILE, names[2]),
    ]
    assert entries[0].data["new_project"] is True and entries[0].data["new_release"] is True
    assert entries[1].data["new_project"] is False and entries[1].data["new_release"] is False
    assert entries[2].data["new_release"] is True
    assert entries[0].source == "add"
    assert Project.objects.get(normalized_name="six").last_serial == 3
    assert current_serial() == 3


def test_file_rows_carry_digests_and_metadata(store, data_dir):
    path = data_dir / "python_dateutil-2.9.0.post0-py2.py3-none-any.whl"
    added = add_distribution_path(path, store=store)
    data = path.read_bytes()
    file = File.objects.get(filename=path.name)
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert file.md5 == hashlib.md5(data).hexdigest()
    assert file.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert file.size == len(data)
    assert file.packagetype == "bdist_wheel"
    assert file.python_version == "py2.py3"
    assert store.path_for(file.sha256).read_bytes() == data
    metadata = store.path_for(file.metadata_sha256).read_bytes()
    assert metadata.startswith(b"Metadata-Version: 2.1\nName: python-dateutil")
    assert hashlib.sha256(metadata).hexdigest() == file.metadata_sha256
    release = Release.objects.get(project__normalized_name="python-dateutil")
    assert release.version == "2.9.0.post0"
    assert release.requires_dist == ["six >=1.5"]
    assert release.summary == "Extensions to the standard Python datetime module"
    assert added.new_project and added.new_release
    assert Project.objects.get().name == "python-dateutil"


def test_sdists_offer_no_core_metadata_file(store, data_dir):
    add_distribution_path(data_dir / "six-1.16.0.tar.gz", store=store)
    assert File.objects.get().metadata_sha256 == ""


def test_an_exact_duplicate_is_skipped_without_a_journal_entry(store, data_dir):
    path = data_dir / "six-1.16.0.tar.gz"
    add_distribution_path(path, store=store)
    before = blob_files(store)
    with pytest.raises(DuplicateFile, match="same content"):
        add_distribution_path(path, store=store)
    assert JournalEntry.objects.count() == 1
    assert blob_files(store) == before


def test_a_different_file_under_a_taken_name_is_refused(store, tmp_path):
    first = build_sdist(tmp_path / "a", "clash", "1.0", summary="first")
    second = build_sdist(tmp_path / "b", "clash", "1.0", summary="second")
    add_distribution_path(first, store=store)
    with pytest.raises(DuplicateFile, match="different file"):
        add_distribution_path(second, store=store)
    assert Release.objects.get().summary == "first"
    assert JournalEntry.objects.count() == 1


def test_a_bad_file_changes_nothing(store, tmp_path):
    wheel = build_wheel(tmp_path, "alpha", "1.0", metadata_name="beta")
    with pytest.raises(InvalidDistribution):
        add_distribution_path(wheel, store=store)
    assert JournalEntry.objects.count() == 0
    assert Project.objects.count() == 0
    assert blob_files(store) == []


def test_a_failure_inside_the_transaction_leaves_no_blob_and_no_entry(store, data_dir, monkeypatch):
    def broken_record_event(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "record_event", broken_record_event)
    with pytest.raises(RuntimeError):
        add_distribution_path(data_dir / "six-1.16.0-py2.py3-none-any.whl", store=store)
    assert JournalEntry.objects.count() == 0
    assert File.objects.count() == 0
    assert Project.objects.count() == 0
    assert blob_files(store) == []


def test_a_wrong_expected_digest_is_refused(store, data_dir):
    path = data_dir / "six-1.16.0.tar.gz"
    with path.open("rb") as handle, pytest.raises(IntegrityFailure):
        services.add_distribution(handle, path.name, store=store, source="add", expected_sha256="0" * 64)
    assert File.objects.count() == 0
    assert blob_files(store) == []


def test_equivalent_versions_share_a_release(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "eq", "1.0"), store=store)
    add_distribution_path(build_sdist(tmp_path, "eq", "1.0.0"), store=store)
    assert Release.objects.count() == 1
    assert File.objects.count() == 2


def test_first_file_gives_the_release_metadata(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "meta", "1.0", summary="from the wheel"), store=store)
    add_distribution_path(build_sdist(tmp_path, "meta", "1.0", summary="from the sdist"), store=store)
    assert Release.objects.get().summary == "from the wheel"


def test_names_are_normalized_and_display_names_kept(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "Fancy.Name_Here", "1.0"), store=store)
    project = Project.objects.get()
    assert project.normalized_name == "fancy-name-here"
    assert project.name == "Fancy.Name_Here"
    assert project.origin == Project.Origin.LOCAL
