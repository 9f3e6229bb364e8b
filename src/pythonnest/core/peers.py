"""This instance's identity, and how far each tag's exports and imports went."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from pythonnest.core.models import InstanceIdentity, SyncState


def instance_id() -> str:
    """This instance's UUID, made on first use and never changed."""
    with transaction.atomic():
        identity = InstanceIdentity.objects.order_by("pk").first()
        if identity is None:
            identity = InstanceIdentity.objects.create()
    return str(identity.uuid)


def sync_state(tag: str, direction: str) -> SyncState | None:
    return SyncState.objects.filter(tag=tag, direction=direction).first()


def record_sync(
    tag: str, direction: str, *, last_serial: int, peer_instance: str, forced: dict | None = None
) -> SyncState:
    """Move a tag's last serial; ``forced`` notes a gap the operator accepted.

    Call it inside the transaction of the import it records, so that the two
    commit together.
    """
    state, _ = SyncState.objects.select_for_update().get_or_create(tag=tag, direction=direction)
    state.last_serial = max(state.last_serial, last_serial) if direction == SyncState.Direction.IMPORT else last_serial
    state.peer_instance = peer_instance
    state.updated = timezone.now()
    if forced:
        state.forced = [*state.forced, forced]
    state.save()
    return state
