"""``export``: write every change after a serial as a bundle.

The manifest is built while the catalog's write lock is held, so that the
project states it holds are exactly those at its last serial. The blobs are
copied afterwards: they are immutable, named by their digest.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pythonnest.bundles import signing
from pythonnest.bundles.format import (
    FILE_FIELDS,
    MANIFEST,
    MANIFEST_DIGEST,
    RECORD_PROJECT,
    RECORD_REMOVED_PROJECT,
    RECORD_SUMMARY,
    RELEASE_METADATA_FIELDS,
    SIGNATURE,
    Header,
    check_tag,
    dumps,
)
from pythonnest.bundles.index import BlobList, SortedNames
from pythonnest.core import peers
from pythonnest.core.exceptions import BundleError
from pythonnest.core.journal import Action, current_serial, lock_catalog
from pythonnest.core.models import File, JournalEntry, PendingBlob, Project, Release, SyncState
from pythonnest.core.queries import chunks, version_sort_key
from pythonnest.storage.local import LocalBlobStore

logger = logging.getLogger(__name__)
ALL_GROUPS = "*"
# Projects read per query: few queries, and well under any database's limit on parameters.
CHUNK = 500


@dataclass(frozen=True)
class ExportOptions:
    tag: str
    serial: int | None = None
    projects: frozenset[str] = frozenset()
    requirements: tuple[Requirement, ...] = ()
    allow_missing: bool = False
    # Groups whose private projects this tag may receive; "*" for all.
    private_groups: frozenset[str] = frozenset()

    @property
    def partial(self) -> bool:
        return bool(self.projects or self.requirements)


@dataclass
class ExportPlan:
    """What a bundle holds, before any byte is written."""

    header: Header
    manifest_path: Path
    manifest_sha256: str
    # sha256 → size of every blob to write, kept on disk (a bundle may hold hundreds of thousands).
    blobs: BlobList = field(default_factory=BlobList)
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    # (project, filename) of each file going without its bytes, to remember for the tag.
    missing_files: list[tuple[str, str]] = field(default_factory=list)
    # Filenames the tag was owed (PendingBlob) among the projects this bundle holds.
    pending_seen: list[str] = field(default_factory=list)
    withheld: int = 0

    @property
    def blob_bytes(self) -> int:
        return self.blobs.total_bytes


def _private_allowed(group_name: str | None, options: ExportOptions) -> bool:
    return group_name is None or ALL_GROUPS in options.private_groups or group_name in options.private_groups


def _group_allowed(group_id: int | None, options: ExportOptions) -> bool:
    """``_private_allowed`` for a journal entry's ``private_group_id``."""
    if group_id is None or ALL_GROUPS in options.private_groups:
        return True
    # A group deleted since has no name a tag could list: only "*" opens it.
    name = Group.objects.filter(pk=group_id).values_list("name", flat=True).first()
    return name is not None and _private_allowed(name, options)


def _tag_may_hold(name: str, serial_from: int, options: ExportOptions) -> bool:
    """Whether a project withheld or deleted now may have gone to the tag in an export up to ``serial_from``.

    It may when it existed then and was visible to the tag at that serial:
    public, or private to a group the tag may receive. A project the tag
    never received is left out without a word, so that its name does not leak.
    """
    last = (
        JournalEntry.objects.filter(project_name=name, serial__lte=serial_from)
        .order_by("-serial")
        .values_list("action", "private_group_id")
        .first()
    )
    if last is None or last[0] == Action.REMOVE_PROJECT:
        return False
    return _group_allowed(last[1], options)


def _removal_may_go(name: str, serial_from: int, options: ExportOptions) -> bool:
    """Whether the tag may be told that the project ``name`` was deleted.

    It may when it may hold the project, or when the project was visible to
    it when deleted: the name was no secret from the tag then, and a removal
    of a project the peer never had changes nothing there. A project deleted
    while private to a group the tag may not receive is never named to it
    (DESIGN.md invariant 6), not even on a first export.
    """
    if _tag_may_hold(name, serial_from, options):
        return True
    deleted = JournalEntry.objects.filter(project_name=name).order_by("-serial").values_list("private_group_id")[:1]
    return bool(deleted) and _group_allowed(deleted[0][0], options)


def _touched_name_chunks(in_range, options: ExportOptions, scratch: Path) -> Iterator[list[str]]:
    """The names of the projects changed in the range (and selected), sorted, a chunk at a time.

    They are spooled to a scratch index rather than held in memory, and read
    back in code-point order whatever the database's collation.
    """
    names = SortedNames(scratch / "names.sqlite3")
    try:
        names.add_all(in_range.values_list("project_name", flat=True).distinct().iterator(chunk_size=2000))
        # Projects whose files went to this tag without their bytes: their bytes are owed.
        names.add_all(
            PendingBlob.objects.filter(tag=options.tag).values_list("project_name", flat=True).distinct().iterator()
        )
        for batch in names.batches(CHUNK):
            selected = sorted(_selected_names(set(batch), options))
            if selected:
                yield selected
    finally:
        names.close()


def _selected_names(touched: set[str], options: ExportOptions) -> set[str]:
    if not options.partial:
        return touched
    wanted = {canonicalize_name(name) for name in options.projects}
    wanted |= {canonicalize_name(requirement.name) for requirement in options.requirements}
    return touched & wanted


def _release_filter(normalized_name: str, options: ExportOptions) -> Callable[[str], bool] | None:
    specifiers = [
        requirement.specifier
        for requirement in options.requirements
        if canonicalize_name(requirement.name) == normalized_name and requirement.specifier
    ]
    if not specifiers or normalized_name in {canonicalize_name(name) for name in options.projects}:
        return None
    return lambda version: any(specifier.contains(version, prereleases=True) for specifier in specifiers)


def _project_record(
    project: Project,
    releases: list[Release],
    files: list[File],
    options: ExportOptions,
    added: set[str],
    store: LocalBlobStore,
    plan: ExportPlan,
) -> dict:
    releases = sorted(releases, key=lambda release: version_sort_key(release.version))
    keep = _release_filter(project.normalized_name, options)
    if keep is not None:
        releases = [release for release in releases if keep(release.version)]
    files_by_release: dict[int, list[File]] = {}
    for file in sorted(files, key=lambda file: file.filename):
        files_by_release.setdefault(file.release_id, []).append(file)
    release_records = []
    for release in releases:
        record = {name: getattr(release, name) for name in RELEASE_METADATA_FIELDS}
        record.update(
            version=release.version,
            yanked=release.yanked,
            yanked_reason=release.yanked_reason,
            created=release.created.isoformat(),
            files=[
                _file_record(file, project.normalized_name, added, store, plan)
                for file in files_by_release.get(release.pk, [])
            ],
        )
        release_records.append(record)
    return {
        "type": RECORD_PROJECT,
        "name": project.name,
        "normalized_name": project.normalized_name,
        "origin": project.origin,
        "private_group": project.private_group.name if project.private_group_id else None,
        "last_serial": project.last_serial,
        "partial_releases": keep is not None,
        "releases": release_records,
    }


def _catalog_chunks(
    name_chunks: Iterator[list[str]], serial_from: int, tag: str, plan: ExportPlan
) -> Iterator[tuple[str, Project | None, list[Release], list[File], set[str]]]:
    """Each name with its project, releases and files, read a chunk of projects at a time.

    With them comes the chunk's set of the files whose blobs the bundle
    carries: those added after ``serial_from``, and those an earlier export to
    ``tag`` sent without their bytes.
    """
    for chunk in name_chunks:
        added = set(
            JournalEntry.objects.filter(
                serial__gt=serial_from, action=Action.ADD_FILE, project_name__in=chunk
            ).values_list("filename", flat=True)
        )
        owed = list(PendingBlob.objects.filter(tag=tag, project_name__in=chunk).values_list("filename", flat=True))
        plan.pending_seen += owed
        added.update(owed)
        projects = {
            project.normalized_name: project
            for project in Project.objects.filter(normalized_name__in=chunk).select_related("private_group")
        }
        ids = [project.pk for project in projects.values()]
        releases: dict[int, list[Release]] = {}
        for release in Release.objects.filter(project_id__in=ids):
            releases.setdefault(release.project_id, []).append(release)
        files: dict[int, list[File]] = {}
        for file in File.objects.filter(project_id__in=ids):
            files.setdefault(file.project_id, []).append(file)
        for name in chunk:
            project = projects.get(name)
            pk = project.pk if project else None
            yield name, project, releases.get(pk, []), files.get(pk, []), added


def _file_record(file: File, project_name: str, added: set[str], store: LocalBlobStore, plan: ExportPlan) -> dict:
    record = {name: getattr(file, name) for name in FILE_FIELDS if hasattr(file, name)}
    record["upload_time"] = file.upload_time.isoformat()
    record["metadata_size"] = None
    wanted = file.filename in added
    included = wanted and store.exists(file.sha256)
    if wanted and not included:
        plan.missing.append(file.filename)
        plan.missing_files.append((project_name, file.filename))
    if file.metadata_sha256:
        metadata_path = store.path_for(file.metadata_sha256)
        if metadata_path.is_file():
            record["metadata_size"] = metadata_path.stat().st_size
            # Only with its file: the importer takes no blob the manifest does not ask for.
            if included:
                plan.blobs.add(file.metadata_sha256, record["metadata_size"])
        elif wanted:
            plan.missing.append(f"{file.filename}.metadata")
            plan.missing_files.append((project_name, file.filename))
    if included:
        plan.blobs.add(file.sha256, file.size)
    record["blob_included"] = included
    return record


def plan_export(options: ExportOptions, *, store: LocalBlobStore, scratch: Path) -> ExportPlan:
    """Write the manifest into ``scratch`` and list the blobs it needs.

    Raises BundleError for a bad tag or serial, or for missing blobs when
    ``allow_missing`` is off (naming every one).
    """
    check_tag(options.tag)
    source = peers.instance_id()
    manifest_path = scratch / MANIFEST
    digest = hashlib.sha256()
    with transaction.atomic():
        lock_catalog()
        serial_to = current_serial()
        if options.serial is not None:
            serial_from = options.serial
        else:
            state = peers.sync_state(options.tag, SyncState.Direction.EXPORT)
            serial_from = state.last_serial if state else 0
        if serial_from < 0 or serial_from > serial_to:
            raise BundleError(f"--serial {serial_from} is outside this catalog's serials (0 to {serial_to})")
        in_range = JournalEntry.objects.filter(serial__gt=serial_from, serial__lte=serial_to)
        selection = None
        if options.partial:
            selection = {
                "projects": sorted(options.projects),
                "requirements": sorted(str(requirement) for requirement in options.requirements),
            }
        header = Header(source, options.tag, serial_from, serial_to, timezone.now().isoformat(), selection)
        plan = ExportPlan(
            header=header, manifest_path=manifest_path, manifest_sha256="", blobs=BlobList(scratch / "blobs.sqlite3")
        )
        counts = {"projects": 0, "removed_projects": 0, "releases": 0, "files": 0}
        with manifest_path.open("wb") as manifest:

            def write(record: dict) -> None:
                line = dumps(record)
                digest.update(line)
                manifest.write(line)

            write(header.to_json())
            for name, project, releases, files, added in _catalog_chunks(
                _touched_name_chunks(in_range, options, scratch), serial_from, options.tag, plan
            ):
                if project is None:
                    if _removal_may_go(name, serial_from, options):
                        write({"type": RECORD_REMOVED_PROJECT, "normalized_name": name})
                        counts["removed_projects"] += 1
                    continue
                group = project.private_group.name if project.private_group_id else None
                if not _private_allowed(group, options):
                    plan.withheld += 1
                    if _tag_may_hold(name, serial_from, options):
                        # Made private since the tag received it: the peer must drop it.
                        write({"type": RECORD_REMOVED_PROJECT, "normalized_name": name})
                        counts["removed_projects"] += 1
                    continue
                record = _project_record(project, releases, files, options, added, store, plan)
                write(record)
                counts["projects"] += 1
                counts["releases"] += len(record["releases"])
                counts["files"] += sum(len(release["files"]) for release in record["releases"])
            counts["blobs"] = len(plan.blobs)
            counts["blob_bytes"] = plan.blob_bytes
            counts["missing_blobs"] = len(plan.missing)
            write({"type": RECORD_SUMMARY, "counts": counts})
    plan.counts = counts
    plan.manifest_sha256 = digest.hexdigest()
    if plan.missing and not options.allow_missing:
        listing = ", ".join(sorted(plan.missing))
        raise BundleError(
            f"{len(plan.missing)} file(s) to export are missing from the blob store: {listing} "
            "(--allow-missing exports their metadata without them)"
        )
    return plan


def write_bundle(
    plan: ExportPlan,
    writer,
    *,
    store: LocalBlobStore,
    sign_key: Path | None = None,
    on_blob: Callable[[int], None] = lambda size: None,
) -> list[Path]:
    """Write the planned bundle through ``writer``; returns the paths written.

    Raises BundleError when it cannot (a full disk, say), having removed
    everything it wrote.
    """
    try:
        writer.add_file(MANIFEST, plan.manifest_path)
        writer.add_bytes(MANIFEST_DIGEST, f"{plan.manifest_sha256}\n".encode())
        if sign_key is not None:
            signature = signing.sign(signing.load_private_key(sign_key), plan.manifest_sha256)
            writer.add_bytes(SIGNATURE, signature.to_bytes())
        for sha256, size in plan.blobs:
            source = store.path_text(sha256)
            try:
                writer.add_blob(sha256, source, size)
            except OSError as exc:
                if exc.filename != source:
                    raise
                if isinstance(exc, FileNotFoundError):
                    raise BundleError(f"blob {sha256} vanished from the store during the export") from exc
                raise BundleError(f"cannot read blob {sha256} from the store: {exc.strerror}") from exc
            on_blob(size)
        return writer.finish()
    except OSError as exc:
        writer.abort()
        raise BundleError(f"cannot write {writer.path}: {exc.strerror or exc}") from exc
    except BaseException:
        writer.abort()
        raise


def member_plan(plan: ExportPlan, signed: bool) -> Iterator[tuple[str, int]]:
    """Every member in write order with its size, for planning volumes."""
    yield MANIFEST, plan.manifest_path.stat().st_size
    yield MANIFEST_DIGEST, 65
    if signed:
        yield SIGNATURE, 200
    for sha256, size in plan.blobs:
        yield f"blobs/{sha256}", size


def record_export(plan: ExportPlan, options: ExportOptions) -> None:
    """Remember what the tag now has: the last serial exported (not for a partial export), and the bytes it is owed."""
    with transaction.atomic():
        if not options.partial:
            peers.record_sync(
                options.tag,
                SyncState.Direction.EXPORT,
                last_serial=plan.header.serial_to,
                peer_instance=plan.header.source_instance,
            )
        _record_pending(plan, options.tag)


def _record_pending(plan: ExportPlan, tag: str) -> None:
    """Forget the owed files this bundle carried; remember the ones it sent without their bytes."""
    still_missing = {filename for _, filename in plan.missing_files}
    settled = [filename for filename in plan.pending_seen if filename not in still_missing]
    for names in chunks(settled, CHUNK):
        PendingBlob.objects.filter(tag=tag, filename__in=names).delete()
    known = set(plan.pending_seen)
    PendingBlob.objects.bulk_create(
        [
            PendingBlob(tag=tag, project_name=project, filename=filename)
            for project, filename in dict.fromkeys(plan.missing_files)
            if filename not in known
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


def scratch_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="pythonnest-export-")
