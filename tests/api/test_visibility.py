"""A private project is invisible outside its group, on every surface (DESIGN.md invariant 6).

The matrix: each surface, for each kind of requester. Those who may not see
the project get what they would get for a project that does not exist.
"""

from __future__ import annotations

import base64
import json
import xmlrpc.client

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pythonnest.api.negotiation import JSON_V1
from pythonnest.core import access, accounts, services, tokens
from pythonnest.core.journal import Action, current_serial
from pythonnest.core.models import File, JournalEntry, Project
from pythonnest.core.projects import set_project_private
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_sdist, build_wheel
from tests.support.uploads import basic_auth

pytestmark = pytest.mark.django_db

SECRET, PUBLIC, OTHER = "pn-secret", "pn-public", "pn-other"
PASSWORD = "a-long-test-password"


@pytest.fixture
def catalog(store, tmp_path, django_user_model):
    """pn-secret private to "team"; pn-public and pn-other public. The member owns pn-secret and pn-other."""
    for name in (PUBLIC, SECRET, OTHER):
        add_distribution_path(build_wheel(tmp_path, name, "1.0", summary=f"{name} summary"), store=store)
        add_distribution_path(build_sdist(tmp_path, name, "1.0"), store=store)
    member = django_user_model.objects.create_user("member", password=PASSWORD)
    django_user_model.objects.create_user("outsider", password=PASSWORD)
    team = Group.objects.create(name="team")
    member.groups.add(team)
    secret = Project.objects.get(normalized_name=SECRET)
    set_project_private(secret, team, source="test")
    access.set_role(secret, member, "Owner")
    access.set_role(Project.objects.get(normalized_name=OTHER), member, "Owner")
    return secret


def _token(project_name: str | None) -> dict[str, str]:
    member = accounts.find_user("member")
    project = Project.objects.get(normalized_name=project_name) if project_name else None
    return basic_auth("__token__", tokens.create_token(member, project=project).secret)


# Each requester, and whether it sees pn-secret.
REQUESTERS = {
    "anonymous": (lambda: {}, False),
    "another user": (lambda: basic_auth("outsider", PASSWORD), False),
    "member": (lambda: basic_auth("member", PASSWORD), True),
    "member's token": (lambda: _token(None), True),
    "member's token for its project": (lambda: _token(SECRET), True),
    "member's token for another project": (lambda: _token(OTHER), False),
}


@pytest.fixture(params=list(REQUESTERS))
def requester(request, catalog):
    make_auth, sees = REQUESTERS[request.param]
    return make_auth(), sees


def _decoded(auth: dict[str, str]) -> bytes:
    return base64.b64decode(auth["HTTP_AUTHORIZATION"].split()[1]) if auth else b""


def rpc(client, auth, method, *params):
    body = xmlrpc.client.dumps(params, method, allow_none=True).encode()
    response = client.post("/pypi", data=body, content_type="text/xml", **auth)
    assert response.status_code == 200, response.content
    (result,), _ = xmlrpc.client.loads(response.content, use_builtin_types=True)
    return result


def file_path(filename: str, suffix: str = "") -> str:
    file = File.objects.get(filename=filename)
    return f"/packages/{file.sha256[:2]}/{file.sha256[2:4]}/{file.sha256[4:]}/{filename}{suffix}"


def read(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# -- the simple index -------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, JSON_V1], ids=["html", "json"])
def test_the_root_index_lists_the_private_project_only_to_those_who_see_it(client, requester, accept):
    auth, sees = requester
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/simple/", **headers, **auth)
    assert response.status_code == 200
    if accept == JSON_V1:
        listed = {project["name"] for project in json.loads(response.content)["projects"]}
    else:
        listed = {name for name in (PUBLIC, SECRET, OTHER) if f'href="{name}/"'.encode() in response.content}
    assert listed == ({PUBLIC, OTHER, SECRET} if sees else {PUBLIC, OTHER})
    if sees:
        assert response["Cache-Control"] == "max-age=600, private"
    if _decoded(auth).split(b":")[0] in (b"", b"outsider"):
        assert response["Cache-Control"] == "max-age=600, public"
    assert "Authorization" in response["Vary"]


@pytest.mark.parametrize("accept", [None, JSON_V1], ids=["html", "json"])
def test_the_project_page_is_404_to_those_who_do_not_see_it(client, requester, accept):
    auth, sees = requester
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get(f"/simple/{SECRET}/", **headers, **auth)
    if sees:
        assert response.status_code == 200
        assert b"pn_secret-1.0.tar.gz" in response.content
        assert response["Cache-Control"] == "max-age=600, private"
    else:
        assert_same_as_a_missing_project(response, client.get("/simple/pn-nothing/", **headers, **auth))


def assert_same_as_a_missing_project(response, missing) -> None:
    assert (response.status_code, missing.status_code) == (404, 404)
    assert response.content.replace(SECRET.encode(), b"pn-nothing") == missing.content
    assert "Cache-Control" not in response


# -- the JSON API -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/pypi/{}/json", "/pypi/{}/1.0/json"], ids=["project", "release"])
def test_the_json_api_is_404_to_those_who_do_not_see_it(client, requester, path):
    auth, sees = requester
    response = client.get(path.format(SECRET), **auth)
    if sees:
        assert response.status_code == 200
        assert json.loads(response.content)["info"]["name"] == SECRET
        assert response["Cache-Control"] == "max-age=900, private"
    else:
        assert_same_as_a_missing_project(response, client.get(path.format("pn-nothing"), **auth))


# -- files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "suffix"),
    [
        ("pn_secret-1.0-py3-none-any.whl", ""),
        ("pn_secret-1.0-py3-none-any.whl", ".metadata"),
        ("pn_secret-1.0.tar.gz", ""),
    ],
    ids=["wheel", "metadata", "sdist"],
)
def test_files_are_404_to_those_who_do_not_see_them(client, requester, filename, suffix):
    auth, sees = requester
    response = client.get(file_path(filename, suffix), **auth)
    if sees:
        assert response.status_code == 200
        assert read(response)
        assert response["Cache-Control"] == "max-age=31536000, private, immutable"
    else:
        assert response.status_code == 404
        assert response.content == f"404 No file {filename}{suffix} here\n".encode()


# -- XML-RPC ----------------------------------------------------------------------


def test_list_packages_hides_it(client, requester):
    auth, sees = requester
    expected = [OTHER, PUBLIC, SECRET] if sees else [OTHER, PUBLIC]
    assert rpc(client, auth, "list_packages") == expected
    assert sorted(rpc(client, auth, "list_packages_with_serial")) == expected


def test_release_methods_answer_as_for_a_missing_project(client, requester):
    auth, sees = requester
    assert rpc(client, auth, "package_releases", SECRET, True) == (["1.0"] if sees else [])
    data = rpc(client, auth, "release_data", SECRET, "1.0")
    assert (data.get("name") == SECRET) if sees else data == {}
    urls = rpc(client, auth, "release_urls", SECRET, "1.0")
    assert len(urls) == (2 if sees else 0)


def test_roles_hide_it(client, requester):
    auth, sees = requester
    assert rpc(client, auth, "package_roles", SECRET) == ([["Owner", "member"]] if sees else [])
    owned = [["Owner", OTHER], ["Owner", SECRET]] if sees else [["Owner", OTHER]]
    assert rpc(client, auth, "user_packages", "member") == owned


def test_the_changelog_hides_it(client, requester):
    auth, sees = requester
    names = {row[0] for row in rpc(client, auth, "changelog_since_serial", 0)}
    assert names == ({PUBLIC, OTHER, SECRET} if sees else {PUBLIC, OTHER})
    names = {row[0] for row in rpc(client, auth, "changelog", 0, True)}
    assert names == ({PUBLIC, OTHER, SECRET} if sees else {PUBLIC, OTHER})


@pytest.mark.parametrize("who", ["anonymous", "another user", "member", "member's token"])
def test_the_changelog_hides_a_deleted_private_projects_history(client, catalog, store, who):
    make_auth, sees = REQUESTERS[who]
    auth = make_auth()
    services.remove_project(catalog, store=store, source="test")
    rows = rpc(client, auth, "changelog_since_serial", 0)
    assert {row[0] for row in rows} == ({PUBLIC, OTHER, SECRET} if sees else {PUBLIC, OTHER})
    if sees:
        assert rows[-1][0] == SECRET and rows[-1][3] == "remove project"


def test_search_hides_it(client, requester):
    auth, sees = requester
    found = {hit["name"] for hit in rpc(client, auth, "search", {"summary": "summary"}, "or")}
    assert found == ({PUBLIC, OTHER, SECRET} if sees else {PUBLIC, OTHER})
    assert rpc(client, auth, "search", {"name": SECRET, "version": "1.0"}) == (
        [{"_pypi_ordering": False, "name": SECRET, "summary": f"{SECRET} summary", "version": "1.0"}] if sees else []
    )


# -- around the matrix --------------------------------------------------------------


def test_a_cached_members_root_never_reaches_anyone_else(client, catalog):
    as_member = basic_auth("member", PASSWORD)
    member_page = client.get("/simple/", **as_member)
    assert SECRET.encode() in member_page.content
    anonymous = client.get("/simple/")
    assert SECRET.encode() not in anonymous.content
    assert anonymous["ETag"] != member_page["ETag"]
    assert anonymous["Cache-Control"] == "max-age=600, public"
    # The member's ETag gets nobody else a 304.
    assert client.get("/simple/", HTTP_IF_NONE_MATCH=member_page["ETag"]).status_code == 200
    assert client.get("/simple/", HTTP_IF_NONE_MATCH=member_page["ETag"], **as_member).status_code == 304


def test_making_it_public_again_shows_it_at_once(client, catalog):
    assert SECRET.encode() not in client.get("/simple/").content
    entry = set_project_private(catalog, None, source="test")
    assert entry.data == {"group": ""}
    assert SECRET.encode() in client.get("/simple/").content
    assert client.get(f"/simple/{SECRET}/").status_code == 200


def test_changes_made_while_it_was_private_stay_hidden_once_it_is_public(client, catalog, store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, SECRET, "2.0"), store=store)
    set_project_private(catalog, None, source="test")
    add_distribution_path(build_wheel(tmp_path, SECRET, "3.0"), store=store)
    rows = [row for row in rpc(client, {}, "changelog_since_serial", 0) if row[0] == SECRET]
    # What was uploaded while it was public (1.0), the change that made it public, and what came after.
    assert [(row[1], row[3]) for row in rows] == [
        ("1.0", "add py3 file pn_secret-1.0-py3-none-any.whl"),
        ("1.0", "add source file pn_secret-1.0.tar.gz"),
        (None, "make public"),
        ("3.0", "add py3 file pn_secret-3.0-py3-none-any.whl"),
    ]
    # A member of the group also sees the change that made it private, and 2.0.
    member = basic_auth("member", PASSWORD)
    assert len([row for row in rpc(client, member, "changelog_since_serial", 0) if row[0] == SECRET]) == 6


def test_making_it_private_is_one_journaled_change(catalog):
    entry = JournalEntry.objects.filter(project_name=SECRET).last()
    assert (entry.action, entry.data, entry.source) == (Action.SET_PRIVATE, {"group": "team"}, "test")
    catalog.refresh_from_db()
    assert catalog.last_serial == entry.serial == current_serial()
    # The same group again changes nothing, and journals nothing.
    assert set_project_private(catalog, Group.objects.get(name="team"), source="test") is None
    assert current_serial() == entry.serial


def test_a_session_of_the_web_ui_sees_it(client, catalog):
    client.force_login(accounts.find_user("member"))
    assert client.get(f"/simple/{SECRET}/").status_code == 200
    assert SECRET.encode() in client.get("/simple/").content


@pytest.mark.parametrize(
    "path", ["/simple/", f"/simple/{SECRET}/", f"/pypi/{SECRET}/json", "/pypi"], ids=["root", "page", "json", "xmlrpc"]
)
def test_refused_credentials_on_a_read_are_401_with_a_challenge(client, catalog, path):
    auth = basic_auth("member", "wrong password")
    if path == "/pypi":
        body = xmlrpc.client.dumps((), "list_packages").encode()
        response = client.post(path, data=body, content_type="text/xml", **auth)
    else:
        response = client.get(path, **auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="pythonnest"'
    assert response.reason_phrase == "Invalid or non-existent authentication information"


def test_credentials_on_a_public_page_are_not_even_checked(client, catalog):
    # A public page reads no account: the wrong password costs nothing and is not counted.
    response = client.get(f"/simple/{PUBLIC}/", **basic_auth("member", "wrong password"))
    assert response.status_code == 200


@pytest.mark.parametrize("who", ["member", "member's token"])
def test_a_members_root_index_costs_the_same_queries_for_more_private_projects(client, catalog, store, tmp_path, who):
    auth = REQUESTERS[who][0]()
    team = Group.objects.get(name="team")

    def cost() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/simple/", **auth).status_code == 200
        return len(captured)

    cost()  # the first use of a token records it: a write the later requests skip
    small = cost()
    for index in range(6):
        add_distribution_path(build_wheel(tmp_path, f"pn-more-{index}", "1.0"), store=store)
        set_project_private(Project.objects.get(normalized_name=f"pn-more-{index}"), team, source="test")
    assert cost() == small
