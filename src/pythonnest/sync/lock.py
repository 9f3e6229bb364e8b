"""One ``update`` at a time: a lease held in the database.

A lease row works the same on sqlite, PostgreSQL and MySQL, and across
machines sharing the database. The holder renews it while it runs; a holder
that was killed loses it when it expires, or at once when the next run is
on the same machine and finds the holder's process gone.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from pythonnest.core.exceptions import UpdateRunning
from pythonnest.core.models import UpdateLock

logger = logging.getLogger(__name__)

LOCK_NAME = "update"
LEASE = datetime.timedelta(minutes=5)
RENEW_EVERY = 60.0


def _owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _holder_is_gone(owner: str) -> bool:
    """Whether the owner ran on this machine, in a process that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class UpdateLease:
    """The lease of one run: ``acquire()``, ``renew()`` now and then, ``release()``."""

    def __init__(self, name: str = LOCK_NAME) -> None:
        self.name = name
        self.owner = _owner_token()
        self._renewed = 0.0
        # Set by the keeper thread when it finds the lease taken over.
        self._lost = False

    def acquire(self) -> None:
        """Take the lease; raises UpdateRunning when another live run holds it."""
        now = timezone.now()
        try:
            with transaction.atomic():
                row, _ = UpdateLock.objects.select_for_update().get_or_create(name=self.name)
                if row.owner and row.expires and row.expires > now and not _holder_is_gone(row.owner):
                    since = row.acquired.strftime("%Y-%m-%d %H:%M:%S %Z") if row.acquired else "?"
                    raise UpdateRunning(
                        f"another update is running (held by {row.owner} since {since}); "
                        "this one exits without doing anything"
                    )
                if row.owner:
                    logger.warning("taking over the update lock of %s, which is gone or expired", row.owner)
                row.owner, row.acquired, row.expires = self.owner, now, now + LEASE
                row.save()
        except IntegrityError:
            # Another run created the row at the same moment, and holds it.
            raise UpdateRunning("another update is starting at the same moment; this one exits") from None
        self._renewed = time.monotonic()

    def renew(self, force: bool = False) -> None:
        """Extend the lease when it is due; raises UpdateRunning if it was lost."""
        if self._lost:
            raise UpdateRunning("the update lock was taken over by another run; stopping")
        if not force and time.monotonic() - self._renewed < RENEW_EVERY:
            return
        kept = UpdateLock.objects.filter(name=self.name, owner=self.owner).update(expires=timezone.now() + LEASE)
        if not kept:
            raise UpdateRunning("the update lock was taken over by another run; stopping")
        self._renewed = time.monotonic()

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renew the lease from a thread while the caller blocks without a heartbeat.

        Reading the upstream's root index is one long request and parse (PyPI's
        is tens of MB; over a slow link, longer than the lease). A lease taken
        over meanwhile is noticed at the caller's next ``renew()``.
        """
        stop = threading.Event()

        def keep() -> None:
            try:
                while not stop.wait(RENEW_EVERY):
                    try:
                        self.renew(force=True)
                    except UpdateRunning:
                        self._lost = True
                        return
                    except DatabaseError as exc:
                        # Busy for a moment (sqlite): the next turn tries again.
                        logger.warning("could not renew the update lock: %s", exc)
            finally:
                connection.close()

        keeper = threading.Thread(target=keep, name="update-lease", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join()

    def release(self) -> None:
        UpdateLock.objects.filter(name=self.name, owner=self.owner).update(owner="", expires=None)

    def __enter__(self) -> UpdateLease:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
