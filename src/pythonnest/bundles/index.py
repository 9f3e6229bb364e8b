"""What a manifest names, per file and per blob, kept on disk rather than in memory.

A bundle may name hundreds of thousands of files. Holding a dictionary
entry, a staged-file record and a "seen" mark for each of them made an
import's memory grow with the bundle (about 2 KB per file). The index keeps
them in a scratch SQLite database beside the unpacked bundle instead: its
page cache is bounded, whatever the bundle's size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

# Rows read per query when walking the index.
BATCH = 500
# SQLite's page cache for the index, in KiB (a negative cache_size is KiB).
CACHE_KIB = 8192


class _ScratchDatabase:
    """A scratch SQLite database, thrown away with its folder: no journal, no fsync, a bounded cache.

    ``path`` None keeps it in memory (small bundles, tests). Its one
    connection holds the file's lock and one transaction for its whole life:
    a scratch database has nothing to make durable, and a transaction per
    statement (taking and dropping the file's locks, writing its pages out)
    cost an import several statements per blob: 1.5 s for 20,000 blobs'
    staging marks, against 0.2 s in one transaction. When the transaction
    outgrows the page cache, SQLite writes pages out, so memory stays bounded.
    """

    def __init__(self, path: Path | None, schema: str) -> None:
        self._db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE; "
            f"PRAGMA cache_size = -{CACHE_KIB};" + schema
        )
        self._db.execute("BEGIN")

    def _walk(self, query: str, size: int = BATCH) -> Iterator[list[tuple]]:
        """Batches of rows in key order; ``query`` selects the key first, and takes the last key seen and a limit.

        Keys compare with SQLite's BINARY collation, on UTF-8 bytes: code-point order, as Python's sorted().
        """
        last = ""
        while True:
            rows = self._db.execute(query, (last, size)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def close(self) -> None:
        # Without a journal a rollback is undefined: end the transaction as it stands. The
        # database is thrown away next, and a failure here (a full disk) must not hide the
        # error an import or an export is closing on.
        try:
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except sqlite3.Error:
            pass
        finally:
            self._db.close()


class BundleIndex(_ScratchDatabase):
    """The files, blobs and projects one bundle's manifest names."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(
            path,
            """
            CREATE TABLE files (filename TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE projects (name TEXT PRIMARY KEY, removed INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE releases (project TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY (project, version))
                WITHOUT ROWID;
            CREATE TABLE blobs (
                sha256 TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                seen INTEGER NOT NULL DEFAULT 0,
                wanted INTEGER NOT NULL DEFAULT 1,
                staged TEXT,
                -- The first file the manifest names it for, to name in a refusal.
                file TEXT NOT NULL DEFAULT ''
            ) WITHOUT ROWID;
            """,
        )
        self.file_count = 0
        self.blob_count = 0
        self.blob_bytes = 0
        self.project_count = 0

    # -- filled while the manifest is read ---------------------------------------------

    def add_project(self, name: str, *, removed: bool = False) -> bool:
        """Record a project (or a removed one); False when the manifest already named it."""
        added = (
            self._db.execute(
                "INSERT OR IGNORE INTO projects (name, removed) VALUES (?, ?)", (name, int(removed))
            ).rowcount
            == 1
        )
        self.project_count += added and not removed
        return added

    def project_batches(self, *, removed: bool | None = False) -> Iterator[list[str]]:
        """Names of the projects the manifest carries (``removed`` True: those it removes; None: both)."""
        condition = "" if removed is None else f" AND removed = {int(removed)}"
        for rows in self._walk(f"SELECT name FROM projects WHERE name > ?{condition} ORDER BY name LIMIT ?"):
            yield [row[0] for row in rows]

    def add_release(self, project: str, canonical_version: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO releases (project, version) VALUES (?, ?)", (project, canonical_version)
        )

    def release_batches(self, size: int = BATCH) -> Iterator[list[tuple[str, str]]]:
        """(project, canonical version) of every release the manifest carries, by project."""
        last = ("", "")
        while True:
            rows = self._db.execute(
                "SELECT project, version FROM releases WHERE (project, version) > (?, ?) "
                "ORDER BY project, version LIMIT ?",
                (*last, size),
            ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1]

    def add_file(self, filename: str) -> bool:
        """Record a file; False when the manifest already named it."""
        added = self._db.execute("INSERT OR IGNORE INTO files (filename) VALUES (?)", (filename,)).rowcount == 1
        self.file_count += added
        return added

    def add_blob(self, sha256: str, size: int, file: str = "") -> None:
        """Record a blob the bundle must carry for ``file`` (several files may share one)."""
        if self._db.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, file) VALUES (?, ?, ?)", (sha256, size, file)
        ).rowcount:
            self.blob_count += 1
            self.blob_bytes += size

    # -- read back -----------------------------------------------------------------------

    def filename_batches(self) -> Iterator[list[str]]:
        for rows in self._walk("SELECT filename FROM files WHERE filename > ? ORDER BY filename LIMIT ?"):
            yield [row[0] for row in rows]

    def blob_batches(self) -> Iterator[list[tuple[str, int]]]:
        """(sha256, size) of every blob the manifest names."""
        yield from self._walk("SELECT sha256, size FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?")

    # -- staging -------------------------------------------------------------------------

    def want_only(self, sha256s: set[str]) -> None:
        """Stage only these blobs (the others are ignored when met)."""
        self._db.execute("UPDATE blobs SET wanted = 0")
        self._db.executemany("UPDATE blobs SET wanted = 1 WHERE sha256 = ?", ((sha256,) for sha256 in sha256s))

    def meet(self, sha256: str) -> tuple[int | None, bool, bool]:
        """A blob met in the bundle: (its size or None when not named, already met, wanted); marks it met."""
        row = self._db.execute("SELECT size, seen, wanted FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        if row is None:
            return None, False, False
        if not row[1]:
            self._db.execute("UPDATE blobs SET seen = 1 WHERE sha256 = ?", (sha256,))
        return row[0], bool(row[1]), bool(row[2])

    def set_staged(self, sha256: str, path: str) -> None:
        self._db.execute("UPDATE blobs SET staged = ? WHERE sha256 = ?", (path, sha256))

    def missing(self, shown: int = 10) -> tuple[int, list[tuple[str, str]]]:
        """How many wanted blobs were not met, and (file, sha256) of the first ``shown`` of them by sha256."""
        (count,) = self._db.execute("SELECT count(*) FROM blobs WHERE wanted = 1 AND seen = 0").fetchone()
        first = self._db.execute(
            "SELECT file, sha256 FROM blobs WHERE wanted = 1 AND seen = 0 ORDER BY sha256 LIMIT ?", (shown,)
        ).fetchall()
        return count, [(file, sha256) for file, sha256 in first]

    def staged_batches(self) -> Iterator[list[tuple[str, str, int]]]:
        """(sha256, staged path, size) of every staged blob."""
        yield from self._walk(
            "SELECT sha256, staged, size FROM blobs WHERE sha256 > ? AND staged IS NOT NULL ORDER BY sha256 LIMIT ?"
        )

    def clear_staged(self) -> None:
        self._db.execute("UPDATE blobs SET staged = NULL")


class BlobList(_ScratchDatabase):
    """The blobs an export will write, ``sha256 → size``, on disk; iterated in sha256 order."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path, "CREATE TABLE blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;")
        self.count = 0
        self.total_bytes = 0

    def add(self, sha256: str, size: int) -> None:
        if self._db.execute("INSERT OR IGNORE INTO blobs (sha256, size) VALUES (?, ?)", (sha256, size)).rowcount:
            self.count += 1
            self.total_bytes += size

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for rows in self._walk("SELECT sha256, size FROM blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?"):
            yield from rows


class SortedNames(_ScratchDatabase):
    """A set of names kept on disk, read back in code-point order, a batch at a time."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path, "CREATE TABLE names (name TEXT PRIMARY KEY) WITHOUT ROWID;")

    def add_all(self, names: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", ((name,) for name in names))

    def batches(self, size: int = BATCH) -> Iterator[list[str]]:
        for rows in self._walk("SELECT name FROM names WHERE name > ? ORDER BY name LIMIT ?", size):
            yield [row[0] for row in rows]
