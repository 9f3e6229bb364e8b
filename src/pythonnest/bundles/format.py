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
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


# Every JSON value of a bundle nests a few levels (a project, its releases, a
# release, its files, a file, a value): deeper is hostile, and would exhaust
# the stack of whatever walks or prints it.
MAX_NESTING = 16


def parse_json(data: bytes) -> object:
    """``data`` as JSON; raises ValueError naming what is wrong, whatever the bytes.

    Besides JSONDecodeError, json.loads raises ValueError for an integer of
    more digits than Python converts, and RecursionError for arrays or objects
    nested deeper than the interpreter's stack: a hostile bundle has both.
    """
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise
    except RecursionError as exc:
        raise ValueError(f"arrays or objects nested more than {MAX_NESTING} deep") from exc
    except ValueError as exc:
        raise ValueError(f"a number of more than {sys.get_int_max_str_digits()} digits") from exc
    level = [value]
    for _ in range(MAX_NESTING):
        inner = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
            inner.extend(child for child in children if isinstance(child, dict | list))
        if not inner:
            return value
        level = inner
    raise ValueError(f"arrays or objects nested more than {MAX_NESTING} deep")


def loads(line: bytes, where: str) -> dict:
    try:
        value = parse_json(line)
    except ValueError as exc:
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
                source_instance=_instance(value["source_instance"]),
                tag=str(value["tag"]),
                serial_from=_integer(value["serial_from"]),
                serial_to=_integer(value["serial_to"]),
                created=value["created"],
                selection=value.get("selection"),
            )
            check_time(header.created)
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


def _instance(value: object) -> str:
    """An instance's UUID in the form export writes (and SyncState.peer_instance holds): 36 characters."""
    try:
        canonical = str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        canonical = None
    if canonical != value:
        shown = repr(value[:60]) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"source_instance {shown} is not a UUID in canonical form")
    return value


# Every time zone is within 14 hours of UTC, in whole minutes. PostgreSQL refuses
# offsets past 15:59 and fractions of a second; export writes +00:00.
MAX_UTC_OFFSET = timedelta(hours=14)


def check_time(value: object) -> datetime:
    """An ISO 8601 time with its offset, as export writes; raises ValueError for anything else.

    What the databases would refuse, in the middle of an import: a time that
    UTC takes out of years 1 to 9999 ("0001-01-01T00:00:00+01:00"), and on
    PostgreSQL an offset beyond 15:59 or of a fraction of a minute.
    """
    if not isinstance(value, str):
        raise ValueError(f"the time is {type(value).__name__}, not text")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not an ISO 8601 time") from None
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"the time {value!r} has no UTC offset")
    if offset % timedelta(minutes=1) or abs(offset) > MAX_UTC_OFFSET:
        raise ValueError(f"the time {value!r} has an offset no time zone has")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"the time {value!r} is out of range in UTC") from None
    return moment


def listed(shown: list[str], total: int) -> str:
    """``shown`` joined with commas, and how many of ``total`` were left out: "a, b and 3 more"."""
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return ", ".join(shown) + more


def check_tag(tag: str) -> str:
    """Raises BundleError unless ``tag`` is a usable tag name."""
    if not TAG.match(tag):
        raise BundleError(f"tag {tag!r} must be letters, digits, '.', '_' or '-', at most 100 characters")
    return tag
