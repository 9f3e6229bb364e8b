"""The browsing pages of the web UI: home, project, release, classifiers and recent releases."""

from __future__ import annotations

import dataclasses
import re

import pytest
import readme_renderer.markdown
import readme_renderer.rst
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from packaging.utils import canonicalize_name

from pythonnest.core import access, tokens
from pythonnest.core.models import Project, Release
from pythonnest.core.projects import set_project_private
from pythonnest.core.services import add_distribution_path, remove_release, yank_release
from pythonnest.web import readme
from tests.support.builders import build_sdist, build_wheel
from tests.support.uploads import basic_auth

pytestmark = pytest.mark.django_db

SECRET = "pn-secret"
MARKDOWN = """# Demo title

Some *emphasis* and a [link](https://example.org/docs).

<script>alert("readme")</script>

<img src="x.png" onerror="alert('img')">

[bad](javascript:alert('link'))
"""


@pytest.fixture
def add(store, tmp_path):
    """Add a wheel (and optionally an sdist) of one release through the service layer."""

    def add_release(name: str, version: str, *, sdist: bool = False, **options):
        add_distribution_path(build_wheel(tmp_path / "dist", name, version, **options), store=store)
        if sdist:
            add_distribution_path(build_sdist(tmp_path / "dist", name, version), store=store)
        return Project.objects.get(normalized_name=canonicalize_name(name))

    return add_release


@pytest.fixture
def users(django_user_model):
    """member (in "team"), outsider, and owner/maintainer of the demo project."""
    team = Group.objects.create(name="team")
    member = django_user_model.objects.create_user("member", password="a-long-test-password")
    member.groups.add(team)
    return {
        "member": member,
        "outsider": django_user_model.objects.create_user("outsider", password="a-long-test-password"),
        "team": team,
    }


@pytest.fixture
def catalog(add, users):
    """pn-public (public, 1.0) and pn-secret (private to "team", 1.0 with a classifier)."""
    add("pn-public", "1.0", summary="The public one", extra_headers=["Classifier: Topic :: Utilities"])
    secret = add("pn-secret", "1.0", summary="The secret one", extra_headers=["Classifier: Topic :: Secret"])
    set_project_private(secret, users["team"], source="test")
    return secret


def _text(response) -> str:
    return response.content.decode()


def _without_csrf(body: str) -> str:
    # The footer's language form carries a CSRF token masked anew on every response.
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)


def _readme(body: str) -> str:
    match = re.search(r'<div class="readme">(.*?)</div>\s*</section>', body, re.DOTALL)
    assert match, "no readme block"
    return match.group(1)


# -- home ----------------------------------------------------------------------


def test_home_has_the_search_form_counts_and_the_index_url(client, add):
    add("alpha", "1.0", sdist=True)
    add("alpha", "1.1")
    add("beta", "0.1")
    response = client.get("/")
    body = _text(response)
    assert response.status_code == 200
    assert '<input id="q" type="search" name="q"' in body
    assert re.search(r'id="count-projects"><strong>2</strong>', body)
    assert re.search(r'id="count-releases"><strong>3</strong>', body)
    assert re.search(r'id="count-files"><strong>4</strong>', body)
    assert 'href="/recent/"' in body and 'href="/classifiers/"' in body
    assert "pip install --index-url http://testserver/simple/ PROJECT" in body
    assert "<title>" in body and "PythonNest</title>" in body


def test_home_counts_follow_the_catalog(client, add):
    add("alpha", "1.0")
    assert re.search(r'id="count-projects"><strong>1</strong>', _text(client.get("/")))
    add("beta", "1.0")
    # The cached counts are keyed by the catalog serial, so a change shows at once.
    assert re.search(r'id="count-projects"><strong>2</strong>', _text(client.get("/")))


# -- project and release pages ----------------------------------------------------


def test_project_page_renders_the_markdown_readme_sanitized(client, add):
    add("demo", "1.0", description=MARKDOWN)
    body = _text(client.get("/project/demo/"))
    html = _readme(body)
    assert re.search(r"<h1[^>]*>Demo title", html)
    assert "<em>emphasis</em>" in html
    assert '<a href="https://example.org/docs"' in html
    assert "<script" not in html
    assert "onerror" not in html
    assert not re.search(r"<a[^>]*javascript:", html)


def test_markdown_renders_without_comrak(monkeypatch):
    """readme_renderer renders Markdown only with its "md" extra; markdown-it-py stands in, cleaned alike."""
    monkeypatch.setattr(readme_renderer.markdown, "variants", {})
    html = readme.render_description(MARKDOWN, "text/markdown")
    assert "<em>emphasis</em>" in html
    assert "<script" not in html and "onerror" not in html
    assert not re.search(r"<a[^>]*javascript:", html)


@pytest.mark.parametrize(
    ("content_type", "text", "expected"),
    [
        ("text/x-rst", "Title\n=====\n\nSome **bold** text.\n", "<strong>bold</strong>"),
        ("", "Some *rst* text.\n", "<em>rst</em>"),
        ("text/x-rst; charset=UTF-8", "A ``literal``.\n", '<span class="docutils literal">literal</span>'),
        ("text/plain", "line one\n<b>line</b> two", "line one<br>&lt;b&gt;line&lt;/b&gt; two"),
        ("text/markdown; variant=CommonMark", "Some **strong** text", "<strong>strong</strong>"),
        ("application/unknown", "<i>kept as text</i>", "&lt;i&gt;kept as text&lt;/i&gt;"),
    ],
)
def test_descriptions_render_by_content_type(content_type, text, expected):
    assert expected in readme.render_description(text, content_type)


def test_rst_with_errors_falls_back_to_escaped_text():
    broken = "Title\n===\n\n.. unknown-directive::\n\n<script>x</script>\n"
    html = readme.render_description(broken, "text/x-rst")
    assert html.startswith('<pre class="readme-plain">')
    assert "&lt;script&gt;" in html and "<script" not in html


def test_a_renderer_crash_falls_back_to_escaped_text(monkeypatch):
    def explode(text, **options):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(readme_renderer.rst, "render", explode)
    assert readme.render_description("<b>x</b>", "text/x-rst") == '<pre class="readme-plain">&lt;b&gt;x&lt;/b&gt;</pre>'


@pytest.mark.parametrize("text", ["", "  \n", "UNKNOWN"])
def test_no_description_renders_nothing(text):
    assert readme.render_description(text, "text/x-rst") is None


def test_readme_is_cached_per_release_and_text(client, add, monkeypatch):
    add("demo", "1.0", description="*first*")
    assert "<em>first</em>" in _readme(_text(client.get("/project/demo/")))
    calls = []
    original = readme.render_description
    monkeypatch.setattr(readme, "render_description", lambda *args: calls.append(args) or original(*args))
    client.get("/project/demo/")
    assert calls == []
    # New text (a metadata update) is rendered anew, not served from the cache.
    Release.objects.filter(project__normalized_name="demo").update(
        description="Some **rst**", description_content_type="text/x-rst"
    )
    assert "<strong>rst</strong>" in _readme(_text(client.get("/project/demo/")))
    assert len(calls) == 1


BADGES = """# Demo

[![build status](https://ci.example.org/badge.svg)](https://ci.example.org/demo)
![a > b & c](//cdn.example.org/chart.png) ![](http://example.org/plain.png)

![local diagram](docs/diagram.png)
"""


def test_hide_remote_images_keeps_their_text_and_links():
    html = readme.render_description(BADGES, "text/markdown")
    assert html.count("<img") == 4
    hidden = readme.hide_remote_images(html)
    assert "example.org" not in re.sub(r'title="[^"]*"|href="[^"]*"', "", hidden)
    assert '<img src="docs/diagram.png"' in hidden and hidden.count("<img") == 1
    assert '<a href="https://ci.example.org/demo"' in hidden
    assert '<span class="readme-remote-image" title="https://ci.example.org/badge.svg">build status</span>' in hidden
    assert ">a &gt; b &amp; c</span>" in hidden and ">image</span>" in hidden


def test_readme_remote_images_hide_on_the_project_page(client, add, settings):
    add("demo", "1.0", description=BADGES)
    shown = _readme(_text(client.get("/project/demo/")))
    assert '<img src="https://ci.example.org/badge.svg"' in shown
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, hide_remote_images=True)
    hidden = _readme(_text(client.get("/project/demo/")))
    assert "<img" in hidden and not re.search(r'<img[^>]*src="(https?:)?//', hidden)
    assert "build status</span>" in hidden


def test_project_page_shows_metadata_files_and_install_line(client, add, users):
    headers = [
        "Author: Ada Lovelace",
        "Author-email: ada@example.org",
        "Maintainer: Charles",
        "License: MIT",
        "License-Expression: MIT",
        "Keywords: demo,testing",
        "Home-page: https://home.example.org/",
        "Project-URL: Source, https://git.example.org/demo",
        "Project-URL: Sneaky, javascript:alert(1)",
        "Classifier: Framework :: Django",
        "Classifier: Programming Language :: Python :: 3",
    ]
    project = add(
        "Demo_Pkg",
        "1.0",
        sdist=True,
        summary="A demo package",
        requires_python=">=3.9",
        requires_dist=["requests>=2.0", 'rich; extra == "color"'],
        extra_headers=headers,
    )
    access.set_role(project, users["outsider"], "Owner")
    access.set_role(project, users["member"], "Maintainer")
    response = client.get("/project/demo-pkg/")
    body = _text(response)
    assert response.status_code == 200
    assert "<title>Demo_Pkg · A demo package · PythonNest</title>" in body
    assert (
        '<input id="pip-command" type="text" readonly value="pip install --index-url http://testserver/simple/ Demo_Pkg"'
        in body
    )
    assert "<code>pip install Demo_Pkg</code>" in body
    assert 'class="requires-python mono">&gt;=3.9<' in body
    assert '<a href="/project/requests/">requests&gt;=2.0</a>' in body
    assert '<a href="/project/rich/">rich; extra == &quot;color&quot;</a>' in body
    assert '<a href="/search/?c=Framework%20%3A%3A%20Django">Framework :: Django</a>' in body
    assert '<a href="https://home.example.org/" rel="nofollow noopener">Homepage</a>' in body
    assert '<a href="https://git.example.org/demo" rel="nofollow noopener">Source</a>' in body
    assert 'href="javascript:' not in body
    for text in ("Ada Lovelace", "ada@example.org", "Charles", "MIT", "demo,testing"):
        assert text in body
    assert re.search(r'class="owners"><li>outsider</li>', body)
    assert re.search(r'class="maintainers"><li>member</li>', body)
    for file in project.files.all():
        # Not the blob's path from the site's root (only its first two hex digits
        # would also match other links: "/ac" is the start of "/account/").
        assert f'href="/{file.sha256[:2]}/{file.sha256[2:4]}/' not in body
        link = f'<a class="file-link" href="/packages/{file.sha256[:2]}/{file.sha256[2:4]}/{file.sha256[4:]}/{file.filename}">'
        assert link in body
        assert f'<td class="mono sha256">{file.sha256}</td>' in body
        download = client.get(f"/packages/{file.sha256[:2]}/{file.sha256[2:4]}/{file.sha256[4:]}/{file.filename}")
        assert download.status_code == 200
    assert "<td>Wheel</td>" in body and "<td>Source</td>" in body
    assert "private" not in re.sub(r"<footer.*", "", body.split("<main", 1)[1], flags=re.DOTALL)


def test_history_is_newest_first_and_latest_is_the_newest_final_not_yanked(client, add):
    project = add("demo", "1.2")
    for version in ("1.10", "1.9", "2.0rc1", "3.0"):
        add("demo", version)
    yank_release(project, "3.0", "broken build", source="test")
    body = _text(client.get("/project/demo/"))
    history = re.findall(r'<a href="/project/demo/([^/]+)/">', body)
    assert history == ["3.0", "2.0rc1", "1.10", "1.9", "1.2"]
    assert '<h1>demo <span class="version">1.10</span>' in body
    assert re.search(r'3\.0</a>\s*<time[^>]*>[^<]*</time>\s*<span class="badge yanked">yanked</span>', body)
    assert '<span class="yanked-reason">broken build</span>' in body


def test_release_page_shows_that_version_and_says_it_is_not_the_latest(client, add):
    add("demo", "1.0", summary="old summary", description="*old readme*")
    add("demo", "2.0", summary="new summary", description="*new readme*")
    response = client.get("/project/demo/1.0/")
    body = _text(response)
    assert response.status_code == 200
    assert "<title>demo 1.0 · PythonNest</title>" in body
    assert "old summary" in body and "<em>old readme</em>" in _readme(body)
    assert "new readme" not in body
    assert re.search(r'This is not the latest release: see <a href="/project/demo/">version 2\.0</a>', body)
    assert 'value="pip install --index-url http://testserver/simple/ demo==1.0"' in body
    assert "demo-1.0-py3-none-any.whl" in body and "demo-2.0-py3-none-any.whl" not in body
    latest = _text(client.get("/project/demo/2.0/"))
    assert "not the latest release" not in latest


def test_yanked_release_page_has_a_banner_with_the_reason(client, add):
    project = add("demo", "1.0")
    add("demo", "1.1")
    yank_release(project, "1.1", "it <b>deletes</b> files", source="test")
    body = _text(client.get("/project/demo/1.1/"))
    assert '<div class="banner yanked" role="status">' in body
    assert "This release has been yanked." in body
    assert '<span class="yanked-reason">it &lt;b&gt;deletes&lt;/b&gt; files</span>' in body
    # The project page shows 1.0, the latest release that is not yanked.
    assert '<span class="version">1.0</span>' in _text(client.get("/project/demo/"))


def test_release_is_found_by_its_canonical_version(client, add):
    add("demo", "1.0")
    response = client.get("/project/demo/1.0.0/")
    assert response.status_code == 200
    assert '<span class="version">1.0</span>' in _text(response)


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/project/Demo_Pkg/", "/project/demo-pkg/"),
        ("/project/DEMO.pkg/", "/project/demo-pkg/"),
        ("/project/Demo_Pkg/1.0/", "/project/demo-pkg/1.0/"),
    ],
)
def test_a_name_not_normalized_is_redirected_permanently(client, add, url, location):
    add("Demo_Pkg", "1.0")
    response = client.get(url)
    assert response.status_code == 301
    assert response["Location"] == location


@pytest.mark.parametrize(
    "url",
    [
        "/project/nothing-here/",
        "/project/demo/9.9/",
        "/project/demo/not..a..version/",
        "/project/demo/%00/",
        "/project/-invalid-/",
        "/project/a%20b/",
        "/project/nothing-here/1.0/",
    ],
)
def test_unknown_projects_and_versions_are_404(client, add, url):
    add("demo", "1.0")
    response = client.get(url)
    assert response.status_code == 404
    assert "<title>Not found · PythonNest</title>" in _text(response)


def test_a_project_without_releases_still_has_a_page(client, add, store):
    project = add("demo", "1.0")
    remove_release(project, "1.0", store=store, source="test")
    response = client.get("/project/demo/")
    assert response.status_code == 200
    assert "This project has no release yet." in _text(response)
    assert client.get("/project/demo/1.0/").status_code == 404


def test_manage_link_only_for_an_owner(client, add, users):
    project = add("demo", "1.0")
    access.set_role(project, users["member"], "Owner")
    access.set_role(project, users["outsider"], "Maintainer")
    link = '<a class="manage-link" href="/manage/project/demo/">'
    assert link not in _text(client.get("/project/demo/"))
    client.force_login(users["outsider"])
    assert link not in _text(client.get("/project/demo/"))
    client.force_login(users["member"])
    assert link in _text(client.get("/project/demo/"))
    assert link in _text(client.get("/project/demo/1.0/"))


def test_pages_are_not_cached_publicly(client, add):
    add("demo", "1.0")
    for url in ("/", "/project/demo/", "/project/demo/1.0/", "/search/?q=demo", "/classifiers/", "/recent/"):
        response = client.get(url)
        assert "private" in response["Cache-Control"], url
        assert "Cookie" in response["Vary"], url


def test_post_is_refused(client, add):
    add("demo", "1.0")
    assert client.post("/project/demo/").status_code == 405


# -- query counts ----------------------------------------------------------------


def _queries(client, url: str) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_project_page_queries_do_not_grow_with_releases_and_files(client, add, users):
    project = add("demo", "1.0", sdist=True, description="*readme*")
    add("demo", "1.1", sdist=True)
    access.set_role(project, users["member"], "Owner")
    client.force_login(users["member"])
    few = {url: _queries(client, url) for url in ("/project/demo/", "/project/demo/1.0/")}
    for minor in range(2, 10):
        add("demo", f"1.{minor}", sdist=True)
        add("demo", f"1.{minor}", tag="py2-none-any")
    many = {url: _queries(client, url) for url in ("/project/demo/", "/project/demo/1.0/")}
    assert Release.objects.filter(project=project).count() == 10
    assert many == few


# -- visibility --------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees"), [("anonymous", False), ("outsider", False), ("member", True)])
def test_a_private_project_is_seen_only_by_its_group(client, catalog, users, who, sees):
    if who != "anonymous":
        client.force_login(users[who])
    project = client.get(f"/project/{SECRET}/")
    release = client.get(f"/project/{SECRET}/1.0/")
    assert project.status_code == release.status_code == (200 if sees else 404)
    if sees:
        assert '<span class="badge private"' in _text(project)
        assert 'title="Visible only to the members of team"' in _text(project)
    else:
        # The very page a missing project gets: nothing tells the project exists.
        missing = _text(client.get("/project/pn-nothing/")).replace("pn-nothing", SECRET)
        assert _without_csrf(_text(project)) == _without_csrf(missing)
        missing_release = _text(client.get("/project/pn-nothing/1.0/")).replace("pn-nothing", SECRET)
        assert _without_csrf(_text(release)) == _without_csrf(missing_release)
    assert (SECRET in _text(client.get("/search/?q=pn"))) is sees
    assert ("Topic :: Secret" in _text(client.get("/classifiers/"))) is sees
    assert (SECRET in _text(client.get("/recent/"))) is sees
    expected_projects = 2 if sees else 1
    assert re.search(rf'id="count-projects"><strong>{expected_projects}</strong>', _text(client.get("/")))
    assert re.search(rf'id="count-files"><strong>{expected_projects}</strong>', _text(client.get("/")))


# -- classifiers and recent ----------------------------------------------------------


def test_classifiers_are_grouped_with_project_counts(client, add):
    add("one", "1.0", extra_headers=["Classifier: Framework :: Django", "Classifier: Topic :: Utilities"])
    add("one", "2.0", extra_headers=["Classifier: Framework :: Django"])
    add("two", "1.0", extra_headers=["Classifier: Framework :: Django :: 5.2", "Classifier: Framework :: Django"])
    add("three", "1.0")
    response = client.get("/classifiers/")
    body = _text(response)
    assert response.status_code == 200
    assert "<title>Browse projects by classifier · PythonNest</title>" in body
    headings = re.findall(r'<h2 id="category-\d+">([^<]+)</h2>', body)
    assert headings == ["Framework", "Topic"]
    link = '<a href="/search/?c=Framework%20%3A%3A%20Django">Framework :: Django</a>'
    assert re.search(re.escape(link) + r'\s*<span class="muted count">\(2 projects\)</span>', body)
    assert re.search(r"Framework :: Django :: 5\.2</a>\s*<span class=\"muted count\">\(1 project\)</span>", body)
    assert re.search(r"Topic :: Utilities</a>\s*<span class=\"muted count\">\(1 project\)</span>", body)


def test_classifiers_follow_the_catalog(client, add):
    add("one", "1.0", extra_headers=["Classifier: Topic :: Utilities"])
    assert "Topic :: Games" not in _text(client.get("/classifiers/"))
    add("two", "1.0", extra_headers=["Classifier: Topic :: Games"])
    assert "Topic :: Games" in _text(client.get("/classifiers/"))


def test_recent_lists_the_newest_releases_first(client, add):
    for number in range(52):
        add(f"pkg{number % 3}", f"1.{number}", summary=f"summary {number}")
    body = _text(client.get("/recent/"))
    shown = re.findall(r'<a class="result-name" href="/project/(pkg\d)/(1\.\d+)/">', body)
    assert len(shown) == 50
    assert shown[0] == ("pkg0", "1.51")
    assert shown[-1] == ("pkg2", "1.2")
    assert "summary 51" in body and "summary 1<" not in body
    assert "<title>Recent releases · PythonNest</title>" in body


def test_the_ui_reads_no_api_credentials(client, catalog, users):
    """Basic credentials, a member's password or tokens, are for the APIs: the UI knows only the session."""
    public = Project.objects.get(normalized_name="pn-public")
    for auth in (
        basic_auth("member", "a-long-test-password"),
        basic_auth("__token__", tokens.create_token(users["member"]).secret),
        basic_auth("__token__", tokens.create_token(users["member"], project=public).secret),
    ):
        assert client.get(f"/project/{SECRET}/", **auth).status_code == 404
        assert SECRET not in _text(client.get("/search/?q=pn", **auth))
        assert client.get(f"/manage/project/{SECRET}/", **auth).status_code == 302
    # The member's password does open the API.
    assert client.get(f"/pypi/{SECRET}/json", **basic_auth("member", "a-long-test-password")).status_code == 200


def test_an_unknown_address_gets_the_sites_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = _text(response)
    assert "<title>Not found · PythonNest</title>" in body
    assert "There is nothing at this address." in body and "Resolver404" not in body
    french = client.get("/no/such/page/", headers={"accept-language": "fr"})
    assert "Il n’y a rien à cette adresse." in _text(french)
