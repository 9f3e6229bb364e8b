"""Every write to the catalog goes through this module.

Each function validates everything first, puts verified bytes in the blob
store, then changes the catalog and records one journal entry in a single
transaction (DESIGN.md, invariants 1, 2 and 5).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from pythonnest.core.bulk import BulkInsert
from pythonnest.core.distributions import DistributionInfo, canonical_version, inspect_distribution, parse_filename
from pythonnest.core.exceptions import DuplicateFile, IntegrityFailure, InvalidDistribution, NotFound, ProtectedName
from pythonnest.core.journal import Action, lock_catalog, record_event, record_events
from pythonnest.core.models import File, JournalEntry, Project, Release, RemovedFilename
from pythonnest.storage.local import Digests, LocalBlobStore, StagedBlob

logger = logging.getLogger(__name__)

_RELEASE_ROWS = BulkInsert(Release)
_FILE_ROWS = BulkInsert(File)


@dataclass(frozen=True)
class AddedFile:
    """The outcome of adding one distribution file."""

    file: File
    serial: int
    new_project: bool
    new_release: bool


def _check_not_present(filename: str, sha256: str | None = None) -> None:
    existing = File.objects.filter(filename=filename).values_list("sha256", flat=True).first()
    if existing is None:
        return
    if sha256 is not None and existing == sha256:
        raise DuplicateFile(f"{filename}: already present with the same content, skipped")
    raise DuplicateFile(f"{filename}: a different file with this name already exists")


def add_distribution(
    source_file: BinaryIO,
    filename: str,
    *,
    store: LocalBlobStore,
    source: str,
    submitted_by: str = "",
    origin: str = Project.Origin.LOCAL,
    upstream_url: str = "",
    expected_sha256: str | None = None,
    max_size: int | None = None,
    expected_digests: Mapping[str, str] | None = None,
    authorize: Callable[[Project | None], None] | None = None,
    on_new_project: Callable[[Project], None] | None = None,
) -> AddedFile:
    """Add one wheel or sdist read from ``source_file`` to the catalog.

    ``expected_digests`` maps "sha256", "md5" or "blake2_256" to hex digests
    the bytes must have. ``authorize`` is called under the catalog lock with
    the existing project (None for a new one) and may raise to refuse;
    ``on_new_project`` runs in the same transaction when the project is new.

    Raises InvalidDistribution for a bad file, DuplicateFile when the
    filename is taken, IntegrityFailure when the bytes do not match
    ``expected_sha256`` or ``expected_digests``. On any error nothing is stored.
    """
    parse_filename(filename)
    staged = store.stage_file(source_file, expected_sha256=expected_sha256, max_size=max_size)
    with staged:
        _check_digests(filename, staged, expected_digests or {})
        _check_not_present(filename, staged.sha256)
        info = inspect_distribution(staged.path, filename)
        return _commit_distribution(
            info,
            staged,
            store=store,
            source=source,
            submitted_by=submitted_by,
            origin=origin,
            upstream_url=upstream_url,
            authorize=authorize,
            on_new_project=on_new_project,
        )


def _check_digests(filename: str, staged: StagedBlob, expected: Mapping[str, str]) -> None:
    for algorithm, digest in expected.items():
        actual = getattr(staged.digests, algorithm)
        if actual != digest.strip().lower():
            raise IntegrityFailure(
                f"{filename}: the {algorithm} digest of the bytes received is {actual}, not {digest}"
            )


def add_distribution_path(path: Path, *, store: LocalBlobStore, source: str = "add", **options) -> AddedFile:
    """Add the distribution at ``path``; see ``add_distribution``."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidDistribution(f"{path.name}: cannot read the file ({exc.strerror})") from exc
    with handle:
        return add_distribution(handle, path.name, store=store, source=source, **options)


class _StoredBlob:
    """A blob already verified and in the store; committing it moves nothing."""

    def __init__(self, digests: Digests) -> None:
        self.digests = digests
        self.sha256 = digests.sha256

    def commit(self) -> bool:
        return False

    def discard(self) -> None:
        pass


def add_stored_distribution(
    info: DistributionInfo,
    digests: Digests,
    *,
    store: LocalBlobStore,
    source: str,
    origin: str = Project.Origin.MIRRORED,
    upstream_url: str = "",
    upload_time=None,
    metadata_bytes: bytes | None = None,
    display_name: str = "",
) -> AddedFile:
    """Catalog a distribution whose verified bytes are already in the blob store.

    ``update`` streams each file into the store itself, so that an
    interrupted run never downloads it again. ``metadata_bytes`` is the
    upstream's PEP 658 file when it differs from the one in the wheel;
    ``display_name`` names a new project as the upstream does.
    Raises DuplicateFile when the filename is taken, ProtectedName when a
    mirrored file would join a local project, InvalidDistribution when the
    blob is missing.
    """
    # That the bytes are in the store is checked under the catalog lock (_require_blobs).
    return _commit_distribution(
        info,
        _StoredBlob(digests),
        store=store,
        source=source,
        submitted_by="",
        origin=origin,
        upstream_url=upstream_url,
        upload_time=upload_time,
        metadata_bytes=metadata_bytes,
        display_name=display_name,
    )


@dataclass(frozen=True)
class StoredDistribution:
    """One distribution of a batch for ``add_stored_distributions``: its bytes are already in the store."""

    info: DistributionInfo
    digests: Digests
    upstream_url: str = ""
    upload_time: object = None
    metadata_bytes: bytes | None = None


def add_stored_distributions(
    batch: list[StoredDistribution],
    *,
    store: LocalBlobStore,
    source: str,
    display_name: str = "",
) -> list[int]:
    """Catalog several mirrored distributions of one project in one transaction: all of them, or none.

    The batched twin of ``add_stored_distribution``, for ``update``: one
    catalog lock, one bulk insert and one bulk journal write for the batch,
    still one journal entry (one serial) per file, in the batch's order.
    Returns the serials. Raises what ``add_stored_distribution`` raises for
    any file of the batch, and then nothing has changed in the catalog; the
    caller can add the files one by one to learn which one is refused.
    """
    if not batch:
        return []
    names = {item.info.parsed.normalized_name for item in batch}
    if len(names) != 1:
        raise ValueError("a batch holds the files of one project")
    (normalized_name,) = names
    metadata_sha256s, metadata_files, created_blobs = [], [], []
    for item in batch:
        data = item.metadata_bytes
        if data is None and item.info.offers_core_metadata:
            data = item.info.metadata_bytes
        if data is None:
            metadata_sha256s.append("")
            metadata_files.append(None)
            continue
        blob = _stage_metadata(store, data)
        try:
            if blob.commit():
                created_blobs.append(blob.sha256)
        finally:
            blob.discard()
        metadata_sha256s.append(blob.sha256)
        metadata_files.append((blob.sha256, data))
    filenames = [item.info.parsed.filename for item in batch]
    if len(set(filenames)) != len(filenames):
        raise DuplicateFile("a batch names the same file twice")
    try:
        with transaction.atomic():
            counter = lock_catalog()
            for item, metadata in zip(batch, metadata_files, strict=True):
                _require_blobs(store, item.info.parsed.filename, item.digests.sha256, metadata)
            # A name taken already is not looked for first: the unique index on
            # File.filename refuses the insert, and the name is found below.
            first = batch[0].info
            project, new_project = Project.objects.get_or_create(
                normalized_name=normalized_name,
                defaults={"name": display_name or first.name, "origin": Project.Origin.MIRRORED},
            )
            if project.origin == Project.Origin.LOCAL:
                raise ProtectedName(
                    f"{first.parsed.filename}: {project.name} is a local project; mirrored files never join it"
                )
            releases = _release_heads(Release.objects.filter(project=project))
            # New releases in one insert, each from the metadata of its first file in the batch.
            new_releases = {}
            for item in batch:
                canonical = canonical_version(item.info.parsed.version)
                if canonical not in releases and canonical not in new_releases:
                    new_releases[canonical] = {
                        "project_id": project.pk,
                        "canonical_version": canonical,
                        "version": item.info.version,
                        **item.info.fields,
                    }
            if new_releases:
                _RELEASE_ROWS.insert(new_releases.values())
                releases.update(
                    _release_heads(Release.objects.filter(project=project, canonical_version__in=list(new_releases)))
                )
            files, events = [], []
            for index, (item, metadata_sha256) in enumerate(zip(batch, metadata_sha256s, strict=True)):
                canonical = canonical_version(item.info.parsed.version)
                release_id, version, requires_python = releases[canonical]
                new_release = canonical in new_releases
                # Only the first file of a new release says so, as when files are added one by one.
                new_releases.pop(canonical, None)
                values = _file_values(
                    project.pk,
                    release_id,
                    requires_python,
                    item.info,
                    item.digests,
                    upload_time=item.upload_time,
                    metadata_sha256=metadata_sha256,
                    upstream_url=item.upstream_url,
                )
                files.append(values)
                events.append(
                    {
                        "project": project,
                        "action": Action.ADD_FILE,
                        "version": version,
                        "filename": values["filename"],
                        "data": _added_file_data(
                            values, new_project=new_project and index == 0, new_release=new_release
                        ),
                    }
                )
            _FILE_ROWS.insert(files)
            serials = record_events(events, source=source, counter=counter)
    except BaseException as exc:
        # The metadata blobs this batch wrote, unless a catalog row uses them.
        _remove_unreferenced(store, created_blobs)
        if isinstance(exc, IntegrityError):
            taken = File.objects.filter(filename__in=filenames).values_list("filename", flat=True).first()
            if taken is not None:
                raise DuplicateFile(f"{taken}: a file with this name already exists") from None
        raise
    logger.info("added %d file(s) of %s, serials %d to %d", len(files), normalized_name, serials[0], serials[-1])
    return serials


def _release_heads(releases: QuerySet) -> dict[str, tuple[int, str, str]]:
    """(id, version, requires_python) of each release, by canonical version: what a file row needs of it."""
    return {
        canonical: (pk, version, requires_python)
        for canonical, pk, version, requires_python in releases.values_list(
            "canonical_version", "pk", "version", "requires_python"
        )
    }


def _file_values(
    project_id: int,
    release_id: int,
    release_requires_python: str,
    info: DistributionInfo,
    digests: Digests,
    *,
    upload_time,
    metadata_sha256: str,
    upstream_url: str,
) -> dict:
    """The File row of a distribution, by field; a file without its own Requires-Python takes the release's."""
    parsed = info.parsed
    return {
        "project_id": project_id,
        "release_id": release_id,
        "filename": parsed.filename,
        "packagetype": parsed.packagetype,
        "python_version": parsed.python_version,
        "size": digests.size,
        "sha256": digests.sha256,
        "md5": digests.md5,
        "blake2_256": digests.blake2_256,
        "upload_time": upload_time or timezone.now(),
        "requires_python": info.fields["requires_python"] or release_requires_python,
        "metadata_sha256": metadata_sha256,
        "upstream_url": upstream_url,
    }


def _added_file_data(file: Mapping, *, new_project: bool, new_release: bool) -> dict:
    """The journal entry's data for an added file, from its row's values."""
    return {
        "sha256": file["sha256"],
        "size": file["size"],
        "packagetype": file["packagetype"],
        "python_version": file["python_version"],
        "new_project": new_project,
        "new_release": new_release,
    }


def _stage_metadata(store: LocalBlobStore, data: bytes) -> StagedBlob | _StoredBlob:
    """Stage a metadata file, unless the store has those bytes already (``update`` stores them first)."""
    digest = hashlib.sha256(data).hexdigest()
    if store.exists(digest):
        return _StoredBlob(Digests(sha256=digest, md5="", blake2_256="", size=len(data)))
    return store.stage_bytes(data)


def _commit_distribution(
    info: DistributionInfo,
    staged: StagedBlob | _StoredBlob,
    *,
    store: LocalBlobStore,
    source: str,
    submitted_by: str,
    origin: str,
    upstream_url: str,
    upload_time=None,
    metadata_bytes: bytes | None = None,
    display_name: str = "",
    authorize: Callable[[Project | None], None] | None = None,
    on_new_project: Callable[[Project], None] | None = None,
) -> AddedFile:
    parsed = info.parsed
    if metadata_bytes is None and info.offers_core_metadata:
        metadata_bytes = info.metadata_bytes
    metadata_blob = _stage_metadata(store, metadata_bytes) if metadata_bytes is not None else None
    created_blobs = []
    try:
        if staged.commit():
            created_blobs.append(staged.sha256)
        if metadata_blob is not None and metadata_blob.commit():
            created_blobs.append(metadata_blob.sha256)
        with transaction.atomic():
            counter = lock_catalog()
            _require_blobs(
                store,
                parsed.filename,
                staged.sha256,
                (metadata_blob.sha256, metadata_bytes) if metadata_blob is not None else None,
            )
            _check_not_present(parsed.filename, staged.sha256)
            if authorize is not None:
                authorize(Project.objects.filter(normalized_name=parsed.normalized_name).first())
            project, new_project = Project.objects.get_or_create(
                normalized_name=parsed.normalized_name,
                defaults={"name": display_name or info.name, "origin": origin},
            )
            if origin == Project.Origin.MIRRORED and project.origin == Project.Origin.LOCAL:
                raise ProtectedName(
                    f"{parsed.filename}: {project.name} is a local project; mirrored files never join it"
                )
            if new_project and on_new_project is not None:
                on_new_project(project)
            release, new_release = Release.objects.get_or_create(
                project=project,
                canonical_version=canonical_version(parsed.version),
                defaults={"version": info.version, **info.fields},
            )
            values = _file_values(
                project.pk,
                release.pk,
                release.requires_python,
                info,
                staged.digests,
                upload_time=upload_time,
                metadata_sha256=metadata_blob.sha256 if metadata_blob else "",
                upstream_url=upstream_url,
            )
            file = File(project=project, release=release, **values)
            file.save(force_insert=True)
            entry = record_event(
                project,
                Action.ADD_FILE,
                source=source,
                version=release.version,
                filename=file.filename,
                submitted_by=submitted_by,
                counter=counter,
                data=_added_file_data(values, new_project=new_project, new_release=new_release),
            )
    except (IntegrityError, DuplicateFile):
        _remove_unreferenced(store, created_blobs)
        # A concurrent writer added the same filename between our checks.
        _check_not_present(parsed.filename, staged.sha256)
        raise
    except BaseException:
        _remove_unreferenced(store, created_blobs)
        raise
    finally:
        if metadata_blob is not None:
            metadata_blob.discard()
    logger.info("added %s as serial %d", file.filename, entry.serial)
    return AddedFile(file=file, serial=entry.serial, new_project=new_project, new_release=new_release)


def _remove_unreferenced(store: LocalBlobStore, sha256s: list[str]) -> None:
    """Delete blobs this change created when no catalog row points at them.

    Under the catalog lock: a writer that found one of these blobs in the
    store checks again under the lock (``_require_blobs``) before its rows
    point at it, so the two never cross.
    """
    if not sha256s:
        return
    with transaction.atomic():
        lock_catalog()
        for sha256 in sha256s:
            in_use = File.objects.filter(sha256=sha256).exists() or File.objects.filter(metadata_sha256=sha256).exists()
            if not in_use:
                store.delete(sha256)


def _require_blobs(store: LocalBlobStore, filename: str, sha256: str, metadata: tuple[str, bytes] | None) -> None:
    """Under the catalog lock: the blobs the new row points at are still in the store.

    A failed writer may have removed a blob it had created, and this one had
    found in place, between this writer's staging and its lock. The metadata
    file is written again from its bytes; the distribution's loss is a refusal.
    """
    if not store.exists(sha256):
        raise InvalidDistribution(f"{filename}: its bytes are not in the blob store")
    if metadata is not None and not store.exists(metadata[0]):
        store.put_bytes(metadata[1])


def yank_release(
    project: Project, version: str, reason: str = "", *, source: str, submitted_by: str = ""
) -> JournalEntry | None:
    """Mark a release yanked (PEP 592), with an optional reason.

    Returns the journal entry, or None when the release was already yanked
    with that reason. Raises NotFound for an unknown version.
    """
    return _set_yanked(project, version, True, reason, source=source, submitted_by=submitted_by)


def unyank_release(project: Project, version: str, *, source: str, submitted_by: str = "") -> JournalEntry | None:
    """Make a yanked release installable again.

    Returns the journal entry, or None when it was not yanked. Raises NotFound
    for an unknown version.
    """
    return _set_yanked(project, version, False, "", source=source, submitted_by=submitted_by)


def _set_yanked(
    project: Project, version: str, yanked: bool, reason: str, *, source: str, submitted_by: str
) -> JournalEntry | None:
    with transaction.atomic():
        lock_catalog()
        release = Release.objects.filter(project=project, canonical_version=canonical_version(version)).first()
        if release is None:
            raise NotFound(f"{project.name} has no release {version}")
        if release.yanked == yanked and release.yanked_reason == reason:
            # Nothing changes, so there is nothing to journal.
            return None
        Release.objects.filter(pk=release.pk).update(yanked=yanked, yanked_reason=reason)
        entry = record_event(
            project,
            Action.YANK_RELEASE if yanked else Action.UNYANK_RELEASE,
            source=source,
            version=release.version,
            submitted_by=submitted_by,
            data={"reason": reason} if yanked else {},
        )
    verb = "yanked" if yanked else "unyanked"
    logger.info("%s %s %s as serial %d", verb, project.name, release.version, entry.serial)
    return entry


def remove_file(
    project: Project, filename: str, *, store: LocalBlobStore, source: str, submitted_by: str = ""
) -> JournalEntry:
    """Delete one file of a project; its name can never be uploaded again.

    Raises NotFound when the project has no such file.
    """
    with transaction.atomic():
        lock_catalog()
        file = File.objects.select_related("release").filter(project=project, filename=filename).first()
        if file is None:
            raise NotFound(f"{project.name} has no file {filename}")
        entry = record_event(
            project,
            Action.REMOVE_FILE,
            source=source,
            version=file.release.version,
            filename=filename,
            submitted_by=submitted_by,
            data={"sha256": file.sha256},
        )
        _forget_files(project, [file], entry.serial, store)
    logger.info("removed %s as serial %d", filename, entry.serial)
    return entry


def remove_release(
    project: Project, version: str, *, store: LocalBlobStore, source: str, submitted_by: str = ""
) -> JournalEntry:
    """Delete a release and all its files. Raises NotFound for an unknown version."""
    with transaction.atomic():
        lock_catalog()
        release = Release.objects.filter(project=project, canonical_version=canonical_version(version)).first()
        if release is None:
            raise NotFound(f"{project.name} has no release {version}")
        files = list(release.files.all())
        entry = record_event(
            project,
            Action.REMOVE_RELEASE,
            source=source,
            version=release.version,
            submitted_by=submitted_by,
            data={"filenames": sorted(file.filename for file in files)},
        )
        _forget_files(project, files, entry.serial, store)
        release.delete()
    logger.info("removed %s %s as serial %d", project.name, release.version, entry.serial)
    return entry


def remove_project(project: Project, *, store: LocalBlobStore, source: str, submitted_by: str = "") -> JournalEntry:
    """Delete a project, its releases and files; the journal keeps its history."""
    with transaction.atomic():
        lock_catalog()
        files = list(File.objects.filter(project=project))
        versions = list(project.releases.values_list("version", flat=True))
        entry = record_event(
            project.normalized_name,
            Action.REMOVE_PROJECT,
            source=source,
            submitted_by=submitted_by,
            private_group_id=project.private_group_id,
            data={"filenames": sorted(file.filename for file in files), "versions": sorted(versions)},
        )
        _forget_files(project, files, entry.serial, store)
        project.delete()
    logger.info("removed project %s as serial %d", project.name, entry.serial)
    return entry


def _forget_files(project: Project, files: list[File], serial: int, store: LocalBlobStore) -> None:
    """Delete file rows, remember their names, and drop orphaned blobs after commit."""
    if not files:
        return
    File.objects.filter(pk__in=[file.pk for file in files]).delete()
    for file in files:
        RemovedFilename.objects.update_or_create(filename=file.filename, defaults={"serial": serial})
    blobs = sorted({file.sha256 for file in files} | {file.metadata_sha256 for file in files if file.metadata_sha256})
    # After commit only: a rolled-back removal must still find its bytes.
    transaction.on_commit(lambda: _remove_unreferenced(store, blobs))
