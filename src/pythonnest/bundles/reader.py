"""Opening a bundle, whatever its form, without trusting any of it.

Nothing is ever extracted by name: the manifest is copied to a scratch
folder, and blobs are handed out as streams for the importer to verify, with
where their bytes lie in a file on disk when they lie whole in one (the
importer then has the kernel copy them, and hashes the copy). An
archive member that is not one of the names the format allows (a path with
``..``, an absolute path, a link, a device) refuses the whole bundle.
"""

from __future__ import annotations

import itertools
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pythonnest.bundles.format import (
    BLOB_DIRECTORY,
    BLOB_MEMBER,
    MANIFEST,
    MANIFEST_DIGEST,
    SHA256,
    SIGNATURE,
    VOLUME_HEADER,
    listed,
    parse_json,
)
from pythonnest.core.exceptions import BundleError
from pythonnest.storage.local import read_range

MANIFEST_MEMBERS = (MANIFEST, MANIFEST_DIGEST, SIGNATURE)
MAX_SMALL_MEMBER = 64 * 1024
# Read buffer of a streamed tar: tarfile's default (10 KiB) costs a system call
# and a bytes join per 10 KiB.
STREAM_BUFFER = 1024 * 1024
TAR_ERRORS = (tarfile.TarError, zlib.error, EOFError, OSError)
# A header claiming more volumes than anyone could give on a command line is hostile,
# whatever export's --volume-size allows.
MAX_VOLUMES = 1_000_000
# Missing volumes named in a refusal; the others are counted.
VOLUMES_NAMED = 10
# Members whose data follows their header as it is (not a sparse file's map).
_CONTIGUOUS_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


@dataclass(frozen=True, slots=True)
class Span:
    """Where a blob's bytes lie, whole, in a regular file open for reading: ``length`` bytes from ``offset``."""

    fd: int
    offset: int
    length: int

    def chunks(self) -> Iterator[bytes]:
        """The bytes, a chunk at a time, read where they lie; EOFError when the file ends first."""
        return read_range(self.fd, self.offset, self.length)


def _span_of(stream: BinaryIO, offset: int = 0, length: int | None = None) -> Span | None:
    """``length`` bytes (all of them by default) of ``stream``'s file from ``offset``, when it is a regular file."""
    try:
        fd = stream.fileno()
        status = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    return Span(fd, offset, status.st_size if length is None else length)


class BundleSource:
    """An opened bundle: its manifest on local disk, its blobs as streams."""

    description: str
    manifest_path: Path
    manifest_digest: str
    signature: bytes | None

    def blobs(self) -> Iterator[tuple[str, BinaryIO, str, Span | None]]:
        """Yield (sha256, stream, where, span) for every blob, where naming its file.

        ``span`` says where the blob's bytes lie when they lie whole in a
        regular file (None otherwise); the stream then starts at them.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass


def _digest_text(data: bytes, where: str) -> str:
    text = data.decode("ascii", errors="replace").strip()
    if len(text) != 64 or any(char not in "0123456789abcdef" for char in text):
        raise BundleError(f"{where}: {MANIFEST_DIGEST} does not hold a sha256 digest")
    return text


class DirectorySource(BundleSource):
    def __init__(self, path: Path, scratch: Path) -> None:
        self.path = path
        self.description = str(path)
        try:
            self._open(path, scratch)
        except OSError as exc:
            raise BundleError(f"{exc.filename or path}: cannot read the bundle ({exc.strerror})") from exc

    def _open(self, path: Path, scratch: Path) -> None:
        for entry in path.iterdir():
            if entry.is_symlink():
                raise BundleError(f"{entry}: links are not allowed in a bundle")
            if entry.name not in (*MANIFEST_MEMBERS, BLOB_DIRECTORY):
                raise BundleError(f"{entry}: unexpected entry in the bundle")
            # A fifo or a device would block or never end; a folder of blobs that is a file cannot be listed.
            if entry.name == BLOB_DIRECTORY and not entry.is_dir():
                raise BundleError(f"{entry}: not a folder")
            if entry.name != BLOB_DIRECTORY and not entry.is_file():
                raise BundleError(f"{entry}: not a regular file")
        manifest = path / MANIFEST
        if not manifest.is_file():
            raise BundleError(f"{path}: no {MANIFEST}: not a bundle, or an incomplete one")
        self.manifest_path = scratch / MANIFEST
        try:
            shutil.copyfile(manifest, self.manifest_path)
        except OSError as exc:
            # Reading the bundle or writing the scratch copy: both paths are named.
            raise BundleError(f"{manifest}: cannot copy it to {self.manifest_path} ({exc.strerror})") from exc
        try:
            self.manifest_digest = _digest_text((path / MANIFEST_DIGEST).read_bytes()[:200], str(path))
        except FileNotFoundError as exc:
            raise BundleError(f"{path}: no {MANIFEST_DIGEST}") from exc
        signature = path / SIGNATURE
        self.signature = signature.read_bytes()[:MAX_SMALL_MEMBER] if signature.is_file() else None

    def blobs(self) -> Iterator[tuple[str, BinaryIO, str, Span | None]]:
        folder = self.path / BLOB_DIRECTORY
        if not folder.exists():
            return
        try:
            # Streamed in directory order: a sorted list of 150,000 paths took 60 MB.
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                        raise BundleError(f"{entry.path}: not a regular file (links are not allowed in a bundle)")
                    match = BLOB_MEMBER.match(f"{BLOB_DIRECTORY}/{entry.name}")
                    if match is None:
                        raise BundleError(f"{entry.path}: unexpected file among the blobs")
                    with open(entry.path, "rb") as stream:
                        yield match.group(1), stream, entry.path, _span_of(stream)
        except OSError as exc:
            # Listing the folder or opening a blob; reading one fails in the importer, which names it.
            raise BundleError(f"{exc.filename or folder}: cannot read the bundle ({exc.strerror})") from exc


def _check_member(member: tarfile.TarInfo, where: str) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise BundleError(f"{where}: member {name!r} escapes the bundle")
    if not member.isreg():
        if member.isdir() and name.rstrip("/") == BLOB_DIRECTORY:
            return
        raise BundleError(f"{where}: member {name!r} is not a regular file (links and devices are refused)")
    if name not in (*MANIFEST_MEMBERS, VOLUME_HEADER) and not BLOB_MEMBER.match(name):
        raise BundleError(f"{where}: unexpected member {name!r}")


def _check_end(path: Path, offset: int) -> None:
    """Raise unless the archive's end marker (zero blocks, then only zeros) is at ``offset``.

    tarfile takes a damaged or missing header for the end of the archive,
    which would silently drop every member after it.
    """
    zeros = 0
    with path.open("rb") as handle:
        handle.seek(offset)
        for chunk in iter(lambda: handle.read(MAX_SMALL_MEMBER), b""):
            if chunk.count(0) != len(chunk):
                raise BundleError(f"{path}: damaged member header at byte {offset}: the archive is corrupt")
            zeros += len(chunk)
    if zeros < 2 * tarfile.BLOCKSIZE:
        raise BundleError(f"{path}: the archive ends at byte {offset} without its end marker: it is truncated")


class ArchiveSource(BundleSource):
    """One tar archive, or volumes given in any order."""

    def __init__(self, paths: list[Path], scratch: Path) -> None:
        self.scratch = scratch
        # The sha256 of the manifest, as the volume headers name it (None for a single archive).
        self.bundle_id: str | None = None
        self.volumes = self._order_volumes(paths)
        self.description = ", ".join(str(path) for path in self.volumes)
        self.manifest_path = scratch / MANIFEST
        self.signature = None
        self._tar: tarfile.TarFile | None = None
        self._pending: tarfile.TarInfo | None = None
        self._read_manifest()

    def _order_volumes(self, paths: list[Path]) -> list[Path]:
        headers = {}
        for path in paths:
            header = self._volume_header(path)
            if header is None:
                if len(paths) > 1:
                    raise BundleError(f"{path}: not a volume of a bundle (no {VOLUME_HEADER})")
                return paths
            headers[path] = header
        bundles = {header["bundle"] for header in headers.values()}
        if len(bundles) > 1:
            raise BundleError(f"the volumes given belong to {len(bundles)} different bundles")
        self.bundle_id = bundles.pop()
        total = next(iter(headers.values()))["volumes"]
        by_index: dict[int, Path] = {}
        for path, header in headers.items():
            if header["volumes"] != total:
                raise BundleError(f"{path}: volume header disagrees on the number of volumes")
            if header["volume"] in by_index:
                raise BundleError(f"{path} and {by_index[header['volume']]} are both volume {header['volume']}")
            by_index[header["volume"]] = path
        missing = total - len(by_index)
        if missing:
            absent = (str(index) for index in range(1, total + 1) if index not in by_index)
            named = listed(list(itertools.islice(absent, VOLUMES_NAMED)), missing)
            raise BundleError(f"volume(s) {named} of {total} missing: give every volume of the bundle")
        return [by_index[index] for index in range(1, total + 1)]

    def _volume_header(self, path: Path) -> dict | None:
        try:
            with tarfile.open(path, mode="r|", bufsize=STREAM_BUFFER) as archive:
                member = archive.next()
                if member is None or member.name != VOLUME_HEADER:
                    return None
                _check_member(member, str(path))
                data = archive.extractfile(member).read(MAX_SMALL_MEMBER)
        except TAR_ERRORS as exc:
            raise BundleError(f"{path}: unreadable or corrupt archive ({exc})") from exc
        try:
            header = parse_json(data)
            numbers = (header["volume"], header["volumes"])
            if not all(isinstance(number, int) and not isinstance(number, bool) for number in numbers):
                raise ValueError("volume numbers are not integers")
            if not 1 <= header["volume"] <= header["volumes"]:
                raise ValueError("volume number out of range")
            if header["volumes"] > MAX_VOLUMES:
                raise ValueError(f"more than {MAX_VOLUMES} volumes")
            # What the writer names a bundle by: the sha256 of its manifest.
            if not isinstance(header["bundle"], str) or not SHA256.match(header["bundle"]):
                raise ValueError("the bundle is not named by a sha256")
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{path}: malformed {VOLUME_HEADER} ({exc})") from exc
        return header

    def _members(self) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile, str]]:
        for path in self.volumes:
            where = str(path)
            try:
                # A volume is a file on disk: read in place ("r:"), each member's data
                # straight from the file, rather than through tarfile's stream copies.
                self._tar = tarfile.open(path, mode="r:")
                while (member := self._tar.next()) is not None:
                    # TarFile keeps every member it read; a stream of 100,000 blobs needs none of them.
                    self._tar.members.clear()
                    _check_member(member, where)
                    yield member, self._tar, where
                end = self._tar.offset
                self._tar.close()
                _check_end(path, end)
            except TAR_ERRORS as exc:
                raise BundleError(f"{where}: unreadable or corrupt archive ({exc})") from exc

    def _read_manifest(self) -> None:
        self._iterator = self._members()
        digest = None
        for member, archive, where in self._iterator:
            if member.name == VOLUME_HEADER or member.isdir():
                continue
            if member.name == MANIFEST:
                with self.manifest_path.open("wb") as target:
                    shutil.copyfileobj(archive.extractfile(member), target)
            elif member.name == MANIFEST_DIGEST:
                digest = _digest_text(archive.extractfile(member).read(200), where)
            elif member.name == SIGNATURE:
                self.signature = archive.extractfile(member).read(MAX_SMALL_MEMBER)
            else:
                self._pending = (member, archive, where)
                break
        if not self.manifest_path.exists():
            raise BundleError(f"{self.description}: no {MANIFEST} before the blobs: not a bundle, or a damaged one")
        if digest is None:
            raise BundleError(f"{self.description}: no {MANIFEST_DIGEST}")
        if self.bundle_id is not None and digest != self.bundle_id:
            raise BundleError(
                f"{self.description}: the volumes belong to bundle {self.bundle_id}, "
                f"but {MANIFEST_DIGEST} says {digest}: volumes of another bundle, or a forged manifest"
            )
        self.manifest_digest = digest

    def blobs(self) -> Iterator[tuple[str, BinaryIO, str, Span | None]]:
        def remaining():
            if self._pending is not None:
                yield self._pending
                self._pending = None
            yield from self._iterator

        for member, archive, where in remaining():
            if member.name == VOLUME_HEADER or member.isdir():
                continue
            match = BLOB_MEMBER.match(member.name)
            if match is None:
                raise BundleError(f"{where}: {member.name} found after the blobs began")
            span = None
            if member.type in _CONTIGUOUS_TYPES and member.sparse is None:
                span = _span_of(archive.fileobj, member.offset_data, member.size)
            yield match.group(1), archive.extractfile(member), where, span

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()


def open_bundle(paths: list[Path], scratch: Path) -> BundleSource:
    """Open a bundle folder, an archive, or a set of volumes (in any order).

    Raises BundleError when the paths are not a readable bundle.
    """
    for path in paths:
        if not path.exists():
            raise BundleError(f"{path}: no such file or folder")
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        if (folder / MANIFEST).exists():
            return DirectorySource(folder, scratch)
        archives = sorted(entry for entry in folder.iterdir() if entry.is_file() and ".tar" in entry.name)
        if not archives:
            raise BundleError(f"{folder}: neither a bundle folder nor a folder of bundle archives")
        return ArchiveSource(archives, scratch)
    if any(path.is_dir() for path in paths):
        raise BundleError("give one bundle folder, or archive files and volumes, not both")
    return ArchiveSource(paths, scratch)
