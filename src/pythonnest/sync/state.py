"""How far mirroring got, and what the catalog holds of a project, as ``update`` reads it.

``Upstream`` and ``UpstreamProject`` are the update's own bookkeeping, not
catalog content: they are written here, never journaled. The catalog itself
is read here and changed only through ``pythonnest.core.services``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils import timezone

from pythonnest.core.models import File, Project, Release, Upstream, UpstreamProject


@dataclass
class LocalProject:
    """What the catalog holds of one project."""

    name: str
    origin: str
    # filename -> (sha256, canonical version)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    # canonical version -> (version, yanked, yanked reason)
    releases: dict[str, tuple[str, bool, str]] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.origin == Project.Origin.LOCAL


def find_upstream(url: str) -> Upstream | None:
    return Upstream.objects.filter(url=url).first()


def get_upstream(url: str) -> Upstream:
    return Upstream.objects.get_or_create(url=url)[0]


def project_serial_rows(upstream: Upstream | None, filter_digest: str) -> Iterator[tuple[str, int | None]]:
    """(name, serial) for each project last mirrored from this upstream, read in chunks.

    The serial is None for a project mirrored under other filters: it must be
    looked at again.
    """
    if upstream is None:
        return
    rows = UpstreamProject.objects.filter(upstream=upstream).values_list(
        "normalized_name", "last_serial", "filter_digest"
    )
    for name, serial, digest in rows.iterator(chunk_size=5000):
        yield name, serial if digest == filter_digest else None


def record_project(upstream: Upstream, name: str, serial: int | None, filter_digest: str) -> None:
    # Not update_or_create, whose transaction and locking read cost two more
    # statements per project: only one update runs at a time (sync.lock).
    values = {"last_serial": serial or 0, "filter_digest": filter_digest}
    if not UpstreamProject.objects.filter(upstream=upstream, normalized_name=name).update(**values):
        UpstreamProject.objects.create(upstream=upstream, normalized_name=name, **values)


def forget_project(upstream: Upstream, name: str) -> None:
    UpstreamProject.objects.filter(upstream=upstream, normalized_name=name).delete()


def finish_run(upstream: Upstream, serial: int | None, filter_digest: str) -> None:
    """Record a run that left nothing behind: the next one starts from ``serial``."""
    Upstream.objects.filter(pk=upstream.pk).update(
        last_serial=serial, filter_digest=filter_digest, last_run=timezone.now()
    )


def touch_run(upstream: Upstream) -> None:
    Upstream.objects.filter(pk=upstream.pk).update(last_run=timezone.now())


def local_project_names() -> set[str]:
    """Names owned by local projects: the mirror never touches them."""
    return set(Project.objects.filter(origin=Project.Origin.LOCAL).values_list("normalized_name", flat=True))


def local_project(name: str) -> LocalProject | None:
    row = Project.objects.filter(normalized_name=name).values_list("id", "origin").first()
    if row is None:
        return None
    project = LocalProject(name=name, origin=row[1])
    releases = Release.objects.filter(project_id=row[0]).values_list(
        "id", "canonical_version", "version", "yanked", "yanked_reason"
    )
    canonical_by_id = {}
    for release_id, canonical, version, yanked, reason in releases:
        canonical_by_id[release_id] = canonical
        project.releases[canonical] = (version, yanked, reason)
    for filename, sha256, release_id in File.objects.filter(project_id=row[0]).values_list(
        "filename", "sha256", "release_id"
    ):
        project.files[filename] = (sha256, canonical_by_id.get(release_id, ""))
    return project


def mirrored_requirements(name: str) -> list[tuple[str, list[str]]]:
    """(version, Requires-Dist) of each release the catalog holds of a project."""
    return [
        (version, list(requires or []))
        for version, requires in Release.objects.filter(project__normalized_name=name).values_list(
            "version", "requires_dist"
        )
    ]
