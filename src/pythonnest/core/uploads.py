"""Uploads through PyPI's legacy API: check the form, then add the file as one journaled change.

The file is the authority: its name, version and metadata are read from the
file itself, and a form that disagrees with it is refused. Everything cheap
is checked before the bytes are read, and the rights again under the
catalog lock, so that two first uploads of a name cannot both become Owner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pythonnest.core.access import Identity, check_upload_allowed, grant_first_owner
from pythonnest.core.distributions import ParsedFilename, parse_filename
from pythonnest.core.exceptions import DuplicateFile, InvalidUpload
from pythonnest.core.models import File, Project, RemovedFilename
from pythonnest.core.services import AddedFile, add_distribution
from pythonnest.storage.local import LocalBlobStore

# Form field -> the name of the digest in storage.local.Digests, and its length in hex.
# The strongest first, so that a refusal names it.
DIGEST_FIELDS = {"sha256_digest": ("sha256", 64), "blake2_256_digest": ("blake2_256", 64), "md5_digest": ("md5", 32)}
FILETYPES = {"sdist", "bdist_wheel"}
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class UploadForm:
    """The checked fields of one ``file_upload`` form."""

    name: str
    version: str
    filetype: str
    pyversion: str
    digests: dict[str, str]
    parsed: ParsedFilename

    @property
    def filename(self) -> str:
        return self.parsed.filename


def _required(fields: Mapping[str, str], key: str) -> str:
    value = (fields.get(key) or "").strip()
    if not value:
        raise InvalidUpload(f"Missing required field: {key}")
    return value


def read_form(fields: Mapping[str, str], filename: str) -> UploadForm:
    """Check the form of a ``file_upload`` against the name of the file sent with it.

    Raises InvalidUpload for a missing or malformed field, InvalidDistribution
    for a file name that is unsafe or not a distribution's.
    """
    action = fields.get(":action", "")
    if action != "file_upload":
        raise InvalidUpload(f"Unsupported :action {action[:40]!r}: this server takes only file_upload")
    if fields.get("protocol_version", "1") != "1":
        raise InvalidUpload("Unknown protocol_version: this server speaks version 1")
    name, version, filetype = (_required(fields, key) for key in ("name", "version", "filetype"))
    if filetype not in FILETYPES:
        raise InvalidUpload(f"Unsupported filetype {filetype[:40]!r}: upload a wheel (bdist_wheel) or an sdist")
    digests = {}
    for field, (algorithm, length) in DIGEST_FIELDS.items():
        value = (fields.get(field) or "").strip()
        if value:
            if len(value) != length or not _HEX.fullmatch(value):
                raise InvalidUpload(f"Invalid {field}: expected {length} hexadecimal digits")
            digests[algorithm] = value.lower()
    if not digests:
        raise InvalidUpload("Missing required field: sha256_digest (or md5_digest, blake2_256_digest)")
    parsed = parse_filename(filename)
    if parsed.packagetype != filetype:
        raise InvalidUpload(f"filetype {filetype} does not match the file {filename}")
    if canonicalize_name(name) != parsed.normalized_name:
        raise InvalidUpload(f"The name {name[:100]!r} in the form does not match the file {filename}")
    try:
        form_version = Version(version)
    except InvalidVersion as exc:
        raise InvalidUpload(f"Invalid version {version[:100]!r}") from exc
    if form_version != parsed.version:
        raise InvalidUpload(f"The version {version[:100]!r} in the form does not match the file {filename}")
    pyversion = (fields.get("pyversion") or "").strip()
    if filetype == "sdist" and pyversion not in ("", "source"):
        raise InvalidUpload(f"An sdist's pyversion is 'source', not {pyversion[:40]!r}")
    return UploadForm(name, version, filetype, pyversion, digests, parsed)


def check_filename_free(filename: str) -> None:
    """Refuse a filename in use, or used once and deleted: PyPI never lets a name be reused.

    Raises DuplicateFile or InvalidUpload.
    """
    if File.objects.filter(filename=filename).exists():
        raise DuplicateFile(f"File already exists: {filename}")
    if RemovedFilename.objects.filter(filename=filename).exists():
        raise InvalidUpload(f"This filename has already been used, use a different version: {filename}")


def upload_distribution(
    form: UploadForm,
    content: BinaryIO,
    identity: Identity,
    *,
    store: LocalBlobStore,
    max_size: int | None = None,
) -> AddedFile:
    """Add an uploaded file to the catalog; its first uploader becomes the project's Owner.

    Raises NotAuthenticated, Forbidden, DuplicateFile, InvalidUpload,
    InvalidDistribution or IntegrityFailure; on any of them nothing is stored.
    """
    project = Project.objects.filter(normalized_name=form.parsed.normalized_name).first()
    check_upload_allowed(identity, project, form.name)
    check_filename_free(form.filename)

    def authorize(current: Project | None) -> None:
        # Again under the catalog lock: the project may have appeared, or the
        # filename been deleted, while the bytes were read.
        check_upload_allowed(identity, current, form.name)
        check_filename_free(form.filename)

    return add_distribution(
        content,
        form.filename,
        store=store,
        source="upload",
        submitted_by=identity.username,
        origin=Project.Origin.LOCAL,
        max_size=max_size,
        expected_digests=form.digests,
        authorize=authorize,
        on_new_project=lambda created: grant_first_owner(created, identity.user),
    )
