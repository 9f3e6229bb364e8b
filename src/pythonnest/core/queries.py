"""Shared reads of the catalog, each a plain function of the database.

The simple-index builders return one dict per page; the HTML and JSON
renderers, and anything that pre-renders pages, all read that same dict
(CONVENTIONS.md, "Build one dict per page").
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from pythonnest.core.models import File, Project, Release
from pythonnest.core.names import NormalizedName

SIMPLE_API_VERSION = "1.1"


def blob_url_path(sha256: str, filename: str) -> str:
    """The stable path a file is downloaded from, relative to the site root."""
    return f"packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{filename}"


def version_sort_key(version: str) -> tuple:
    """Order versions as PEP 440 does; unparsable ones sort first, by text."""
    try:
        return (1, Version(version), version)
    except InvalidVersion:
        return (0, Version("0"), version)


def find_project(name: NormalizedName) -> Project | None:
    return Project.objects.filter(normalized_name=name).first()


def simple_index(serial: int) -> dict:
    """The page listing every project (PEP 503 / 691 root)."""
    rows = Project.objects.order_by("normalized_name").values_list("name", "normalized_name", "last_serial")
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
