"""The bundle format, version 1 (specified in docs/bundle-format.md).

A bundle is a manifest plus the blobs it names:

    manifest.jsonl     one JSON object per line: a header, the records, a summary
    manifest.sha256    the sha256 of manifest.jsonl, in hex
    manifest.sig       optional Ed25519 signature of that digest
    blobs/<sha256>     every file and core-metadata blob the bundle carries

The manifest is JSON Lines so that both sides stream it, whatever its size.
Every object is written with sorted keys and no spaces, and records are
sorted, so the same data exported twice gives the same bytes (apart from the
header's creation time).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pythonnest.core.exceptions import BundleError
from pythonnest.core.models import RELEASE_METADATA_FIELDS  # noqa: F401  (part of the format)

FORMAT_NAME = "pythonnest-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.jsonl"
MANIFEST_DIGEST = "manifest.sha256"
SIGNATURE = "manifest.sig"
VOLUME_HEADER = "volume.json"
BLOB_DIRECTORY = "blobs"
SIGNED_PREFIX = b"pythonnest-bundle-v1 manifest sha256="

SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
BLOB_MEMBER = re.compile(r"^blobs/([0-9a-f]{64})\Z")
# \Z, not $: a trailing newline is not part of a name.
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")

RECORD_PROJECT = "project"
RECORD_REMOVED_PROJECT = "removed_project"
RECORD_SUMMARY = "summary"

FILE_FIELDS = (
    "filename",
    "packagetype",
    "python_version",
    "size",
    "sha256",
    "md5",
    "blake2_256",
    "upload_time",
    "requires_python",
    "metadata_sha256",
    "metadata_size",
    "upstream_url",
    "blob_included",
)


def dumps(value: dict) -> bytes:
    """One canonical JSON line."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def loads(line: bytes, where: str) -> dict:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise BundleError(f"{where}: a JSON object was expected")
    return value


def signed_message(manifest_sha256: str) -> bytes:
    return SIGNED_PREFIX + manifest_sha256.encode()


@dataclass(frozen=True)
class Header:
    """The manifest's first line: what the bundle is and which serials it covers."""

    source_instance: str
    tag: str
    serial_from: int
    serial_to: int
    created: str
    selection: dict | None

    def to_json(self) -> dict:
        return {
            "type": "header",
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "source_instance": self.source_instance,
            "tag": self.tag,
            "serial_from": self.serial_from,
            "serial_to": self.serial_to,
            "created": self.created,
            "selection": self.selection,
        }

    @classmethod
    def from_json(cls, value: dict) -> Header:
        if value.get("type") != "header" or value.get("format") != FORMAT_NAME:
            raise BundleError("manifest: the first line is not a PythonNest bundle header")
        version = value.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"manifest: bundle format version {version!r} is not supported (this PythonNest reads {FORMAT_VERSION})"
            )
        try:
            header = cls(
                source_instance=str(value["source_instance"]),
                tag=str(value["tag"]),
                serial_from=_integer(value["serial_from"]),
                serial_to=_integer(value["serial_to"]),
                created=str(value["created"]),
                selection=value.get("selection"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"manifest: malformed header ({exc})") from exc
        if header.selection is not None and not isinstance(header.selection, dict):
            raise BundleError("manifest: malformed header (the selection is not an object)")
        if not 0 <= header.serial_from <= header.serial_to:
            raise BundleError(f"manifest: bad serial range ({header.serial_from}, {header.serial_to}]")
        if not TAG.match(header.tag):
            raise BundleError(f"manifest: bad tag {header.tag!r}")
        return header


# Serials, sizes and counts are 64-bit signed integers in every database.
INTEGER_LIMIT = 2**63


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    if not -INTEGER_LIMIT < value < INTEGER_LIMIT:
        raise ValueError(f"{value} is out of range")
    return value


def check_tag(tag: str) -> str:
    """Raises BundleError unless ``tag`` is a usable tag name."""
    if not TAG.match(tag):
        raise BundleError(f"tag {tag!r} must be letters, digits, '.', '_' or '-', at most 100 characters")
    return tag
