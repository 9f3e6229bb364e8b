"""``user``, ``token``, ``role`` and ``project``: the administrator's commands."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pythonnest.core import access, accounts, tokens
from pythonnest.core.journal import Action
from pythonnest.core.models import ApiToken, JournalEntry, Project
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def project(store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "Pn_Cmd", "1.0"), store=store)
    return Project.objects.get()


@pytest.fixture
def ann(monkeypatch):
    run("user", "create", "ann", "--password-stdin", stdin="a-long-test-password\n", monkeypatch=monkeypatch)
    return accounts.find_user("ann")


def test_user_create_join_leave_and_list(ann, monkeypatch):
    assert ann.check_password("a-long-test-password")
    assert run("user", "join", "ann", "team") == "ann is a member of team.\n"
    assert "ann" in run("user", "list") and "team" in run("user", "list")
    assert run("user", "leave", "ann", "team") == "ann is no longer a member of team.\n"
    with pytest.raises(CommandError, match="already taken"):
        run("user", "create", "ann", "--no-password")
    with pytest.raises(CommandError, match="no terminal"):
        run("user", "create", "ben", stdin="", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="too short"):
        run("user", "create", "ben", "--password-stdin", stdin="abc\n", monkeypatch=monkeypatch)


def test_token_create_prints_the_secret_once_then_list_and_revoke(ann, project):
    output = run("token", "create", "ann", "--project", "pn-cmd", "--description", "ci")
    secret = output.strip().splitlines()[-1]
    assert "scoped to project Pn_Cmd" in output
    assert tokens.authenticate_token(secret).user == ann
    listing = run("token", "list")
    assert "ci" in listing and "Pn_Cmd" in listing and secret not in listing
    token = ApiToken.objects.get()
    assert run("token", "revoke", token.prefix).startswith(f"Revoked token {token.pk}")
    assert "already revoked" in run("token", "revoke", str(token.pk))
    assert "revoked" in run("token", "list", "ann")
    with pytest.raises(CommandError, match="no token matches"):
        run("token", "revoke", "999")


def test_role_add_remove_and_list(ann, project, django_user_model):
    django_user_model.objects.create_user("ben")
    assert run("role", "add", "PN.CMD", "ann", "owner") == "ann is now Owner of Pn_Cmd.\n"
    assert run("role", "add", "pn-cmd", "ben") == "ben is now Maintainer of Pn_Cmd.\n"
    assert run("role", "list", "pn-cmd").split() == ["Owner", "ann", "Maintainer", "ben"]
    assert run("role", "list", "--user", "ann").split() == ["Owner", "Pn_Cmd"]
    with pytest.raises(CommandError, match="last Owner"):
        run("role", "remove", "pn-cmd", "ann")
    run("role", "remove", "pn-cmd", "ben")
    assert access.project_roles(project) == [("Owner", "ann")]
    with pytest.raises(CommandError, match="no project named 'nothing'"):
        run("role", "add", "nothing", "ann")
    with pytest.raises(CommandError, match="no user named 'zed'"):
        run("role", "add", "pn-cmd", "zed")


def test_project_origin_privacy_and_show_are_journaled(project):
    assert run("project", "origin", "pn-cmd", "mirrored") == "Pn_Cmd is now mirrored (serial 2).\n"
    assert "already mirrored" in run("project", "origin", "pn-cmd", "mirrored")
    with pytest.raises(CommandError, match="no group named 'team'"):
        run("project", "private", "pn-cmd", "team")
    assert run("project", "private", "pn-cmd", "team", "--create-group") == (
        "Pn_Cmd is now private to group team (serial 3).\n"
    )
    shown = run("project", "show", "pn-cmd")
    assert "Origin:   mirrored" in shown and "to group team" in shown
    assert run("project", "public", "pn-cmd") == "Pn_Cmd is now public (serial 4).\n"
    actions = list(JournalEntry.objects.values_list("action", flat=True))
    assert actions == [Action.ADD_FILE, Action.SET_ORIGIN, Action.SET_PRIVATE, Action.SET_PRIVATE]
