"""The web UI's browsing pages: home, search, classifiers, recent releases, projects and releases.

The web UI knows a user by the session alone. A private project the user may
not see is answered exactly as a project that does not exist.
"""

from __future__ import annotations

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from pythonnest.core import access
from pythonnest.core.access import ANONYMOUS, Identity
from pythonnest.core.exceptions import InvalidName
from pythonnest.core.names import normalize
from pythonnest.web import browse
from pythonnest.web import search as project_search


def web_identity(request: HttpRequest) -> Identity:
    """The session's user, or anonymous: the web UI reads no other credentials."""
    user = getattr(request, "user", None)
    return Identity(user) if user is not None and user.is_authenticated else ANONYMOUS


def _not_found(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "pythonnest/includes/not_found.html", {"message": message}, status=404)


def _pip_command(request: HttpRequest, requirement: str) -> str:
    return f"pip install --index-url {request.build_absolute_uri(reverse('simple-index'))} {requirement}"


@require_safe
@cache_control(private=True)
def home(request: HttpRequest) -> HttpResponse:
    counts = browse.catalog_counts(web_identity(request).viewer)
    index_url = request.build_absolute_uri(reverse("simple-index"))
    return render(request, "pythonnest/home.html", {"counts": counts, "index_url": index_url})


@require_safe
@cache_control(private=True)
def search(request: HttpRequest) -> HttpResponse:
    query = project_search.clean_query(request.GET.get("q", ""))
    classifiers = project_search.clean_classifiers(request.GET.getlist("c"))
    filters = project_search.filters(query, classifiers)
    context = {"query": query, "classifiers": classifiers, "filters": filters, "page": None, "hits": []}
    projects = project_search.ranked_projects(query, classifiers, web_identity(request).viewer)
    if projects is not None:
        paginator = Paginator(projects, project_search.PAGE_SIZE)
        try:
            page = paginator.page(request.GET.get("page", 1))
        except PageNotAnInteger:
            page = paginator.page(1)
        except EmptyPage:
            return _not_found(request, _("There is no such page of results."))
        context.update(page=page, hits=project_search.describe_hits(page.object_list))
    return render(request, "pythonnest/search.html", context)


@require_safe
@cache_control(private=True)
def classifiers(request: HttpRequest) -> HttpResponse:
    groups = browse.classifier_groups(web_identity(request).viewer)
    return render(request, "pythonnest/classifiers.html", {"groups": groups})


@require_safe
@cache_control(private=True)
def recent(request: HttpRequest) -> HttpResponse:
    releases = browse.recent_releases(web_identity(request).viewer)
    return render(request, "pythonnest/recent.html", {"releases": releases, "limit": browse.RECENT_LIMIT})


def _release_response(request: HttpRequest, name: str, version: str | None) -> HttpResponse:
    """The page of a project (``version`` None) or of one of its releases."""
    try:
        normalized = normalize(name)
    except InvalidName:
        return _not_found(request, _("There is no project named “%(name)s”.") % {"name": name})
    if normalized != name:
        arguments = {"name": normalized} if version is None else {"name": normalized, "version": version}
        return redirect("project" if version is None else "release", permanent=True, **arguments)
    project = browse.find_visible_project(normalized, web_identity(request).viewer)
    if project is None:
        return _not_found(request, _("There is no project named “%(name)s”.") % {"name": normalized})
    page = browse.release_page(project, version)
    if page is None:
        message = _("%(project)s has no release %(version)s.") % {"project": project.name, "version": version}
        return _not_found(request, message)
    requirement = project.name if version is None else f"{project.name}=={page['release'].version}"
    page["pip_command"] = _pip_command(request, requirement)
    page["can_manage"] = request.user.is_authenticated and access.can_manage_roles(request.user, project)
    template = "pythonnest/project.html" if version is None else "pythonnest/release.html"
    return render(request, template, page)


@require_safe
@cache_control(private=True)
def project(request: HttpRequest, name: str) -> HttpResponse:
    return _release_response(request, name, None)


@require_safe
@cache_control(private=True)
def release(request: HttpRequest, name: str, version: str) -> HttpResponse:
    return _release_response(request, name, version)
