"""The web UI in a real browser: Debian's chromium, driven by Playwright, against a live PythonNest.

One server and one browser serve the whole module; every test opens a fresh
browser context, so no test sees another's cookies. Accounts are made with
``pythonnest-manage`` and the project is uploaded with twine, as in
test_twine.py: only what a person does in the browser is done in the browser.
"""

from __future__ import annotations

import json
import re
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.clients import twine_upload
from tests.support.browser import ACTION_TIMEOUT_MS, expect, launched_chromium, require_browser
from tests.support.builders import build_wheel
from tests.support.server import PythonNestServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "Correct-Horse-42", "bob": "Battery-Staple-17"}
PROJECT, OTHER = "pn-browser-demo", "pn-browser-other"
README_TITLE = "Browser demo"
# A heading, a list, a raw <script> that the sanitizer must drop, and a long
# line of code that must scroll inside its box rather than widen a phone's page.
README = f"""# {README_TITLE}

A project for the **browser** tests.

- first item
- second item

<script>window.readmeScriptRan = true;</script>

```
pip install --index-url http://packages.example.invalid/simple/ {PROJECT} --extra-index-url http://mirror.example.invalid/
```
"""
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    """Checked before the server starts: skipped (or failed under CI) without Debian's chromium."""
    require_browser()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def context(browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture(scope="module")
def pypirc(tmp_path_factory) -> Path:
    """An empty stand-in for ~/.pypirc."""
    path = tmp_path_factory.mktemp("twine") / "pypirc"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def server(server_factory, tmp_path_factory, pypirc) -> PythonNestServer:
    """alice and bob; alice uploaded pn-browser-demo 1.0 with twine, so she owns it."""
    server = server_factory("browser")
    for username, password in PASSWORDS.items():
        server.manage("user", "create", username, "--password-stdin", input=password + "\n")
    wheel = build_wheel(
        tmp_path_factory.mktemp("dists"), PROJECT, "1.0", summary="A project for the browser tests", description=README
    )
    upload(server, "alice", PASSWORDS["alice"], wheel, pypirc=pypirc)
    return server


def upload(server: PythonNestServer, username: str, password: str, *files: Path, pypirc: Path, check: bool = True):
    return twine_upload(server.url + "/legacy/", username, password, *files, config_file=pypirc, check=check)


def versions_of(server: PythonNestServer, project: str) -> set[str]:
    answer = server.get(f"/pypi/{project}/json")
    assert answer.status == 200, answer.body[:500]
    return set(json.loads(answer.body)["releases"])


def submit(page: Page, form: Locator) -> None:
    """Click the form's submit button and wait until the page it leads to has loaded.

    Waiting for a URL would not do: a form that redirects back to its own
    page is already there, and the old page would be read.
    """
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def log_in(page: Page, server: PythonNestServer, username: str, next_path: str) -> None:
    """Sign in through the login form, landing on ``next_path``."""
    page.goto(f"{server.url}/account/login/?next={next_path}")
    form = page.locator("#login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORDS[username])
    submit(page, form)
    assert page.url == server.url + next_path
    expect(page.locator("#account-link")).to_have_text(username)


def role_rows(page: Page) -> list[tuple[str, str]]:
    """(username, role) of each row of table#roles; the username is the cell's first text, before any badge."""
    rows = page.locator("table#roles tbody tr").evaluate_all(
        "rows => rows.map(row => [row.cells[0].firstChild.textContent.trim(), row.cells[1].textContent.trim()])"
    )
    return [tuple(row) for row in rows]


def page_widths(page: Page) -> dict[str, int]:
    """How wide the page's content is, and how wide its window is, in CSS pixels."""
    return page.evaluate("() => ({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})")


def test_logging_in_through_the_form_shows_the_username_and_a_wrong_password_an_error(server, page):
    page.goto(server.url + "/")
    page.locator("#login-link").click()
    page.wait_for_url(re.compile(r"/account/login/"))
    form = page.locator("#login-form")

    form.locator("input[name=username]").fill("alice")
    form.locator("input[name=password]").fill("not-her-password")
    submit(page, form)

    expect(form.get_by_text("Invalid username or password.")).to_be_visible()
    expect(page.locator("#account-link")).to_have_count(0)
    expect(page.locator("#login-link")).to_be_visible()

    form.locator("input[name=username]").fill("alice")
    form.locator("input[name=password]").fill(PASSWORDS["alice"])
    submit(page, form)

    # The login link carried ?next=/, so the form goes back to the home page.
    assert page.url == server.url + "/"
    expect(page.locator("#account-link")).to_have_text("alice")
    expect(page.locator("#login-link")).to_have_count(0)

    submit(page, page.locator("form", has=page.locator("#logout")))
    expect(page.locator("#login-link")).to_be_visible()
    expect(page.locator("#account-link")).to_have_count(0)


def test_searching_from_the_home_page_opens_the_project_and_its_rendered_readme(server, page):
    page.goto(server.url + "/")
    page.locator("#q").fill(PROJECT)
    page.locator("#q").press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q="))

    result = page.locator("ul.results li a.result-name", has_text=PROJECT)
    expect(result).to_have_count(1)
    result.click()
    page.wait_for_url(f"{server.url}/project/{PROJECT}/")

    readme = page.locator("div.readme")
    expect(readme.locator("h1, h2")).to_have_text([README_TITLE])
    assert readme.locator("li").all_inner_texts() == ["first item", "second item"]
    assert readme.locator("strong").inner_text() == "browser"
    assert readme.locator("script").count() == 0
    assert page.evaluate("() => window.readmeScriptRan") is None
    pip_command = page.locator("#pip-command").input_value()
    assert pip_command == f"pip install --index-url {server.url}/simple/ {PROJECT}"


def test_a_token_made_on_the_token_page_uploads_with_twine_to_its_project_only(server, page, pypirc, tmp_path):
    log_in(page, server, "alice", "/manage/account/token/")
    form = page.locator("#token-form")
    form.locator("input[name=description]").fill("made in the browser")
    form.locator("select[name=project]").select_option(PROJECT)
    submit(page, form)

    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("pynest-"), secret
    assert "2.0" not in versions_of(server, PROJECT)

    upload(server, "__token__", secret, build_wheel(tmp_path, PROJECT, "2.0", description=README), pypirc=pypirc)

    assert versions_of(server, PROJECT) >= {"1.0", "2.0"}
    # The select set the scope: the same secret cannot upload anything else.
    refused = upload(server, "__token__", secret, build_wheel(tmp_path, OTHER, "1.0"), pypirc=pypirc, check=False)
    assert refused.returncode == 1
    assert f"scoped to project '{PROJECT}'" in " ".join(refused.stdout.split())
    assert server.get(f"/pypi/{OTHER}/json").status == 404


def test_an_owner_adds_a_maintainer_on_the_manage_page(server, page):
    log_in(page, server, "alice", f"/manage/project/{PROJECT}/")
    form = page.locator("#add-role-form")
    form.locator("input[name=username]").fill("bob")
    form.locator("select[name=role]").select_option("Maintainer")
    submit(page, form)

    assert page.url == f"{server.url}/manage/project/{PROJECT}/"
    assert role_rows(page) == [("alice", "Owner"), ("bob", "Maintainer")]
    pypi = xmlrpc.client.ServerProxy(server.url + "/pypi")
    assert pypi.package_roles(PROJECT) == [["Owner", "alice"], ["Maintainer", "bob"]]
    # The public page lists the new maintainer too.
    page.goto(f"{server.url}/project/{PROJECT}/")
    expect(page.locator("ul.maintainers li")).to_have_text(["bob"])
    expect(page.locator("ul.owners li")).to_have_text(["alice"])


@pytest.mark.parametrize("path", ["/", f"/project/{PROJECT}/", f"/search/?q={PROJECT}"])
def test_a_phone_sized_screen_does_not_scroll_sideways(server, browser, path):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        # The site's stylesheet is what makes it fit: a page without it would be judged on nothing.
        assert page.evaluate("() => [...document.styleSheets].some(sheet => sheet.cssRules.length > 0)")
        widths = page_widths(page)
        assert widths["scrollWidth"] <= widths["innerWidth"], f"{path} is wider than a phone's screen: {widths}"
        # A phone zooms out to fit a page wider than itself, and innerWidth
        # grows with it: only a page that fits keeps the screen's width.
        assert widths["innerWidth"] == PHONE["width"], f"{path} made the phone zoom out: {widths}"
    finally:
        context.close()
