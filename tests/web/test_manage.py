"""The account area: projects, API tokens, and what an Owner manages, each change journaled."""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from pythonnest.core import access
from pythonnest.core.journal import Action
from pythonnest.core.models import ApiToken, File, JournalEntry, Project, Release, RemovedFilename, Role
from pythonnest.core.projects import set_project_private
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_sdist, build_wheel
from tests.support.uploads import basic_auth, post_upload

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
MINE, OTHER, SECRET = "pn-mine", "pn-other", "pn-secret"


@pytest.fixture
def users(django_user_model):
    return {name: django_user_model.objects.create_user(name, password=PASSWORD) for name in ("alice", "bob", "carol")}


@pytest.fixture
def catalog(store, tmp_path, users):
    """pn-mine (1.0 wheel and sdist, 2.0 wheel) and pn-other owned by alice, bob Maintainer of pn-mine;
    pn-secret private to a group alice is in, owned by carol."""
    for name, version in [(MINE, "1.0"), (MINE, "2.0"), (OTHER, "1.0"), (SECRET, "1.0")]:
        add_distribution_path(build_wheel(tmp_path / "dist", name, version), store=store)
    add_distribution_path(build_sdist(tmp_path / "dist", MINE, "1.0"), store=store)
    projects = {project.normalized_name: project for project in Project.objects.all()}
    access.set_role(projects[MINE], users["alice"], "Owner")
    access.set_role(projects[MINE], users["bob"], "Maintainer")
    access.set_role(projects[OTHER], users["alice"], "Owner")
    access.set_role(projects[SECRET], users["carol"], "Owner")
    team = Group.objects.create(name="team")
    users["alice"].groups.add(team)
    users["carol"].groups.add(team)
    set_project_private(projects[SECRET], team, source="test")
    return projects


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(users):
    return _client(users["alice"])


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


# -- sign-in is required -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/manage/projects/", "/manage/account/token/", f"/manage/project/{MINE}/", f"/manage/project/{MINE}/release/1.0/"],
)
def test_the_account_area_needs_a_login(client, catalog, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/account/login/?next={url}"
    response = client.post(url, {"action": "delete-project", "confirm": MINE})
    assert response.status_code == 302
    assert Project.objects.filter(normalized_name=MINE).exists()


# -- your projects -------------------------------------------------------------


def test_projects_lists_roles_and_latest_versions(catalog, alice, users):
    response = alice.get("/manage/projects/")
    assert response.status_code == 200
    rows = {row["project"].normalized_name: row for row in response.context["rows"]}
    assert set(rows) == {MINE, OTHER}
    assert rows[MINE]["latest"]["version"] == "2.0"
    assert rows[MINE]["role"] == "Owner"
    page = response.content.decode()
    assert f'href="/manage/project/{MINE}/"' in page

    response = _client(users["bob"]).get("/manage/projects/")
    assert [(row["project"].normalized_name, row["role"]) for row in response.context["rows"]] == [(MINE, "Maintainer")]
    assert f'href="/manage/project/{MINE}/"' not in response.content.decode()


# -- API tokens ----------------------------------------------------------------


def _create_token(client: Client, project: str = "", description: str = "laptop"):
    return client.post("/manage/account/token/", {"action": "create", "description": description, "project": project})


def _secret(response) -> str:
    page = response.content.decode()
    start = page.index('<code id="new-token" class="secret">') + len('<code id="new-token" class="secret">')
    return page[start : page.index("</code>", start)]


def test_a_new_token_is_shown_once_and_only_its_digest_stored(catalog, alice, users):
    page = alice.get("/manage/account/token/").content.decode()
    assert f'<option value="{MINE}">' in page and f'<option value="{SECRET}">' not in page
    response = _create_token(alice, MINE)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = _secret(response)
    assert secret.startswith("pynest-")
    assert "username = __token__" in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.project.normalized_name, token.description) == (users["alice"], MINE, "laptop")
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.prefix, token.description, token.digest}
    assert secret not in str(dict(alice.session))

    again = alice.get("/manage/account/token/")
    assert "no-store" in again["Cache-Control"]
    assert secret not in again.content.decode()
    assert 'id="new-token"' not in again.content.decode()
    assert f"{token.prefix}…" in again.content.decode()


def test_a_token_scoped_to_a_project_uploads_only_there(catalog, alice, tmp_path):
    secret = _secret(_create_token(alice, MINE))
    auth = basic_auth("__token__", secret)
    response = post_upload(Client(), build_wheel(tmp_path / "new", MINE, "3.0"), auth=auth)
    assert response.status_code == 200, response.content
    assert JournalEntry.objects.filter(action=Action.ADD_FILE, submitted_by="alice", version="3.0").exists()
    response = post_upload(Client(), build_wheel(tmp_path / "new", OTHER, "3.0"), auth=auth)
    assert response.status_code == 403
    assert not Release.objects.filter(project__normalized_name=OTHER, version="3.0").exists()


def test_a_token_for_all_projects_uploads_to_each(catalog, alice, tmp_path):
    auth = basic_auth("__token__", _secret(_create_token(alice, "")))
    assert ApiToken.objects.get().project is None
    for name in (MINE, OTHER):
        assert post_upload(Client(), build_wheel(tmp_path / "new", name, "3.0"), auth=auth).status_code == 200


def test_a_token_cannot_be_scoped_to_a_project_without_a_role(catalog, alice):
    for project in (SECRET, "pn-nothing"):
        response = _create_token(alice, project)
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
        assert 'id="new-token"' not in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_token_refuses_it_at_once(catalog, alice, tmp_path):
    secret = _secret(_create_token(alice, MINE))
    token = ApiToken.objects.get()
    response = alice.post("/manage/account/token/", {"action": "revoke", "token": str(token.pk)}, follow=True)
    assert response.redirect_chain == [("/manage/account/token/", 302)]
    assert any("revoked" in message for message in _messages(response))
    token.refresh_from_db()
    assert token.revoked is not None
    response = post_upload(Client(), build_wheel(tmp_path / "new", MINE, "3.0"), auth=basic_auth("__token__", secret))
    assert response.status_code in (401, 403)
    assert not Release.objects.filter(version="3.0").exists()


def test_nobody_revokes_another_users_token(catalog, users):
    _create_token(_client(users["bob"]), MINE)
    token = ApiToken.objects.get()
    for reference in (str(token.pk), token.prefix, "not-a-number"):
        response = _client(users["alice"]).post("/manage/account/token/", {"action": "revoke", "token": reference})
        assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked is None


def test_creating_a_token_needs_the_csrf_token(catalog, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["alice"])
    assert _create_token(client, MINE).status_code == 403
    assert not ApiToken.objects.exists()


# -- who may manage a project --------------------------------------------------


@pytest.mark.parametrize(
    ("who", "name", "status"),
    [
        ("alice", MINE, 200),
        ("bob", MINE, 403),  # a Maintainer
        ("carol", MINE, 403),  # no role on a public project
        ("bob", SECRET, 404),  # a private project outside one's groups is missing
        ("alice", SECRET, 403),  # in the group, but no role
        ("carol", SECRET, 200),
        ("alice", "pn-nowhere", 404),
        ("alice", "not a name!", 404),
    ],
)
def test_only_owners_manage_a_project(catalog, users, who, name, status):
    client = _client(users[who])
    for url in (f"/manage/project/{name}/", f"/manage/project/{name}/release/1.0/"):
        response = client.get(url)
        assert response.status_code == status, url
        if status == 403:
            assert f"Only Owners of {name} can manage it." in response.content.decode()
        if status != 200:
            response = client.post(url, {"action": "delete-project", "confirm": name})
            assert response.status_code == status
    assert Project.objects.count() == 3


def test_a_non_normalized_name_redirects(catalog, alice):
    response = alice.get("/manage/project/PN_Mine/")
    assert response.status_code == 301 and response["Location"] == f"/manage/project/{MINE}/"
    response = alice.get("/manage/project/PN.Mine/release/1.0/")
    assert response.status_code == 301 and response["Location"] == f"/manage/project/{MINE}/release/1.0/"


def test_an_unknown_release_is_missing(catalog, alice):
    assert alice.get(f"/manage/project/{MINE}/release/9.9/").status_code == 404


def test_the_project_page_shows_roles_and_releases(catalog, alice):
    response = alice.get(f"/manage/project/{MINE}/")
    page = response.content.decode()
    for needle in ('<table id="roles">', '<form id="add-role-form"', 'name="username"', 'value="Maintainer"'):
        assert needle in page
    assert [row["username"] for row in response.context["roles"]] == ["alice", "bob"]
    assert [release.version for release in response.context["releases"]] == ["2.0", "1.0"]
    assert f'href="/manage/project/{MINE}/release/1.0/"' in page


# -- roles ---------------------------------------------------------------------


def _change(client: Client, url: str, **fields):
    return client.post(url, fields, follow=True)


def _role(project: str, username: str) -> str | None:
    return (
        Role.objects.filter(project__normalized_name=project, user__username=username)
        .values_list("role", flat=True)
        .first()
    )


def test_an_owner_adds_changes_and_removes_a_role(catalog, alice):
    url = f"/manage/project/{OTHER}/"
    response = _change(alice, url, action="add-role", username="carol", role="Maintainer")
    assert response.redirect_chain == [(url, 302)]
    assert "carol is now Maintainer of pn-other." in _messages(response)
    assert _role(OTHER, "carol") == "Maintainer"
    _change(alice, url, action="change-role", username="carol", role="Owner")
    assert _role(OTHER, "carol") == "Owner"
    response = _change(alice, url, action="remove-role", username="carol")
    assert "carol no longer has a role on pn-other." in _messages(response)
    assert _role(OTHER, "carol") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "add-role", "username": "nobody", "role": "Maintainer"}, "There is no user named nobody."),
        ({"action": "add-role", "username": "carol", "role": "Admin"}, "Give a username and a role"),
        ({"action": "add-role", "username": "", "role": "Owner"}, "Give a username and a role"),
        ({"action": "remove-role", "username": "carol"}, "The role was not removed: carol has no role on pn-mine."),
        ({"action": "remove-role", "username": "nobody"}, "There is no user named nobody."),
        ({"action": "frobnicate"}, "Unknown action."),
    ],
)
def test_a_bad_role_change_is_an_error_message(catalog, alice, fields, message):
    before = sorted(Role.objects.values_list("project_id", "user_id", "role"))
    response = _change(alice, f"/manage/project/{MINE}/", **fields)
    assert response.status_code == 200
    assert any(text.startswith(message) for text in _messages(response)), _messages(response)
    assert sorted(Role.objects.values_list("project_id", "user_id", "role")) == before


def test_the_last_owner_stays(catalog, alice):
    url = f"/manage/project/{MINE}/"
    response = _change(alice, url, action="remove-role", username="alice")
    assert response.status_code == 200
    assert "alice is the last Owner of pn-mine" in " ".join(_messages(response))
    assert _role(MINE, "alice") == "Owner"
    response = _change(alice, url, action="change-role", username="alice", role="Maintainer")
    assert "alice is the last Owner of pn-mine" in " ".join(_messages(response))
    assert _role(MINE, "alice") == "Owner"


def test_an_owner_who_steps_down_goes_back_to_their_projects(catalog, alice):
    url = f"/manage/project/{MINE}/"
    _change(alice, url, action="change-role", username="bob", role="Owner")
    response = _change(alice, url, action="change-role", username="alice", role="Maintainer")
    assert response.redirect_chain == [("/manage/projects/", 302)]
    assert _role(MINE, "alice") == "Maintainer"
    assert alice.get(url).status_code == 403


def test_role_changes_need_the_csrf_token(catalog, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["alice"])
    response = client.post(f"/manage/project/{OTHER}/", {"action": "add-role", "username": "bob", "role": "Owner"})
    assert response.status_code == 403
    assert _role(OTHER, "bob") is None


# -- releases and files --------------------------------------------------------


def _entries(action: str) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action=action))


def test_yank_and_unyank_are_journaled(catalog, alice):
    url = f"/manage/project/{MINE}/release/1.0/"
    page = alice.get(url).content.decode()
    assert 'name="reason"' in page and 'value="yank"' in page
    response = _change(alice, url, action="yank", reason="broken on Windows")
    assert response.redirect_chain == [(url, 302)]
    release = Release.objects.get(project__normalized_name=MINE, version="1.0")
    assert (release.yanked, release.yanked_reason) == (True, "broken on Windows")
    [entry] = _entries(Action.YANK_RELEASE)
    assert (entry.source, entry.submitted_by, entry.version, entry.data) == (
        "web",
        "alice",
        "1.0",
        {"reason": "broken on Windows"},
    )
    assert 'data-yanked="broken on Windows"' in alice.get(f"/simple/{MINE}/").content.decode()
    # Yanking again for the same reason changes nothing.
    _change(alice, url, action="yank", reason="broken on Windows")
    assert len(_entries(Action.YANK_RELEASE)) == 1
    assert 'value="unyank"' in alice.get(url).content.decode()

    response = _change(alice, url, action="unyank")
    release.refresh_from_db()
    assert not release.yanked
    [entry] = _entries(Action.UNYANK_RELEASE)
    assert (entry.source, entry.submitted_by) == ("web", "alice")
    simple = alice.get(f"/simple/{MINE}/").content.decode()
    assert "data-yanked" not in simple


def test_deleting_a_file_is_journaled_and_final(catalog, alice, store, django_capture_on_commit_callbacks):
    file = File.objects.get(filename="pn_mine-1.0.tar.gz")
    url = f"/manage/project/{MINE}/release/1.0/"
    assert "can never be used again" in alice.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _change(alice, url, action="delete-file", filename=file.filename)
    assert response.redirect_chain == [(url, 302)]
    assert not File.objects.filter(pk=file.pk).exists()
    assert not store.exists(file.sha256)
    assert RemovedFilename.objects.filter(filename=file.filename).exists()
    [entry] = _entries(Action.REMOVE_FILE)
    assert (entry.source, entry.submitted_by, entry.filename) == ("web", "alice", file.filename)
    simple = alice.get(f"/simple/{MINE}/").content.decode()
    assert file.filename not in simple and "pn_mine-1.0-py3-none-any.whl" in simple

    response = _change(alice, url, action="delete-file", filename="pn_other-1.0-py3-none-any.whl")
    assert "pn-mine has no file pn_other-1.0-py3-none-any.whl." in _messages(response)
    assert File.objects.filter(filename="pn_other-1.0-py3-none-any.whl").exists()


def test_deleting_a_release_needs_its_version_typed(catalog, alice):
    url = f"/manage/project/{MINE}/release/1.0/"
    response = _change(alice, url, action="delete-release", confirm="2.0")
    assert response.redirect_chain == [(url, 302)]
    assert Release.objects.filter(project__normalized_name=MINE, version="1.0").exists()
    assert not _entries(Action.REMOVE_RELEASE)

    response = _change(alice, url, action="delete-release", confirm="1.0")
    assert response.redirect_chain == [(f"/manage/project/{MINE}/", 302)]
    assert not Release.objects.filter(project__normalized_name=MINE, version="1.0").exists()
    [entry] = _entries(Action.REMOVE_RELEASE)
    assert (entry.source, entry.submitted_by, entry.version) == ("web", "alice", "1.0")
    simple = alice.get(f"/simple/{MINE}/").content.decode()
    assert "pn_mine-1.0" not in simple and "pn_mine-2.0-py3-none-any.whl" in simple


def test_deleting_a_project_needs_its_name_typed(catalog, alice):
    url = f"/manage/project/{MINE}/"
    response = _change(alice, url, action="delete-project", confirm="pn-min")
    assert response.redirect_chain == [(url, 302)]
    assert Project.objects.filter(normalized_name=MINE).exists()

    response = _change(alice, url, action="delete-project", confirm=MINE)
    assert response.redirect_chain == [("/manage/projects/", 302)]
    assert "The project pn-mine is deleted." in _messages(response)
    assert not Project.objects.filter(normalized_name=MINE).exists()
    [entry] = _entries(Action.REMOVE_PROJECT)
    assert (entry.source, entry.submitted_by, entry.project_name) == ("web", "alice", MINE)
    assert alice.get(f"/simple/{MINE}/").status_code == 404
    assert MINE not in alice.get("/simple/").content.decode()


def test_release_changes_need_the_csrf_token(catalog, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["alice"])
    response = client.post(f"/manage/project/{MINE}/release/1.0/", {"action": "yank", "reason": "x"})
    assert response.status_code == 403
    response = client.post(f"/manage/project/{MINE}/", {"action": "delete-project", "confirm": MINE})
    assert response.status_code == 403
    assert not Release.objects.filter(yanked=True).exists()
    assert Project.objects.filter(normalized_name=MINE).exists()


def test_the_last_owner_refusal_is_in_the_page_language(catalog, alice):
    alice.cookies["django_language"] = "fr"
    response = _change(alice, f"/manage/project/{MINE}/", action="remove-role", username="alice")
    text = " ".join(_messages(response))
    assert "alice est le dernier Propriétaire de pn-mine\u00a0; ajoutez d’abord un autre Propriétaire" in text
    assert _role(MINE, "alice") == "Owner"
