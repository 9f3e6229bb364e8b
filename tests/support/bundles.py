"""Building bundles by hand, sound or hostile, for the bundle tests.

The real writer is ``pythonnest.bundles.writers``; these helpers exist to
make what it never would: tampered manifests, escaping tar members, links,
volumes of two bundles.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pythonnest.bundles.format import dumps


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest_lines(manifest: bytes) -> list[dict]:
    return [json.loads(line) for line in manifest.splitlines()]


def manifest_bytes(records: list[dict]) -> bytes:
    """Canonical JSON Lines, as the exporter writes them."""
    return b"".join(dumps(record) for record in records)


def rewrite_folder_manifest(folder: Path, records: list[dict]) -> None:
    """Replace a bundle folder's manifest and its digest (a forger's rewrite)."""
    data = manifest_bytes(records)
    (folder / "manifest.jsonl").write_bytes(data)
    (folder / "manifest.sha256").write_text(sha256_hex(data) + "\n", encoding="ascii")


@dataclass
class Member:
    """One tar member to write; ``kind`` is "file", "dir", "symlink", "hardlink" or "fifo"."""

    name: str
    data: bytes = b""
    kind: str = "file"
    target: str = ""


def write_tar(path: Path, members: list[Member]) -> Path:
    """A tar holding exactly ``members``, in order, whatever they are."""
    kinds = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = kinds[member.kind]
            info.mode = 0o755 if member.kind == "dir" else 0o644
            if member.kind == "file":
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                info.linkname = member.target
                archive.addfile(info)
    return path


def folder_members(folder: Path) -> list[Member]:
    """The members of a bundle folder in the order an archive holds them."""
    members = [Member(name, (folder / name).read_bytes()) for name in ("manifest.jsonl", "manifest.sha256")]
    if (folder / "manifest.sig").exists():
        members.append(Member("manifest.sig", (folder / "manifest.sig").read_bytes()))
    blobs = folder / "blobs"
    if blobs.is_dir():
        members += [Member(f"blobs/{entry.name}", entry.read_bytes()) for entry in sorted(blobs.iterdir())]
    return members


def tar_with(folder: Path, path: Path, *, extra: list[Member] = (), position: int | None = None) -> Path:
    """A tar of a sound bundle folder with hostile ``extra`` members inserted at ``position``."""
    members = folder_members(folder)
    index = len(members) if position is None else position
    members[index:index] = list(extra)
    return write_tar(path, members)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte of a file in place (the middle one by default)."""
    data = bytearray(path.read_bytes())
    index = len(data) // 2 if offset is None else offset
    data[index] ^= 0x01
    path.write_bytes(bytes(data))
