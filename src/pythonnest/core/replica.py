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
from pythonnest.core.distributions import canonical_version
from pythonnest.core.journal import Action, record_event
from pythonnest.core.models import (
    RELEASE_METADATA_FIELDS,
    File,
    Project,
    Release,
    RemovedFilename,
)
from pythonnest.storage.local import LocalBlobStore

SOURCE = "import"


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
            record_event(project, Action.UPDATE_METADATA, source=SOURCE, version=release.version, data={"new_release": True})
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
    file = File.objects.create(
        project=project,
        release=release,
        filename=record["filename"],
        packagetype=record["packagetype"],
        python_version=record["python_version"],
        size=record["size"],
        sha256=record["sha256"],
        md5=record["md5"],
        blake2_256=record["blake2_256"],
        upload_time=datetime.fromisoformat(record["upload_time"]),
        requires_python=record["requires_python"],
        metadata_sha256=record["metadata_sha256"],
        upstream_url=record.get("upstream_url", ""),
    )
    RemovedFilename.objects.filter(filename=file.filename).delete()
    record_event(
        project,
        Action.ADD_FILE,
        source=SOURCE,
        version=release.version,
        filename=file.filename,
        data={
            "sha256": file.sha256,
            "size": file.size,
            "packagetype": file.packagetype,
            "python_version": file.python_version,
        },
    )


def remove_project_if_present(name: str, *, store: LocalBlobStore, counts: ReplicaCounts) -> None:
    project = Project.objects.filter(normalized_name=name).first()
    if project is not None:
        services.remove_project(project, store=store, source=SOURCE)
        counts.projects_removed += 1
