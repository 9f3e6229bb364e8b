"""Index and JSON pages cost a fixed number of queries, whatever the catalog's size.

Each page is asked for with a catalog of size n and again at 3n. The simple
pages are measured twice each time: with the cache emptied, so that the page
is built from the database, and again from the cache, which must need fewer
queries than building.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pythonnest.api.negotiation import JSON_V1
from pythonnest.core.services import add_distribution_path
from pythonnest.storage.local import LocalBlobStore
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db

SMALL = 3
LARGE = 3 * SMALL
# Two files per release, so files grow with releases.
WHEEL_TAGS = ("py3-none-any", "py2-none-any")
GROWING = "grower"


@dataclass
class Catalog:
    """Grows the catalog through the service layer, as ``add`` would."""

    store: LocalBlobStore
    directory: Path
    projects: int = 0
    releases: int = 0

    def add_projects(self, count: int) -> None:
        for _ in range(count):
            self.projects += 1
            wheel = build_wheel(self.directory, f"Project_{self.projects}", "1.0")
            add_distribution_path(wheel, store=self.store)

    def add_releases(self, count: int) -> None:
        """Releases of GROWING, each with one file per WHEEL_TAGS."""
        for _ in range(count):
            self.releases += 1
            for tag in WHEEL_TAGS:
                wheel = build_wheel(self.directory, GROWING, f"{self.releases}.0", tag=tag)
                add_distribution_path(wheel, store=self.store)


@pytest.fixture
def catalog(store, tmp_path) -> Catalog:
    catalog = Catalog(store, tmp_path / "dist")
    # Neighbours, so that a page that read other projects' rows would show it.
    catalog.add_projects(2)
    return catalog


@dataclass(frozen=True)
class Cost:
    queries: int
    body: bytes


def cost(client, path: str, accept: str | None = None) -> Cost:
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:200]
    return Cost(len(captured), response.content)


def built_and_cached(client, path: str, accept: str | None) -> tuple[Cost, Cost]:
    """The cost of building the page, then of serving it from the cache."""
    cache.clear()
    built = cost(client, path, accept)
    cached = cost(client, path, accept)
    assert cached.body == built.body
    return built, cached


def listed(body: bytes, accept: str | None, key: str) -> int:
    """How many projects or files (``key``) a simple page lists."""
    return len(json.loads(body)[key]) if accept == JSON_V1 else body.count(b"<a href=")


@pytest.mark.parametrize("accept", [None, JSON_V1], ids=["html", "json"])
def test_the_root_index_costs_the_same_queries_for_three_times_the_projects(client, catalog, accept):
    catalog.add_projects(SMALL)
    small_built, small_cached = built_and_cached(client, "/simple/", accept)
    catalog.add_projects(LARGE - SMALL)
    large_built, large_cached = built_and_cached(client, "/simple/", accept)

    assert listed(large_built.body, accept, "projects") == catalog.projects
    assert large_built.queries == small_built.queries
    assert large_cached.queries == small_cached.queries
    assert large_cached.queries < large_built.queries


@pytest.mark.parametrize("accept", [None, JSON_V1], ids=["html", "json"])
def test_a_project_page_costs_the_same_queries_for_three_times_the_files(client, catalog, accept):
    path = f"/simple/{GROWING}/"
    catalog.add_releases(SMALL)
    small_built, small_cached = built_and_cached(client, path, accept)
    catalog.add_releases(LARGE - SMALL)
    large_built, large_cached = built_and_cached(client, path, accept)

    assert listed(large_built.body, accept, "files") == LARGE * len(WHEEL_TAGS)
    assert large_built.queries == small_built.queries
    assert large_cached.queries == small_cached.queries
    assert large_cached.queries < large_built.queries


@pytest.mark.parametrize("path", [f"/pypi/{GROWING}/json", f"/pypi/{GROWING}/1.0/json"], ids=["project", "release"])
def test_the_json_api_costs_the_same_queries_for_three_times_the_releases(client, catalog, path):
    catalog.add_releases(SMALL)
    small, small_cached = built_and_cached(client, path, None)
    catalog.add_releases(LARGE - SMALL)
    large, large_cached = built_and_cached(client, path, None)

    releases = json.loads(large.body).get("releases")
    if releases is not None:
        assert sum(len(files) for files in releases.values()) == LARGE * len(WHEEL_TAGS)
    assert large.queries == small.queries
    assert large_cached.queries == small_cached.queries
    assert large_cached.queries < large.queries
