"""Roles, visibility and the rights to upload, below HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from pythonnest.core import access, tokens
from pythonnest.core.access import Identity, Viewer
from pythonnest.core.exceptions import Forbidden, InvalidRole, NotAuthenticated
from pythonnest.core.models import Project
from pythonnest.core.projects import set_project_origin
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "pn-roles", "1.0"), store=store)
    return Project.objects.get()


@pytest.fixture
def users(django_user_model):
    return {name: django_user_model.objects.create_user(name) for name in ("ann", "ben", "cy")}


def test_roles_are_listed_owners_first(project, users):
    access.set_role(project, users["cy"], "maintainer")
    access.set_role(project, users["ben"], "Owner")
    access.set_role(project, users["ann"], "Maintainer")
    assert access.project_roles(project) == [("Owner", "ben"), ("Maintainer", "ann"), ("Maintainer", "cy")]
    assert access.user_roles(users["ben"]) == [("Owner", "pn-roles")]


def test_a_role_is_replaced_not_added(project, users):
    access.set_role(project, users["ann"], "Owner")
    access.set_role(project, users["ben"], "Maintainer")
    access.set_role(project, users["ben"], "Owner")
    assert access.project_roles(project) == [("Owner", "ann"), ("Owner", "ben")]


def test_the_last_owner_can_neither_leave_nor_step_down(project, users):
    access.set_role(project, users["ann"], "Owner")
    with pytest.raises(InvalidRole, match="ann is the last Owner of pn-roles"):
        access.remove_role(project, users["ann"])
    with pytest.raises(InvalidRole, match="last Owner"):
        access.set_role(project, users["ann"], "Maintainer")
    access.set_role(project, users["ben"], "Owner")
    access.remove_role(project, users["ann"])
    assert access.project_roles(project) == [("Owner", "ben")]


def test_unknown_roles_and_missing_roles_are_refused(project, users):
    with pytest.raises(InvalidRole, match="'admin' is not a role"):
        access.set_role(project, users["ann"], "admin")
    with pytest.raises(InvalidRole, match="ann has no role on pn-roles"):
        access.remove_role(project, users["ann"])


def test_only_owners_manage_roles(project, users):
    access.set_role(project, users["ann"], "Owner")
    access.set_role(project, users["ben"], "Maintainer")
    assert access.can_manage_roles(users["ann"], project)
    assert not access.can_manage_roles(users["ben"], project)
    assert not access.can_manage_roles(users["cy"], project)


def test_upload_rights(project, users):
    access.set_role(project, users["ann"], "Maintainer")
    access.check_upload_allowed(Identity(users["ann"]), project, "pn-roles")
    access.check_upload_allowed(Identity(users["cy"]), None, "pn-new")  # anyone may start a project
    with pytest.raises(NotAuthenticated):
        access.check_upload_allowed(access.ANONYMOUS, None, "pn-new")
    with pytest.raises(Forbidden, match="The user 'cy' isn't allowed"):
        access.check_upload_allowed(Identity(users["cy"]), project, "pn-roles")


def test_a_scoped_token_cannot_start_a_project(project, users):
    access.set_role(project, users["ann"], "Owner")
    scoped = tokens.create_token(users["ann"], project=project).token
    with pytest.raises(Forbidden, match="scoped to project 'pn-roles'; it cannot upload to 'pn-new'"):
        access.check_upload_allowed(Identity(users["ann"], scoped), None, "pn-new")


def test_the_guard_names_the_way_out(project, users):
    access.set_role(project, users["ann"], "Owner")
    set_project_origin(project, "mirrored", source="test")
    with pytest.raises(Forbidden, match="mirrored from upstream"):
        access.check_upload_allowed(Identity(users["ann"]), project, "pn-roles")


@pytest.mark.parametrize(
    ("viewer", "group", "project_id", "sees"),
    [
        (Viewer(), None, 1, True),
        (Viewer(), 5, 1, False),
        (Viewer(frozenset({5})), 5, 1, True),
        (Viewer(frozenset({4})), 5, 1, False),
        (Viewer(frozenset({5}), only_project_id=1), 5, 1, True),
        (Viewer(frozenset({5}), only_project_id=2), 5, 1, False),
        (Viewer(frozenset({5}), only_project_id=2), None, 1, True),
    ],
)
def test_who_sees_what(viewer, group, project_id, sees):
    assert viewer.can_see(group, project_id) is sees


def test_the_filter_agrees_with_can_see(project, users, store, tmp_path):
    team, other = Group.objects.create(name="team"), Group.objects.create(name="other")
    add_distribution_path(build_wheel(tmp_path, "pn-hidden", "1.0"), store=store)
    hidden = Project.objects.get(normalized_name="pn-hidden")
    Project.objects.filter(pk=hidden.pk).update(private_group=team)
    hidden.refresh_from_db()
    for viewer in (
        Viewer(),
        Viewer(frozenset({team.pk})),
        Viewer(frozenset({other.pk})),
        Viewer(frozenset({team.pk}), only_project_id=project.pk),
        Viewer(frozenset({team.pk}), only_project_id=hidden.pk),
    ):
        listed = set(Project.objects.filter(viewer.visible()).values_list("normalized_name", flat=True))
        expected = {p.normalized_name for p in (project, hidden) if viewer.can_see_project(p)}
        assert listed == expected
        hidden_names = set(viewer.hidden_project_names().values_list("normalized_name", flat=True))
        assert hidden_names == {"pn-hidden"} - expected
    assert Viewer().cache_key == "public"
    assert Viewer(frozenset({1, 2})).cache_key == Viewer(frozenset({2, 1})).cache_key
    assert Viewer(frozenset({1})).cache_key != Viewer(frozenset({1}), only_project_id=3).cache_key
