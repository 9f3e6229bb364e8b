"""``update`` against pypiserver, a real index without serials, started on 127.0.0.1 by the test."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.builders import DATA
from tests.support.server import BIN, clean_environment, free_port

pytestmark = pytest.mark.e2e

PYPI_SERVER = BIN / "pypi-server"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
_LINK = re.compile(r'<a href="[^"#]*/([^/"#]+)#sha256=([0-9a-f]{64})"')


class PypiServer:
    """pypiserver serving a folder, stopped by its PID."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.log = (folder.parent / "pypiserver.log").open("ab")
        # No fallback: a name it does not have must never redirect to pypi.org.
        self.process = subprocess.Popen(
            [
                str(PYPI_SERVER),
                "run",
                "-p",
                str(self.port),
                "-i",
                "127.0.0.1",
                "-a",
                ".",
                "-P",
                ".",
                "--disable-fallback",
                "--hash-algo",
                "sha256",
                "--backend",
                "simple-dir",
                str(folder),
            ],
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/simple/")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("pypiserver did not start") from None
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> str:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + path, timeout=10) as answer:
            return answer.read().decode()

    def listing(self, name: str) -> set[tuple[str, str]]:
        """(filename, sha256) of a project's links, read with a plain regex."""
        return set(_LINK.findall(self.get(f"/simple/{name}/")))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def pypiserver(tmp_path):
    folder = tmp_path / "packages"
    folder.mkdir()
    for path in DATA.iterdir():
        if path.name.startswith(("six-1.16", "iniconfig")):
            shutil.copy(path, folder)
    server = PypiServer(folder)
    yield server
    server.stop()


def mirrored(mirror, name: str) -> set[tuple[str, str]]:
    page = json.loads(mirror.get(f"/simple/{name}/", headers={"Accept": JSON_V1}).body)
    return {(file["filename"], file["hashes"]["sha256"]) for file in page["files"]}


def test_a_mirror_of_pypiserver_follows_its_files(server_factory, pypiserver):
    mirror = server_factory("mirror-of-pypiserver")
    result = mirror.manage("update", "--url", pypiserver.url + "/simple/", "--no-progress")
    assert "(without serials)" in result.stdout and "Added 4 file(s)" in result.stdout, result.stdout
    for name in ("six", "iniconfig"):
        assert mirrored(mirror, name) == pypiserver.listing(name)
    # The mirror reads each wheel's metadata from the wheel, and serves it (PEP 658).
    page = json.loads(mirror.get("/simple/iniconfig/", headers={"Accept": JSON_V1}).body)
    wheel = next(file for file in page["files"] if file["filename"].endswith(".whl"))
    assert wheel["core-metadata"] and wheel["size"] > 0

    # Files added and removed upstream, found by comparing the lists and hashes.
    for path in DATA.glob("six-1.17.0*"):
        shutil.copy(path, pypiserver.folder)
    (pypiserver.folder / "iniconfig-2.0.0.tar.gz").unlink()
    for path in DATA.glob("python*dateutil*"):
        shutil.copy(path, pypiserver.folder)
    result = mirror.manage("update", "--url", pypiserver.url, "--no-progress")
    assert "Added 4 file(s)" in result.stdout and "removed 1 file(s)" in result.stdout, result.stdout
    assert "0 already in the blob store" in result.stdout
    for name in ("six", "iniconfig", "python-dateutil"):
        assert mirrored(mirror, name) == pypiserver.listing(name)
    six_wheel = (DATA / "six-1.17.0-py2.py3-none-any.whl").read_bytes()
    assert (hashlib.sha256(six_wheel).hexdigest()) in {sha for _, sha in mirrored(mirror, "six")}

    # Nothing changed: nothing added or removed.
    result = mirror.manage("update", "--url", pypiserver.url, "--no-progress")
    assert "Added 0 file(s)" in result.stdout and "removed 0 file(s)" in result.stdout, result.stdout
