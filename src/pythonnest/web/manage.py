"""The account area: a signed-in user's projects and API tokens, and what an Owner manages.

Every change is a POST, protected against cross-site requests, that calls
``core`` with source "web" and the user's name (so that catalog changes are
journaled), then redirects with a message (Post/Redirect/Get). The one
exception is a new token: its page is rendered at once, so that the secret
is never kept anywhere, not even in the session.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from pythonnest.core import access, accounts, services
from pythonnest.core.access import OWNER, ROLE_ORDER, Identity
from pythonnest.core.distributions import canonical_version
from pythonnest.core.exceptions import InvalidName, InvalidRole, NotFound
from pythonnest.core.models import Project, Release, Role
from pythonnest.core.names import normalize
from pythonnest.core.queries import latest_release, version_sort_key
from pythonnest.core.tokens import create_token, find_token, list_tokens, revoke_token
from pythonnest.storage import blob_store
from pythonnest.web.forms import ROLE_CHOICES, RoleForm, TokenForm, YankForm

SOURCE = "web"
ROLE_LABELS = dict(ROLE_CHOICES)


class _Refused(Exception):
    """The signed-in user may see the project but not manage it: answered with a 403 page."""


@login_required(login_url="login")
def projects(request: HttpRequest) -> HttpResponse:
    """The projects the user holds a role on, Owner roles first."""
    roles = list(Role.objects.filter(user=request.user).select_related("project"))
    releases = defaultdict(list)
    for release in Release.objects.filter(project__in=[role.project_id for role in roles]).values(
        "project_id", "version", "yanked"
    ):
        releases[release["project_id"]].append(release)
    rows = [
        {
            "project": role.project,
            "role": role.role,
            "role_label": ROLE_LABELS.get(role.role, role.role),
            "latest": latest_release(releases[role.project_id]),
        }
        for role in sorted(roles, key=lambda role: (ROLE_ORDER.get(role.role, 9), role.project.normalized_name))
    ]
    return render(request, "pythonnest/manage/projects.html", {"rows": rows})


@never_cache
@login_required(login_url="login")
def tokens(request: HttpRequest) -> HttpResponse:
    """List, create and revoke the user's API tokens; a new secret is shown on this one answer only."""
    form = TokenForm(request.user)
    new_token = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            return _revoke_token(request)
        form = TokenForm(request.user, request.POST)
        if form.is_valid():
            project = form.cleaned_data["project"]
            new_token = create_token(request.user, project=project, description=form.cleaned_data["description"])
            form = TokenForm(request.user)
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": list_tokens(request.user)[::-1],
        "upload_url": request.build_absolute_uri(reverse("legacy-upload")),
    }
    # never_cache above sends "Cache-Control: no-store": no cache keeps the secret.
    return render(request, "pythonnest/manage/tokens.html", context)


def _revoke_token(request: HttpRequest) -> HttpResponse:
    reference = request.POST.get("token", "")
    try:
        # Only the user's own tokens: another's id is answered as a missing one.
        token = find_token(reference, user=request.user) if reference.isdigit() else None
    except NotFound:
        token = None
    if token is None:
        raise Http404(_("No such token."))
    if revoke_token(token):
        messages.success(request, _("The token %(prefix)s… is revoked.") % {"prefix": token.prefix})
    else:
        messages.info(request, _("The token %(prefix)s… was already revoked.") % {"prefix": token.prefix})
    return redirect("manage-tokens")


def _owned_project(request: HttpRequest, name: str) -> Project:
    """The project ``name``, when the user is one of its Owners.

    Raises Http404 when it does not exist or the user may not see it, _Refused otherwise.
    """
    try:
        project = Project.objects.filter(normalized_name=normalize(name)).first()
    except InvalidName:
        project = None
    if project is None:
        raise Http404(_("No such project."))
    role = Role.objects.filter(project=project, user=request.user).values_list("role", flat=True).first()
    if role is None and not Identity(request.user).viewer.can_see_project(project):
        raise Http404(_("No such project."))
    if role != OWNER:
        raise _Refused(_("Only Owners of %(project)s can manage it.") % {"project": project.name})
    return project


def _forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "pythonnest/manage/forbidden.html", {"reason": reason}, status=403)


@login_required(login_url="login")
def project(request: HttpRequest, name: str) -> HttpResponse:
    """An Owner's page of a project: its roles, its releases, and deleting it."""
    if name != _normalized_or_same(name):
        return redirect("manage-project", _normalized_or_same(name), permanent=True)
    try:
        project = _owned_project(request, name)
    except _Refused as exc:
        return _forbidden(request, str(exc))
    if request.method == "POST":
        return _change_project(request, project)
    releases = sorted(
        Release.objects.filter(project=project).annotate(file_count=Count("files")),
        key=lambda release: version_sort_key(release.version),
        reverse=True,
    )
    roles = [
        {"username": username, "role": role, "role_label": ROLE_LABELS.get(role, role)}
        for role, username in access.project_roles(project)
    ]
    context = {
        "project": project,
        "roles": roles,
        "role_choices": ROLE_CHOICES,
        "role_form": RoleForm(),
        "releases": releases,
    }
    return render(request, "pythonnest/manage/project.html", context)


def _normalized_or_same(name: str) -> str:
    try:
        return normalize(name)
    except InvalidName:
        return name


def _change_project(request: HttpRequest, project: Project) -> HttpResponse:
    action = request.POST.get("action", "")
    here = redirect("manage-project", project.normalized_name)
    username = request.user.get_username()
    if action in ("add-role", "change-role"):
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Give a username and a role (Owner or Maintainer)."))
            return here
        return _set_role(request, project, form.cleaned_data["username"], form.cleaned_data["role"]) or here
    if action == "remove-role":
        return _remove_role(request, project, request.POST.get("username", "")) or here
    if action == "delete-project":
        if request.POST.get("confirm", "").strip() not in (project.name, project.normalized_name):
            messages.error(request, _("Type the project's name to confirm that it must be deleted."))
            return here
        services.remove_project(project, store=blob_store(), source=SOURCE, submitted_by=username)
        messages.success(request, _("The project %(project)s is deleted.") % {"project": project.name})
        return redirect("manage-projects")
    messages.error(request, _("Unknown action."))
    return here


def _set_role(request: HttpRequest, project: Project, username: str, role: str) -> HttpResponse | None:
    """Give the role; None to come back to the project's page, else where to go instead."""
    names = {"username": username, "project": project.name, "role": ROLE_LABELS.get(role, role)}
    try:
        access.set_role(project, accounts.find_user(username), role)
    except NotFound:
        messages.error(request, _("There is no user named %(username)s.") % names)
        return None
    except InvalidRole as exc:
        messages.error(request, _("The role was not changed: %(reason)s.") % {"reason": exc})
        return None
    messages.success(request, _("%(username)s is now %(role)s of %(project)s.") % names)
    # An Owner who made themself a Maintainer no longer manages the project.
    return redirect("manage-projects") if username == request.user.get_username() and role != OWNER else None


def _remove_role(request: HttpRequest, project: Project, username: str) -> HttpResponse | None:
    names = {"username": username, "project": project.name}
    try:
        access.remove_role(project, accounts.find_user(username))
    except NotFound:
        messages.error(request, _("There is no user named %(username)s.") % names)
        return None
    except InvalidRole as exc:
        messages.error(request, _("The role was not removed: %(reason)s.") % {"reason": exc})
        return None
    messages.success(request, _("%(username)s no longer has a role on %(project)s.") % names)
    return redirect("manage-projects") if username == request.user.get_username() else None


@login_required(login_url="login")
def release(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """An Owner's page of a release: yank, unyank, delete it or one of its files."""
    if name != _normalized_or_same(name):
        return redirect("manage-release", _normalized_or_same(name), version, permanent=True)
    try:
        project = _owned_project(request, name)
    except _Refused as exc:
        return _forbidden(request, str(exc))
    release = Release.objects.filter(project=project, canonical_version=canonical_version(version)).first()
    if release is None:
        raise Http404(_("No such release."))
    if request.method == "POST":
        return _change_release(request, project, release)
    context = {"project": project, "release": release, "files": release.files.all(), "yank_form": YankForm()}
    return render(request, "pythonnest/manage/release.html", context)


def _change_release(request: HttpRequest, project: Project, release: Release) -> HttpResponse:
    action = request.POST.get("action", "")
    here = redirect("manage-release", project.normalized_name, release.version)
    by = {"source": SOURCE, "submitted_by": request.user.get_username()}
    names = {"project": project.name, "version": release.version, "filename": request.POST.get("filename", "")}
    if action == "yank":
        form = YankForm(request.POST)
        reason = form.cleaned_data["reason"].strip() if form.is_valid() else ""
        if services.yank_release(project, release.version, reason, **by):
            messages.success(request, _("%(project)s %(version)s is yanked.") % names)
        else:
            messages.info(request, _("%(project)s %(version)s was already yanked for that reason.") % names)
    elif action == "unyank":
        if services.unyank_release(project, release.version, **by):
            messages.success(request, _("%(project)s %(version)s is no longer yanked.") % names)
        else:
            messages.info(request, _("%(project)s %(version)s was not yanked.") % names)
    elif action == "delete-file":
        try:
            services.remove_file(project, names["filename"], store=blob_store(), **by)
        except NotFound:
            messages.error(request, _("%(project)s has no file %(filename)s.") % names)
        else:
            messages.success(request, _("The file %(filename)s is deleted.") % names)
    elif action == "delete-release":
        if request.POST.get("confirm", "").strip() != release.version:
            messages.error(request, _("Type the version to confirm that the release must be deleted."))
            return here
        services.remove_release(project, release.version, store=blob_store(), **by)
        messages.success(request, _("%(project)s %(version)s is deleted.") % names)
        return redirect("manage-project", project.normalized_name)
    else:
        messages.error(request, _("Unknown action."))
    return here
