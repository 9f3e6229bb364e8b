"""The scratch databases an import and an export keep on disk instead of in memory."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from pythonnest.bundles import index
from pythonnest.bundles.index import BlobList, BundleIndex, SortedNames


def digest(number: int) -> str:
    return hashlib.sha256(str(number).encode()).hexdigest()


@pytest.fixture
def small_cache(monkeypatch):
    """A page cache of 64 KiB, so that a few thousand rows outgrow it inside the one transaction."""
    monkeypatch.setattr(index, "CACHE_KIB", 64)


def test_an_index_larger_than_its_cache_reads_back_whole_and_in_order(tmp_path, small_cache):
    bundle_index = BundleIndex(tmp_path / "index.sqlite3")
    blobs = [digest(number) for number in range(20_000)]
    for number, sha256 in enumerate(blobs):
        bundle_index.add_blob(sha256, number, f"file-{number}")
    # The pages that did not fit were written out while the transaction ran.
    assert (tmp_path / "index.sqlite3").stat().st_size > 64 * 1024 * 4
    staged = blobs[::3]
    for sha256 in blobs:
        assert bundle_index.meet(sha256)[1:] == (False, True)
    for sha256 in staged:
        bundle_index.set_staged(sha256, f"/staging/{sha256}")
    assert bundle_index.meet(blobs[0])[1] is True
    assert bundle_index.blob_count == 20_000
    assert [row for batch in bundle_index.staged_batches() for row in batch] == [
        (sha256, f"/staging/{sha256}", blobs.index(sha256)) for sha256 in sorted(staged)
    ]
    assert bundle_index.missing() == (0, [])
    bundle_index.clear_staged()
    assert list(bundle_index.staged_batches()) == []
    bundle_index.close()


def test_closing_an_index_leaves_a_readable_database(tmp_path):
    path = tmp_path / "index.sqlite3"
    bundle_index = BundleIndex(path)
    for number in range(100):
        bundle_index.add_blob(digest(number), number)
    bundle_index.close()
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT count(*), sum(size) FROM blobs").fetchone() == (100, sum(range(100)))
        assert database.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sorted_names_and_blob_lists_outgrow_their_cache(tmp_path, small_cache):
    names = SortedNames(tmp_path / "names.sqlite3")
    words = [f"project-{digest(number)[:12]}" for number in range(10_000)]
    names.add_all(reversed(words))
    names.add_all(words[:10])  # named twice: kept once
    assert [name for batch in names.batches(700) for name in batch] == sorted(words)
    names.close()
    blob_list = BlobList(tmp_path / "blobs.sqlite3")
    for number in range(10_000):
        blob_list.add(digest(number), number)
    blob_list.add(digest(0), 0)
    assert len(blob_list) == 10_000
    assert list(blob_list) == sorted((digest(number), number) for number in range(10_000))
    blob_list.close()


def test_closing_never_raises_over_the_error_being_handled(tmp_path):
    bundle_index = BundleIndex(tmp_path / "index.sqlite3")
    bundle_index.add_blob(digest(1), 1)

    class FailingCommit:
        """The connection of a full disk: COMMIT fails."""

        def __init__(self, database: sqlite3.Connection) -> None:
            self.database = database
            self.in_transaction = True

        def execute(self, statement: str):
            raise sqlite3.OperationalError("database or disk is full")

        def close(self) -> None:
            self.database.close()

    database = bundle_index._db
    bundle_index._db = FailingCommit(database)
    bundle_index.close()
    with pytest.raises(sqlite3.ProgrammingError):
        database.execute("SELECT 1")
