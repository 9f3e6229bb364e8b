"""Inserting many rows of one model: one statement, compiled once, run with ``executemany``.

``QuerySet.bulk_create`` builds a model instance for every row and compiles
a placeholder and a prepared value for every cell, each time. For the
catalog writes of ``update`` and of a first ``import``, which add thousands
of files, releases and journal entries, that was half of their cost
(docs/performance.md, "twelfth pass").

``BulkInsert`` writes the same rows as ``bulk_create`` would:
- every value goes through its field's ``get_db_prep_save``, as the ORM
  does, except those of the field types that pass a value of the right
  Python type through unchanged (text, integers, booleans, foreign keys);
- a field a row leaves out takes the field's default, called per row when
  it is callable (``timezone.now``, ``list``), and prepared the same way;
- the connection is the one the router names for writing the model.

It returns nothing: callers that need new primary keys read them back by
a unique key, which works on every database (MySQL returns none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin

# Field types whose get_db_prep_save returns a value of the expected Python type unchanged.
_UNCHANGED = {
    models.CharField: str,
    models.TextField: str,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.SmallIntegerField: int,
    models.BooleanField: bool,
}
# Rows per statement: bounds the memory a statement's values take.
ROWS_PER_STATEMENT = 1000
_MISSING = object()


def _expected_type(field: models.Field) -> type | None:
    """The Python type whose values ``field`` passes through unchanged, or None."""
    if isinstance(field, models.ForeignKey):
        return _expected_type(field.target_field)
    expected = _UNCHANGED.get(type(field))
    if expected is int and field.primary_key:
        return None
    return expected


class _Statement:
    """A statement of ``model``'s table, written once per database (its names quoted as that database wants)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self._statements: dict[tuple[str, str], str] = {}

    def _write(self, quote: Callable[[str], str]) -> str:
        raise NotImplementedError

    def _statement(self, connection) -> str:
        key = (connection.alias, connection.vendor)
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = self._write(connection.ops.quote_name)
        return statement


class BulkInsert(_Statement):
    """``INSERT`` of many rows of ``model``; rows are mappings of field attnames to values."""

    def __init__(self, model: type[models.Model]) -> None:
        super().__init__(model)
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if not (field.primary_key and isinstance(field, AutoFieldMixin))
        ]
        for field in self.fields:
            if hasattr(field, "get_placeholder"):
                raise TypeError(f"{model.__name__}.{field.name} needs a placeholder of its own")

    def _write(self, quote: Callable[[str], str]) -> str:
        columns = ", ".join(quote(field.column) for field in self.fields)
        placeholders = ", ".join(["%s"] * len(self.fields))
        return f"INSERT INTO {quote(self.model._meta.db_table)} ({columns}) VALUES ({placeholders})"

    def _converters(self, connection) -> list[tuple[str, Callable[[object], object], Callable[[], object]]]:
        """For each field: its attname, what makes a value a database value, and its default."""
        converters = []
        for field in self.fields:
            expected = _expected_type(field)
            prepare = field.get_db_prep_save

            def convert(value, expected=expected, prepare=prepare):
                if expected is not None and (value is None or type(value) is expected):
                    return value
                return prepare(value, connection)

            converters.append((field.attname, convert, field.get_default))
        return converters

    def insert(self, rows: Iterable[Mapping[str, object]]) -> int:
        """Insert ``rows``, in the current transaction; returns how many were inserted.

        A key of a row that names no field is an error, as a wrong keyword
        to a model is.
        """
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        statement = self._statement(connection)
        converters = self._converters(connection)
        known = {attname for attname, _convert, _default in converters}
        count = 0
        values: list[tuple] = []
        with connection.cursor() as cursor:
            for row in rows:
                if not known.issuperset(row):
                    unknown = ", ".join(sorted(set(row) - known))
                    raise TypeError(f"{self.model.__name__} has no field {unknown}")
                values.append(
                    tuple(
                        convert(default() if (value := row.get(attname, _MISSING)) is _MISSING else value)
                        for attname, convert, default in converters
                    )
                )
                if len(values) >= ROWS_PER_STATEMENT:
                    cursor.executemany(statement, values)
                    count += len(values)
                    values = []
            if values:
                cursor.executemany(statement, values)
                count += len(values)
        return count


class BulkUpdate(_Statement):
    """``UPDATE`` of one column of many rows of ``model``, by primary key, run with ``executemany``.

    The twin of BulkInsert for ``bulk_update``, which writes one ``CASE``
    with a branch per row and resolves every branch as an expression: for
    the 500 projects of a first import's batch, a tenth of its journal
    writes.
    """

    def __init__(self, model: type[models.Model], attname: str) -> None:
        super().__init__(model)
        self.field = next((field for field in model._meta.concrete_fields if field.attname == attname), None)
        if self.field is None or self.field.primary_key:
            raise TypeError(f"{model.__name__} has no column {attname} to update")

    def _write(self, quote: Callable[[str], str]) -> str:
        meta = self.model._meta
        return f"UPDATE {quote(meta.db_table)} SET {quote(self.field.column)} = %s WHERE {quote(meta.pk.column)} = %s"

    def update(self, pairs: Iterable[tuple[object, object]]) -> None:
        """Set the column to each value for the row of each primary key, in the current transaction."""
        connection = connections[router.db_for_write(self.model)]
        statement = self._statement(connection)
        prepare = self.field.get_db_prep_save
        values = [(prepare(value, connection), pk) for pk, value in pairs]
        if values:
            with connection.cursor() as cursor:
                cursor.executemany(statement, values)
