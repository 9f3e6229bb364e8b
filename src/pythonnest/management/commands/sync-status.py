"""``sync-status``: how far each tag's exports and imports went."""

from __future__ import annotations

from pythonnest.core import peers
from pythonnest.core.journal import current_serial
from pythonnest.core.models import SyncState
from pythonnest.management.base import PythonNestCommand


class Command(PythonNestCommand):
    help = (
        "List each tag with its last serial exported or imported, its date and, for an import, the instance "
        "its bundles come from (an export's peer cannot be known over a one-way link)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"This instance: {peers.instance_id()}, current serial {current_serial()}")
        states = SyncState.objects.order_by("tag", "direction")
        if not states:
            self.stdout.write("No export or import recorded yet.")
            return
        self.stdout.write(f"{'TAG':<24} {'DIRECTION':<9} {'SERIAL':>10}  {'DATE':<25} PEER")
        for state in states:
            forced = f"  ({len(state.forced)} gap(s) forced)" if state.forced else ""
            # An export cannot learn who imports it (the link is one-way): its
            # row records this instance, which is not a peer.
            peer = state.peer_instance if state.direction == SyncState.Direction.IMPORT else "-"
            self.stdout.write(
                f"{state.tag:<24} {state.direction:<9} {state.last_serial:>10}  "
                f"{state.updated.isoformat(timespec='seconds'):<25} {peer or '-'}{forced}"
            )
