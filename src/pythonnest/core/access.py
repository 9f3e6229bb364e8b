"""Who may see and who may change a project: visibility, identities and roles.

A project restricted to a group is invisible to everyone outside it, on every
surface (DESIGN.md invariant 6). ``Viewer`` says what one requester sees and
gives the ORM filter for it; ``Identity`` is who made a request. Roles (Owner,
Maintainer) say who may upload; they are not catalog content, so they are
not journaled. Their refusals are translated, for the web UI that shows
them (a command speaks LANGUAGE_CODE's language).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from pythonnest.core.exceptions import Forbidden, InvalidRole, NotAuthenticated
from pythonnest.core.models import ApiToken, JournalEntry, Project, Role

logger = logging.getLogger(__name__)

OWNER = Role.Kind.OWNER
MAINTAINER = Role.Kind.MAINTAINER
# Owners first, as PyPI lists them.
ROLE_ORDER = {OWNER: 0, MAINTAINER: 1}


@dataclass(frozen=True)
class Viewer:
    """What one requester may see: public projects, and private ones of its groups.

    A token scoped to one project (``only_project_id``) sees no other private
    project, whatever its user's groups.
    """

    group_ids: frozenset[int] = frozenset()
    only_project_id: int | None = None

    @property
    def sees_private(self) -> bool:
        """Whether any private project could be visible; False means public view only."""
        return bool(self.group_ids)

    def can_see(self, private_group_id: int | None, project_id: int | None = None) -> bool:
        if private_group_id is None:
            return True
        if self.only_project_id is not None and project_id != self.only_project_id:
            return False
        return private_group_id in self.group_ids

    def can_see_project(self, project: Project) -> bool:
        return self.can_see(project.private_group_id, project.pk)

    def visible(self, prefix: str = "") -> Q:
        """The filter on projects (or on rows reaching one through ``prefix``, e.g. "project__")."""
        condition = Q(**{f"{prefix}private_group__isnull": True})
        if self.group_ids:
            private = Q(**{f"{prefix}private_group_id__in": sorted(self.group_ids)})
            if self.only_project_id is not None:
                private &= Q(**{f"{prefix}pk": self.only_project_id})
            condition |= private
        return condition

    def visible_history(self) -> Q:
        """The filter on journal entries this viewer may read.

        Those made while their project was public or private to this viewer,
        and none of a deleted project that was private, to others, when it
        was deleted (a project that exists is judged by ``hidden_project_names``).
        """
        seen = Q(private_group_id__isnull=True)
        if self.group_ids:
            private = Q(private_group_id__in=sorted(self.group_ids))
            if self.only_project_id is not None:
                private &= Q(project_name__in=Project.objects.filter(pk=self.only_project_id).values("normalized_name"))
            seen |= private
        deleted_private = (
            JournalEntry.objects.filter(action=JournalEntry.Action.REMOVE_PROJECT, private_group_id__isnull=False)
            .exclude(seen)
            .exclude(project_name__in=Project.objects.values("normalized_name"))
            .values("project_name")
        )
        return seen & ~Q(project_name__in=deleted_private)

    def hidden_project_names(self):
        """A subquery of the normalized names of private projects this viewer must not see."""
        return Project.objects.filter(private_group__isnull=False).exclude(self.visible()).values("normalized_name")

    @property
    def cache_key(self) -> str:
        """A short key telling apart pages that differ by visibility; "public" for the public view."""
        if not self.group_ids:
            return "public"
        text = ",".join(map(str, sorted(self.group_ids))) + f"/{self.only_project_id or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


PUBLIC = Viewer()


class Identity:
    """Who made a request: nobody, a user by password or session, or a user by API token."""

    def __init__(self, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> None:
        self.user = user
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else ""

    @property
    def scoped_project_id(self) -> int | None:
        return self.token.project_id if self.token is not None else None

    @cached_property
    def viewer(self) -> Viewer:
        """The visibility of this identity; the user's groups are read on first use."""
        if self.user is None:
            return PUBLIC
        return Viewer(frozenset(self.user.groups.values_list("id", flat=True)), self.scoped_project_id)

    def __repr__(self) -> str:
        how = "anonymous" if self.user is None else ("token" if self.token else "password")
        return f"<Identity {self.username or '-'} ({how})>"


ANONYMOUS = Identity()


# -- uploading ---------------------------------------------------------------


def check_upload_allowed(identity: Identity, project: Project | None, name: str) -> None:
    """Refuse an upload to ``project`` (None: a new project called ``name``) that ``identity`` may not make.

    Raises NotAuthenticated without a user, Forbidden when the token's scope,
    the dependency-confusion guard or the user's roles refuse it.
    """
    if identity.user is None:
        raise NotAuthenticated("Uploading needs a username and password, or an API token")
    scoped = identity.scoped_project_id
    if scoped is not None and (project is None or project.pk != scoped):
        scope_name = Project.objects.filter(pk=scoped).values_list("name", flat=True).first() or "another project"
        raise Forbidden(f"This API token is scoped to project '{scope_name}'; it cannot upload to '{name}'")
    if project is None:
        return
    role = Role.objects.filter(project=project, user=identity.user).values_list("role", flat=True).first()
    visible = identity.viewer.can_see_project(project) or role is not None
    if visible and project.origin == Project.Origin.MIRRORED:
        raise Forbidden(
            f"'{project.name}' is mirrored from upstream: uploads to it are refused, so that local and "
            "upstream files are never mixed (dependency confusion). An administrator can make it local "
            f"with: pythonnest-manage project origin {project.normalized_name} local"
        )
    if role is None:
        raise Forbidden(f"The user '{identity.username}' isn't allowed to upload to project '{project.name}'")


# -- roles -------------------------------------------------------------------


def _check_kind(role: str) -> str:
    for kind in Role.Kind:
        if role.lower() == kind.value.lower():
            return kind.value
    raise InvalidRole(
        _("%(role)r is not a role (use %(roles)s)")
        % {"role": role, "roles": " or ".join(kind.value for kind in Role.Kind)}
    )


def set_role(project: Project, user: AbstractBaseUser, role: str) -> Role:
    """Give ``user`` the role on ``project``, replacing the one they had.

    Raises InvalidRole for an unknown role, or when it would leave the
    project without an Owner.
    """
    role = _check_kind(role)
    with transaction.atomic():
        # Lock the project's roles, so that two changes cannot both remove the last Owner.
        current = {row.user_id: row for row in Role.objects.select_for_update().filter(project=project)}
        existing = current.get(user.pk)
        if existing is not None and existing.role == OWNER and role != OWNER:
            _check_another_owner(project, user, current.values())
        if existing is None:
            existing = Role.objects.create(project=project, user=user, role=role)
        elif existing.role != role:
            existing.role = role
            existing.save(update_fields=["role"])
    logger.info("%s is now %s of %s", user.get_username(), role, project.normalized_name)
    return existing


def remove_role(project: Project, user: AbstractBaseUser) -> None:
    """Take away the user's role on a project.

    Raises InvalidRole when the user has none, or is the last Owner.
    """
    with transaction.atomic():
        current = {row.user_id: row for row in Role.objects.select_for_update().filter(project=project)}
        existing = current.get(user.pk)
        if existing is None:
            raise InvalidRole(
                _("%(username)s has no role on %(project)s")
                % {"username": user.get_username(), "project": project.name}
            )
        if existing.role == OWNER:
            _check_another_owner(project, user, current.values())
        existing.delete()
    logger.info("%s no longer has a role on %s", user.get_username(), project.normalized_name)


def _check_another_owner(project: Project, user: AbstractBaseUser, roles) -> None:
    if not any(row.role == OWNER and row.user_id != user.pk for row in roles):
        raise InvalidRole(
            _("%(username)s is the last Owner of %(project)s; add another Owner first")
            % {"username": user.get_username(), "project": project.name}
        )


def grant_first_owner(project: Project, user: AbstractBaseUser) -> None:
    """Make the uploader of a new project its Owner, inside the upload's transaction."""
    Role.objects.create(project=project, user=user, role=OWNER)


def project_roles(project: Project) -> list[tuple[str, str]]:
    """(role, username) pairs of a project, Owners first, then by username."""
    rows = Role.objects.filter(project=project).values_list("role", "user__username")
    return sorted(rows, key=lambda row: (ROLE_ORDER.get(row[0], 9), row[1]))


def user_roles(user: AbstractBaseUser, viewer: Viewer | None = None) -> list[tuple[str, str]]:
    """(role, project name) pairs of a user, Owner roles first; ``viewer`` hides what it may not see."""
    rows = Role.objects.filter(user=user)
    if viewer is not None:
        rows = rows.filter(viewer.visible("project__"))
    pairs = rows.values_list("role", "project__name", "project__normalized_name")
    return [(role, name) for role, name, _ in sorted(pairs, key=lambda row: (ROLE_ORDER.get(row[0], 9), row[2]))]


def can_manage_roles(user: AbstractBaseUser, project: Project) -> bool:
    """Whether ``user`` is an Owner of ``project``; Maintainers upload but don't manage roles."""
    return Role.objects.filter(project=project, user=user, role=OWNER).exists()
