"""The content-addressed blob store: verify, then rename into place."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from pythonnest.core.exceptions import IntegrityFailure
from pythonnest.storage import local
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


def test_staging_files_are_private_and_a_taken_name_is_skipped(tmp_path):
    store = LocalBlobStore(tmp_path)
    first = store.stage_bytes(b"first", sync=False)
    assert first.path.parent == store.temporary_dir
    assert first.path.stat().st_mode & 0o777 == 0o600
    # A file left at the name that comes next (a writer that died) is neither reused nor touched.
    prefix, _, number = first.path.name.rpartition("-")
    squatter = store.temporary_dir / f"{prefix}-{int(number) + 1}"
    squatter.write_bytes(b"left behind")
    second = store.stage_bytes(b"second", sync=False)
    assert second.path not in (first.path, squatter)
    assert squatter.read_bytes() == b"left behind"
    assert second.path.read_bytes() == b"second"
    assert first.commit() and second.commit()
    assert incoming(store) == [squatter]


def test_staging_files_from_many_threads_never_share_a_name(tmp_path):
    store = LocalBlobStore(tmp_path)
    staged, errors = [], []

    def stage(thread: int) -> None:
        try:
            for index in range(50):
                staged.append(store.stage_bytes(f"{thread}-{index}".encode(), sync=False))
        except Exception as exc:  # reported below, with the thread's other failures
            errors.append(exc)

    threads = [threading.Thread(target=stage, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({blob.path for blob in staged}) == 400
    assert all(blob.commit() for blob in staged)
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


# -- stage_range: bytes that lie in a file, copied by the kernel ------------------------------


def file_holding(folder: Path, data: bytes, before: bytes = b"", after: bytes = b"") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "source"
    path.write_bytes(before + data + after)
    return path


def stage_range(store: LocalBlobStore, path: Path, offset: int, length: int, **checks):
    with path.open("rb") as source:
        return store.stage_range(source.fileno(), offset, length, **checks)


# What stage_range and check_range refuse, for 20,000 bytes in a file of 20,000.
RANGE_REFUSALS = [
    ({"expected_sha256": "0" * 64}, 20_000, IntegrityFailure, "sha256"),
    ({"expected_size": 19_999}, 20_000, IntegrityFailure, "more than the 19999 bytes expected"),
    ({"expected_size": 20_001}, 20_000, IntegrityFailure, "20000 bytes received, 20001 expected"),
    ({}, 30_000, EOFError, "the file ends at byte 20000, inside the blob"),
]


@pytest.fixture
def unmappable(monkeypatch):
    """A filesystem whose files cannot be mapped."""

    def refuse(*args, **kwargs):
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(local.mmap, "mmap", refuse)


@pytest.fixture
def small_pieces(monkeypatch):
    # Several pieces for a blob of a few pages: each hashed while the next is copied,
    # full pieces through a mapping, the last one read when it is under a page.
    monkeypatch.setattr(local, "COPY_PIECE", 2 * 4096)
    monkeypatch.setattr(local, "MAP_AT_LEAST", 4096)


@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 8193, 100_000])
def test_stage_range_stores_exactly_the_span(tmp_path, small_pieces, monkeypatch, size):
    maps = []
    real_mmap = local.mmap.mmap

    def counted(*args, **kwargs):
        maps.append(args)
        return real_mmap(*args, **kwargs)

    monkeypatch.setattr(local.mmap, "mmap", counted)
    hinted = []
    monkeypatch.setattr(local, "start_writeback", lambda fd, offset, count: hinted.append((offset, count)))
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(size)
    # The span starts inside a page, as a tar member's data does (512-byte blocks).
    path = file_holding(tmp_path, data, before=b"h" * 1536, after=b"t" * 700)
    staged = stage_range(store, path, 1536, size, expected_sha256=hashlib.sha256(data).hexdigest(), expected_size=size)
    assert staged.digests.size == size and staged.digests.md5 == ""
    assert staged.commit()
    assert store.path_for(staged.sha256).read_bytes() == data
    assert incoming(store) == []
    # Pieces of a page or more are hashed through a mapping, smaller ones read.
    assert len(maps) == size // (2 * 4096) + (size % (2 * 4096) >= 4096)
    # The disk was set writing each piece once it was hashed, the whole copy and nothing else.
    pieces = [(start, min(2 * 4096, size - start)) for start in range(0, size, 2 * 4096)]
    assert hinted == (pieces or [(0, 0)])


@pytest.mark.parametrize("checks, length, error, message", RANGE_REFUSALS)
def test_stage_range_refuses_bad_bytes_and_leaves_nothing(tmp_path, small_pieces, checks, length, error, message):
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(20_000)
    checks = {"expected_sha256": hashlib.sha256(data).hexdigest(), **checks}
    with pytest.raises(error, match=message):
        stage_range(store, file_holding(tmp_path, data), 0, length, **checks)
    assert incoming(store) == []
    assert [path for path in store.root.rglob("*") if path.is_file()] == []


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem (tmpfs at /dev/shm)")
def test_stage_range_copies_across_filesystems(tmp_path, small_pieces):
    # copy_file_range refuses two filesystems (EXDEV); sendfile takes over.
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(50_000)
    folder = Path("/dev/shm") / f"pythonnest-test-{os.getpid()}-{tmp_path.name}"
    try:
        path = file_holding(folder, data, before=b"x" * 512)
        staged = stage_range(store, path, 512, len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    finally:
        for leftover in folder.glob("*"):
            leftover.unlink()
        folder.rmdir()
    staged.commit()
    assert store.path_for(staged.sha256).read_bytes() == data


def test_stage_range_reads_and_writes_where_the_kernel_cannot_copy(tmp_path, small_pieces, monkeypatch):
    calls = []

    def refused(*args):
        calls.append(args)
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "copy_file_range", refused, raising=False)
    monkeypatch.setattr(os, "sendfile", refused, raising=False)
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(3 * 1024 * 1024 + 5)
    path = file_holding(tmp_path, data, before=b"x" * 512)
    staged = stage_range(store, path, 512, len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    staged.commit()
    assert store.path_for(staged.sha256).read_bytes() == data
    assert calls  # each piece tried the kernel first


def test_stage_range_reads_what_it_cannot_map(tmp_path, small_pieces, unmappable):
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(50_000)
    staged = stage_range(
        store, file_holding(tmp_path, data), 0, len(data), expected_sha256=hashlib.sha256(data).hexdigest()
    )
    assert staged.digests.size == len(data)
    with pytest.raises(IntegrityFailure):
        stage_range(store, file_holding(tmp_path, data), 0, len(data), expected_sha256="0" * 64)
    assert incoming(store) == [staged.path]


def test_stage_range_lets_other_errors_through(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full, raising=False)
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(10_000)
    with pytest.raises(OSError, match="No space left"):
        stage_range(store, file_holding(tmp_path, data), 0, len(data), expected_sha256=hashlib.sha256(data).hexdigest())
    assert incoming(store) == []


@pytest.mark.parametrize("offset", [0, 512, 1536, 4096, 4097])
@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 8193, 100_000])
def test_check_range_hashes_the_span_in_place(tmp_path, small_pieces, offset, size):
    data = os.urandom(size)
    path = file_holding(tmp_path, data, before=b"h" * offset, after=b"t" * 700)
    with path.open("rb") as source:
        digests = LocalBlobStore.check_range(
            source.fileno(), offset, size, expected_sha256=hashlib.sha256(data).hexdigest(), expected_size=size
        )
    assert (digests.sha256, digests.size) == (hashlib.sha256(data).hexdigest(), size)


@pytest.mark.parametrize("checks, length, error, message", RANGE_REFUSALS)
def test_check_range_refuses_what_stage_range_refuses(tmp_path, small_pieces, checks, length, error, message):
    data = os.urandom(20_000)
    checks = {"expected_sha256": hashlib.sha256(data).hexdigest(), **checks}
    with file_holding(tmp_path, data).open("rb") as source, pytest.raises(error, match=message):
        LocalBlobStore.check_range(source.fileno(), 0, length, **checks)


def test_check_range_reads_what_it_cannot_map(tmp_path, small_pieces, unmappable):
    data = os.urandom(50_000)
    with file_holding(tmp_path, data, before=b"x" * 700).open("rb") as source:
        digests = LocalBlobStore.check_range(
            source.fileno(), 700, len(data), expected_sha256=hashlib.sha256(data).hexdigest()
        )
    assert digests.size == len(data)


def test_discard_removes_the_temporary_file(tmp_path):
    store = LocalBlobStore(tmp_path)
    with store.stage_bytes(b"temporary") as staged:
        assert staged.path.exists()
    assert not staged.path.exists()
    assert not store.exists(staged.sha256)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 64 + "\n", "A" * 64, "a" * 63])
def test_relative_path_refuses_anything_but_a_digest(tmp_path, name):
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path).path_for(name)


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


def test_starting_writeback_is_only_a_hint(tmp_path):
    # A file: accepted. A pipe, where the kernel refuses: nothing raised, nothing lost.
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)
    with path.open("r+b") as handle:
        local.start_writeback(handle.fileno(), 0, 10_000)
        local.start_writeback(handle.fileno(), 0, 0)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"piped")
        local.start_writeback(write_end, 0, 5)
        assert os.read(read_end, 5) == b"piped"
    finally:
        os.close(read_end)
        os.close(write_end)
    assert path.read_bytes() == b"x" * 10_000


def test_sync_filesystem(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    local.sync_filesystem(tmp_path)
    local.sync_filesystem(tmp_path / "f")
    with pytest.raises(FileNotFoundError):
        local.sync_filesystem(tmp_path / "missing")


@pytest.mark.parametrize("background_write", [False, True])
def test_a_blob_staged_without_sync_is_set_writing_and_one_with_sync_is_fsynced(
    tmp_path, monkeypatch, background_write
):
    hinted, fsynced = [], []
    monkeypatch.setattr(local, "start_writeback", lambda fd, offset, count: hinted.append((offset, count)))
    real_fsync = os.fsync
    monkeypatch.setattr(local.os, "fsync", lambda fd: fsynced.append(fd) or real_fsync(fd))
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(3 * 1024 * 1024 + 1)
    chunks = [data[start : start + 1024 * 1024] for start in range(0, len(data), 1024 * 1024)]
    store.stage(iter(chunks), sync=False, background_write=background_write).commit()
    # The whole blob, once written: the caller's one sync for the batch waits for less.
    assert hinted == [(0, len(data))] and fsynced == []
    store.stage(iter([b"other"]), background_write=background_write).commit()
    assert hinted == [(0, len(data))] and len(fsynced) == 1
    # A small one is left to the kernel's batched writeback.
    store.stage(iter([b"x" * (local.WRITEBACK_AT_LEAST - 1)]), sync=False).commit()
    assert hinted == [(0, len(data))] and len(fsynced) == 1


def test_threads_staging_at_once_each_have_a_writer_of_their_own(tmp_path, small_pieces):
    # As an import's hashing lanes do: one shared writer would make each wait for the other's copies.
    store = LocalBlobStore(tmp_path / "store")
    blobs = [os.urandom(50_000 + index) for index in range(4)]
    path = file_holding(tmp_path, b"".join(blobs))
    offsets = [sum(len(blob) for blob in blobs[:index]) for index in range(len(blobs))]
    writers, staged = set(), {}

    def stage(indexes: list[int]) -> None:
        for index in indexes:
            blob = stage_range(
                store, path, offsets[index], len(blobs[index]), expected_sha256=hashlib.sha256(blobs[index]).hexdigest()
            )
            writers.add(id(store._writer_thread()))
            blob.commit()
            staged[index] = blob.sha256

    lanes = [threading.Thread(target=stage, args=(indexes,)) for indexes in ([0, 2], [1, 3])]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    assert [store.path_for(staged[index]).read_bytes() for index in range(len(blobs))] == blobs
    assert len(writers) == 2
    assert incoming(store) == []


def test_the_store_syncs_its_own_filesystem(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(local, "sync_filesystem", synced.append)
    store = LocalBlobStore(tmp_path / "store")
    store.sync()  # nothing was ever staged: nothing to flush
    store.stage_bytes(b"data", sync=False).commit()
    store.sync()
    assert synced == [store.root]
    monkeypatch.undo()
    store.sync()  # the real flush
