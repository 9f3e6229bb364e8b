"""Fixtures for the bundle tests: a small catalog, and exporting and importing in-process.

One test database plays both sides. ``become_another_instance`` empties the
catalog and gives the instance a new identity and a new blob store, so that
a bundle exported a moment ago can be imported as if elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from pythonnest.bundles import export
from pythonnest.bundles.export import ExportOptions
from pythonnest.bundles.importer import ImportOptions, import_bundle
from pythonnest.bundles.writers import ArchiveWriter, DirectoryWriter
from pythonnest.core.models import (
    File,
    InstanceIdentity,
    JournalEntry,
    Project,
    Release,
    RemovedFilename,
    SerialCounter,
    SyncState,
)
from pythonnest.core.services import add_distribution_path
from pythonnest.storage.local import LocalBlobStore

SIX_FILES = ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz", "six-1.17.0-py2.py3-none-any.whl"]
OTHER_FILES = ["iniconfig-2.0.0-py3-none-any.whl", "python_dateutil-2.9.0.post0-py2.py3-none-any.whl"]


@dataclass
class Exported:
    plan: export.ExportPlan
    paths: list[Path]

    @property
    def path(self) -> Path:
        (path,) = self.paths
        return path

    @property
    def manifest(self) -> bytes:
        return (self.path / "manifest.jsonl").read_bytes()


def export_bundle(
    target: Path,
    store: LocalBlobStore,
    *,
    archive: bool = False,
    volume_size: int | None = None,
    sign_key: Path | None = None,
    **options,
) -> Exported:
    """What ``export`` does, in-process: plan, write, record."""
    options.setdefault("tag", "offline")
    export_options = ExportOptions(**options)
    with export.scratch_directory() as scratch:
        plan = export.plan_export(export_options, store=store, scratch=Path(scratch))
        if archive:
            writer = ArchiveWriter(
                target, volume_size, plan.manifest_sha256, export.member_plan(plan, sign_key is not None)
            )
        else:
            writer = DirectoryWriter(target)
        paths = export.write_bundle(plan, writer, store=store, sign_key=sign_key)
        export.record_export(plan, export_options)
    return Exported(plan, paths)


def import_paths(paths: list[Path] | Path, store: LocalBlobStore, **options):
    """What ``import`` does, in-process; returns (summary, plan)."""
    paths = [paths] if isinstance(paths, Path) else paths
    dry_run = options.pop("dry_run", False)
    return import_bundle(paths, ImportOptions(**options), store=store, dry_run=dry_run)


def add_files(store: LocalBlobStore, directory: Path, names: list[str]) -> None:
    for name in names:
        add_distribution_path(directory / name, store=store)


def catalog_state() -> dict:
    """The catalog as the indexes show it, without anything per-instance (serials, ids)."""
    projects = {}
    for project in Project.objects.select_related("private_group").order_by("normalized_name"):
        releases = {}
        for release in Release.objects.filter(project=project).order_by("canonical_version"):
            releases[release.version] = {
                "yanked": release.yanked,
                "yanked_reason": release.yanked_reason,
                "summary": release.summary,
                "requires_dist": release.requires_dist,
                "created": release.created,
                "files": {
                    file.filename: (
                        file.sha256,
                        file.md5,
                        file.blake2_256,
                        file.size,
                        file.upload_time,
                        file.requires_python,
                        file.metadata_sha256,
                        file.packagetype,
                        file.python_version,
                    )
                    for file in File.objects.filter(release=release)
                },
            }
        projects[project.normalized_name] = {
            "name": project.name,
            "private_group": project.private_group.name if project.private_group_id else None,
            "releases": releases,
        }
    return projects


def journal_serials() -> list[int]:
    return list(JournalEntry.objects.order_by("serial").values_list("serial", flat=True))


@pytest.fixture
def catalog(store, data_dir) -> LocalBlobStore:
    """six (two releases, three files), iniconfig and python-dateutil, added locally."""
    add_files(store, data_dir, SIX_FILES + OTHER_FILES)
    return store


@pytest.fixture
def become_another_instance(tmp_path):
    """Empty the catalog, forget the identity and the sync states; returns the new store."""

    def become(name: str = "other") -> LocalBlobStore:
        File.objects.all().delete()
        Release.objects.all().delete()
        Project.objects.all().delete()
        JournalEntry.objects.all().delete()
        SerialCounter.objects.all().delete()
        RemovedFilename.objects.all().delete()
        SyncState.objects.all().delete()
        InstanceIdentity.objects.all().delete()
        Group.objects.all().delete()
        return LocalBlobStore(tmp_path / f"{name}-blobs")

    return become
