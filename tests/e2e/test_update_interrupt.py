"""``update`` killed with -9 in the middle of a run, then run again, ends as if never interrupted.

The upstream is the fake index (in a thread of the test), slowed down so
that the run is still downloading when it is killed. Compared with a mirror
that ran without interruption: every project, release (with its yank), file
(with its digests and upload time), and the blobs on disk. Serials are left
out: each instance numbers its own journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.support.builders import build_sdist, build_wheel
from tests.support.server import MANAGE, run_manage
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.e2e

DUMP = """
import json
from pythonnest.core.models import File, Project, Release
print(json.dumps({
    "projects": sorted(Project.objects.values_list("normalized_name", "name", "origin")),
    "releases": sorted(Release.objects.values_list("project__normalized_name", "version", "yanked", "yanked_reason")),
    "files": sorted((f, s, z, m, t.isoformat()) for f, s, z, m, t in File.objects.values_list(
        "filename", "sha256", "size", "metadata_sha256", "upload_time")),
}))
"""


def dump(server) -> dict:
    # The last line: Django's shell may first say what it imported.
    return json.loads(server.manage("shell", "-c", DUMP).stdout.strip().splitlines()[-1])


def blobs(server) -> set[str]:
    root = server.root_path / "media" / "downloads"
    return {path.name for path in root.rglob("*") if path.is_file() and ".incoming" not in path.parts}


def leftovers(server) -> list[str]:
    incoming = server.root_path / "media" / "downloads" / ".incoming"
    return sorted(path.name for path in incoming.glob("update-*")) if incoming.is_dir() else []


@pytest.fixture(scope="module")
def slow_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt-distributions")
    index = FakeIndex().start()
    for project in range(6):
        for minor in range(3):
            index.add(build_wheel(folder, f"project-{project}", f"1.{minor}", summary=f"project {project}"))
            index.add(build_sdist(folder, f"project-{project}", f"1.{minor}"))
    index.yank("project-2-1.0-py3-none-any.whl", "bad")
    index.yank("project-2-1.0.tar.gz", "bad")
    yield index
    index.stop()


def downloads(index, since: int) -> list[str]:
    return [path.removeprefix("/files/") for _, path in index.requests[since:] if path.startswith("/files/")]


def test_kill_9_then_run_again_equals_an_uninterrupted_run(server_factory, slow_index, tmp_path):
    interrupted = server_factory("interrupted")
    reference = server_factory("reference")
    arguments = ["update", "--url", slow_index.url, "--no-progress", "--workers", "2", "--retry-backoff", "0.05"]

    slow_index.file_delay = 0.2
    process = subprocess.Popen(
        [str(MANAGE), *arguments],
        env=interrupted.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        added = 0
        deadline = time.monotonic() + 120
        while added < 8 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            added += line.startswith("added: ")
        assert added == 8, "the run ended before it could be interrupted"
        # A second run while the first one holds the lock exits at once.
        started = time.monotonic()
        second = run_manage(interrupted.config_path, *arguments, check=False)
        assert second.returncode != 0 and "another update is running" in second.stderr, second.stderr
        assert time.monotonic() - started < 30
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    stored_before = blobs(interrupted)
    partial = dump(interrupted)
    assert 8 <= len(partial["files"]) < 36

    slow_index.file_delay = 0.0
    mark = len(slow_index.requests)
    result = interrupted.manage(*arguments)
    assert "taking over" not in result.stdout
    fetched_again = downloads(slow_index, mark)
    # Nothing whose bytes were already stored is downloaded twice.
    sha256_of = {
        file.filename: file.sha256 for project in slow_index.projects.values() for file in project.files.values()
    }
    assert not [name for name in fetched_again if sha256_of.get(name.removesuffix(".metadata")) in stored_before]
    assert leftovers(interrupted) == []

    reference.manage(*arguments)
    assert dump(interrupted) == dump(reference)
    assert blobs(interrupted) == blobs(reference)
    assert len(dump(reference)["files"]) == 36
