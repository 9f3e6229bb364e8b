"""The local, content-addressed blob store.

A blob lives at ``<root>/<aa>/<bb>/<sha256>``. "This will ensure that the
contents of the file cannot change without it also changing the path." Bytes
are streamed into a temporary file beside the store while they are hashed,
checked, and only then renamed into place, so a reader never sees a partial
blob (DESIGN.md invariant 2).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import itertools
import mmap
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pythonnest.core.exceptions import IntegrityFailure

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
# stage_range hashes what the kernel copied a piece at a time, the next piece
# being copied meanwhile (a multiple of the page size: pieces are mapped).
COPY_PIECE = 4 * 1024 * 1024
# Pieces this large are hashed through a mapping of the file, smaller ones read.
MAP_AT_LEAST = 1024 * 1024
# A blob staged without its own fsync is set writing to disk at once when it
# is this large; the kernel's batched writeback does better for small files.
WRITEBACK_AT_LEAST = 256 * 1024
# A kernel that cannot copy between these two files says so with one of these.
_CANNOT_COPY = frozenset({errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK})


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str
    md5: str
    blake2_256: str
    size: int


# How a staging file is opened: as tempfile.mkstemp opens its files.
_TEMPORARY_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class _Hasher:
    def __init__(self, only_sha256: bool = False) -> None:
        self.sha256 = hashlib.sha256()
        self.others = () if only_sha256 else (hashlib.md5(usedforsecurity=False), hashlib.blake2b(digest_size=32))
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        for other in self.others:
            other.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        md5, blake2 = (other.hexdigest() for other in self.others) if self.others else ("", "")
        return Digests(self.sha256.hexdigest(), md5, blake2, self.size)


def _refuse_longer(size: int, expected_size: int | None) -> None:
    if expected_size is not None and size > expected_size:
        raise IntegrityFailure(f"more than the {expected_size} bytes expected")


def _checked(
    chunks: Iterable[bytes], hasher: _Hasher, expected_size: int | None, max_size: int | None
) -> Iterator[bytes]:
    """The chunks, each hashed and refused as soon as the bytes run over a limit."""
    for chunk in chunks:
        hasher.update(chunk)
        if max_size is not None and hasher.size > max_size:
            raise IntegrityFailure(f"more than {max_size} bytes")
        _refuse_longer(hasher.size, expected_size)
        yield chunk


def _copy_file_range(source: int, target: int, offset: int, count: int) -> int:
    return os.copy_file_range(source, target, count, offset)


def _sendfile(source: int, target: int, offset: int, count: int) -> int:
    return os.sendfile(target, source, offset, count)


def _read_write(source: int, target: int, offset: int, count: int) -> int:
    data = memoryview(os.pread(source, min(count, CHUNK_SIZE), offset))
    remaining = data
    while remaining:
        remaining = remaining[os.write(target, remaining) :]
    return len(data)


# The ways to copy between files, the cheapest first: copy_file_range within
# a filesystem, sendfile between two, and reading and writing where neither works.
_COPIES = tuple(
    way
    for way, available in (
        (_copy_file_range, hasattr(os, "copy_file_range")),
        (_sendfile, hasattr(os, "sendfile")),
        (_read_write, True),
    )
    if available
)


def copy_range(source: int, target: int, offset: int, count: int) -> None:
    """Append ``count`` bytes of ``source`` from ``offset`` to ``target``, in the kernel where it can.

    Raises EOFError when ``source`` ends first (a truncated file, not a damaged blob).
    """
    ways = iter(_COPIES)
    way = next(ways)
    end = offset + count
    while offset < end:
        try:
            copied = way(source, target, offset, end - offset)
        except OSError as exc:
            if exc.errno not in _CANNOT_COPY or way is _read_write:
                raise
            way = next(ways)
            continue
        if not copied:
            raise EOFError(f"the file ends at byte {offset}, inside the blob")
        offset += copied


def _libc(name: str, *argtypes: type) -> Callable[..., int] | None:
    """A function of the C library that Python's os module does not offer (Linux); None where it is missing."""
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _libc("sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
_SYNC_FILE_RANGE_WRITE = 2
_SYNCFS = _libc("syncfs", ctypes.c_int)


def sync_filesystem(path: Path) -> None:
    """Make durable everything written to the filesystem holding ``path`` (every filesystem where syncfs is missing)."""
    if _SYNCFS is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
    finally:
        os.close(fd)


def start_writeback(fd: int, offset: int, count: int) -> None:
    """Have the kernel start writing ``count`` bytes of ``fd`` from ``offset`` to disk, without waiting.

    Only a head start for the fsync that follows, which still makes the
    bytes durable: a kernel or filesystem that refuses it loses nothing.
    """
    if _SYNC_FILE_RANGE is not None and count > 0:
        _SYNC_FILE_RANGE(fd, offset, count, _SYNC_FILE_RANGE_WRITE)


def read_range(fd: int, offset: int, count: int) -> Iterator[bytes]:
    """``count`` bytes of the file ``fd`` from ``offset``, a chunk at a time; EOFError when the file ends first."""
    end = offset + count
    while offset < end:
        chunk = os.pread(fd, min(CHUNK_SIZE, end - offset), offset)
        if not chunk:
            raise EOFError(f"the file ends at byte {offset}, inside the blob")
        offset += len(chunk)
        yield chunk


def _hash_piece(fd: int, start: int, count: int, hasher: _Hasher) -> None:
    """Hash ``count`` bytes of the file ``fd`` from ``start`` where they lie, in the page cache.

    Pieces under MAP_AT_LEAST are read instead (cheaper than mapping and
    unmapping them), as are those of a file that cannot be mapped (some
    network and FUSE filesystems).
    """
    if count >= MAP_AT_LEAST:
        # A mapping starts on a page: from the page holding ``start``, its head skipped.
        skip = start % mmap.ALLOCATIONGRANULARITY
        try:
            mapped = mmap.mmap(fd, skip + count, access=mmap.ACCESS_READ, offset=start - skip)
        except OSError:
            pass
        else:
            with mapped, memoryview(mapped) as view, view[skip:] as piece:
                hasher.update(piece)
            return
    for chunk in read_range(fd, start, count):
        hasher.update(chunk)


def _checked_digests(hasher: _Hasher, expected_sha256: str | None, expected_size: int | None) -> Digests:
    """The digests once every chunk went through; raises IntegrityFailure for a short or different blob."""
    digests = hasher.digests()
    if expected_size is not None and digests.size != expected_size:
        raise IntegrityFailure(f"{digests.size} bytes received, {expected_size} expected")
    if expected_sha256 is not None and digests.sha256 != expected_sha256.lower():
        raise IntegrityFailure(f"sha256 {digests.sha256} does not match the expected {expected_sha256}")
    return digests


def unlink_if_there(path: str | Path) -> None:
    """Remove ``path``; a file that is already gone is not an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class StagedBlob:
    """Bytes written and hashed in a temporary file, not yet in the store."""

    # An import stages one per blob of a bundle, 100,000 and more: keep them small.
    __slots__ = ("store", "_path", "digests", "_done")

    def __init__(self, store: LocalBlobStore, path: str | Path, digests: Digests) -> None:
        self.store = store
        self._path = str(path)
        self.digests = digests
        self._done = False

    @property
    def path(self) -> Path:
        return Path(self._path)

    @property
    def path_text(self) -> str:
        """``path`` as a string, without building a Path (an import records one per blob)."""
        return self._path

    @property
    def sha256(self) -> str:
        return self.digests.sha256

    def commit(self) -> bool:
        """Move the bytes into place; True when the blob is new to the store."""
        if self._done:
            raise RuntimeError("blob already committed or discarded")
        self._done = True
        return self.store.adopt(self._path, self.sha256)

    def discard(self) -> None:
        if not self._done:
            self._done = True
            unlink_if_there(self._path)

    def __enter__(self) -> StagedBlob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


class LocalBlobStore:
    """Blobs on the local filesystem, named by their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # exists() runs several times per file an update or an import catalogs: a
        # string path skips pathlib's parsing, four times its cost.
        self._root_text = str(self.root)
        self.temporary_dir = self.root / ".incoming"
        self._temporary_text = str(self.temporary_dir)
        # Staging files' names: unique to this store object (the process id and
        # random bits) and then numbered; next() on a count is atomic under the GIL.
        self._temporary_token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._temporary_numbers = itertools.count()
        self._temporary_ready = False
        # Each thread that stages gets a writer thread of its own (an import stages in several).
        self._writers = threading.local()

    @staticmethod
    def relative_path(sha256: str) -> str:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def path_for(self, sha256: str) -> Path:
        return self.root / self.relative_path(sha256)

    def path_text(self, sha256: str) -> str:
        """``path_for`` as a string: for the loops over every blob of a bundle, where pathlib's parsing shows."""
        return f"{self._root_text}{os.sep}{self.relative_path(sha256)}"

    def exists(self, sha256: str) -> bool:
        return os.path.isfile(self.path_text(sha256))

    def open(self, sha256: str) -> BinaryIO:
        """Open a blob for reading; raises FileNotFoundError when it is missing."""
        return self.path_for(sha256).open("rb")

    def size(self, sha256: str) -> int:
        return self.path_for(sha256).stat().st_size

    def stage(
        self,
        chunks: Iterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        max_size: int | None = None,
        prefix: str = "blob-",
        only_sha256: bool = False,
        sync: bool = True,
        background_write: bool = False,
    ) -> StagedBlob:
        """Write ``chunks`` to a temporary file while hashing them.

        ``prefix`` names the temporary file, so that a writer can find what
        it left behind when it was killed (``update`` does). ``only_sha256``
        skips the md5 and blake2 digests when the caller knows them already;
        ``sync=False`` leaves the fsync to the caller (one ``sync()`` for a
        whole batch is much cheaper than one fsync per blob).
        ``background_write`` writes each chunk in the store's writer thread
        while the next one is read and hashed, one write in flight: for
        blobs of megabytes read from a file (an import), not for small ones.
        Raises IntegrityFailure when the size or digest is not the one
        expected, or the bytes exceed ``max_size``; nothing is left behind.
        """
        fd, path = self._temporary(prefix)
        hasher = _Hasher(only_sha256)
        try:
            with os.fdopen(fd, "wb") as handle:
                if background_write:
                    self._write_behind(handle, _checked(chunks, hasher, expected_size, max_size))
                else:
                    for chunk in _checked(chunks, hasher, expected_size, max_size):
                        handle.write(chunk)
                handle.flush()
                if sync:
                    os.fsync(handle.fileno())
                elif hasher.size >= WRITEBACK_AT_LEAST:
                    # The caller's sync will wait for less.
                    start_writeback(handle.fileno(), 0, hasher.size)
            digests = _checked_digests(hasher, expected_sha256, expected_size)
        except BaseException:
            unlink_if_there(path)
            raise
        return StagedBlob(self, path, digests)

    def stage_range(
        self,
        source: int,
        offset: int,
        length: int,
        *,
        expected_sha256: str,
        expected_size: int | None = None,
        prefix: str = "blob-",
        sync: bool = True,
    ) -> StagedBlob:
        """Stage the ``length`` bytes of the open file ``source`` from ``offset``, copied by the kernel.

        For bytes that lie whole in a file on disk, as a bundle's blobs do:
        they go from page cache to page cache (copy_file_range, or sendfile
        between filesystems) rather than through Python, and the staged copy
        is hashed where it lies, so the bytes checked are the bytes the store
        keeps. Each piece is hashed while the writer thread copies the next.
        Raises IntegrityFailure as ``stage`` does, and EOFError when
        ``source`` ends before ``length`` bytes; nothing is left behind.
        """
        _refuse_longer(length, expected_size)
        fd, path = self._temporary(prefix)
        hasher = _Hasher(only_sha256=True)
        copying: Future | None = None
        try:
            if length <= COPY_PIECE:
                # One piece: copied in this thread, without a hand-off to the writer.
                copy_range(source, fd, offset, length)
                _hash_piece(fd, 0, length, hasher)
                start_writeback(fd, 0, length)
            else:
                writer = self._writer_thread()

                def copy(start: int) -> Future:
                    return writer.submit(copy_range, source, fd, offset + start, min(COPY_PIECE, length - start))

                copying = copy(0)
                for start in range(0, length, COPY_PIECE):
                    copying.result()
                    following = start + COPY_PIECE
                    copying = copy(following) if following < length else None
                    _hash_piece(fd, start, min(COPY_PIECE, length - start), hasher)
                    # The disk writes each piece out while the next is hashed:
                    # the sync that follows waits for less.
                    start_writeback(fd, start, min(COPY_PIECE, length - start))
            if sync:
                os.fsync(fd)
            digests = _checked_digests(hasher, expected_sha256, expected_size)
        except BaseException:
            # Never let the file close under a copy in flight.
            if copying is not None:
                wait([copying])
            os.close(fd)
            unlink_if_there(path)
            raise
        os.close(fd)
        return StagedBlob(self, path, digests)

    def _temporary(self, prefix: str) -> tuple[int, str]:
        """A new temporary file beside the store, open for reading and writing: (descriptor, path).

        Created as ``tempfile.mkstemp`` creates its files (exclusively, mode
        0600, not through a symlink), but named by this store's token and a
        counter instead of eight random letters: an import stages every blob
        of a bundle, and mkstemp's names cost a third of each file's creation
        (64 µs against 40 µs per file here). A name already taken, by a writer
        that died, is skipped.
        """
        if not self._temporary_ready:
            self.temporary_dir.mkdir(parents=True, exist_ok=True)
            self._temporary_ready = True
        while True:
            path = f"{self._temporary_text}{os.sep}{prefix}{self._temporary_token}-{next(self._temporary_numbers)}"
            try:
                return os.open(path, _TEMPORARY_FLAGS, 0o600), path
            except FileExistsError:
                continue

    def _writer_thread(self) -> ThreadPoolExecutor:
        writer = getattr(self._writers, "executor", None)
        if writer is None:
            writer = self._writers.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-writer")
        return writer

    def _write_behind(self, handle: BinaryIO, chunks: Iterator[bytes]) -> None:
        """Write each chunk in the writer thread while the caller's thread reads and hashes the next."""
        writer = self._writer_thread()
        writing: Future | None = None
        try:
            for chunk in chunks:
                if writing is not None:
                    writing.result()
                writing = writer.submit(handle.write, chunk)
            if writing is not None:
                writing.result()
        finally:
            # Never let the file close under a write in flight.
            if writing is not None:
                wait([writing])

    @staticmethod
    def check(chunks: Iterable[bytes], *, expected_sha256: str, expected_size: int | None = None) -> Digests:
        """Hash ``chunks`` and check them as ``stage`` does, writing nothing (``verify-bundle``).

        Raises IntegrityFailure when the size or the sha256 is not the one expected.
        """
        hasher = _Hasher(only_sha256=True)
        for _chunk in _checked(chunks, hasher, expected_size, None):
            pass
        return _checked_digests(hasher, expected_sha256, expected_size)

    @staticmethod
    def check_range(
        source: int, offset: int, length: int, *, expected_sha256: str, expected_size: int | None = None
    ) -> Digests:
        """Check ``length`` bytes of the open file ``source`` from ``offset`` as ``check`` does, hashed where they lie.

        For ``verify-bundle``: a bundle's blobs are hashed in place, neither
        copied nor read through Python. Raises IntegrityFailure as ``check``
        does, and EOFError when the file ends before ``length`` bytes.
        """
        _refuse_longer(length, expected_size)
        end = os.fstat(source).st_size
        if offset + length > end:
            raise EOFError(f"the file ends at byte {end}, inside the blob")
        hasher = _Hasher(only_sha256=True)
        for start in range(0, length, COPY_PIECE):
            _hash_piece(source, offset + start, min(COPY_PIECE, length - start), hasher)
        return _checked_digests(hasher, expected_sha256, expected_size)

    def adopt(self, staged_path: str | Path, sha256: str) -> bool:
        """Move a staged file, already verified to hold ``sha256``, into place; True when the blob is new.

        An import keeps only the paths of what it staged, not a StagedBlob per blob.
        """
        # String paths: an import adopts every blob of a bundle, and pathlib's parsing cost more than the rename.
        target = self.path_text(sha256)
        if os.path.exists(target):
            unlink_if_there(staged_path)
            return False
        try:
            os.replace(staged_path, target)
        except FileNotFoundError:
            # The first blob of its folder (most folders exist after a few thousand blobs).
            if not os.path.exists(staged_path):
                raise
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(staged_path, target)
        return True

    def sync(self) -> None:
        """Make durable what was staged with ``sync=False`` (and committed), names included.

        One flush of the store's filesystem for a batch of blobs, not of every
        filesystem (a USB stick a bundle is being written to, for one).
        """
        if self.root.exists():
            sync_filesystem(self.root)

    def stage_file(self, source: BinaryIO, **checks: object) -> StagedBlob:
        return self.stage(iter(lambda: source.read(CHUNK_SIZE), b""), **checks)

    def stage_bytes(self, data: bytes, **checks: object) -> StagedBlob:
        return self.stage([data], **checks)

    def put_bytes(self, data: bytes) -> Digests:
        """Store small bytes (a metadata file) at once and return their digests."""
        staged = self.stage_bytes(data)
        staged.commit()
        return staged.digests

    def digests(self, sha256: str) -> Digests:
        """Hash a stored blob again; raises FileNotFoundError when it is missing."""
        hasher = _Hasher()
        with self.open(sha256) as handle:
            for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                hasher.update(chunk)
        return hasher.digests()

    def remove_stale_temporary_files(self, older_than: float = 24 * 3600) -> int:
        """Delete staging files a killed writer left behind; returns how many.

        Only old ones: a file younger than ``older_than`` seconds may belong
        to a writer still at work.
        """
        if not self.temporary_dir.is_dir():
            return 0
        limit = time.time() - older_than
        removed = 0
        for entry in self.temporary_dir.iterdir():
            try:
                if entry.is_file() and entry.stat().st_mtime < limit:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def delete(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def copy_to(self, sha256: str, destination: Path) -> None:
        with self.open(sha256) as source, destination.open("wb") as target:
            shutil.copyfileobj(source, target, CHUNK_SIZE)
