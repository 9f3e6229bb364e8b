"""Administrators' changes to a project: its origin and its privacy, each journaled.

Both change what clients may see or upload, so each is one journal entry
with a new serial: pages cached by serial are rebuilt, and an export
carries the change (DESIGN.md invariant 1).
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import Group
from django.db import transaction

from pythonnest.core.exceptions import NotFound
from pythonnest.core.journal import Action, lock_catalog, record_event
from pythonnest.core.models import JournalEntry, Project
from pythonnest.core.names import normalize

logger = logging.getLogger(__name__)


def find_project(name: str) -> Project:
    """The project with this name, in any spelling; raises NotFound (or InvalidName)."""
    normalized = normalize(name)
    project = Project.objects.filter(normalized_name=normalized).first()
    if project is None:
        raise NotFound(f"no project named {normalized!r}")
    return project


def set_project_origin(project: Project, origin: str, *, source: str, submitted_by: str = "") -> JournalEntry | None:
    """Mark a project local (uploads allowed, upstream files refused) or mirrored.

    Returns the journal entry, or None when the origin was already that.
    Raises ValueError for an unknown origin.
    """
    origin = Project.Origin(origin)
    with transaction.atomic():
        lock_catalog()
        current = Project.objects.filter(pk=project.pk).values_list("origin", flat=True).first()
        if current is None:
            raise NotFound(f"no project named {project.normalized_name!r}")
        if current == origin:
            return None
        Project.objects.filter(pk=project.pk).update(origin=origin)
        project.origin = origin
        entry = record_event(
            project,
            Action.SET_ORIGIN,
            source=source,
            submitted_by=submitted_by,
            data={"origin": str(origin), "previous": current},
        )
    logger.info("project %s is now %s, serial %d", project.normalized_name, origin, entry.serial)
    return entry


def set_project_private(
    project: Project, group: Group | None, *, source: str, submitted_by: str = ""
) -> JournalEntry | None:
    """Restrict a project to the members of ``group``, or make it public with None.

    Returns the journal entry, or None when nothing changes.
    """
    with transaction.atomic():
        lock_catalog()
        current = Project.objects.filter(pk=project.pk).values_list("private_group_id", flat=True)
        if not current.exists():
            raise NotFound(f"no project named {project.normalized_name!r}")
        group_id = group.pk if group is not None else None
        if current.first() == group_id:
            return None
        Project.objects.filter(pk=project.pk).update(private_group=group)
        project.private_group = group
        entry = record_event(
            project,
            Action.SET_PRIVATE,
            source=source,
            submitted_by=submitted_by,
            data={"group": group.name if group is not None else ""},
        )
    state = f"private to group {group.name}" if group is not None else "public"
    logger.info("project %s is now %s, serial %d", project.normalized_name, state, entry.serial)
    return entry
