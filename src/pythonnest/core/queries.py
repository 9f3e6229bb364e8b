"""Shared reads of the catalog, each a plain function of the database.

The simple-index builders return one dict per page; the HTML and JSON
renderers, and anything that pre-renders pages, all read that same dict
(CONVENTIONS.md, "Build one dict per page").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connections, router
from django.db.models import Model, QuerySet
from packaging.version import InvalidVersion, Version

from pythonnest.core.access import PUBLIC, Viewer
from pythonnest.core.journal import SERIAL_COUNTER_ID
from pythonnest.core.models import File, Project, Release, SerialCounter
from pythonnest.core.names import NormalizedName

SIMPLE_API_VERSION = "1.1"


def blob_url_path(sha256: str, filename: str) -> str:
    """The stable path a file is downloaded from, relative to the site root."""
    return f"packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{filename}"


def chunks(items, size: int = 500):
    """Lists of at most ``size`` items: an ``__in`` query stays under every database's parameter limit."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def version_sort_key(version: str) -> tuple:
    """Order versions as PEP 440 does; unparsable ones sort first, by text."""
    try:
        return (1, Version(version), version)
    except InvalidVersion:
        return (0, Version("0"), version)


class PrecompiledRead:
    """An ORM read compiled to SQL once per database, then run with new arguments.

    Compiling even a one-row QuerySet costs ten times what running its SQL
    does (about 0.6 ms against 0.07 ms on the benchmark machine, see
    docs/performance.md), and every request for a cached page makes such a
    read. The SQL depends only on the backend, so it is kept; the arguments
    replace the placeholders ``build`` was called with. Select only columns
    that need no conversion from the database (integers and text): the rows
    come back as the driver gives them.
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], arity: int) -> None:
        self._model = model
        self._build = build
        self._placeholders = [f"\x00precompiled-argument-{index}\x00" for index in range(arity)]
        self._statements: dict[tuple[str, str], tuple[str, tuple, dict[int, int]]] = {}

    def _statement(self, alias: str) -> tuple[str, tuple, dict[int, int]]:
        key = (alias, connections[alias].vendor)
        statement = self._statements.get(key)
        if statement is None:
            queryset = self._build(*self._placeholders)
            sql, parameters = queryset.query.get_compiler(using=alias).as_sql()
            slots = {
                position: self._placeholders.index(value)
                for position, value in enumerate(parameters)
                if value in self._placeholders
            }
            if sorted(slots.values()) != list(range(len(self._placeholders))):
                raise ValueError("each argument must appear exactly once among the query's parameters")
            statement = self._statements[key] = (sql, tuple(parameters), slots)
        return statement

    def rows(self, *arguments) -> tuple[str, list[tuple]]:
        """The database alias read from, and the rows for ``arguments``."""
        alias = router.db_for_read(self._model)
        sql, parameters, slots = self._statement(alias)
        values = [
            arguments[slots[position]] if position in slots else value for position, value in enumerate(parameters)
        ]
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, values)
            return alias, cursor.fetchall()


# What the index pages read of a project; the other fields load on access.
PROJECT_HEAD_FIELDS = ("id", "name", "normalized_name", "origin", "last_serial", "private_group_id")
_project_by_name = PrecompiledRead(
    Project,
    lambda name: Project.objects.filter(normalized_name=name).order_by().values_list(*PROJECT_HEAD_FIELDS),
    arity=1,
)


def is_final(version: str) -> bool:
    """Whether a version is a final release; an unparsable one is not."""
    try:
        return not Version(version).is_prerelease
    except InvalidVersion:
        return False


def latest_release(releases: Iterable[dict]) -> dict | None:
    """The release PyPI shows first: the highest one, preferring not yanked, then final.

    ``releases`` are dicts with at least ``version`` and ``yanked``.
    """
    return max(
        releases,
        key=lambda release: (not release["yanked"], is_final(release["version"]), version_sort_key(release["version"])),
        default=None,
    )


def find_project(name: NormalizedName) -> Project | None:
    """The project with this normalized name, its ``PROJECT_HEAD_FIELDS`` loaded.

    It runs on every index request, hence the precompiled read.
    """
    alias, rows = _project_by_name.rows(name)
    return Project.from_db(alias, PROJECT_HEAD_FIELDS, rows[0]) if rows else None


_serial_counter = PrecompiledRead(
    SerialCounter,
    lambda: SerialCounter.objects.filter(pk=SERIAL_COUNTER_ID).order_by().values_list("value"),
    arity=0,
)


def catalog_serial() -> int:
    """``journal.current_serial()``, precompiled: the root index asks it on every request."""
    _, rows = _serial_counter.rows()
    return rows[0][0] if rows else 0


def simple_index(serial: int, viewer: Viewer = PUBLIC) -> dict:
    """The page listing every project ``viewer`` may see (PEP 503 / 691 root)."""
    rows = (
        Project.objects.filter(viewer.visible())
        .order_by("normalized_name")
        .values_list("name", "normalized_name", "last_serial")
    )
    return {
        "meta": {"api-version": SIMPLE_API_VERSION, "_last-serial": serial},
        "projects": [
            {"name": name, "normalized_name": normalized, "_last-serial": last_serial}
            for name, normalized, last_serial in rows
        ],
    }


def simple_detail(project: Project) -> dict:
    """The page of one project: its files and versions (PEP 503/691/592/658/700).

    File URLs are relative to the site root, so the page does not depend on
    the host name it is served under.
    """
    versions = Release.objects.filter(project=project).values_list("version", flat=True)
    rows = (
        File.objects.filter(project=project)
        .order_by("filename")
        .values_list(
            "filename",
            "sha256",
            "size",
            "upload_time",
            "requires_python",
            "metadata_sha256",
            "release__yanked",
            "release__yanked_reason",
        )
    )
    files = []
    for filename, sha256, size, upload_time, requires_python, metadata_sha256, yanked, reason in rows:
        files.append(
            {
                "filename": filename,
                "url": blob_url_path(sha256, filename),
                "hashes": {"sha256": sha256},
                "requires-python": requires_python or None,
                "core-metadata": {"sha256": metadata_sha256} if metadata_sha256 else False,
                "yanked": (reason or True) if yanked else False,
                "size": size,
                "upload-time": upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    return {
        "meta": {"api-version": SIMPLE_API_VERSION, "_last-serial": project.last_serial},
        "name": project.normalized_name,
        "display_name": project.name,
        "versions": sorted(versions, key=version_sort_key),
        "files": files,
    }
