"""``BulkInsert``: the rows ``bulk_create`` would write, in one statement per thousand rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from pythonnest.core import bulk
from pythonnest.core.bulk import BulkInsert, BulkUpdate
from pythonnest.core.models import File, JournalEntry, Project, Release

pytestmark = pytest.mark.django_db

RELEASE_FIELDS = [field.attname for field in Release._meta.concrete_fields if field.attname != "id"]


def release_values(project: Project, version: str) -> dict:
    return {
        "project_id": project.pk,
        "version": version,
        "canonical_version": version,
        "summary": "süß – a summary",
        "description": "line one\nline two",
        "requires_python": ">=3.11",
        "classifiers": ["Programming Language :: Python :: 3"],
        "requires_dist": ["idna>=2.5; extra == 'socks'"],
        "project_urls": {"Homepage": "https://example.org/"},
        "yanked": True,
        "yanked_reason": "broken",
        "created": datetime(2026, 11, 28, 12, 30, 5, 123456, tzinfo=UTC),
    }


def test_rows_read_back_as_bulk_create_writes_them():
    project = Project.objects.create(name="Demo", normalized_name="demo")
    by_orm = Release(**release_values(project, "1.0"))
    Release.objects.bulk_create([by_orm])
    BulkInsert(Release).insert([release_values(project, "2.0")])
    orm_row, bulk_row = (
        Release.objects.filter(project=project, version=version).values(*RELEASE_FIELDS).get()
        for version in ("1.0", "2.0")
    )
    assert {**bulk_row, "version": "1.0", "canonical_version": "1.0"} == orm_row
    assert bulk_row["classifiers"] == ["Programming Language :: Python :: 3"]
    assert bulk_row["project_urls"] == {"Homepage": "https://example.org/"}
    assert bulk_row["created"] == datetime(2026, 11, 28, 12, 30, 5, 123456, tzinfo=UTC)
    assert bulk_row["yanked"] is True


def test_a_field_left_out_takes_its_default_for_each_row():
    project = Project.objects.create(name="Demo", normalized_name="demo")
    before = datetime.now(UTC)
    count = BulkInsert(Release).insert(
        {"project_id": project.pk, "version": version, "canonical_version": version} for version in ("1", "2")
    )
    assert count == 2
    rows = list(Release.objects.order_by("version").values("summary", "classifiers", "project_urls", "created"))
    assert [(row["summary"], row["classifiers"], row["project_urls"]) for row in rows] == [("", [], {}), ("", [], {})]
    assert all(row["created"] >= before.replace(microsecond=0) for row in rows)


@pytest.mark.parametrize("field", ["summary", "classifiers", "created"])
def test_none_is_sql_null_as_with_the_orm(field):
    """A column that takes no NULL refuses None, from BulkInsert as from bulk_create."""
    project = Project.objects.create(name="Demo", normalized_name="demo")
    for insert in (
        lambda values: Release.objects.bulk_create([Release(**values)]),
        lambda values: BulkInsert(Release).insert([values]),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            insert({**release_values(project, "1"), field: None})
    assert not Release.objects.exists()


def test_a_thousand_rows_are_one_statement(monkeypatch):
    project = Project.objects.create(name="Demo", normalized_name="demo")
    rows = [
        {"serial": serial, "action": JournalEntry.Action.ADD_FILE, "project_name": "demo", "source": "test"}
        for serial in range(1, 2502)
    ]
    inserter = BulkInsert(JournalEntry)
    with CaptureQueriesContext(connection) as queries:
        assert inserter.insert(rows[:1000]) == 1000
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert inserter.insert(iter(rows[1000:])) == 1501
    # Statements of at most a thousand rows, however many come.
    assert len(queries) == 2 == -(-1501 // bulk.ROWS_PER_STATEMENT)
    assert JournalEntry.objects.count() == 2501
    assert list(JournalEntry.objects.filter(serial=2501).values_list("project_name", "data", "version")) == [
        ("demo", {}, "")
    ]
    assert project.pk is not None


def test_a_key_that_names_no_field_is_refused_before_anything_is_written():
    project = Project.objects.create(name="Demo", normalized_name="demo")
    with pytest.raises(TypeError, match="File has no field colour"):
        BulkInsert(File).insert([{"project_id": project.pk, "colour": "blue"}])
    assert not File.objects.exists()


def test_a_unique_key_taken_is_an_integrity_error_and_the_statement_writes_nothing():
    project = Project.objects.create(name="Demo", normalized_name="demo")
    inserter = BulkInsert(Release)
    inserter.insert([release_values(project, "1.0")])
    with pytest.raises(IntegrityError), transaction.atomic():
        inserter.insert([release_values(project, "3.0"), release_values(project, "1.0")])
    assert list(Release.objects.values_list("version", flat=True)) == ["1.0"]


def test_bulk_update_sets_one_column_of_the_rows_named_in_one_statement():
    projects = [Project.objects.create(name=f"P{number}", normalized_name=f"p{number}") for number in range(4)]
    with CaptureQueriesContext(connection) as queries:
        BulkUpdate(Project, "last_serial").update([(projects[0].pk, 7), (projects[2].pk, 2**40)])
    assert len(queries) == 1
    assert list(Project.objects.order_by("normalized_name").values_list("last_serial", "name")) == [
        (7, "P0"),
        (0, "P1"),
        (2**40, "P2"),
        (0, "P3"),
    ]
    with CaptureQueriesContext(connection) as queries:
        BulkUpdate(Project, "last_serial").update([])
    assert len(queries) == 0


@pytest.mark.parametrize("attname", ["colour", "id"])
def test_bulk_update_takes_a_column_that_is_not_the_key(attname):
    with pytest.raises(TypeError, match=f"Project has no column {attname} to update"):
        BulkUpdate(Project, attname)
