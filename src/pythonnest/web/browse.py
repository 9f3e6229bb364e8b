"""What the browsing pages show: catalog counts, classifiers, recent releases, and a project's page.

Each function reads what one viewer may see, in a fixed number of queries.
The counts and the classifiers read many rows, so they are cached under the
catalog serial (any change makes a new key) and the viewer's visibility.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlsplit

from django.core.cache import cache
from django.urls import get_script_prefix
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pythonnest.api.json_api import project_urls
from pythonnest.core import access
from pythonnest.core.access import Viewer
from pythonnest.core.distributions import canonical_version
from pythonnest.core.models import File, Project, Release
from pythonnest.core.names import NormalizedName
from pythonnest.core.queries import blob_url_path, catalog_serial, latest_release, version_sort_key
from pythonnest.web.readme import release_readme

CACHE_TIMEOUT = 24 * 3600
RECENT_LIMIT = 50
# Links are made only to these: a "javascript:" project URL stays text.
LINK_SCHEMES = {"http", "https"}


def _cached(name: str, viewer: Viewer, build):
    key = f"web-{name}:{catalog_serial()}:{viewer.cache_key}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=CACHE_TIMEOUT)
    return value


def catalog_counts(viewer: Viewer) -> dict[str, int]:
    """How many projects, releases and files ``viewer`` may see."""

    def count() -> dict[str, int]:
        return {
            "projects": Project.objects.filter(viewer.visible()).count(),
            "releases": Release.objects.filter(viewer.visible("project__")).count(),
            "files": File.objects.filter(viewer.visible("project__")).count(),
        }

    return _cached("counts", viewer, count)


def classifier_groups(viewer: Viewer) -> list[dict]:
    """Every classifier of a release of a visible project, grouped by top-level category.

    Each group is ``{"name": category, "classifiers": [(classifier, number of projects), ...]}``;
    a project counts once per classifier, whichever of its releases carries it.
    """

    def collect() -> list[dict]:
        projects_by_classifier: dict[str, set[int]] = defaultdict(set)
        rows = Release.objects.filter(viewer.visible("project__")).order_by().values_list("project_id", "classifiers")
        for project_id, classifiers in rows.iterator(chunk_size=2000):
            for classifier in classifiers or ():
                if isinstance(classifier, str) and classifier.strip():
                    projects_by_classifier[classifier.strip()].add(project_id)
        groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for classifier in sorted(projects_by_classifier):
            category = classifier.split("::", 1)[0].strip()
            groups[category].append((classifier, len(projects_by_classifier[classifier])))
        return [{"name": name, "classifiers": groups[name]} for name in sorted(groups)]

    return _cached("classifiers", viewer, collect)


def recent_releases(viewer: Viewer, limit: int = RECENT_LIMIT) -> list[dict]:
    """The ``limit`` releases of visible projects most recently added, newest first."""
    rows = Release.objects.filter(viewer.visible("project__")).order_by("-created", "-id")
    return list(
        rows.values("project__name", "project__normalized_name", "version", "summary", "created", "yanked")[:limit]
    )


def find_visible_project(name: NormalizedName, viewer: Viewer) -> Project | None:
    """The project, or None when there is none or ``viewer`` may not see it (the two look alike)."""
    project = Project.objects.filter(normalized_name=name).select_related("private_group").first()
    if project is None or not viewer.can_see_project(project):
        return None
    return project


def _find_release(releases: list[dict], version: str) -> dict | None:
    """The release of that exact version string, else of the same canonical version."""
    for release in releases:
        if release["version"] == version:
            return release
    try:
        wanted = canonical_version(version)
    except ValueError:  # Older packaging raises InvalidVersion (a ValueError) here.
        return None
    return next((release for release in releases if release["canonical_version"] == wanted), None)


def _dependencies(requires_dist: list) -> list[dict]:
    dependencies = []
    for text in requires_dist or ():
        try:
            name = canonicalize_name(Requirement(text).name)
        except (InvalidRequirement, TypeError):
            name = ""
        dependencies.append({"text": str(text), "normalized_name": name})
    return dependencies


def _urls(release: Release) -> list[dict]:
    return [
        {"label": label, "url": url, "linkable": urlsplit(str(url)).scheme.lower() in LINK_SCHEMES}
        for label, url in project_urls(release).items()
    ]


def _files(release: Release) -> list[dict]:
    root = get_script_prefix()
    rows = File.objects.filter(release=release).order_by("packagetype", "filename")
    rows = rows.values("filename", "packagetype", "python_version", "size", "sha256", "upload_time")
    return [dict(row, url=root + blob_url_path(row["sha256"], row["filename"])) for row in rows]


def release_page(project: Project, version: str | None = None) -> dict | None:
    """The page of ``project`` showing ``version`` (None: the latest release, as PyPI picks it).

    None when the project has no such version. A project without releases
    still has a page, with no release in it.
    """
    releases = list(
        Release.objects.filter(project=project).values(
            "id", "version", "canonical_version", "yanked", "yanked_reason", "created"
        )
    )
    latest = latest_release(releases)
    shown = latest if version is None else _find_release(releases, version)
    if version is not None and shown is None:
        return None
    release = Release.objects.filter(pk=shown["id"]).first() if shown else None
    history = sorted(releases, key=lambda row: version_sort_key(row["version"]), reverse=True)
    roles = access.project_roles(project)
    page = {
        "project": project,
        "private": project.private_group_id is not None,
        "release": release,
        "latest": latest,
        "is_latest": release is not None and latest is not None and release.pk == latest["id"],
        "history": [dict(row, current=release is not None and row["id"] == release.pk) for row in history],
        "owners": [username for role, username in roles if role == access.OWNER],
        "maintainers": [username for role, username in roles if role == access.MAINTAINER],
        "files": [],
        "readme": None,
        "dependencies": [],
        "urls": [],
    }
    if release is not None:
        page["files"] = _files(release)
        page["readme"] = release_readme(release.pk, release.description, release.description_content_type)
        page["dependencies"] = _dependencies(release.requires_dist)
        page["urls"] = _urls(release)
    return page
