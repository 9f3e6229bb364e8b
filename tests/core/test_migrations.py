"""The migrations describe the models exactly: a model change without its migration fails here."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    try:
        call_command("makemigrations", "pythonnest", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:
        pytest.fail(f"a model change has no migration (makemigrations --check exited with {exc.code})")


@pytest.mark.django_db(transaction=True)
def test_0007_marks_the_history_of_private_projects():
    """Changes made while a project was private, deleted or not, get its group; public ones stay unmarked."""
    executor = MigrationExecutor(connection)
    executor.migrate([("pythonnest", "0006_pending_blobs")])
    apps = executor.loader.project_state([("pythonnest", "0006_pending_blobs")]).apps
    Group = apps.get_model("auth", "Group")
    Project = apps.get_model("pythonnest", "Project")
    JournalEntry = apps.get_model("pythonnest", "JournalEntry")
    team = Group.objects.create(name="team")
    Project.objects.create(name="still-private", normalized_name="still-private", private_group=team)
    history = [
        ("gone", "create_project", {}),
        ("gone", "set_private", {"group": "team"}),
        ("gone", "add_file", {}),
        ("gone", "remove_project", {}),
        ("opened", "set_private", {"group": "vanished-group"}),
        ("opened", "add_file", {}),
        ("opened", "set_private", {"group": ""}),
        ("opened", "add_file", {}),
        ("still-private", "create_project", {}),
        ("public", "create_project", {}),
    ]
    for serial, (name, action, data) in enumerate(history, start=1):
        JournalEntry.objects.create(serial=serial, project_name=name, action=action, data=data, source="test")
    executor = MigrationExecutor(connection)
    executor.migrate([("pythonnest", "0007_journal_private_group")])
    apps = executor.loader.project_state([("pythonnest", "0007_journal_private_group")]).apps
    marks = list(
        apps.get_model("pythonnest", "JournalEntry").objects.order_by("serial").values_list("private_group_id")
    )
    assert [mark for (mark,) in marks] == [None, team.pk, team.pk, team.pk, -1, -1, None, None, team.pk, None]
    # Back to the newest state, for the tests that follow.
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
