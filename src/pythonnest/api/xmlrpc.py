"""PyPI's XML-RPC API at ``/pypi``, for mirrors and older tools.

Requests are read by ``xmlrpc_wire`` (defusedxml, no DTDs); answers are
written by ``xmlrpc.client.dumps``. A bad call gets a fault that says what is
wrong, with HTTP 200 as the protocol requires.
"""

from __future__ import annotations

import datetime
import functools
import operator
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F, OuterRef, Q, Subquery, TextField
from django.db.models.functions import Cast, Lower
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from pythonnest.api.auth import identify_reader
from pythonnest.api.json_api import release_info, site_root
from pythonnest.api.responses import error
from pythonnest.api.upload import handle_upload
from pythonnest.api.xmlrpc_wire import (
    INT64_RANGE,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    Fault,
    parse_call,
    xml_safe,
)
from pythonnest.core import access
from pythonnest.core.access import PUBLIC, Viewer
from pythonnest.core.distributions import canonical_version
from pythonnest.core.exceptions import InvalidName
from pythonnest.core.journal import current_serial, describe
from pythonnest.core.models import File, JournalEntry, Project, Release, Role
from pythonnest.core.names import NormalizedName, normalize
from pythonnest.core.queries import blob_url_path, latest_release, version_sort_key

MAX_REQUEST_SIZE = 1024 * 1024
# As PyPI, so that one call cannot ask for the whole journal.
CHANGELOG_LIMIT = 50_000
SEARCH_LIMIT = 100


def _xml_response(payload: str) -> HttpResponse:
    return HttpResponse(payload.encode("utf-8"), content_type="text/xml; charset=utf-8")


def fault_response(fault: Fault) -> HttpResponse:
    return _xml_response(xmlrpc.client.dumps(fault, methodresponse=True))


_REQUIRED = object()
_XMLRPC_TYPE_NAMES = {str: "string", bool: "boolean", int: "int", float: "double", dict: "struct", list: "array"}
_XMLRPC_TYPE_NAMES |= {bytes: "base64", datetime.datetime: "dateTime.iso8601", type(None): "nil"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a method: the XML-RPC types it takes, and its default if optional."""

    name: str
    types: tuple[type, ...] = (str,)
    default: object = _REQUIRED

    def accepts(self, value: object) -> bool:
        # A boolean is an int to Python, but not to XML-RPC.
        return isinstance(value, self.types) and (bool in self.types or not isinstance(value, bool))

    def __str__(self) -> str:
        return self.name if self.default is _REQUIRED else f"{self.name}={self.default!r}"


@dataclass(frozen=True)
class Method:
    function: Callable[..., object]
    parameters: tuple[Parameter, ...] = ()

    def bind(self, name: str, params: list) -> list:
        """The arguments of a call, defaults filled in; raises Fault for a wrong count or type."""
        required = sum(1 for parameter in self.parameters if parameter.default is _REQUIRED)
        if not required <= len(params) <= len(self.parameters):
            signature = f"{name}({', '.join(str(parameter) for parameter in self.parameters)})"
            expected = str(required) if required == len(self.parameters) else f"{required} to {len(self.parameters)}"
            raise Fault(INVALID_PARAMS, f"{signature} takes {expected} argument(s), {len(params)} given")
        for parameter, value in zip(self.parameters, params, strict=False):
            if not parameter.accepts(value):
                expected = " or ".join(_XMLRPC_TYPE_NAMES[kind] for kind in parameter.types)
                given = _XMLRPC_TYPE_NAMES.get(type(value), type(value).__name__)
                raise Fault(INVALID_PARAMS, f"{name}(): argument {parameter.name!r} must be {expected}, not {given}")
        return list(params) + [parameter.default for parameter in self.parameters[len(params) :]]


@dataclass(frozen=True)
class CallContext:
    """What a method needs from the request: the site's absolute root URL, and what the caller may see."""

    site_root: str
    viewer: Viewer = PUBLIC


def _normalized(name: str) -> NormalizedName | None:
    """The normalized name, or None for an invalid one: None matches no project."""
    try:
        return normalize(name)
    except InvalidName:
        return None


def _projects(context: CallContext):
    return Project.objects.filter(context.viewer.visible()).order_by("normalized_name")


def list_packages(context: CallContext) -> list[str]:
    return list(_projects(context).values_list("name", flat=True))


def list_packages_with_serial(context: CallContext) -> dict[str, int]:
    return dict(_projects(context).values_list("name", "last_serial"))


def package_releases(context: CallContext, package_name: str, show_hidden: bool) -> list[str]:
    """All versions, newest first, with ``show_hidden``; else the latest not yanked, as PyPI."""
    releases = Release.objects.filter(context.viewer.visible("project__"))
    releases = releases.filter(project__normalized_name=_normalized(package_name)).values("version", "yanked")
    if show_hidden:
        return sorted((release["version"] for release in releases), key=version_sort_key, reverse=True)
    latest = latest_release(release for release in releases if not release["yanked"])
    return [latest["version"]] if latest else []


def _find_release(context: CallContext, package_name: str, version: str) -> Release | None:
    return (
        Release.objects.select_related("project")
        .filter(context.viewer.visible("project__"))
        .filter(project__normalized_name=_normalized(package_name), canonical_version=canonical_version(version))
        .first()
    )


def release_data(context: CallContext, package_name: str, version: str) -> dict:
    """The metadata of one release, or {} when there is no such release."""
    release = _find_release(context, package_name, version)
    if release is None:
        return {}
    versions = Release.objects.filter(project=release.project).values_list("version", flat=True)
    info = release_info(release.project, release, context.site_root)
    shared = ("author", "author_email", "bugtrack_url", "classifiers", "description", "docs_url", "download_url")
    shared += ("downloads", "home_page", "keywords", "license", "maintainer", "maintainer_email", "name")
    shared += ("package_url", "platform", "release_url", "requires_python", "summary", "version")
    return {
        **{key: info[key] for key in shared},
        "_pypi_ordering": sorted(versions, key=version_sort_key).index(release.version),
        "cheesecake_code_kwalitee_id": None,
        "cheesecake_documentation_id": None,
        "cheesecake_installability_id": None,
        "obsoletes": [],
        "obsoletes_dist": list(release.obsoletes_dist),
        "project_url": [f"{label}, {url}" for label, url in release.project_urls.items()],
        "provides": [],
        "provides_dist": list(release.provides_dist),
        "requires": [],
        "requires_dist": list(release.requires_dist),
        "requires_external": list(release.requires_external),
        "stable_version": None,
    }


def release_urls(context: CallContext, package_name: str, version: str) -> list[dict]:
    """Every file of one release, or [] when there is no such release."""
    rows = (
        File.objects.filter(release=_find_release(context, package_name, version))
        .order_by("filename")
        .values("filename", "packagetype", "python_version", "size", "sha256", "md5", "upload_time")
    )
    urls = []
    for row in rows:
        path = blob_url_path(row["sha256"], row["filename"])
        upload_time = row["upload_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        urls.append(
            {
                "comment_text": "",
                "digests": {"md5": row["md5"], "sha256": row["sha256"]},
                "downloads": -1,
                "filename": row["filename"],
                "has_sig": False,
                "md5_digest": row["md5"],
                "packagetype": row["packagetype"],
                "path": path.removeprefix("packages/"),
                "python_version": row["python_version"],
                "sha256_digest": row["sha256"],
                "size": row["size"],
                "upload_time": upload_time,
                "upload_time_iso_8601": upload_time,
                "url": context.site_root + path,
            }
        )
    return urls


def project_roles(name: NormalizedName, viewer: Viewer) -> list[tuple[str, str]]:
    """(role, username) pairs of a project the viewer may see, Owners first."""
    project = Project.objects.filter(viewer.visible(), normalized_name=name).first()
    return access.project_roles(project) if project is not None else []


def user_roles(username: str, viewer: Viewer) -> list[tuple[str, str]]:
    """(role, project name) pairs of a user, Owner roles first, on projects the viewer may see."""
    roles = Role.objects.filter(viewer.visible("project__"), user__username=username)
    rows = roles.values_list("role", "project__name", "project__normalized_name")
    return [(role, name) for role, name, _ in sorted(rows, key=lambda row: (access.ROLE_ORDER[row[0]], row[2]))]


def package_roles(context: CallContext, package_name: str) -> list[list[str]]:
    normalized = _normalized(package_name)
    return [[role, user] for role, user in project_roles(normalized, context.viewer)] if normalized else []


def user_packages(context: CallContext, user: str) -> list[list[str]]:
    return [[role, project] for role, project in user_roles(user, context.viewer)]


def changelog_last_serial(context: CallContext) -> int:
    return current_serial()


def _changelog(context: CallContext, entries, with_ids: bool = True) -> list[list]:
    """Journal rows as PyPI lists them; a project that still exists is named as it displays.

    Hidden: the whole history of a project that is private now, and every
    change made while a project was private (a deleted private project's too).
    """
    viewer = context.viewer
    entries = entries.exclude(project_name__in=viewer.hidden_project_names()).filter(viewer.visible_history())
    display_name = Project.objects.filter(normalized_name=OuterRef("project_name")).values("name")[:1]
    entries = entries.annotate(display_name=Subquery(display_name)).order_by("serial")[:CHANGELOG_LIMIT]
    rows = []
    for entry in entries:
        name = entry.display_name or entry.project_name
        row = [name, entry.version or None, int(entry.created.timestamp()), describe(entry)]
        rows.append(row + [entry.serial] if with_ids else row)
    return rows


def changelog(context: CallContext, since: float, with_ids: bool) -> list[list]:
    """Changes made after the Unix time ``since``, oldest first."""
    try:
        after = datetime.datetime.fromtimestamp(since, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Fault(INVALID_PARAMS, f"changelog(): {since!r} is not a Unix timestamp this server can read") from exc
    return _changelog(context, JournalEntry.objects.filter(created__gt=after), bool(with_ids))


def changelog_since_serial(context: CallContext, since_serial: int) -> list[list]:
    if since_serial not in INT64_RANGE:
        raise Fault(INVALID_PARAMS, f"changelog_since_serial(): {since_serial} is beyond any serial")
    return _changelog(context, JournalEntry.objects.filter(serial__gt=since_serial))


# Search fields as PyPI names them; all but "name" are Release columns of the same name.
SEARCH_FIELDS = {"name": "project__name"} | {
    field: field
    for field in ("version", "author", "author_email", "maintainer", "maintainer_email", "home_page", "license")
    + ("summary", "description", "keywords", "platform", "download_url")
}


def _search_terms(spec: dict) -> dict[str, list[str]]:
    terms = {}
    for field, value in spec.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            raise Fault(INVALID_PARAMS, f"search(): spec[{field!r}] must be a string or an array of strings")
        if field in SEARCH_FIELDS and any(values):
            terms[field] = [item for item in values if item]
    return terms


def _search_condition(field: str, values: list[str]) -> tuple[dict, Q]:
    """The aliases and condition matching any of ``values`` in one field."""
    if field == "version":
        return {}, Q(version__in=values) | Q(canonical_version__in=[canonical_version(item) for item in values])
    column = Cast("platform", TextField()) if field == "platform" else F(SEARCH_FIELDS[field])
    alias = f"search_{field}"
    # Lowered on both sides: MySQL's binary collation makes icontains case-sensitive.
    condition = functools.reduce(operator.or_, (Q(**{f"{alias}__contains": item.lower()}) for item in values))
    return {alias: Lower(column)}, condition


def _latest_of_each_project(releases) -> list[dict]:
    project_ids = releases.order_by("project__normalized_name").values_list("project_id", flat=True).distinct()
    candidates = Release.objects.filter(project_id__in=list(project_ids[:SEARCH_LIMIT]))
    by_project: dict[str, list[dict]] = {}
    for row in candidates.values("project__name", "project__normalized_name", "version", "yanked", "summary"):
        by_project.setdefault(row["project__normalized_name"], []).append(row)
    return [latest_release(by_project[name]) for name in sorted(by_project)]


def search(context: CallContext, spec: dict, search_operator: str) -> list[dict]:
    """Projects whose releases contain the spec's words, case-insensitively; versions match exactly."""
    if search_operator not in ("and", "or"):
        raise Fault(INVALID_PARAMS, f"search(): operator must be 'and' or 'or', not {search_operator!r}")
    terms = _search_terms(spec)
    if not terms:
        return []
    aliases, conditions = {}, {}
    for field, values in terms.items():
        field_aliases, conditions[field] = _search_condition(field, values)
        aliases.update(field_aliases)
    combine = operator.and_ if search_operator == "and" else operator.or_
    matches = Release.objects.alias(**aliases).filter(functools.reduce(combine, conditions.values()))
    matches = matches.filter(context.viewer.visible("project__"))
    if "version" in terms:
        # As on PyPI: when versions are asked for, one row per matching version.
        rows = matches.filter(conditions["version"]).order_by("project__normalized_name", "id")
        rows = rows.values("project__name", "project__normalized_name", "version", "summary")[:SEARCH_LIMIT]
        found = sorted(rows, key=lambda row: (row["project__normalized_name"], version_sort_key(row["version"])))
    else:
        found = _latest_of_each_project(matches)
    return [
        {
            "_pypi_ordering": False,
            "name": hit["project__name"],
            "summary": hit["summary"] or None,
            "version": hit["version"],
        }
        for hit in found
    ]


NAME = Parameter("package_name")
VERSION = Parameter("version")
# Old clients send 0 and 1 for booleans.
SHOW_HIDDEN = Parameter("show_hidden", (bool, int), False)
# time.time() is a double, and PyPI's own example passes it straight in.
SINCE = Parameter("since", (int, float))
METHODS: dict[str, Method] = {
    "list_packages": Method(list_packages),
    "list_packages_with_serial": Method(list_packages_with_serial),
    "package_releases": Method(package_releases, (NAME, SHOW_HIDDEN)),
    "release_data": Method(release_data, (NAME, VERSION)),
    "release_urls": Method(release_urls, (NAME, VERSION)),
    "package_roles": Method(package_roles, (NAME,)),
    "user_packages": Method(user_packages, (Parameter("user"),)),
    "changelog": Method(changelog, (SINCE, Parameter("with_ids", (bool, int), False))),
    "changelog_last_serial": Method(changelog_last_serial),
    "changelog_since_serial": Method(changelog_since_serial, (Parameter("since_serial", (int,)),)),
    "search": Method(search, (Parameter("spec", (dict,)), Parameter("operator", (str,), "and"))),
}


def call(name: str, params: list, context: CallContext) -> object:
    """Run one method; raises Fault for an unknown method or bad arguments."""
    method = METHODS.get(name)
    if method is None:
        raise Fault(METHOD_NOT_FOUND, f"no method {name[:100]!r}; this server offers {', '.join(sorted(METHODS))}")
    return method.function(context, *method.bind(name, params))


def handle_xmlrpc(request: HttpRequest) -> HttpResponse:
    """Answer one XML-RPC call POSTed as text/xml."""
    try:
        declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared_length = 0
    if declared_length > MAX_REQUEST_SIZE:
        return error(413, f"Request Entity Too Large: XML-RPC calls are limited to {MAX_REQUEST_SIZE} bytes")
    identity = identify_reader(request)
    if isinstance(identity, HttpResponse):
        return identity
    try:
        name, params = parse_call(request.body)
        result = call(name, params, CallContext(site_root=site_root(request), viewer=identity.viewer))
        payload = xmlrpc.client.dumps((xml_safe(result),), methodresponse=True, allow_none=True)
    except Fault as fault:
        return fault_response(fault)
    return _xml_response(payload)


# What a POST to /pypi is, by its media type: an XML-RPC call, or a legacy
# upload (multipart/form-data, as twine sends it to the original's URL).
POST_HANDLERS = {"text/xml": handle_xmlrpc, "application/xml": handle_xmlrpc, "multipart/form-data": handle_upload}


@csrf_exempt
def pypi_endpoint(request: HttpRequest) -> HttpResponse:
    """``/pypi``: dispatch a POST by its Content-Type."""
    if request.method != "POST":
        response = error(
            405, "Method Not Allowed: /pypi takes XML-RPC calls (text/xml) and uploads (multipart/form-data)"
        )
        response["Allow"] = "POST"
        return response
    handler = POST_HANDLERS.get(request.content_type or "")
    if handler is None:
        received = request.content_type or "no Content-Type"
        return error(
            415,
            f"Unsupported Media Type: /pypi takes text/xml (XML-RPC) or multipart/form-data (upload), not {received}",
        )
    return handler(request)
