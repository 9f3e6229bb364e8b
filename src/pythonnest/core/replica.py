"""Making a local project equal to a state described elsewhere (a bundle).

Each difference becomes one journaled change made here, with its own serial,
so that what an import brings travels on in this instance's own exports
(the chain A -> B -> C). Call these inside the import's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import Group

from pythonnest.core import services
from pythonnest.core.bulk import BulkInsert
from pythonnest.core.distributions import canonical_version
from pythonnest.core.journal import Action, record_event, record_events
from pythonnest.core.models import (
    RELEASE_METADATA_FIELDS,
    File,
    Project,
    Release,
    RemovedFilename,
)
from pythonnest.core.queries import chunks, find_project
from pythonnest.storage.local import LocalBlobStore

SOURCE = "import"
_PROJECT_ROWS = BulkInsert(Project)
_RELEASE_ROWS = BulkInsert(Release)
_FILE_ROWS = BulkInsert(File)


@dataclass
class ReplicaCounts:
    projects_created: int = 0
    projects_changed: set = field(default_factory=set)
    projects_removed: int = 0
    releases_removed: int = 0
    files_added: int = 0
    files_removed: int = 0
    yanks: int = 0
    metadata_updates: int = 0
    # Projects local here that the bundle removes: another instance's project of
    # the same name was deleted, and this one is left alone (DESIGN.md invariant 7).
    local_left_alone: list = field(default_factory=list)


def _group(name: str | None) -> Group | None:
    if name is None:
        return None
    group, _ = Group.objects.get_or_create(name=name)
    return group


def _release_values(record: dict) -> dict:
    return {name: record[name] for name in RELEASE_METADATA_FIELDS if name in record}


def apply_project(record: dict, *, store: LocalBlobStore, counts: ReplicaCounts) -> None:
    """Make the project named in ``record`` hold exactly the record's releases and files."""
    name = record["normalized_name"]
    project = Project.objects.filter(normalized_name=name).first()
    group = _group(record.get("private_group"))
    created = project is None
    if created:
        project = Project.objects.create(
            name=record["name"], normalized_name=name, origin=Project.Origin.MIRRORED, private_group=group
        )
        record_event(project, Action.CREATE_PROJECT, source=SOURCE, data={"name": project.name})
        counts.projects_created += 1
    elif project.name != record["name"] or project.private_group_id != (group.pk if group else None):
        Project.objects.filter(pk=project.pk).update(name=record["name"], private_group=group)
        project.name, project.private_group = record["name"], group
        record_event(project, Action.UPDATE_METADATA, source=SOURCE, data={"name": project.name})
        counts.metadata_updates += 1
    before = project.last_serial
    wanted_versions = set()
    for release_record in record["releases"]:
        wanted_versions.add(canonical_version(release_record["version"]))
        _apply_release(project, release_record, store=store, counts=counts)
    if not record.get("partial_releases"):
        for release in Release.objects.filter(project=project).exclude(canonical_version__in=wanted_versions):
            services.remove_release(project, release.version, store=store, source=SOURCE)
            counts.releases_removed += 1
    if project.last_serial != before and not created:
        counts.projects_changed.add(name)


def _apply_release(project: Project, record: dict, *, store: LocalBlobStore, counts: ReplicaCounts) -> None:
    values = _release_values(record)
    release = Release.objects.filter(project=project, canonical_version=canonical_version(record["version"])).first()
    if release is None:
        release = Release.objects.create(
            project=project,
            version=record["version"],
            canonical_version=canonical_version(record["version"]),
            created=datetime.fromisoformat(record["created"]),
            **values,
        )
        if not record["files"]:
            record_event(
                project, Action.UPDATE_METADATA, source=SOURCE, version=release.version, data={"new_release": True}
            )
    elif any(getattr(release, key) != value for key, value in values.items()):
        Release.objects.filter(pk=release.pk).update(**values)
        record_event(project, Action.UPDATE_METADATA, source=SOURCE, version=release.version)
        counts.metadata_updates += 1
    if (release.yanked, release.yanked_reason) != (record["yanked"], record["yanked_reason"]):
        if record["yanked"]:
            services.yank_release(project, release.version, record["yanked_reason"], source=SOURCE)
        else:
            services.unyank_release(project, release.version, source=SOURCE)
        counts.yanks += 1
    present = {file.filename: file for file in File.objects.filter(release=release)}
    wanted = set()
    for file_record in record["files"]:
        wanted.add(file_record["filename"])
        existing = present.get(file_record["filename"])
        if existing is not None and existing.sha256 == file_record["sha256"]:
            continue
        if existing is not None:
            services.remove_file(project, existing.filename, store=store, source=SOURCE)
            counts.files_removed += 1
        _add_file(project, release, file_record, store)
        counts.files_added += 1
    for filename in sorted(set(present) - wanted):
        services.remove_file(project, filename, store=store, source=SOURCE)
        counts.files_removed += 1


def _add_file(project: Project, release: Release, record: dict, store: LocalBlobStore) -> None:
    elsewhere = File.objects.filter(filename=record["filename"]).select_related("project").first()
    if elsewhere is not None:
        # The file moved to another release: remove it there first.
        services.remove_file(elsewhere.project, elsewhere.filename, store=store, source=SOURCE)
    file = File(**_file_values(project.pk, release.pk, record))
    file.save(force_insert=True)
    RemovedFilename.objects.filter(filename=file.filename).delete()
    event = _add_file_event(project, release.version, record)
    record_event(
        project, Action.ADD_FILE, source=SOURCE, version=release.version, filename=file.filename, data=event["data"]
    )


def remove_project_if_present(name: str, *, store: LocalBlobStore, counts: ReplicaCounts) -> None:
    project = Project.objects.filter(normalized_name=name).first()
    if project is not None and project.origin == Project.Origin.LOCAL:
        counts.local_left_alone.append(name)
    elif project is not None:
        services.remove_project(project, store=store, source=SOURCE)
        counts.projects_removed += 1


class Replica:
    """Applies project records in manifest order; new projects go in bulk.

    A first import (seeding) creates thousands of projects: they are written
    with a handful of bulk queries per batch instead of several queries per
    file. Projects that exist here take the careful path of apply_project.
    Call ``finish()`` before the transaction ends.
    """

    BATCH = 500

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store
        self.counts = ReplicaCounts()
        self._new: list[dict] = []

    def apply(self, record: dict) -> None:
        # Precompiled: a first import asks this of every project it brings.
        if find_project(record["normalized_name"]) is not None:
            self._flush()
            apply_project(record, store=self.store, counts=self.counts)
            return
        self._new.append(record)
        if len(self._new) >= self.BATCH:
            self._flush()

    def remove(self, name: str) -> None:
        self._flush()
        remove_project_if_present(name, store=self.store, counts=self.counts)

    def finish(self) -> ReplicaCounts:
        self._flush()
        return self.counts

    def _flush(self) -> None:
        records, self._new = self._new, []
        if not records:
            return
        groups = {name: _group(name) for name in {record.get("private_group") for record in records} if name}
        _PROJECT_ROWS.insert(
            {
                "name": record["name"],
                "normalized_name": record["normalized_name"],
                "origin": Project.Origin.MIRRORED,
                "private_group_id": group.pk if (group := groups.get(record.get("private_group"))) else None,
            }
            for record in records
        )
        # The new primary keys, read back by name (MySQL returns none from an insert).
        projects = {
            project.normalized_name: project
            for project in Project.objects.filter(normalized_name__in=[record["normalized_name"] for record in records])
        }
        _RELEASE_ROWS.insert(
            {
                "project_id": projects[record["normalized_name"]].pk,
                "version": release["version"],
                "canonical_version": canonical_version(release["version"]),
                "created": datetime.fromisoformat(release["created"]),
                "yanked": release["yanked"],
                "yanked_reason": release["yanked_reason"],
                **_release_values(release),
            }
            for record in records
            for release in record["releases"]
        )
        release_ids = {
            (project_id, version): pk
            for project_id, version, pk in Release.objects.filter(project__in=projects.values()).values_list(
                "project_id", "canonical_version", "pk"
            )
        }
        files, events = [], []
        for record in records:
            project = projects[record["normalized_name"]]
            events.append({"project": project, "action": Action.CREATE_PROJECT, "data": {"name": project.name}})
            for release in record["releases"]:
                release_id = release_ids[(project.pk, canonical_version(release["version"]))]
                for file in release["files"]:
                    files.append(_file_values(project.pk, release_id, file))
                    events.append(_add_file_event(project, release["version"], file))
                if not release["files"]:
                    events.append(_event(project, Action.UPDATE_METADATA, release["version"], {"new_release": True}))
                if release["yanked"]:
                    events.append(
                        _event(project, Action.YANK_RELEASE, release["version"], {"reason": release["yanked_reason"]})
                    )
        _FILE_ROWS.insert(files)
        for names in chunks(file["filename"] for file in files):
            RemovedFilename.objects.filter(filename__in=names).delete()
        record_events(events, source=SOURCE)
        self.counts.projects_created += len(records)
        self.counts.files_added += len(files)


def _event(project: Project, action: str, version: str, data: dict) -> dict:
    return {"project": project, "action": action, "version": version, "data": data}


def _file_values(project_id: int, release_id: int, record: dict) -> dict:
    """A File row, by field, from a bundle's file record."""
    return {
        "project_id": project_id,
        "release_id": release_id,
        "filename": record["filename"],
        "packagetype": record["packagetype"],
        "python_version": record["python_version"],
        "size": record["size"],
        "sha256": record["sha256"],
        "md5": record["md5"],
        "blake2_256": record["blake2_256"],
        "upload_time": datetime.fromisoformat(record["upload_time"]),
        "requires_python": record["requires_python"],
        "metadata_sha256": record["metadata_sha256"],
        # A file that came without its bytes answers 404 until a bundle brings them: not a
        # redirect to an upstream the importing side (offline, as a rule) cannot reach.
        "upstream_url": record.get("upstream_url", "") if record.get("blob_included", True) else "",
    }


def _add_file_event(project: Project, version: str, record: dict) -> dict:
    data = {name: record[name] for name in ("sha256", "size", "packagetype", "python_version")}
    return {
        "project": project,
        "action": Action.ADD_FILE,
        "version": version,
        "filename": record["filename"],
        "data": data,
    }
