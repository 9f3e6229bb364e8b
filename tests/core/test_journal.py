"""The journal's invariants: one entry per change, serials in commit order."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from pythonnest.core.journal import Action, current_serial, describe, record_event
from pythonnest.core.models import JournalEntry, Project


@pytest.mark.django_db(transaction=True)
def test_record_event_needs_a_transaction():
    project = Project.objects.create(name="p", normalized_name="p")
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        record_event(project, Action.CREATE_PROJECT, source="test")


@pytest.mark.django_db
def test_serials_increase_and_move_last_serial():
    project = Project.objects.create(name="p", normalized_name="p")
    with transaction.atomic():
        first = record_event(project, Action.CREATE_PROJECT, source="test")
    with transaction.atomic():
        second = record_event(project, Action.UPDATE_METADATA, source="test", data={"field": "summary"})
    assert (first.serial, second.serial) == (1, 2)
    project.refresh_from_db()
    assert project.last_serial == 2
    assert current_serial() == 2
    assert JournalEntry.objects.get(serial=2).data == {"field": "summary"}


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_entry_and_no_serial():
    project = Project.objects.create(name="p", normalized_name="p")
    with pytest.raises(ValueError):
        with transaction.atomic():
            record_event(project, Action.CREATE_PROJECT, source="test")
            raise ValueError("the change failed")
    assert JournalEntry.objects.count() == 0
    assert current_serial() == 0
    with transaction.atomic():
        assert record_event(project, Action.CREATE_PROJECT, source="test").serial == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_writer_waits_for_the_first_to_commit():
    project = Project.objects.create(name="p", normalized_name="p")
    first_holds_lock = threading.Event()
    release_first = threading.Event()
    second_done = threading.Event()
    serials = {}

    def first_writer():
        try:
            with transaction.atomic():
                serials["first"] = record_event(project.normalized_name, Action.CREATE_PROJECT, source="test").serial
                first_holds_lock.set()
                release_first.wait(timeout=30)
        finally:
            connection.close()

    def second_writer():
        try:
            first_holds_lock.wait(timeout=30)
            with transaction.atomic():
                serials["second"] = record_event(project.normalized_name, Action.CREATE_PROJECT, source="test").serial
            second_done.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=first_writer), threading.Thread(target=second_writer)]
    for thread in threads:
        thread.start()
    assert first_holds_lock.wait(timeout=30)
    # While the first transaction is open, the second cannot take a serial.
    assert not second_done.wait(timeout=1.0)
    release_first.set()
    for thread in threads:
        thread.join(timeout=30)
    assert second_done.is_set()
    assert serials == {"first": 1, "second": 2}


@pytest.mark.parametrize(
    ("action", "filename", "data", "text"),
    [
        (Action.ADD_FILE, "a-1.0.tar.gz", {"python_version": "source"}, "add source file a-1.0.tar.gz"),
        (Action.ADD_FILE, "a-1.0-py3-none-any.whl", {"python_version": "py3"}, "add py3 file a-1.0-py3-none-any.whl"),
        (Action.REMOVE_FILE, "a-1.0.tar.gz", {}, "remove file a-1.0.tar.gz"),
        (Action.REMOVE_RELEASE, "", {}, "remove release"),
        (Action.REMOVE_PROJECT, "", {}, "remove project"),
        (Action.CREATE_PROJECT, "", {}, "create"),
        (Action.YANK_RELEASE, "", {"reason": "broken"}, "yank release: broken"),
        (Action.UNYANK_RELEASE, "", {}, "unyank release"),
    ],
)
def test_describe_words_actions_as_pypi(action, filename, data, text):
    entry = JournalEntry(serial=1, action=action, project_name="a", filename=filename, data=data, source="test")
    assert describe(entry) == text
