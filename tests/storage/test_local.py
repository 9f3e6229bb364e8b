"""The content-addressed blob store: verify, then rename into place."""

from __future__ import annotations

import hashlib
import os

import pytest

from pythonnest.core.exceptions import IntegrityFailure
from pythonnest.storage.local import LocalBlobStore


def incoming(store: LocalBlobStore) -> list:
    return list(store.temporary_dir.iterdir()) if store.temporary_dir.exists() else []


def test_blob_path_is_derived_from_sha256(tmp_path):
    store = LocalBlobStore(tmp_path)
    data = b"hello blobs"
    sha256 = hashlib.sha256(data).hexdigest()
    digests = store.put_bytes(data)
    assert digests.sha256 == sha256
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert digests.size == len(data)
    assert store.path_for(sha256) == tmp_path / sha256[:2] / sha256[2:4] / sha256
    assert store.path_for(sha256).read_bytes() == data
    assert incoming(store) == []


def test_staged_bytes_are_invisible_until_committed(tmp_path):
    store = LocalBlobStore(tmp_path)
    staged = store.stage([b"part one, ", b"part two"])
    assert not store.exists(staged.sha256)
    assert staged.commit() is True
    assert store.exists(staged.sha256)
    assert incoming(store) == []


def test_identical_content_shares_one_blob(tmp_path):
    store = LocalBlobStore(tmp_path)
    first = store.stage_bytes(b"same")
    second = store.stage_bytes(b"same")
    assert first.commit() is True
    assert second.commit() is False
    assert incoming(store) == []


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ({"expected_sha256": "0" * 64}, "does not match"),
        ({"expected_size": 3}, "more than the 3 bytes expected"),
        ({"expected_size": 100}, "100 expected"),
        ({"max_size": 4}, "more than 4 bytes"),
    ],
)
def test_bad_bytes_never_reach_the_store(tmp_path, checks, message):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(IntegrityFailure, match=message):
        store.stage([b"some", b" bytes"], **checks)
    assert incoming(store) == []
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ({"expected_sha256": "0" * 64}, "does not match"),
        ({"expected_sha256": hashlib.sha256(b"some bytes").hexdigest(), "expected_size": 3}, "more than the 3"),
        ({"expected_sha256": hashlib.sha256(b"some bytes").hexdigest(), "expected_size": 100}, "100 expected"),
    ],
)
def test_check_refuses_what_stage_refuses(checks, message):
    with pytest.raises(IntegrityFailure, match=message):
        LocalBlobStore.check([b"some", b" bytes"], **checks)
    digests = LocalBlobStore.check([b"some", b" bytes"], expected_sha256=hashlib.sha256(b"some bytes").hexdigest())
    assert (digests.sha256, digests.size) == (hashlib.sha256(b"some bytes").hexdigest(), 10)


def test_an_interrupted_stream_leaves_nothing(tmp_path):
    store = LocalBlobStore(tmp_path)

    def chunks():
        yield b"start"
        raise ConnectionError("peer went away")

    with pytest.raises(ConnectionError):
        store.stage(chunks())
    assert incoming(store) == []


def test_a_background_write_stores_the_same_bytes(tmp_path):
    store = LocalBlobStore(tmp_path)
    chunks = [bytes([number]) * (100_000 + number) for number in range(40)]
    data = b"".join(chunks)
    staged = store.stage(iter(chunks), expected_sha256=hashlib.sha256(data).hexdigest(), background_write=True)
    assert staged.commit()
    assert store.path_for(staged.sha256).read_bytes() == data
    assert staged.digests.md5 == hashlib.md5(data).hexdigest() and staged.digests.size == len(data)


@pytest.mark.parametrize("failure", ["the stream", "the digest", "the disk"])
def test_a_failed_background_write_leaves_nothing(tmp_path, monkeypatch, failure):
    store = LocalBlobStore(tmp_path)

    def chunks():
        yield b"a" * 100_000
        yield b"b" * 100_000
        if failure == "the stream":
            raise ConnectionError("peer went away")

    if failure == "the disk":
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, fd, mode):
                self.handle = real_fdopen(fd, mode)

            def write(self, chunk):
                raise OSError(28, "No space left on device")

            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                self.handle.close()

        monkeypatch.setattr(os, "fdopen", FullDisk)
    expected = {"the stream": ConnectionError, "the digest": IntegrityFailure, "the disk": OSError}[failure]
    with pytest.raises(expected):
        store.stage(chunks(), expected_sha256="0" * 64, background_write=True)
    assert incoming(store) == []


def test_discard_removes_the_temporary_file(tmp_path):
    store = LocalBlobStore(tmp_path)
    with store.stage_bytes(b"temporary") as staged:
        assert staged.path.exists()
    assert not staged.path.exists()
    assert not store.exists(staged.sha256)


def test_relative_path_refuses_anything_but_a_digest(tmp_path):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).path_for("../../etc/passwd")


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tmp_path):
    import os
    import time

    store = LocalBlobStore(tmp_path)
    store.temporary_dir.mkdir(parents=True)
    stale, fresh = store.temporary_dir / "blob-stale", store.temporary_dir / "blob-fresh"
    stale.write_bytes(b"left by a killed import")
    fresh.write_bytes(b"an import at work")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    assert store.remove_stale_temporary_files() == 1
    assert not stale.exists() and fresh.exists()
