"""On a terminal, ``add`` shows a progress bar; elsewhere, plain lines."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

MANAGE = str(Path(sys.executable).parent / "pythonnest-manage")


@pytest.fixture
def instance_env(tmp_path):
    config = tmp_path / "pythonnest.ini"
    config.write_text(f"[pythonnest]\nROOT_PATH = {tmp_path / 'data'}\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONNEST_CONFIG=str(config), COLUMNS="100", TERM="xterm")
    subprocess.run([MANAGE, "syncdb", "--noinput"], env=env, check=True, capture_output=True)
    return env


def run_in_terminal(argv, env) -> tuple[int, str]:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(argv, env=env, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
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
    return process.wait(timeout=60), output.decode(errors="replace")


def test_progress_bar_on_a_terminal(instance_env, data_dir):
    code, output = run_in_terminal([MANAGE, "add", str(data_dir)], instance_env)
    assert code == 0, output
    assert "adding" in output and "━" in output
    assert "Added 8 file(s) (3 new project(s), 4 new release(s))" in output


def test_plain_lines_without_a_terminal(instance_env, data_dir, tmp_path):
    bad = tmp_path / "bad-1.0.tar.gz"
    bad.write_bytes(b"nope")
    result = subprocess.run(
        [MANAGE, "add", str(data_dir / "six-1.16.0.tar.gz"), str(bad)], env=instance_env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "━" not in result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == "refused: bad-1.0.tar.gz: unreadable archive (not a gzip file)"
    assert "Added 1 file(s)" in result.stdout
