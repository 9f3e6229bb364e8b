"""pip and uv install from a live PythonNest, as developers use it.

One server serves the whole module; each test reads only the part of the
access log written while its client ran.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.e2e.clients import ClientVenv
from tests.e2e.pep517 import build_backend_wheel, build_sdist_with_backend
from tests.support.builders import DATA, build_wheel
from tests.support.server import PythonNestServer, Request

pytestmark = pytest.mark.e2e

DATEUTIL_WHEEL = "python_dateutil-2.9.0.post0-py2.py3-none-any.whl"
DATEUTIL_SDIST = "python-dateutil-2.9.0.post0.tar.gz"
SIX_WHEEL = "six-1.17.0-py2.py3-none-any.whl"

APP, LIBRARY = "pn-e2e-app", "pn-e2e-lib"
APP_WHEELS = {version: f"pn_e2e_app-{version}-py3-none-any.whl" for version in ("1.0", "2.0", "3.0")}
LIBRARY_WHEEL = "pn_e2e_lib-1.0-py3-none-any.whl"
SDIST_ONLY, BACKEND = "pn-e2e-sdist-only", "pn-e2e-backend"
SDIST_ONLY_FILE = "pn_e2e_sdist_only-1.0.tar.gz"
BACKEND_WHEEL = "pn_e2e_backend-1.0-py3-none-any.whl"


def downloads(requests: list[Request]) -> list[str]:
    """The files served (GET /packages/... answered 200), in order."""
    return [r.filename for r in requests if r.method == "GET" and r.path.startswith("/packages/") and r.status == 200]


def pages(requests: list[Request]) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in requests if r.path.startswith("/simple/")]


def report_installs(path: Path) -> dict[str, dict]:
    """pip's --report: what it would install, by name."""
    report = json.loads(path.read_text(encoding="utf-8"))
    return {item["metadata"]["name"].lower(): item for item in report["install"]}


def assert_imported_from(venv: ClientVenv, expected: dict[str, str]) -> None:
    """Each module imports in ``venv``, from ``venv``, at the version expected."""
    imported = venv.import_report(*expected)
    for module, version in expected.items():
        assert Path(imported[module]["file"]).resolve().is_relative_to(venv.path.resolve()), imported[module]
        assert imported[module]["version"] == version, imported


@pytest.fixture(scope="module")
def server(live_server_with_data) -> PythonNestServer:
    return live_server_with_data


@pytest.fixture(scope="module")
def built_projects(server, tmp_path_factory) -> dict[str, Path]:
    """Projects built here and added while the server runs.

    pn-e2e-app 3.0 needs pn-e2e-lib>=2, which does not exist, so a resolver
    must fall back to app 2.0; app 1.0 is never needed. The sdist-only
    project builds with a backend that is itself on the index.
    """
    directory = tmp_path_factory.mktemp("built")
    importing_library = "from pn_e2e_lib import VERSION as LIBRARY_VERSION\nVERSION = {!r}\n"
    app_requirements = {"1.0": LIBRARY, "2.0": LIBRARY, "3.0": f"{LIBRARY}>=2"}
    paths = {
        APP_WHEELS[version]: build_wheel(
            directory, APP, version, requires_dist=[requirement], module_source=importing_library.format(version)
        )
        for version, requirement in app_requirements.items()
    }
    paths[LIBRARY_WHEEL] = build_wheel(directory, LIBRARY, "1.0")
    paths[BACKEND_WHEEL] = build_backend_wheel(directory, BACKEND)
    paths[SDIST_ONLY_FILE] = build_sdist_with_backend(directory, SDIST_ONLY, "1.0", BACKEND)
    assert {path.name for path in paths.values()} == set(paths)
    server.add(paths.values())
    assert set(paths) <= set(server.added)
    return paths


def test_pip_shipped_with_python_installs_python_dateutil_and_six(server, client_venv_with_pip, tmp_path):
    venv = client_venv_with_pip
    mark = server.log_mark()
    report = tmp_path / "report.json"
    venv.pip("install", "--no-cache-dir", "--index-url", server.simple_url, "--report", str(report), "python-dateutil")

    assert_imported_from(venv, {"dateutil": "2.9.0.post0", "six": "1.17.0"})
    installs = report_installs(report)
    assert set(installs) == {"python-dateutil", "six"}
    for item in installs.values():
        assert item["download_info"]["url"].startswith(server.url + "/packages/"), item["download_info"]
    seen = server.wait_for_requests(lambda seen: {DATEUTIL_WHEEL, SIX_WHEEL} <= set(downloads(seen)), since=mark)
    assert ("/simple/python-dateutil/", 200) in pages(seen)
    assert ("/simple/six/", 200) in pages(seen)


def test_pip_installs_python_dateutil_and_six_from_the_server(server, client_venv, tmp_path):
    mark = server.log_mark()
    report = tmp_path / "report.json"
    client_venv.pip(
        "install", "--no-cache-dir", "--index-url", server.simple_url, "--report", str(report), "python-dateutil"
    )

    assert_imported_from(client_venv, {"dateutil": "2.9.0.post0", "six": "1.17.0"})
    assert client_venv.installed() == {"python-dateutil": "2.9.0.post0", "six": "1.17.0"}
    for item in report_installs(report).values():
        assert item["download_info"]["url"].startswith(server.url + "/packages/"), item["download_info"]
    seen = server.wait_for_requests(lambda seen: {DATEUTIL_WHEEL, SIX_WHEEL} <= set(downloads(seen)), since=mark)
    # The files came from the content-addressed paths of the bytes in tests/data.
    for filename in (DATEUTIL_WHEEL, SIX_WHEEL):
        digest = hashlib.sha256((DATA / filename).read_bytes()).hexdigest()
        assert f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}" in [r.path for r in seen]


def test_uv_installs_python_dateutil_and_six_from_the_server(server, client_venv):
    mark = server.log_mark()
    client_venv.uv_pip("install", "--no-cache", "--index-url", server.simple_url, "python-dateutil")

    assert_imported_from(client_venv, {"dateutil": "2.9.0.post0", "six": "1.17.0"})
    assert client_venv.installed() == {"python-dateutil": "2.9.0.post0", "six": "1.17.0"}
    server.wait_for_requests(lambda seen: {DATEUTIL_WHEEL, SIX_WHEEL} <= set(downloads(seen)), since=mark)


def test_pip_resolves_from_pep_658_metadata_without_downloading_wheels(server, client_venv, tmp_path):
    mark = server.log_mark()
    report = tmp_path / "report.json"
    client_venv.pip(
        "install",
        "--dry-run",
        "--report",
        str(report),
        "--no-cache-dir",
        "--index-url",
        server.simple_url,
        "python-dateutil",
    )

    installs = report_installs(report)
    assert {name: item["metadata"]["version"] for name, item in installs.items()} == {
        "python-dateutil": "2.9.0.post0",
        "six": "1.17.0",
    }
    seen = server.settled_requests(since=mark)
    assert {DATEUTIL_WHEEL + ".metadata", SIX_WHEEL + ".metadata"} <= set(downloads(seen))
    assert not [name for name in downloads(seen) if name.endswith((".whl", ".tar.gz"))], seen
    assert client_venv.installed() == {}


def test_pip_backtracks_across_versions_reading_metadata_only(server, built_projects, client_venv, tmp_path):
    mark = server.log_mark()
    report = tmp_path / "report.json"
    client_venv.pip(
        "install", "--dry-run", "--report", str(report), "--no-cache-dir", "--index-url", server.simple_url, APP
    )

    installs = report_installs(report)
    assert {name: item["metadata"]["version"] for name, item in installs.items()} == {APP: "2.0", LIBRARY: "1.0"}
    fetched = downloads(server.settled_requests(since=mark))
    # 3.0 was read and refused, 2.0 chosen; 1.0 was never needed.
    read = {APP_WHEELS["3.0"] + ".metadata", APP_WHEELS["2.0"] + ".metadata", LIBRARY_WHEEL + ".metadata"}
    assert read <= set(fetched)
    assert APP_WHEELS["1.0"] + ".metadata" not in fetched
    assert not [name for name in fetched if name.endswith(".whl")], fetched


def test_pip_installs_a_built_project_and_its_built_dependency(server, built_projects, client_venv):
    mark = server.log_mark()
    client_venv.pip("install", "--no-cache-dir", "--index-url", server.simple_url, APP)

    assert client_venv.installed() == {APP: "2.0", LIBRARY: "1.0"}
    result = client_venv.run("import pn_e2e_app; print(pn_e2e_app.VERSION, pn_e2e_app.LIBRARY_VERSION)")
    assert result.stdout.split() == ["2.0", "1.0"]
    fetched = downloads(server.settled_requests(since=mark))
    wheels = sorted(name for name in fetched if name.endswith(".whl"))
    assert wheels == sorted([APP_WHEELS["2.0"], LIBRARY_WHEEL])


def test_uv_installs_a_built_project_and_its_built_dependency(server, built_projects, client_venv):
    mark = server.log_mark()
    client_venv.uv_pip("install", "--no-cache", "--index-url", server.simple_url, APP)

    assert client_venv.installed() == {APP: "2.0", LIBRARY: "1.0"}
    result = client_venv.run("import pn_e2e_app; print(pn_e2e_app.VERSION, pn_e2e_app.LIBRARY_VERSION)")
    assert result.stdout.split() == ["2.0", "1.0"]
    fetched = server.wait_for_requests(
        lambda seen: {APP_WHEELS["2.0"], LIBRARY_WHEEL} <= set(downloads(seen)), since=mark
    )
    assert APP_WHEELS["3.0"] not in downloads(fetched)


def test_pip_downloads_an_sdist_with_its_build_backend_from_the_server(server, built_projects, client_venv, tmp_path):
    mark = server.log_mark()
    destination = tmp_path / "downloaded"
    client_venv.pip(
        "download",
        "--no-cache-dir",
        "--no-binary",
        SDIST_ONLY,
        "--no-deps",
        "--dest",
        str(destination),
        "--index-url",
        server.simple_url,
        SDIST_ONLY,
    )

    assert [path.name for path in destination.iterdir()] == [SDIST_ONLY_FILE]
    assert (destination / SDIST_ONLY_FILE).read_bytes() == built_projects[SDIST_ONLY_FILE].read_bytes()
    # Preparing the sdist's metadata installed its build backend from here too.
    server.wait_for_requests(lambda seen: {SDIST_ONLY_FILE, BACKEND_WHEEL} <= set(downloads(seen)), since=mark)


def test_uv_builds_and_installs_an_sdist_only_project(server, built_projects, client_venv):
    mark = server.log_mark()
    client_venv.uv_pip("install", "--no-cache", "--index-url", server.simple_url, SDIST_ONLY)

    assert client_venv.installed() == {SDIST_ONLY: "1.0"}
    assert client_venv.run("import pn_e2e_sdist_only; print(pn_e2e_sdist_only.VERSION)").stdout.strip() == "1.0"
    server.wait_for_requests(lambda seen: {SDIST_ONLY_FILE, BACKEND_WHEEL} <= set(downloads(seen)), since=mark)


def test_python_dateutil_sdist_link_serves_the_stored_bytes(server):
    page_path = "/simple/python-dateutil/"
    page = server.get(page_path, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.status == 200
    files = {file["filename"]: file for file in json.loads(page.body)["files"]}
    sdist = files[DATEUTIL_SDIST]
    expected = (DATA / DATEUTIL_SDIST).read_bytes()
    assert sdist["hashes"]["sha256"] == hashlib.sha256(expected).hexdigest()
    assert sdist["core-metadata"] is False  # PKG-INFO may be dynamic: no PEP 658 file for sdists

    url = urljoin(server.url + page_path, sdist["url"])
    answer = server.get(url.removeprefix(server.url))
    assert answer.status == 200
    assert answer.body == expected


def test_the_simple_page_of_a_non_normalized_name_redirects_permanently(server):
    answer = server.get("/simple/Python_DateUtil/")
    assert answer.status == 301
    assert answer.header("Location").endswith("/simple/python-dateutil/")


def test_pip_follows_the_redirect_from_a_non_normalized_name(server, client_venv):
    # pip normalizes the names it puts in index URLs itself, so a find-links
    # page is the way to make it meet the redirect.
    mark = server.log_mark()
    client_venv.pip(
        "install",
        "--no-cache-dir",
        "--no-index",
        "--find-links",
        f"{server.url}/simple/Python_DateUtil/",
        "--find-links",
        f"{server.url}/simple/six/",
        "Python_DateUtil",
    )

    assert client_venv.installed() == {"python-dateutil": "2.9.0.post0", "six": "1.17.0"}
    seen = server.wait_for_requests(lambda seen: {DATEUTIL_WHEEL, SIX_WHEEL} <= set(downloads(seen)), since=mark)
    seen_pages = pages(seen)
    redirect = seen_pages.index(("/simple/Python_DateUtil/", 301))
    assert ("/simple/python-dateutil/", 200) in seen_pages[redirect + 1 :]


def test_pip_installs_a_project_named_with_other_case_and_separators(server, client_venv):
    mark = server.log_mark()
    client_venv.pip("install", "--no-cache-dir", "--index-url", server.simple_url, "Python_DateUtil")

    assert_imported_from(client_venv, {"dateutil": "2.9.0.post0", "six": "1.17.0"})
    server.wait_for_requests(lambda seen: {DATEUTIL_WHEEL, SIX_WHEEL} <= set(downloads(seen)), since=mark)
