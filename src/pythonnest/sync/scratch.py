"""The upstream's list of projects and the serials recorded for them, on disk rather than in memory.

PyPI's simple index lists about 930,000 projects. Held as dictionaries, that
list, the serials recorded for each project and the candidates made of them
took about half a gigabyte (docs/performance.md, "A large upstream"). They
live instead in a private temporary SQLite database, whose page cache is
bounded and which is deleted when it is closed, so that ``update``'s memory
does not grow with the size of its upstream. The database is the run's own:
nothing in it outlives the run.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping

# What SQLite may cache of the scratch database, in KiB (a negative cache_size).
CACHE_KIB = 8 * 1024
# Rows written in one statement, and read per fetch.
BATCH = 5000

_SCHEMA = """
CREATE TABLE listed (name TEXT NOT NULL, display TEXT NOT NULL, serial INTEGER);
CREATE TABLE projects (name TEXT PRIMARY KEY, display TEXT NOT NULL, serial INTEGER) WITHOUT ROWID;
CREATE TABLE recorded (name TEXT PRIMARY KEY, serial INTEGER) WITHOUT ROWID;
CREATE TABLE candidates (
    position INTEGER PRIMARY KEY, name TEXT NOT NULL, display TEXT NOT NULL, serial INTEGER
);
"""


class ScratchIndex:
    """One run's scratch database: the upstream's projects, the recorded serials, the candidates."""

    def __init__(self) -> None:
        # "": a private database in a temporary file, removed when the connection closes.
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{CACHE_KIB}", "temp_store = FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        # Projects added and not yet written: (name, display name, serial).
        self._pending: list[tuple[str, str, int | None]] = []
        # Rows in ``listed`` not yet moved to ``projects``.
        self._listed = False
        self.projects = ProjectTable(self)
        self.recorded = RecordedSerials(self)

    def close(self) -> None:
        self._pending.clear()
        self._db.close()

    def __enter__(self) -> ScratchIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def add_project(self, name: str, display: str, serial: int | None) -> None:
        """Add (or replace: the last entry of a name counts, as in a dictionary) an upstream project."""
        self._pending.append((name, display, serial))
        if len(self._pending) >= BATCH:
            self._write_pending()

    def add_projects(self, rows: Iterable[tuple[str, str, int | None]]) -> None:
        """``add_project`` for each (name, display name, serial), in order."""
        self._pending += rows
        if len(self._pending) >= BATCH:
            self._write_pending()

    def _write_pending(self) -> None:
        """Append what ``add_project`` holds to ``listed``."""
        pending, self._pending = self._pending, []
        self._insert("INSERT INTO listed (name, display, serial) VALUES (?, ?, ?)", pending)
        self._listed = True

    def _flush(self) -> None:
        """Move what was added into ``projects``, before anything is read.

        Rows are appended to ``listed`` as they come (in the index's order,
        cheap), then put in ``projects`` sorted by name, the last of each name
        winning (sorted by name and then by arrival, each replaces the one
        before): inserting 930,000 names in the index's order into a keyed
        table took four times as long, and picking the last of each name
        with a window function half as long again.
        """
        if self._pending:
            self._write_pending()
        if not self._listed:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO projects (name, display, serial) "
            "SELECT name, display, serial FROM listed ORDER BY name, rowid"
        )
        self._db.execute("DELETE FROM listed")
        self._listed = False

    def _insert(self, statement: str, rows: list[tuple]) -> None:
        # One transaction per batch: each row its own (autocommit) cost ten times as much.
        self._db.execute("BEGIN")
        try:
            self._db.executemany(statement, rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _insert_all(self, statement: str, rows: Iterable[tuple]) -> None:
        """``statement`` for each row, BATCH rows per transaction: never all of them in memory."""
        rows = iter(rows)
        while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
            self._insert(statement, batch)

    def add_recorded(self, rows: Iterable[tuple[str, int | None]]) -> None:
        """The serial each project was last mirrored at (None: look at it again), from the catalog."""
        self._insert_all("INSERT OR REPLACE INTO recorded (name, serial) VALUES (?, ?)", rows)

    def set_candidates(self, rows: Iterable[tuple[str, str, int | None]]) -> CandidateRows:
        """Keep (name, display name, serial) rows in their order; returns them as a sized iterable."""
        self._db.execute("DELETE FROM candidates")
        self._insert_all("INSERT INTO candidates (name, display, serial) VALUES (?, ?, ?)", rows)
        return CandidateRows(self)

    # -- reading -------------------------------------------------------------

    def _rows(self, query: str, parameters: tuple = ()) -> Iterator[tuple]:
        self._flush()
        cursor = self._db.execute(query, parameters)
        try:
            while batch := cursor.fetchmany(BATCH):
                yield from batch
        finally:
            # A reader left unfinished may be closed after the database is.
            with contextlib.suppress(sqlite3.ProgrammingError):
                cursor.close()

    def _one(self, query: str, parameters: tuple = ()) -> tuple | None:
        self._flush()
        return self._db.execute(query, parameters).fetchone()

    def projects_with_recorded(self) -> Iterator[tuple[str, str, int | None, int | None]]:
        """Each upstream project by name: (name, display name, serial, serial recorded here or None)."""
        return self._rows(
            "SELECT p.name, p.display, p.serial, r.serial "
            "FROM projects p LEFT JOIN recorded r ON r.name = p.name ORDER BY p.name"
        )

    def recorded_not_listed(self) -> Iterator[str]:
        """The projects mirrored from this upstream that its index no longer lists, by name."""
        return (
            row[0]
            for row in self._rows(
                "SELECT r.name FROM recorded r WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.name = r.name) "
                "ORDER BY r.name"
            )
        )


class _NameTable(Mapping):
    """A table of the scratch database keyed by project name, as a read-only mapping iterated by name."""

    _table = ""
    # The columns a name maps to.
    _columns = ""

    def __init__(self, scratch: ScratchIndex) -> None:
        self._scratch = scratch

    def _value(self, row: tuple) -> object:
        return row

    def __getitem__(self, name: str):
        row = self._scratch._one(f"SELECT {self._columns} FROM {self._table} WHERE name = ?", (name,))
        if row is None:
            raise KeyError(name)
        return self._value(row)

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str)
            and self._scratch._one(f"SELECT 1 FROM {self._table} WHERE name = ?", (name,)) is not None
        )

    def __iter__(self) -> Iterator[str]:
        return (row[0] for row in self._scratch._rows(f"SELECT name FROM {self._table} ORDER BY name"))

    def __len__(self) -> int:
        return self._scratch._one(f"SELECT COUNT(*) FROM {self._table}")[0]


class ProjectTable(_NameTable):
    """The upstream's projects: normalized name → (display name, serial or None), iterated by name."""

    _table, _columns = "projects", "display, serial"

    def sorted_items(self) -> Iterator[tuple[str, tuple[str, int | None]]]:
        """(name, (display name, serial)) by name, read a batch at a time."""
        return (
            (name, (display, serial))
            for name, display, serial in self._scratch._rows("SELECT name, display, serial FROM projects ORDER BY name")
        )

    def all_have_serials(self) -> bool:
        """Whether there is at least one project and every one has a serial."""
        count, with_serial = self._scratch._one("SELECT COUNT(*), COUNT(serial) FROM projects")
        return count > 0 and count == with_serial

    def max_serial(self) -> int:
        return self._scratch._one("SELECT COALESCE(MAX(serial), 0) FROM projects")[0]


class RecordedSerials(_NameTable):
    """The serial each project was last mirrored at from this upstream (None: look at it again)."""

    _table, _columns = "recorded", "serial"

    def _value(self, row: tuple) -> int | None:
        return row[0]


class CandidateRows:
    """The candidates kept by ``set_candidates``: their count, and (name, display, serial) in order."""

    def __init__(self, scratch: ScratchIndex) -> None:
        self._scratch = scratch
        self._count = scratch._one("SELECT COUNT(*) FROM candidates")[0]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[str, str, int | None]]:
        return self._scratch._rows("SELECT name, display, serial FROM candidates ORDER BY position")
