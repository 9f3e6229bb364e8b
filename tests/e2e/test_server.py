"""The server as an operator runs it: serve, config, collectstatic, X-Sendfile."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from tests.support.builders import DATA
from tests.support.server import PythonNestServer, run_manage

pytestmark = pytest.mark.e2e

SIX_WHEEL = "six-1.17.0-py2.py3-none-any.whl"
DATA_FILES = sorted(path.name for path in DATA.iterdir() if path.name.endswith((".whl", ".tar.gz")))


@pytest.fixture(scope="module")
def server(live_server_with_data) -> PythonNestServer:
    return live_server_with_data


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _listening_addresses(port: int) -> set[str]:
    """The local IPv4 and IPv6 addresses listening on ``port``, from /proc/net."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                addresses.add(address)
    return addresses


def test_serve_runs_gunicorn_on_the_given_address_with_the_given_workers(server):
    assert server.via == "serve"
    # serve replaced itself with gunicorn: the PID we started is the master.
    master = _cmdline(server.process.pid)
    assert "pythonnest.djangoproject.wsgi:application" in master
    assert Path(master[0]).name == "gunicorn" or any(Path(arg).name == "gunicorn" for arg in master[:2])

    deadline = time.monotonic() + 15
    while len(server.worker_pids()) != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = server.worker_pids()
    assert len(workers) == 2, workers
    for pid in workers:
        assert "pythonnest.djangoproject.wsgi:application" in _cmdline(pid)

    assert _listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1 only, not 0.0.0.0
    assert f"Listening at: http://127.0.0.1:{server.port}" in server.error_log()
    answer = server.get("/simple/")
    assert answer.status == 200
    assert b'<a href="six/">six</a>' in answer.body


def test_last_serial_counts_the_files_added(server):
    assert sorted(server.added) == DATA_FILES
    assert sorted(server.added.values()) == list(range(1, len(DATA_FILES) + 1))

    index = server.get("/simple/")
    assert index.header("X-PyPI-Last-Serial") == str(len(DATA_FILES))
    index_json = server.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert json.loads(index_json.body)["meta"]["_last-serial"] == len(DATA_FILES)

    # A project's page carries the serial of its own newest change.
    for project, prefix in (("six", "six-"), ("python-dateutil", "python"), ("iniconfig", "iniconfig-")):
        newest = max(serial for filename, serial in server.added.items() if filename.startswith(prefix))
        assert server.get(f"/simple/{project}/").header("X-PyPI-Last-Serial") == str(newest)


def test_config_prints_the_path_in_use(server):
    result = server.manage("config")
    assert f"Configuration file: {server.config_path} (from $PYTHONNEST_CONFIG)" in result.stdout
    assert f"ROOT_PATH = {server.root_path.resolve()}" in result.stdout


def test_config_hides_the_database_password(tmp_path):
    config = tmp_path / "pythonnest.ini"
    config.write_text(
        f"[pythonnest]\nROOT_PATH = {tmp_path / 'root'}\nDATABASE_ENGINE = sqlite3\nDATABASE_PASSWORD = s3cr3t-Pa55\n",
        encoding="utf-8",
    )
    result = run_manage(config, "config")
    assert f"Configuration file: {config}" in result.stdout
    assert "DATABASE_PASSWORD = ********" in result.stdout.splitlines()
    assert "s3cr3t-Pa55" not in result.stdout + result.stderr


def test_collectstatic_writes_the_static_files_that_the_server_serves(server, tmp_path):
    config = tmp_path / "pythonnest.ini"
    config.write_text(f"[pythonnest]\nROOT_PATH = {tmp_path / 'root'}\n", encoding="utf-8")
    result = run_manage(config, "collectstatic", "--noinput")
    assert "static files copied" in result.stdout
    collected = tmp_path / "root" / "static" / "admin" / "css" / "base.css"
    assert collected.is_file()
    assert collected.with_name("base.css.gz").is_file()  # whitenoise compressed it

    answer = server.get("/static/admin/css/base.css")
    assert answer.status == 200
    assert answer.body == collected.read_bytes()


@pytest.mark.parametrize(
    "line, key",
    [
        ("DATABASE_ENGINE = nosuchdb", "DATABASE_ENGINE"),
        ("ROOT_PATH = /proc/forbidden", "ROOT_PATH"),
        ("USE_XSENDFILE = sometimes", "USE_XSENDFILE"),
    ],
)
@pytest.mark.parametrize("command", [["config"], ["syncdb", "--noinput"]])
def test_a_bad_value_is_one_line_naming_the_key_and_the_file(tmp_path, line, key, command):
    config = tmp_path / "pythonnest.ini"
    root = "" if key == "ROOT_PATH" else f"ROOT_PATH = {tmp_path / 'root'}\n"
    config.write_text(f"[pythonnest]\n{root}{line}\n", encoding="utf-8")

    result = run_manage(config, *command, check=False)

    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    assert str(config) in lines[0]


@pytest.mark.parametrize(
    "setting, header",
    [("nginx", "X-Accel-Redirect"), ("true", "X-Sendfile")],
)
def test_xsendfile_hands_the_download_to_the_front_server(server_factory, setting, header):
    server = server_factory(
        f"xsendfile-{setting}",
        files=[DATA / SIX_WHEEL],
        via="gunicorn",
        workers=1,
        extra_ini=f"USE_XSENDFILE = {setting}\n",
    )
    page = server.get("/simple/six/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    (file,) = json.loads(page.body)["files"]
    sha256 = hashlib.sha256((DATA / SIX_WHEEL).read_bytes()).hexdigest()
    assert file["hashes"]["sha256"] == sha256
    download_path = "/" + file["url"].removeprefix("../../")

    answer = server.get(download_path)

    assert answer.status == 200
    assert answer.body == b""
    other = {"X-Accel-Redirect", "X-Sendfile"} - {header}
    assert answer.header(other.pop()) is None
    blob_root = server.root_path.resolve() / "media" / "downloads"
    relative = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
    if setting == "nginx":
        assert answer.header(header) == f"/_pythonnest_blobs/{relative}"
    else:
        assert answer.header(header) == str(blob_root / relative)
    # What the front server is pointed at holds the file's bytes.
    assert (blob_root / relative).read_bytes() == (DATA / SIX_WHEEL).read_bytes()
    assert answer.header("Content-Disposition") == f'attachment; filename="{SIX_WHEEL}"'
