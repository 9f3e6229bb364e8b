"""``update`` as an operator sees it: a progress bar on a terminal, and Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from pythonnest.sync.report import format_bytes
from tests.support.builders import build_wheel
from tests.support.server import MANAGE, PythonNestServer
from tests.support.terminal import (
    BAR_GLYPHS,
    drawn_lines,
    run_in_terminal,
    run_without_terminal,
    screen,
    terminal_environment,
)
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.e2e


@pytest.fixture
def index(tmp_path):
    index = FakeIndex().start()
    for number in range(12):
        index.add(build_wheel(tmp_path / "dist", f"terminal-{number % 3}", f"1.{number}"))
    yield index
    index.stop()


@pytest.fixture
def mirror(tmp_path):
    """An instance of its own with its tables, not serving: ``update`` runs against its pythonnest.ini."""
    with PythonNestServer(tmp_path / "mirror") as instance:
        yield instance.setup()


def index_bytes(index: FakeIndex) -> str:
    return format_bytes(sum(len(file.data) for project in index.projects.values() for file in project.files.values()))


def upstream_line(index: FakeIndex) -> str:
    """How the summary's first line starts."""
    return f"Upstream {index.url.rstrip('/')}/simple/ (with serials) at serial 12: 3 project(s) listed, "


def test_a_progress_bar_on_a_terminal(mirror, index):
    code, output = run_in_terminal([MANAGE, "update", "--url", index.url], terminal_environment(mirror.environment()))
    assert code == 0, output
    drawn = "\n".join(drawn_lines(output))
    # The live bar: one row per amount, redrawn in place (cursor hidden,
    # lines erased, the cursor moved up over its rows), with the totals of
    # the run when it stops.
    for sequence in ("\x1b[?25l", "\x1b[2K", "\x1b[1A", "\x1b[?25h"):
        assert sequence in output, sequence
    assert re.search(r"^mirroring +━+ 3/3 projects ", drawn, re.MULTILINE), drawn
    assert re.search(r"^files +━+ 12/12 ", drawn, re.MULTILINE), drawn
    size = re.escape(index_bytes(index))
    assert re.search(rf"^bytes +━+ {size} of {size} at \d+(\.\d)? (B|KiB|MiB|GiB)/s ", drawn, re.MULTILINE), drawn
    # The bar is gone once the run ends; the summary is what stays on the screen.
    shown = screen(output)
    assert not any(glyph in line for line in shown for glyph in BAR_GLYPHS), shown
    assert shown[-2].startswith(upstream_line(index))
    assert shown[-1].startswith("Added 12 file(s) (")
    # Each file's line was for a log: on a terminal the bar said it.
    assert "added: " not in output


def test_plain_lines_without_a_terminal(mirror, index):
    result = run_without_terminal([MANAGE, "update", "--url", index.url], terminal_environment(mirror.environment()))
    assert result.stderr == ""
    for mark in (*BAR_GLYPHS, "\x1b", "\r"):
        assert mark not in result.stdout, mark
    lines = result.stdout.splitlines()
    assert lines[0] == "examining 3 project(s)"
    assert lines[1] == f"mirroring 3 project(s), 12 file(s), {index_bytes(index)}"
    added = sorted(line for line in lines if line.startswith("added: "))
    assert len(added) == 12
    assert all(re.fullmatch(r"added: terminal_[012]-1\.\d+-py3-none-any\.whl \(serial \d+\)", line) for line in added)
    assert lines[-2].startswith(upstream_line(index))
    assert lines[-1].startswith("Added 12 file(s) (")


@pytest.mark.parametrize(
    "stop",
    # Ctrl-C, and SIGTERM, which systemd sends to stop a unit (docs/mirroring.md runs update from a timer).
    [signal.SIGINT, signal.SIGTERM],
    ids=["ctrl-c", "sigterm"],
)
def test_a_stop_is_clean_and_the_next_run_finishes(server_factory, index, stop):
    mirror = server_factory(f"stopped-by-{stop.name.lower()}")
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
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (process.returncode, stdout + stderr)
    assert "Interrupted; the next run goes on from here." in stdout
    assert "Traceback" not in stderr
    index.file_delay = 0
    result = mirror.manage("update", "--url", index.url, "--no-progress")
    assert "another update is running" not in result.stderr
    assert "Added" in result.stdout and "failure" not in result.stdout
    lock = mirror.manage(
        "shell", "-c", "from pythonnest.core.models import UpdateLock; print(repr(UpdateLock.objects.get().owner))"
    )
    assert lock.stdout.strip().splitlines()[-1] == "''"


def test_an_error_before_the_run_leaves_no_bar_behind(mirror, index, tmp_path):
    # The bar is drawn from the start; a requirements file is read after
    # that, and one that cannot be read stops the command before the run.
    missing = tmp_path / "missing.txt"
    code, output = run_in_terminal(
        [MANAGE, "update", "--url", index.url, "--requirements", str(missing)],
        terminal_environment(mirror.environment()),
    )
    assert code == 2, output
    # The cursor the bar hid is shown again, and the error is the last thing on the screen.
    assert "\x1b[?25l" in output
    assert output.rindex("\x1b[?25h") > output.rindex("\x1b[?25l")
    shown = screen(output)
    assert not any(glyph in line for line in shown for glyph in BAR_GLYPHS), shown
    assert str(missing) in shown[-1], shown
    assert index.requests == []
