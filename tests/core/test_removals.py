"""Removing files, releases and projects: journaled, names never reused."""

from __future__ import annotations

import pytest

from pythonnest.core import services
from pythonnest.core.exceptions import NotFound
from pythonnest.core.journal import Action
from pythonnest.core.models import File, JournalEntry, Project, Release, RemovedFilename
from pythonnest.core.services import add_distribution_path

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def six(store, data_dir):
    for name in ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz", "six-1.17.0-py2.py3-none-any.whl"]:
        add_distribution_path(data_dir / name, store=store)
    return Project.objects.get(normalized_name="six")


def test_remove_file_is_one_entry_and_drops_the_blob(six, store):
    file = File.objects.get(filename="six-1.16.0.tar.gz")
    entry = services.remove_file(six, file.filename, store=store, source="test")
    assert (entry.action, entry.filename, entry.version, entry.serial) == (
        Action.REMOVE_FILE,
        file.filename,
        "1.16.0",
        4,
    )
    assert not File.objects.filter(filename=file.filename).exists()
    assert not store.exists(file.sha256)
    assert RemovedFilename.objects.get().filename == file.filename
    six.refresh_from_db()
    assert six.last_serial == 4
    assert Release.objects.filter(project=six).count() == 2


def test_remove_release_removes_its_files(six, store):
    wheel = File.objects.get(filename="six-1.16.0-py2.py3-none-any.whl")
    entry = services.remove_release(six, "1.16", store=store, source="test")
    assert entry.action == Action.REMOVE_RELEASE
    assert entry.data == {"filenames": ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz"]}
    assert list(Release.objects.values_list("version", flat=True)) == ["1.17.0"]
    assert not store.exists(wheel.sha256) and not store.exists(wheel.metadata_sha256)
    assert RemovedFilename.objects.count() == 2


def test_remove_project_keeps_the_history(six, store):
    entry = services.remove_project(six, store=store, source="test")
    assert entry.action == Action.REMOVE_PROJECT
    assert entry.project_name == "six"
    assert entry.data["versions"] == ["1.16.0", "1.17.0"]
    assert not Project.objects.exists() and not File.objects.exists()
    assert JournalEntry.objects.count() == 4
    assert [path for path in store.root.rglob("*") if path.is_file()] == []


def test_a_blob_shared_with_another_file_is_kept(six, store):
    # Point two wheels at one metadata blob, then remove one of them.
    kept = File.objects.get(filename="six-1.17.0-py2.py3-none-any.whl")
    removed = File.objects.get(filename="six-1.16.0-py2.py3-none-any.whl")
    File.objects.filter(pk=kept.pk).update(metadata_sha256=removed.metadata_sha256)
    services.remove_file(six, removed.filename, store=store, source="test")
    assert store.exists(removed.metadata_sha256)
    assert not store.exists(removed.sha256)


@pytest.mark.parametrize(
    ("call", "args"),
    [(services.remove_file, ("nope-1.0.tar.gz",)), (services.remove_release, ("9.9",))],
)
def test_removing_what_is_not_there_is_not_found_and_journals_nothing(six, store, call, args):
    with pytest.raises(NotFound):
        call(six, *args, store=store, source="test")
    assert JournalEntry.objects.count() == 3
