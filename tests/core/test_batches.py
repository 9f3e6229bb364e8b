"""``add_stored_distributions``: several mirrored files of a project in one transaction, all or none."""

from __future__ import annotations

import hashlib

import pytest

from pythonnest.core import services
from pythonnest.core.distributions import inspect_distribution
from pythonnest.core.exceptions import DuplicateFile, InvalidDistribution, ProtectedName
from pythonnest.core.journal import Action, current_serial
from pythonnest.core.models import File, JournalEntry, Project, Release
from pythonnest.core.services import StoredDistribution, add_distribution_path
from tests.support.builders import build_sdist, build_wheel

pytestmark = pytest.mark.django_db

SIX = ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz", "six-1.17.0-py2.py3-none-any.whl"]


def stored(store, path) -> StoredDistribution:
    """A distribution whose bytes are put in the store first, as ``update`` does."""
    with path.open("rb") as handle:
        blob = store.stage_file(handle)
    blob.commit()
    return StoredDistribution(
        info=inspect_distribution(path, path.name), digests=blob.digests, upstream_url=f"u/{path.name}"
    )


def catalog() -> list[tuple]:
    return sorted(File.objects.values_list("filename", "sha256", "release__version", "metadata_sha256"))


def test_a_batch_is_one_entry_per_file_with_the_same_catalog_as_one_by_one(store, data_dir, tmp_path):
    serials = services.add_stored_distributions(
        [stored(store, data_dir / name) for name in SIX], store=store, source="update", display_name="Six"
    )
    assert serials == [1, 2, 3] and current_serial() == 3
    entries = list(JournalEntry.objects.order_by("serial").values("action", "filename", "source", "data"))
    assert [(entry["action"], entry["filename"], entry["source"]) for entry in entries] == [
        (Action.ADD_FILE, name, "update") for name in SIX
    ]
    assert [(entry["data"]["new_project"], entry["data"]["new_release"]) for entry in entries] == [
        (True, True),
        (False, False),
        (False, True),
    ]
    project = Project.objects.get(normalized_name="six")
    assert (project.name, project.origin, project.last_serial) == ("Six", Project.Origin.MIRRORED, 3)
    assert sorted(Release.objects.values_list("version", flat=True)) == ["1.16.0", "1.17.0"]
    wheel = File.objects.get(filename=SIX[0])
    assert wheel.upstream_url == f"u/{SIX[0]}" and store.exists(wheel.metadata_sha256)
    assert File.objects.get(filename=SIX[1]).metadata_sha256 == ""
    batched = catalog()

    # The same files added one at a time give the same rows.
    for name in SIX:
        services.remove_file(project, name, store=store, source="test")
    Project.objects.all().delete()
    File.objects.all().delete()
    for name in SIX:
        item = stored(store, data_dir / name)
        services.add_stored_distribution(item.info, item.digests, store=store, source="update")
    assert catalog() == batched


def test_a_batch_with_a_file_already_there_changes_nothing(store, data_dir):
    there = stored(store, data_dir / SIX[1])
    services.add_stored_distribution(there.info, there.digests, store=store, source="update")
    before, serial = catalog(), current_serial()
    with pytest.raises(DuplicateFile, match=SIX[1]):
        services.add_stored_distributions(
            [stored(store, data_dir / name) for name in SIX], store=store, source="update"
        )
    assert (catalog(), current_serial()) == (before, serial)
    assert JournalEntry.objects.count() == serial


def test_a_batch_never_joins_a_local_project(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "mine", "1.0"), store=store)
    before, serial = catalog(), current_serial()
    batch = [stored(store, build_wheel(tmp_path, "mine", "2.0")), stored(store, build_sdist(tmp_path, "mine", "2.0"))]
    with pytest.raises(ProtectedName):
        services.add_stored_distributions(batch, store=store, source="update")
    assert (catalog(), current_serial()) == (before, serial)


def test_a_batch_whose_bytes_are_missing_is_refused(store, tmp_path):
    batch = [stored(store, build_wheel(tmp_path, "gone", "1.0")), stored(store, build_sdist(tmp_path, "gone", "1.0"))]
    store.delete(batch[1].digests.sha256)
    with pytest.raises(InvalidDistribution, match="not in the blob store"):
        services.add_stored_distributions(batch, store=store, source="update")
    assert not Project.objects.exists() and current_serial() == 0


def test_a_batch_holds_one_project(store, tmp_path):
    batch = [stored(store, build_wheel(tmp_path, "one", "1.0")), stored(store, build_wheel(tmp_path, "two", "1.0"))]
    with pytest.raises(ValueError, match="one project"):
        services.add_stored_distributions(batch, store=store, source="update")


def blobs_removed_just_before_the_lock(monkeypatch, store, sha256s):
    """What a failed concurrent writer may do: remove blobs it had created, between our staging and our lock."""
    real_lock = services.lock_catalog

    def lock():
        for sha256 in sha256s:
            store.delete(sha256)
        sha256s.clear()
        return real_lock()

    monkeypatch.setattr(services, "lock_catalog", lock)


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one file"])
def test_a_metadata_blob_removed_before_the_lock_is_written_again(store, tmp_path, monkeypatch, batched):
    item = stored(store, build_wheel(tmp_path, "raced", "1.0"))
    metadata_sha256 = hashlib.sha256(item.info.metadata_bytes).hexdigest()
    store.put_bytes(item.info.metadata_bytes)  # found in place, so not ours to write
    blobs_removed_just_before_the_lock(monkeypatch, store, [metadata_sha256])
    if batched:
        services.add_stored_distributions([item], store=store, source="update")
    else:
        services.add_stored_distribution(item.info, item.digests, store=store, source="update")
    assert File.objects.get().metadata_sha256 == metadata_sha256
    assert store.path_for(metadata_sha256).read_bytes() == item.info.metadata_bytes


@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one file"])
def test_a_distribution_blob_removed_before_the_lock_is_a_refusal(store, tmp_path, monkeypatch, batched):
    item = stored(store, build_wheel(tmp_path, "raced", "1.0"))
    blobs_removed_just_before_the_lock(monkeypatch, store, [item.digests.sha256])
    with pytest.raises(InvalidDistribution, match="not in the blob store"):
        if batched:
            services.add_stored_distributions([item], store=store, source="update")
        else:
            services.add_stored_distribution(item.info, item.digests, store=store, source="update")
    assert not File.objects.exists() and current_serial() == 0
