"""twine uploads to a live PythonNest, then pip and uv install what was uploaded.

Accounts are made as an administrator makes them, with ``pythonnest-manage``
against the server's own database; tokens too, printed once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e.clients import twine_environment, twine_upload
from tests.e2e.pep517 import build_backend_wheel, build_sdist_with_backend
from tests.support.builders import DATA, build_wheel
from tests.support.server import PythonNestServer

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "Correct-Horse-42", "bob": "Battery-Staple-17"}
MAX_UPLOAD_SIZE = 256 * 1024
APP, OTHER, SECRET = "pn-twine-app", "pn-twine-other", "pn-twine-secret"
SDIST_ONLY, BACKEND = "pn-twine-sdist", "pn-twine-backend"


@pytest.fixture(scope="module")
def server(server_factory) -> PythonNestServer:
    """six to depend on; alice and bob, alice in the group "team"."""
    server = server_factory(
        "twine", files=[DATA / "six-1.17.0-py2.py3-none-any.whl"], extra_ini=f"MAX_UPLOAD_SIZE = {MAX_UPLOAD_SIZE}\n"
    )
    for username, password in PASSWORDS.items():
        server.manage("user", "create", username, "--password-stdin", input=password + "\n")
    server.manage("user", "join", "alice", "team")
    return server


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("dists")
    source = "import six\nVERSION = {!r}\n"
    built = {
        "app-1.0.whl": build_wheel(directory, APP, "1.0", requires_dist=["six"], module_source=source.format("1.0")),
        "backend-1.0.whl": build_backend_wheel(directory, BACKEND),
        "sdist-1.0.tar.gz": build_sdist_with_backend(directory, SDIST_ONLY, "1.0", BACKEND),
        "app-2.0.whl": build_wheel(directory, APP, "2.0", requires_dist=["six"], module_source=source.format("2.0")),
        "app-3.0.whl": build_wheel(directory, APP, "3.0", module_source=source.format("3.0")),
        "app-4.0.whl": build_wheel(directory, APP, "4.0", module_source=source.format("4.0")),
        "other-1.0.whl": build_wheel(directory, OTHER, "1.0"),
        "secret-1.0.whl": build_wheel(directory, SECRET, "1.0"),
        # Random bytes do not compress: the wheel is over the limit.
        "big-1.0.whl": build_wheel(
            directory, "pn-twine-big", "1.0", module_source=f"DATA = {os.urandom(MAX_UPLOAD_SIZE)!r}\n"
        ),
    }
    return built


@pytest.fixture(scope="module")
def pypirc(tmp_path_factory) -> Path:
    """An empty stand-in for ~/.pypirc."""
    path = tmp_path_factory.mktemp("twine") / "pypirc"
    path.write_text("")
    return path


def upload(server, username: str, password: str, *files: Path, pypirc: Path, check: bool = True, url: str = "/legacy/"):
    return twine_upload(server.url + url, username, password, *files, config_file=pypirc, check=check)


def create_token(server, username: str, *options: str) -> str:
    """A new token's secret, as ``token create`` prints it: its last line."""
    return server.manage("token", "create", username, *options).stdout.strip().splitlines()[-1]


def index_url(server, username: str | None = None, password: str | None = None) -> str:
    if username is None:
        return server.simple_url
    return f"http://{quote(username, safe='')}:{quote(password, safe='')}@127.0.0.1:{server.port}/simple/"


def files_on(server, project: str) -> set[str]:
    answer = server.get(f"/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    if answer.status == 404:
        return set()
    return {file["filename"] for file in json.loads(answer.body)["files"]}


def test_twine_uploads_wheels_and_an_sdist_with_a_password_then_pip_installs_them(server, dists, pypirc, client_venv):
    uploaded = [dists["app-1.0.whl"], dists["backend-1.0.whl"], dists["sdist-1.0.tar.gz"]]
    result = upload(server, "alice", PASSWORDS["alice"], *uploaded, pypirc=pypirc)

    for path in uploaded:
        assert f"Uploading {path.name}" in result.stdout
    assert files_on(server, APP) == {dists["app-1.0.whl"].name}
    assert files_on(server, SDIST_ONLY) == {dists["sdist-1.0.tar.gz"].name}
    assert server.manage("role", "list", APP).stdout.split() == ["Owner", "alice"]
    mark = server.log_mark()
    # The sdist is built with its backend, itself uploaded: everything comes from the server.
    client_venv.pip("install", "--no-cache-dir", "--index-url", server.simple_url, f"{APP}==1.0", SDIST_ONLY)

    assert client_venv.installed() == {APP: "1.0", "six": "1.17.0", SDIST_ONLY: "1.0"}
    assert client_venv.run("import pn_twine_app; print(pn_twine_app.VERSION)").stdout.strip() == "1.0"
    assert client_venv.run("import pn_twine_sdist; print(pn_twine_sdist.VERSION)").stdout.strip() == "1.0"
    fetched = {r.filename for r in server.settled_requests(since=mark) if r.status == 200}
    assert {dists["sdist-1.0.tar.gz"].name, dists["backend-1.0.whl"].name, dists["app-1.0.whl"].name} <= fetched


def test_twine_uploads_with_a_token_then_uv_installs_the_new_version(server, dists, pypirc, client_venv):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    token = create_token(server, "alice", "--description", "e2e")
    assert token.startswith("pynest-")

    upload(server, "__token__", token, dists["app-2.0.whl"], pypirc=pypirc)

    client_venv.uv_pip("install", "--no-cache", "--index-url", server.simple_url, APP)
    assert client_venv.installed() == {APP: "2.0", "six": "1.17.0"}
    listing = server.manage("token", "list", "alice").stdout
    assert "e2e" in listing and "never" not in listing.splitlines()[-1]


def test_the_old_urls_take_uploads_too(server, dists, pypirc):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    upload(server, "alice", PASSWORDS["alice"], dists["app-3.0.whl"], pypirc=pypirc, url="/pypi")
    upload(server, "alice", PASSWORDS["alice"], dists["app-4.0.whl"], pypirc=pypirc, url="/setup/")
    assert {dists["app-3.0.whl"].name, dists["app-4.0.whl"].name} <= files_on(server, APP)


def test_uploading_a_file_again_fails_with_file_already_exists(server, dists, pypirc):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    result = upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    assert result.returncode == 1
    assert "400 Bad Request" in result.stdout
    assert f"File already exists: {dists['app-1.0.whl'].name}" in result.stdout


# twine's upload loop run as `twine upload --skip-existing` runs it. Since
# twine 6.2 the command line refuses that flag for every index but pypi.org,
# without asking the index; twine 6.1 and older, and any client that reads
# PyPI's answer, skip on it. This runs twine's own code, with only that
# up-front refusal taken out.
SKIP_EXISTING = textwrap.dedent(
    """
    import sys
    from twine import settings
    from twine.commands import upload

    url, username, password, config, *files = sys.argv[1:]
    upload_settings = settings.Settings(
        repository_url=url, username=username, password=password, config_file=config,
        skip_existing=True, non_interactive=True, disable_progress_bar=True,
    )
    upload_settings.verify_feature_capability = lambda: None
    upload.upload(upload_settings, files)
    """
)


def test_skip_existing_skips_files_already_there_and_uploads_the_rest(server, dists, pypirc, tmp_path):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    fresh = build_wheel(tmp_path, APP, "5.0")
    argv = [sys.executable, "-c", SKIP_EXISTING, server.url + "/legacy/", "alice", PASSWORDS["alice"], str(pypirc)]
    result = subprocess.run(
        argv + [str(dists["app-1.0.whl"]), str(fresh)],
        env=twine_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert f"Skipping {dists['app-1.0.whl'].name} because it appears to already exist" in output
    assert fresh.name in files_on(server, APP)


def test_a_token_scoped_to_one_project_cannot_upload_to_another(server, dists, pypirc):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    token = create_token(server, "alice", "--project", APP)

    result = upload(server, "__token__", token, dists["other-1.0.whl"], pypirc=pypirc, check=False)

    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "403 Forbidden" in output
    assert f"This API token is scoped to project '{APP}'; it cannot upload to '{OTHER}'" in output
    assert files_on(server, OTHER) == set()
    # It still uploads to its own project.
    wheel = build_wheel(dists["app-1.0.whl"].parent / "scoped", APP, "6.0")
    upload(server, "__token__", token, wheel, pypirc=pypirc)


def test_another_user_cannot_upload_to_alices_project(server, dists, pypirc, tmp_path):
    upload(server, "alice", PASSWORDS["alice"], dists["app-1.0.whl"], pypirc=pypirc, check=False)
    result = upload(server, "bob", PASSWORDS["bob"], build_wheel(tmp_path, APP, "7.0"), pypirc=pypirc, check=False)
    assert result.returncode == 1
    assert f"The user 'bob' isn't allowed to upload to project '{APP}'" in " ".join(result.stdout.split())


def test_an_upload_over_the_size_limit_is_413_and_twine_says_why(server, dists, pypirc):
    result = upload(server, "alice", PASSWORDS["alice"], dists["big-1.0.whl"], pypirc=pypirc, check=False)
    assert result.returncode == 1
    output = " ".join(result.stdout.split())
    assert "413" in output
    assert f"File too large: this index accepts uploads of up to {MAX_UPLOAD_SIZE} bytes" in output
    assert files_on(server, "pn-twine-big") == set()


@pytest.fixture(scope="module")
def private_project(server, dists, pypirc) -> str:
    """pn-twine-secret, uploaded by alice and restricted to the group "team"."""
    upload(server, "alice", PASSWORDS["alice"], dists["secret-1.0.whl"], pypirc=pypirc)
    server.manage("project", "private", SECRET, "team")
    return SECRET


def test_members_pip_install_a_private_project_with_credentials_in_the_index_url(server, private_project, client_venv):
    mark = server.log_mark()
    client_venv.pip("install", "--no-cache-dir", "--index-url", index_url(server, "alice", PASSWORDS["alice"]), SECRET)

    assert client_venv.installed() == {SECRET: "1.0"}
    seen = server.settled_requests(since=mark)
    assert ("/simple/pn-twine-secret/", 200) in [(r.path, r.status) for r in seen]
    assert any(r.path.endswith("pn_twine_secret-1.0-py3-none-any.whl") and r.status == 200 for r in seen)


def test_members_uv_install_a_private_project_with_a_token_in_the_index_url(server, private_project, client_venv):
    token = create_token(server, "alice", "--project", SECRET)
    client_venv.uv_pip("install", "--no-cache", "--index-url", index_url(server, "__token__", token), SECRET)
    assert client_venv.installed() == {SECRET: "1.0"}


@pytest.mark.parametrize("who", ["anonymous", "bob", "alice's token for another project"])
def test_others_get_404_for_a_private_project(server, private_project, client_venv, who):
    if who == "anonymous":
        url = index_url(server)
    elif who == "bob":
        url = index_url(server, "bob", PASSWORDS["bob"])
    else:
        url = index_url(server, "__token__", create_token(server, "alice", "--project", APP))
    mark = server.log_mark()

    result = client_venv.pip("install", "--no-cache-dir", "--index-url", url, SECRET, check=False)

    assert result.returncode != 0
    assert "No matching distribution found for pn-twine-secret" in result.stdout + result.stderr
    seen = server.settled_requests(since=mark)
    assert ("/simple/pn-twine-secret/", 404) in [(r.path, r.status) for r in seen]
    assert client_venv.installed() == {}
    root = server.get("/simple/")
    assert SECRET.encode() not in root.body
