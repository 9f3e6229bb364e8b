"""PyPI's JSON API: ``/pypi/<name>/json`` and ``/pypi/<name>/<version>/json``.

The documents have Warehouse's shape key for key, so tools written against
pypi.org (bandersnatch, pip-audit, poetry, renovate) read them unchanged.
Each page costs a fixed number of queries, however many releases and files
the project has, and is then kept in the cache under the project's
``last_serial``: any change to the project moves the serial, so a stale
document is never served.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from urllib.parse import quote

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import get_script_prefix
from django.views.decorators.http import require_safe

from pythonnest.api.auth import identify_reader
from pythonnest.api.responses import not_found
from pythonnest.core.distributions import canonical_version
from pythonnest.core.exceptions import InvalidName
from pythonnest.core.models import File, Project, Release
from pythonnest.core.names import normalize
from pythonnest.core.queries import blob_url_path, latest_release, version_sort_key

JSON_CONTENT_TYPE = "application/json"
# As pypi.org does, so that browser scripts may read the API.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since",
    "Access-Control-Allow-Methods": "GET",
    "Access-Control-Max-Age": "86400",
    "Access-Control-Expose-Headers": "X-PyPI-Last-Serial",
}
UNKNOWN_DOWNLOADS = {"last_day": -1, "last_month": -1, "last_week": -1}
RELEASE_SUMMARY_FIELDS = ("id", "version", "yanked", "yanked_reason", "requires_python")
_FILE_FIELDS = (
    "release_id",
    "filename",
    "packagetype",
    "python_version",
    "size",
    "sha256",
    "md5",
    "blake2_256",
    "upload_time",
    "requires_python",
    "metadata_sha256",
)


def _text(value: str) -> str | None:
    # PyPI answers null for a metadata field the upload did not fill in.
    return value or None


def _list(value: list) -> list | None:
    return list(value) if value else None


def project_urls(release: Release) -> dict[str, str]:
    """Home-page and Download-URL first, then Project-URL entries that differ."""
    urls = {}
    if release.home_page:
        urls["Homepage"] = release.home_page
    if release.download_url:
        urls["Download"] = release.download_url
    for label, url in release.project_urls.items():
        # A Project-URL repeating Home-page or Download-URL is shown once.
        folded = label.casefold().replace("-", "").replace("_", "").replace(" ", "")
        if (folded == "homepage" and url == urls.get("Homepage")) or (
            folded == "downloadurl" and url == urls.get("Download")
        ):
            continue
        urls[label] = url
    return urls


def file_entry(row: dict, release: dict, site_root: str) -> dict:
    """One file as the JSON API lists it; ``row`` has the ``_FILE_FIELDS``."""
    upload_time = row["upload_time"]
    return {
        "comment_text": "",
        "core-metadata": {"sha256": row["metadata_sha256"]} if row["metadata_sha256"] else False,
        "digests": {"blake2b_256": row["blake2_256"], "md5": row["md5"], "sha256": row["sha256"]},
        "downloads": -1,
        "filename": row["filename"],
        "has_sig": False,
        "md5_digest": row["md5"],
        "packagetype": row["packagetype"],
        "python_version": row["python_version"],
        "requires_python": row["requires_python"] or release["requires_python"] or None,
        "size": row["size"],
        "upload_time": upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "url": site_root + blob_url_path(row["sha256"], row["filename"]),
        "yanked": release["yanked"],
        "yanked_reason": release["yanked_reason"] or None,
    }


def release_info(project: Project, release: Release, site_root: str) -> dict:
    """The ``info`` object: the core metadata of one release."""
    project_page = f"{site_root}project/{quote(project.name)}/"
    return {
        "author": _text(release.author),
        "author_email": _text(release.author_email),
        "bugtrack_url": None,
        "classifiers": list(release.classifiers),
        "description": release.description,
        "description_content_type": _text(release.description_content_type),
        "docs_url": None,
        "download_url": _text(release.download_url),
        "downloads": dict(UNKNOWN_DOWNLOADS),
        "dynamic": _list(release.dynamic),
        "home_page": _text(release.home_page),
        "keywords": _text(release.keywords),
        "license": _text(release.license),
        "license_expression": _text(release.license_expression),
        "license_files": _list(release.license_files),
        "maintainer": _text(release.maintainer),
        "maintainer_email": _text(release.maintainer_email),
        "name": project.name,
        "package_url": project_page,
        "platform": ", ".join(release.platform) or None,
        "project_url": project_page,
        "project_urls": project_urls(release) or None,
        "provides_extra": _list(release.provides_extra),
        "release_url": f"{project_page}{quote(release.version)}/",
        "requires_dist": _list(release.requires_dist),
        "requires_python": _text(release.requires_python),
        "summary": _text(release.summary),
        "version": release.version,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


def json_document(project: Project, release: Release, site_root: str, releases: list[dict] | None = None) -> dict:
    """The JSON API answer for ``release``.

    ``releases`` (dicts of ``RELEASE_SUMMARY_FIELDS``) are every release of
    the project, for the project page; the release page passes None and has
    no ``releases`` key, as on PyPI.
    """
    if releases is None:
        summaries = [{field: getattr(release, field) for field in RELEASE_SUMMARY_FIELDS}]
        files = File.objects.filter(release=release)
    else:
        summaries = releases
        files = File.objects.filter(project=project)
    by_id = {summary["id"]: summary for summary in summaries}
    files_by_release: dict[int, list[dict]] = {summary["id"]: [] for summary in summaries}
    for row in files.order_by("filename").values(*_FILE_FIELDS):
        # A release added since ``releases`` was read waits for the next request.
        if row["release_id"] in by_id:
            files_by_release[row["release_id"]].append(file_entry(row, by_id[row["release_id"]], site_root))
    document = {"info": release_info(project, release, site_root), "last_serial": project.last_serial}
    if releases is not None:
        ordered = sorted(summaries, key=lambda summary: version_sort_key(summary["version"]))
        document["releases"] = {summary["version"]: files_by_release[summary["id"]] for summary in ordered}
    document["urls"] = files_by_release[release.id]
    document["vulnerabilities"] = []
    return document


def site_root(request: HttpRequest) -> str:
    """The absolute URL of the site's root, ending in a slash."""
    return request.build_absolute_uri(get_script_prefix())


def _cached(request: HttpRequest, project: Project, what: str, build: Callable[[], bytes | None]) -> bytes | None:
    """The document's body from the cache, else ``build()``'s (None, a 404, is not kept).

    Keyed by the project's serial, and by the site root its URLs are made of
    (a mirror is reached under several names). Who may read it was checked
    before: the body is the same for everyone who may.
    """
    # Hashed: a Host header or a version in a URL is anybody's text, and cache keys must stay short and plain.
    variant = hashlib.sha256(f"{site_root(request)}\n{what}".encode()).hexdigest()[:24]
    key = f"json-api:{project.normalized_name}:{project.pk}:{project.last_serial}:{variant}"
    body = cache.get(key)
    if body is None:
        body = build()
        if body is not None:
            cache.set(key, body, timeout=3600)
    return body


def _encoded(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _respond(project: Project, body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type=JSON_CONTENT_TYPE)
    for header, value in CORS_HEADERS.items():
        response[header] = value
    response["X-PyPI-Last-Serial"] = str(project.last_serial)
    # A private project's document is for its group only: no shared cache may keep it.
    response["Cache-Control"] = "max-age=900, " + ("private" if project.private_group_id else "public")
    response["Vary"] = "Authorization"
    return response


def _find_project(request: HttpRequest, name: str, route: str, **route_arguments) -> Project | HttpResponse:
    """The project, else the 301 to its normalized name or a 404 that says why.

    A private project the requester may not see is answered as if it did not exist.
    """
    try:
        normalized = normalize(name)
    except InvalidName as exc:
        return not_found(str(exc))
    if normalized != name:
        return redirect(route, permanent=True, name=normalized, **route_arguments)
    project = Project.objects.filter(normalized_name=normalized).first()
    if project is not None and project.private_group_id is not None:
        identity = identify_reader(request)
        if isinstance(identity, HttpResponse):
            return identity
        if not identity.viewer.can_see_project(project):
            project = None
    if project is None:
        return not_found(f"No project named {normalized!r}")
    return project


@require_safe
def json_project(request: HttpRequest, name: str) -> HttpResponse:
    project = _find_project(request, name, request.resolver_match.url_name)
    if isinstance(project, HttpResponse):
        return project

    def build() -> bytes | None:
        releases = list(Release.objects.filter(project=project).values(*RELEASE_SUMMARY_FIELDS))
        latest = latest_release(releases)
        if latest is None:
            return None
        release = Release.objects.get(pk=latest["id"])
        return _encoded(json_document(project, release, site_root(request), releases))

    body = _cached(request, project, "project", build)
    if body is None:
        return not_found(f"{project.name} has no releases")
    return _respond(project, body)


@require_safe
def json_release(request: HttpRequest, name: str, version: str) -> HttpResponse:
    project = _find_project(request, name, request.resolver_match.url_name, version=version)
    if isinstance(project, HttpResponse):
        return project
    canonical = canonical_version(version)

    def build() -> bytes | None:
        release = Release.objects.filter(project=project, canonical_version=canonical).first()
        return None if release is None else _encoded(json_document(project, release, site_root(request)))

    body = _cached(request, project, f"release:{canonical}", build)
    if body is None:
        return not_found(f"{project.name} has no release {version!r}")
    return _respond(project, body)
