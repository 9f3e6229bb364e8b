"""``update`` as an operator sees it: a progress bar on a terminal, and Ctrl-C."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time

import pytest

from tests.support.builders import build_wheel
from tests.support.server import MANAGE
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.e2e


@pytest.fixture
def index(tmp_path):
    index = FakeIndex().start()
    for number in range(12):
        index.add(build_wheel(tmp_path / "dist", f"terminal-{number % 3}", f"1.{number}"))
    yield index
    index.stop()


def test_a_progress_bar_on_a_terminal(server_factory, index):
    mirror = server_factory("terminal-mirror")
    controller, terminal = pty.openpty()
    environment = {**mirror.environment(), "COLUMNS": "120", "TERM": "xterm"}
    process = subprocess.Popen(
        [str(MANAGE), "update", "--url", index.url], env=environment, stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "━" in text and "projects" in text.lower() or "examining" in text
    assert "Added 12 file(s)" in text


def test_ctrl_c_stops_cleanly_and_the_next_run_finishes(server_factory, index):
    mirror = server_factory("interrupted-by-ctrl-c")
    index.file_delay = 0.3
    process = subprocess.Popen(
        [str(MANAGE), "update", "--url", index.url, "--no-progress", "--workers", "1"],
        env=mirror.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a suite started in the background (``&`` in a script)
        # ignores SIGINT, and a child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not any(path.startswith("/files/") for _, path in index.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (process.returncode, stdout + stderr)
    assert "Interrupted; the next run goes on from here." in stdout
    index.file_delay = 0
    result = mirror.manage("update", "--url", index.url, "--no-progress")
    assert "another update is running" not in result.stderr
    assert "Added" in result.stdout and "failure" not in result.stdout
    lock = mirror.manage(
        "shell", "-c", "from pythonnest.core.models import UpdateLock; print(repr(UpdateLock.objects.get().owner))"
    )
    assert lock.stdout.strip().splitlines()[-1] == "''"
