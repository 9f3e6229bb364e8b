"""The journal: one structured entry, with a new serial, for every change.

``record_event`` is the only way a serial is made. It must run inside the
transaction of the change it records, so that the change and its entry
commit or vanish together.
"""

from __future__ import annotations

import logging

from django.db import transaction

from pythonnest.core.bulk import BulkInsert, BulkUpdate
from pythonnest.core.models import JournalEntry, Project, SerialCounter

logger = logging.getLogger(__name__)

Action = JournalEntry.Action
SERIAL_COUNTER_ID = 1
_JOURNAL_ROWS = BulkInsert(JournalEntry)
_LAST_SERIALS = BulkUpdate(Project, "last_serial")


def lock_catalog() -> SerialCounter:
    """Take the catalog's write lock until the current transaction ends.

    Call it first in a change, so that concurrent writers queue here rather
    than conflicting later; serials then follow commit order.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_catalog() must run inside transaction.atomic()")
    counter, _ = SerialCounter.objects.select_for_update().get_or_create(pk=SERIAL_COUNTER_ID)
    return counter


def record_event(
    project: Project | str,
    action: str,
    *,
    source: str,
    version: str = "",
    filename: str = "",
    data: dict | None = None,
    submitted_by: str = "",
    counter: SerialCounter | None = None,
    private_group_id: int | None = None,
) -> JournalEntry:
    """Write one journal entry and move ``Project.last_serial`` to its serial.

    ``project`` is a Project, or a normalized name when the project is gone;
    then ``private_group_id`` is the group it was private to, if it was.
    ``counter`` is what ``lock_catalog()`` returned earlier in this same
    transaction, which saves taking the lock twice.
    """
    if counter is None:
        counter = lock_catalog()
    counter.value += 1
    counter.save(update_fields=["value"])
    name = project.normalized_name if isinstance(project, Project) else project
    entry = JournalEntry.objects.create(
        serial=counter.value,
        action=action,
        project_name=name,
        version=version,
        filename=filename,
        data=data or {},
        source=source,
        submitted_by=submitted_by,
        private_group_id=project.private_group_id if isinstance(project, Project) else private_group_id,
    )
    if isinstance(project, Project) and project.pk is not None:
        Project.objects.filter(pk=project.pk).update(last_serial=entry.serial)
        project.last_serial = entry.serial
    logger.debug("journal #%d %s %s %s", entry.serial, action, name, filename or version)
    return entry


def record_events(events: list[dict], *, source: str, counter: SerialCounter | None = None) -> list[int]:
    """Write many journal entries at once, in order; the bulk twin of record_event. Returns their serials.

    Each event is a dict with ``project`` (a Project) and ``action``, and
    optionally ``version``, ``filename``, ``data``. Every project's
    ``last_serial`` moves to its newest entry. Must run inside the
    transaction of the changes it records; ``counter`` is as for record_event.
    """
    if not events:
        return []
    if counter is None:
        counter = lock_catalog()
    first = counter.value + 1
    counter.value += len(events)
    counter.save(update_fields=["value"])
    serials = range(first, first + len(events))
    _JOURNAL_ROWS.insert(
        {
            "serial": serial,
            "action": event["action"],
            "project_name": event["project"].normalized_name,
            "version": event.get("version", ""),
            "filename": event.get("filename", ""),
            "data": event.get("data") or {},
            "source": source,
            "private_group_id": event["project"].private_group_id,
        }
        for serial, event in zip(serials, events, strict=True)
    )
    # Serials rise: the last one given to a project is its newest.
    newest = {}
    for event, serial in zip(events, serials, strict=True):
        event["project"].last_serial = newest[event["project"].pk] = serial
    _LAST_SERIALS.update(newest.items())
    return list(serials)


def current_serial() -> int:
    """The serial of the newest committed change, 0 for an empty catalog."""
    value = SerialCounter.objects.filter(pk=SERIAL_COUNTER_ID).values_list("value", flat=True).first()
    return value or 0


def describe(entry: JournalEntry) -> str:
    """The action as PyPI's changelog words it, for XML-RPC clients."""
    data = entry.data or {}
    match entry.action:
        case Action.ADD_FILE:
            return f"add {data.get('python_version', 'source')} file {entry.filename}"
        case Action.REMOVE_FILE:
            return f"remove file {entry.filename}"
        case Action.REMOVE_RELEASE:
            return "remove release"
        case Action.REMOVE_PROJECT:
            return "remove project"
        case Action.CREATE_PROJECT:
            return "create"
        case Action.YANK_RELEASE:
            reason = data.get("reason") or ""
            return f"yank release{': ' + reason if reason else ''}"
        case Action.UNYANK_RELEASE:
            return "unyank release"
        case Action.UPDATE_METADATA:
            return "update metadata"
        case Action.SET_ORIGIN:
            return f"set origin {data.get('origin', '')}"
        case Action.SET_PRIVATE:
            group = data.get("group") or ""
            return f"restrict to group {group}" if group else "make public"
    return entry.action
