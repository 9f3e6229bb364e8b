"""The simple repository API: PEP 503 HTML and PEP 691 JSON.

Pages are built once per serial by ``pythonnest.core.queries`` and kept in
the cache as bytes; the serial in the cache key makes a stale page
impossible, and the ETag lets clients skip the body entirely.
"""

from __future__ import annotations

import json
from html import escape

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_safe

from pythonnest.api.auth import identify_reader
from pythonnest.api.negotiation import JSON_V1, choose_content_type
from pythonnest.api.responses import not_acceptable, not_found
from pythonnest.core import queries
from pythonnest.core.exceptions import InvalidName
from pythonnest.core.names import normalize

# Bump when the rendered bytes change for the same catalog.
PAGE_FORMAT = 1
# A project page lives at /simple/<name>/ and files at /packages/...; links
# relative to the page keep working under any host name or path prefix.
PAGE_TO_ROOT = "../../"


def render_index_html(page: dict) -> bytes:
    links = "".join(
        f'<a href="{escape(project["normalized_name"])}/">{escape(project["name"])}</a>\n'
        for project in page["projects"]
    )
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{page["meta"]["api-version"]}">\n'
        "<title>Simple index</title>\n</head>\n<body>\n"
        f"{links}</body>\n</html>\n"
    ).encode()


def render_index_json(page: dict) -> bytes:
    body = {
        "meta": page["meta"],
        "projects": [
            {"name": project["name"], "_last-serial": project["_last-serial"]} for project in page["projects"]
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _file_anchor(file: dict) -> str:
    href = f"{PAGE_TO_ROOT}{file['url']}#sha256={file['hashes']['sha256']}"
    attributes = [f'href="{escape(href)}"']
    if file["requires-python"]:
        attributes.append(f'data-requires-python="{escape(file["requires-python"])}"')
    if file["core-metadata"]:
        digest = f"sha256={file['core-metadata']['sha256']}"
        attributes.append(f'data-dist-info-metadata="{digest}"')
        attributes.append(f'data-core-metadata="{digest}"')
    if file["yanked"] is not False:
        reason = "" if file["yanked"] is True else file["yanked"]
        attributes.append(f'data-yanked="{escape(reason)}"')
    return f"<a {' '.join(attributes)}>{escape(file['filename'])}</a><br/>\n"


def render_detail_html(page: dict) -> bytes:
    name = escape(page["name"])
    anchors = "".join(_file_anchor(file) for file in page["files"])
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{page["meta"]["api-version"]}">\n'
        f"<title>Links for {name}</title>\n</head>\n<body>\n"
        f"<h1>Links for {name}</h1>\n{anchors}</body>\n</html>\n"
    ).encode()


def render_detail_json(page: dict) -> bytes:
    files = []
    for file in page["files"]:
        entry = {key: value for key, value in file.items() if key != "core-metadata"}
        entry["url"] = f"{PAGE_TO_ROOT}{file['url']}"
        # Both spellings: PEP 714 renamed the key, older clients read the old one.
        entry["core-metadata"] = file["core-metadata"]
        entry["dist-info-metadata"] = file["core-metadata"]
        files.append(entry)
    body = {"meta": page["meta"], "name": page["name"], "versions": page["versions"], "files": files}
    return json.dumps(body, separators=(",", ":")).encode()


def _respond(
    request: HttpRequest, content_type: str, etag: str, cache_key: str, build, serial: int, private: bool = False
) -> HttpResponse:
    if etag in _if_none_match(request):
        response = HttpResponse(status=304)
    else:
        body = cache.get(cache_key)
        if body is None:
            body = build()
            cache.set(cache_key, body, timeout=3600)
        charset = "; charset=utf-8" if content_type != JSON_V1 else ""
        response = HttpResponse(body, content_type=content_type + charset)
    response["ETag"] = etag
    response["X-PyPI-Last-Serial"] = str(serial)
    # What the root lists depends on the credentials; a private page is for its group only.
    response["Vary"] = "Accept, Accept-Encoding, Authorization"
    response["Cache-Control"] = f"max-age=600, {'private' if private else 'public'}"
    return response


def _if_none_match(request: HttpRequest) -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _content_type(request: HttpRequest) -> str | None:
    return choose_content_type(request.headers.get("Accept"), request.GET.get("format"))


@require_safe
def simple_index(request: HttpRequest) -> HttpResponse:
    content_type = _content_type(request)
    if content_type is None:
        return not_acceptable()
    identity = identify_reader(request)
    if isinstance(identity, HttpResponse):
        return identity
    viewer = identity.viewer
    serial = queries.catalog_serial()
    fmt = "json" if content_type == JSON_V1 else "html"
    renderer = render_index_json if fmt == "json" else render_index_html
    # One cached page per serial and per set of private projects one may see.
    visibility = "" if viewer.cache_key == "public" else f"-{viewer.cache_key}"
    return _respond(
        request,
        content_type,
        etag=f'"index-{serial}-{fmt}-{PAGE_FORMAT}{visibility}"',
        cache_key=f"simple-index:{serial}:{fmt}:{PAGE_FORMAT}{visibility}",
        build=lambda: renderer(queries.simple_index(serial, viewer)),
        serial=serial,
        private=bool(visibility),
    )


@require_safe
def simple_detail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        normalized = normalize(name)
    except InvalidName as exc:
        return not_found(str(exc))
    if normalized != name:
        return redirect("simple-detail", name=normalized, permanent=True)
    content_type = _content_type(request)
    if content_type is None:
        return not_acceptable()
    project = queries.find_project(normalized)
    if project is not None and project.private_group_id is not None:
        identity = identify_reader(request)
        if isinstance(identity, HttpResponse):
            return identity
        if not identity.viewer.can_see_project(project):
            project = None
    if project is None:
        return not_found(f"No project named {normalized!r}")
    fmt = "json" if content_type == JSON_V1 else "html"
    renderer = render_detail_json if fmt == "json" else render_detail_html
    serial = project.last_serial
    return _respond(
        request,
        content_type,
        etag=f'"{normalized}-{serial}-{fmt}-{PAGE_FORMAT}"',
        cache_key=f"simple-detail:{normalized}:{serial}:{fmt}:{PAGE_FORMAT}",
        build=lambda: renderer(queries.simple_detail(project)),
        serial=serial,
        private=project.private_group_id is not None,
    )
