"""Writing a bundle as a directory, a single tar archive, or tar volumes.

Every form is written under a temporary name and renamed into place only
when complete, so an interrupted export never leaves something that looks
like a bundle.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from pythonnest.bundles.format import BLOB_DIRECTORY, VOLUME_HEADER
from pythonnest.core.exceptions import BundleError
from pythonnest.storage.local import copy_range, start_writeback, sync_filesystem

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
COPY_CHUNK = 1024 * 1024
# Blob bytes are copied into an archive this much at a time, the disk writing
# each piece out while the next is copied, so that the fsync at the end of a
# volume waits only for the last one (docs/performance.md).
WRITEBACK_PIECE = 16 * 1024 * 1024


def tar_member_size(size: int) -> int:
    """Bytes one regular member of ``size`` bytes takes in a GNU tar."""
    return BLOCK + -(-size // BLOCK) * BLOCK


def tar_total_size(member_sizes: list[int]) -> int:
    """Bytes of a whole tar stream: members, end marker, padding to a record."""
    total = sum(tar_member_size(size) for size in member_sizes) + 2 * BLOCK
    return -(-total // RECORD) * RECORD


def _tar_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    # Fixed owner and time: the same bundle gives the same bytes.
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def _copy_blob(sha256: str, source: BinaryIO, target: BinaryIO, size: int) -> None:
    """Append the ``size`` bytes of the blob ``source`` to ``target`` (flushed), copied by the kernel.

    The disk starts writing each piece as soon as it is copied.
    """
    fd = target.fileno()
    position = os.lseek(fd, 0, os.SEEK_CUR)
    done = 0
    try:
        while done < size:
            piece = min(WRITEBACK_PIECE, size - done)
            copy_range(source.fileno(), fd, done, piece)
            start_writeback(fd, position + done, piece)
            done += piece
    except EOFError as exc:
        raise BundleError(f"blob {sha256} in the store is shorter than the catalog says ({exc})") from None


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it lasts."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectoryWriter:
    """A bundle as a folder: manifest files at the top, blobs under blobs/."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise BundleError(f"{path} already exists and is not an empty folder")
        self.staging = path.parent / f".{path.name}.partial-{os.getpid()}"
        # Whether the staging folder took the bundle's name: then an abort removes the bundle.
        self._renamed = False
        blob_folder = self.staging / BLOB_DIRECTORY
        # A string: every blob of the bundle is written there.
        self._blob_folder = str(blob_folder)
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
            blob_folder.mkdir(parents=True)
        except OSError as exc:
            raise BundleError(f"cannot create {self.staging}: {exc.strerror}") from exc

    def add_bytes(self, name: str, data: bytes) -> None:
        (self.staging / name).write_bytes(data)

    def add_file(self, name: str, source: Path) -> None:
        shutil.copyfile(source, self.staging / name)

    def add_blob(self, sha256: str, source: str | Path, size: int) -> None:
        with open(source, "rb") as reader, open(f"{self._blob_folder}{os.sep}{sha256}", "wb") as writer:
            _copy_blob(sha256, reader, writer, size)

    def finish(self) -> list[Path]:
        # Every file durable before the folder takes the bundle's name, and
        # the name durable before the export is recorded.
        sync_filesystem(self.staging)
        if self.path.exists():
            self.path.rmdir()
        os.replace(self.staging, self.path)
        self._renamed = True
        _sync_folder(self.path.parent)
        return [self.path]

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._renamed:
            shutil.rmtree(self.path, ignore_errors=True)


class ArchiveWriter:
    """A bundle as one tar stream, or as volumes of at most ``volume_size`` bytes.

    Volumes are planned before anything is written (every size is known), so
    each volume's header can say how many volumes there are. Members must then
    be added in the order of ``plan``: a volume is known by how many members
    it takes, not by their names, so that planning holds no per-member data.
    """

    def __init__(self, path: Path, volume_size: int | None, bundle_id: str, plan: Iterable[tuple[str, int]]) -> None:
        self.path = path
        self.volume_size = volume_size
        self.bundle_id = bundle_id
        # How many members each volume takes, in order.
        self.volume_counts = self._plan_volumes(plan) if volume_size else [None]
        self.added = 0
        self.written: list[Path] = []
        # The volumes renamed into place by finish(), which an abort removes too.
        self.finished: list[Path] = []
        self.current: int | None = None
        self.tar: tarfile.TarFile | None = None
        self.handle: BinaryIO | None = None
        for target in self.final_paths():
            if target.exists():
                raise BundleError(f"{target} already exists")

    def _plan_volumes(self, plan: Iterable[tuple[str, int]]) -> list[int]:
        # Leave room for each volume's own header member.
        header_room = tar_member_size(4096)
        budget = self.volume_size - header_room - 2 * BLOCK - RECORD
        counts = [0]
        used = 0
        for name, size in plan:
            needed = tar_member_size(size)
            if needed > budget:
                raise BundleError(f"{name} ({size} bytes) does not fit in a volume of {self.volume_size} bytes")
            if used + needed > budget and counts[-1]:
                counts.append(0)
                used = 0
            counts[-1] += 1
            used += needed
        return counts

    def _volume_of_next_member(self) -> int:
        if not self.volume_size:
            return 0
        index = self.current if self.current is not None else 0
        while index < len(self.volume_counts) and self.added >= sum(self.volume_counts[: index + 1]):
            index += 1
        if index >= len(self.volume_counts):
            raise BundleError("more members written than planned")
        return index

    def final_paths(self) -> list[Path]:
        if not self.volume_size:
            return [self.path]
        return [self.path.with_name(f"{self.path.name}.{index + 1:03d}") for index in range(len(self.volume_counts))]

    def _open_volume(self, index: int) -> None:
        self._close_volume()
        target = self.final_paths()[index]
        partial = target.with_name(target.name + ".partial")
        try:
            self.handle = partial.open("wb")
        except OSError as exc:
            raise BundleError(f"cannot write {partial}: {exc.strerror}") from exc
        self.tar = tarfile.open(fileobj=self.handle, mode="w", format=tarfile.GNU_FORMAT, copybufsize=COPY_CHUNK)
        self.current = index
        self.written.append(partial)
        if self.volume_size:
            header = {
                "bundle": self.bundle_id,
                "volume": index + 1,
                "volumes": len(self.volume_counts),
                "member_count": self.volume_counts[index],
            }
            self._add_stream(VOLUME_HEADER, io.BytesIO(json.dumps(header, sort_keys=True).encode()), None)

    def _close_volume(self) -> None:
        if self.tar is not None:
            self.tar.close()
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.tar = self.handle = None

    def _add_stream(self, name: str, stream: BinaryIO, size: int | None) -> None:
        if size is None:
            data = stream.read()
            stream, size = io.BytesIO(data), len(data)
        self.tar.addfile(_tar_info(name, size), stream)
        # TarFile keeps every member it wrote; a bundle has no use for them.
        self.tar.members.clear()

    def _enter_volume(self) -> None:
        """Open the volume the next member belongs in, unless it is open already."""
        index = self._volume_of_next_member()
        if self.current != index:
            self._open_volume(index)

    def _member(self, name: str, stream: BinaryIO, size: int | None) -> None:
        self._enter_volume()
        self._add_stream(name, stream, size)
        self.added += 1

    def add_bytes(self, name: str, data: bytes) -> None:
        self._member(name, io.BytesIO(data), len(data))

    def add_file(self, name: str, source: Path) -> None:
        with source.open("rb") as stream:
            self._member(name, stream, source.stat().st_size)

    def add_blob(self, sha256: str, source: str | Path, size: int) -> None:
        self._enter_volume()
        with open(source, "rb") as stream:
            # The header as tarfile makes it, the bytes copied by the kernel, then
            # the padding to a block; tarfile's offset follows, for its end marker.
            # (TarFile.addfile would want the bytes as a stream.)
            header = _tar_info(f"{BLOB_DIRECTORY}/{sha256}", size).tobuf(
                self.tar.format, self.tar.encoding, self.tar.errors
            )
            self.handle.write(header)
            self.handle.flush()
            _copy_blob(sha256, stream, self.handle, size)
            padding = -size % BLOCK
            self.handle.write(tarfile.NUL * padding)
            self.tar.offset += len(header) + size + padding
        self.added += 1

    def finish(self) -> list[Path]:
        self._close_volume()
        for partial in self.written:
            final = partial.with_name(partial.name.removesuffix(".partial"))
            os.replace(partial, final)
            self.finished.append(final)
        _sync_folder(self.path.parent)
        return self.finished

    def abort(self) -> None:
        # Neither end marker nor fsync: the files go. Closing may fail to flush
        # (a full disk), but the descriptor is closed all the same.
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.close()
            self.tar = self.handle = None
        for path in [*self.written, *self.finished]:
            path.unlink(missing_ok=True)
