"""One update at a time: the lease in the database."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.utils import timezone

from pythonnest.core.exceptions import UpdateRunning
from pythonnest.core.models import File, UpdateLock
from pythonnest.sync import lock
from pythonnest.sync.lock import UpdateLease

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_lease_is_refused_while_the_first_is_held():
    first = UpdateLease()
    first.acquire()
    with pytest.raises(UpdateRunning, match="another update is running"):
        UpdateLease().acquire()
    first.release()
    second = UpdateLease()
    second.acquire()
    assert UpdateLock.objects.get().owner == second.owner


def test_an_expired_lease_is_taken_over_and_its_holder_notices():
    first = UpdateLease()
    first.acquire()
    UpdateLock.objects.update(expires=timezone.now() - datetime.timedelta(seconds=1), owner="elsewhere:1:x")
    second = UpdateLease()
    second.acquire()
    with pytest.raises(UpdateRunning, match="taken over"):
        first.renew(force=True)


def test_the_lease_of_a_dead_process_on_this_machine_is_taken_at_once():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    UpdateLock.objects.create(
        name="update",
        owner=f"{socket.gethostname()}:{int(dead.stdout)}:abc",
        acquired=timezone.now(),
        expires=timezone.now() + datetime.timedelta(minutes=5),
    )
    lease = UpdateLease()
    lease.acquire()
    assert UpdateLock.objects.get().owner == lease.owner


def test_a_live_process_on_this_machine_keeps_its_lease():
    UpdateLock.objects.create(
        name="update",
        owner=f"{socket.gethostname()}:1:abc",  # PID 1 is always alive
        acquired=timezone.now(),
        expires=timezone.now() + datetime.timedelta(minutes=5),
    )
    with pytest.raises(UpdateRunning):
        UpdateLease().acquire()


def test_an_update_exits_at_once_while_another_runs(catalog, update):
    holder = UpdateLease()
    holder.acquire()
    with pytest.raises(UpdateRunning):
        update(catalog.url)
    assert catalog.requests == [] and File.objects.count() == 0
    holder.release()
    summary, _ = update(catalog.url)
    assert not summary.failed
    assert UpdateLock.objects.get().owner == ""


def test_a_dry_run_takes_no_lock(catalog, update):
    holder = UpdateLease()
    holder.acquire()
    summary, _ = update(catalog.url, dry_run=True)
    assert not summary.failed


def test_the_lease_is_kept_alive_while_the_holder_blocks(monkeypatch):
    monkeypatch.setattr(lock, "RENEW_EVERY", 0.05)
    lease = UpdateLease()
    lease.acquire()
    UpdateLock.objects.update(expires=timezone.now() + datetime.timedelta(seconds=1))
    with lease.kept_alive():
        time.sleep(0.5)
    # The keeper renewed it for a whole lease while the holder was busy.
    assert UpdateLock.objects.get().expires > timezone.now() + lock.LEASE - datetime.timedelta(seconds=30)
    lease.release()


def test_a_lease_taken_over_while_kept_alive_stops_the_holder_at_its_next_renewal(monkeypatch):
    monkeypatch.setattr(lock, "RENEW_EVERY", 0.05)
    lease = UpdateLease()
    lease.acquire()
    with lease.kept_alive():
        UpdateLock.objects.update(owner="elsewhere:1:x")
        time.sleep(0.3)
    with pytest.raises(UpdateRunning, match="taken over"):
        lease.renew()


def test_update_keeps_its_lease_alive_while_it_reads_the_root(catalog, update, monkeypatch):
    monkeypatch.setattr(lock, "RENEW_EVERY", 0.05)
    renewals = []
    renew = UpdateLease.renew

    def counting(self, force=False):
        renewals.append((threading.current_thread().name, force))
        return renew(self, force)

    monkeypatch.setattr(UpdateLease, "renew", counting)
    catalog.fault("/simple/", "slow", seconds=0.6)
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert ("update-lease", True) in renewals
