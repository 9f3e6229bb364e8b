"""Reading distribution files: their names, and the core metadata inside them.

Names and versions are parsed by ``packaging``, never by our own regexes.
Metadata comes from a wheel's ``.dist-info/METADATA`` or an sdist's
``PKG-INFO``, parsed with ``packaging.metadata``.
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pythonnest.core.exceptions import InvalidDistribution
from pythonnest.core.names import NormalizedName, is_valid_name

# A metadata file larger than this is not metadata.
MAX_METADATA_SIZE = 10 * 1024 * 1024
WHEEL = "bdist_wheel"
SDIST = "sdist"


@dataclass(frozen=True)
class ParsedFilename:
    """What a distribution's filename says about it."""

    filename: str
    normalized_name: NormalizedName
    version: Version
    packagetype: str
    python_version: str


@dataclass(frozen=True)
class DistributionInfo:
    """A distribution's filename facts plus its core metadata."""

    parsed: ParsedFilename
    name: str
    version: str
    metadata_bytes: bytes
    fields: dict = field(default_factory=dict)

    @property
    def offers_core_metadata(self) -> bool:
        """Whether the index serves the metadata as a PEP 658 file.

        PyPI offers it for wheels, whose METADATA is authoritative; an sdist's
        PKG-INFO may be dynamic, so pip must build it.
        """
        return self.parsed.packagetype == WHEEL


def check_filename_is_safe(filename: str) -> None:
    """Refuse a filename that is a path, hidden, or made of odd characters."""
    if not filename or filename != PurePosixPath(filename).name or "\\" in filename or filename.startswith("."):
        raise InvalidDistribution(f"{filename!r} is not a plain file name")
    if any(ord(char) < 32 or char in "\x7f" for char in filename) or len(filename) > 255:
        raise InvalidDistribution(f"{filename!r} is not a valid file name")


def parse_filename(filename: str) -> ParsedFilename:
    """The name, version and type a distribution filename declares.

    Raises InvalidDistribution for anything but a valid wheel or sdist name.
    """
    check_filename_is_safe(filename)
    try:
        if filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(filename)
            python_tags = sorted({tag.interpreter for tag in tags})
            return ParsedFilename(filename, NormalizedName(name), version, WHEEL, ".".join(python_tags))
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            # packaging does not check an sdist's name part; PEP 508 does.
            if not is_valid_name(name):
                raise InvalidDistribution(f"{filename}: {name!r} is not a valid project name")
            return ParsedFilename(filename, NormalizedName(name), version, SDIST, "source")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise InvalidDistribution(f"{filename}: invalid distribution file name ({exc})") from exc
    raise InvalidDistribution(f"{filename}: not a wheel (.whl) or an sdist (.tar.gz, .zip)")


def _read_limited(handle, filename: str, what: str) -> bytes:
    data = handle.read(MAX_METADATA_SIZE + 1)
    if len(data) > MAX_METADATA_SIZE:
        raise InvalidDistribution(f"{filename}: {what} is larger than {MAX_METADATA_SIZE} bytes")
    return data


def _wheel_metadata(path: Path, parsed: ParsedFilename, verify_archive: bool) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            if verify_archive:
                bad_member = archive.testzip()
                if bad_member is not None:
                    raise InvalidDistribution(f"{parsed.filename}: corrupt archive member {bad_member}")
            candidates = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            matching = [info for info in candidates if _dist_info_matches(info.filename, parsed)]
            if not matching and len(candidates) == 1:
                # Read the one there is: its Name and Version then say how
                # the file name disagrees with the metadata.
                matching = candidates
            if len(matching) != 1:
                raise InvalidDistribution(
                    f"{parsed.filename}: no {parsed.normalized_name}-{parsed.version}.dist-info/METADATA in the wheel"
                )
            with archive.open(matching[0]) as handle:
                return _read_limited(handle, parsed.filename, "METADATA")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidDistribution(f"{parsed.filename}: unreadable zip archive ({exc})") from exc


def _dist_info_matches(member: str, parsed: ParsedFilename) -> bool:
    folder = member.split("/", 1)[0].removesuffix(".dist-info")
    name, _, version = folder.rpartition("-")
    try:
        return canonicalize_name(name) == parsed.normalized_name and Version(version) == parsed.version
    except InvalidVersion:
        return False


def _sdist_metadata(path: Path, parsed: ParsedFilename, verify_archive: bool) -> bytes:
    def is_pkg_info(member_name: str) -> bool:
        parts = member_name.split("/")
        return len(parts) == 2 and parts[1] == "PKG-INFO"

    try:
        if parsed.filename.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                if verify_archive and archive.testzip() is not None:
                    raise InvalidDistribution(f"{parsed.filename}: corrupt zip archive")
                members = [info for info in archive.infolist() if is_pkg_info(info.filename)]
                if not members:
                    raise InvalidDistribution(f"{parsed.filename}: no PKG-INFO at the top of the sdist")
                with archive.open(members[0]) as handle:
                    return _read_limited(handle, parsed.filename, "PKG-INFO")
        found = None
        with tarfile.open(path, "r:gz") as archive:
            # Read to the end even after PKG-INFO is found: a truncated or
            # corrupt archive is only detected there.
            for member in archive:
                if found is None and member.isfile() and is_pkg_info(member.name):
                    handle = archive.extractfile(member)
                    found = _read_limited(handle, parsed.filename, "PKG-INFO")
                    if not verify_archive:
                        break
        if found is None:
            raise InvalidDistribution(f"{parsed.filename}: no PKG-INFO at the top of the sdist")
        return found
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidDistribution(f"{parsed.filename}: unreadable archive ({exc})") from exc


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else ""


def metadata_fields(raw: dict) -> dict:
    """Map packaging's RawMetadata to the columns of Release."""
    keywords = raw.get("keywords") or []
    return {
        "metadata_version": _text(raw, "metadata_version"),
        "summary": _text(raw, "summary")[:512],
        "description": raw.get("description") or "",
        "description_content_type": _text(raw, "description_content_type")[:255],
        "author": _text(raw, "author"),
        "author_email": _text(raw, "author_email"),
        "maintainer": _text(raw, "maintainer"),
        "maintainer_email": _text(raw, "maintainer_email"),
        "license": raw.get("license") or "",
        "license_expression": _text(raw, "license_expression"),
        "keywords": ",".join(keywords) if isinstance(keywords, list) else str(keywords),
        "home_page": _text(raw, "home_page"),
        "download_url": _text(raw, "download_url"),
        "requires_python": _text(raw, "requires_python")[:255],
        "classifiers": list(raw.get("classifiers") or []),
        "requires_dist": list(raw.get("requires_dist") or []),
        "requires_external": list(raw.get("requires_external") or []),
        "provides_extra": list(raw.get("provides_extra") or []),
        "provides_dist": list(raw.get("provides_dist") or []),
        "obsoletes_dist": list(raw.get("obsoletes_dist") or []),
        "platform": list(raw.get("platforms") or []),
        "supported_platform": list(raw.get("supported_platforms") or []),
        "license_files": list(raw.get("license_files") or []),
        "dynamic": list(raw.get("dynamic") or []),
        "project_urls": dict(raw.get("project_urls") or {}),
    }


def parse_metadata(metadata_bytes: bytes, parsed: ParsedFilename) -> tuple[str, str, dict]:
    """Parse core metadata and check it names the file's project and version.

    Returns the display name, the version string and the Release fields.
    Raises InvalidDistribution on a mismatch or a missing name or version.
    """
    raw, _unparsed = parse_email(metadata_bytes)
    name = _text(raw, "name")
    version = _text(raw, "version")
    if not name or not version:
        raise InvalidDistribution(f"{parsed.filename}: the core metadata has no Name or Version")
    if canonicalize_name(name) != parsed.normalized_name:
        raise InvalidDistribution(
            f"{parsed.filename}: the file name says {parsed.normalized_name!r} but its metadata says Name: {name}"
        )
    try:
        metadata_version = Version(version)
    except InvalidVersion as exc:
        raise InvalidDistribution(f"{parsed.filename}: Version {version!r} in the metadata is invalid") from exc
    if metadata_version != parsed.version:
        raise InvalidDistribution(
            f"{parsed.filename}: the file name says version {parsed.version} but its metadata says Version: {version}"
        )
    return name, version, metadata_fields(raw)


def inspect_distribution(path: Path, filename: str, *, verify_archive: bool = True) -> DistributionInfo:
    """Read a distribution file's name and core metadata, checking they agree.

    Raises InvalidDistribution with one line naming the file and the reason.
    """
    parsed = parse_filename(filename)
    if parsed.packagetype == WHEEL:
        metadata_bytes = _wheel_metadata(path, parsed, verify_archive)
    else:
        metadata_bytes = _sdist_metadata(path, parsed, verify_archive)
    name, version, fields = parse_metadata(metadata_bytes, parsed)
    return DistributionInfo(parsed=parsed, name=name, version=version, metadata_bytes=metadata_bytes, fields=fields)


def canonical_version(version: str | Version) -> str:
    return canonicalize_version(version, strip_trailing_zero=True)
