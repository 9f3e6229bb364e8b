"""``export`` and ``import`` as an operator sees them: a progress bar on a terminal, plain lines elsewhere.

The real commands run on a pseudo-terminal, in instances of their own. The
bar is drawn on standard error and the header line ("Bundle for tag ..." /
"Bundle from instance ...") goes to standard output: on a terminal both
reach the same screen, and the header must keep a line of its own.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support.builders import DATA
from tests.support.server import MANAGE, PythonNestServer
from tests.support.terminal import (
    BAR_GLYPHS,
    drawn_lines,
    run_in_terminal,
    run_without_terminal,
    screen,
    terminal_environment,
)

SIZE = r"\d+(?:\.\d)? (?:B|KiB|MiB|GiB)"
RATE = rf"{SIZE}/s"
EXPORT_HEADER = re.compile(
    rf"Bundle for tag (?P<tag>\S+): serials \(0, 8\], 3 project\(s\), 0 removed project\(s\), 4 release\(s\), "
    rf"8 file\(s\), 12 blob\(s\) \((?P<size>{SIZE})\)\."
)
IMPORT_HEADER = re.compile(
    r"Bundle from instance [0-9a-f-]{36}, tag (?P<tag>\S+), serials \(0, 8\], not signed: "
    r"3 project\(s\), 8 file\(s\), 12 blob\(s\)\."
)
IMPORTED = re.compile(
    rf"Imported tag (?P<tag>\S+) up to serial 8: 3 project\(s\) created, 0 changed, 0 removed; "
    rf"8 file\(s\) added, 0 removed; 0 yank change\(s\); 12 blob\(s\) stored \((?P<size>{SIZE})\)\."
)


@pytest.fixture
def source(tmp_path):
    """An instance holding every file of tests/data (3 projects, 8 files, serial 8)."""
    with PythonNestServer(tmp_path / "source") as instance:
        instance.setup()
        instance.add([DATA])
        yield instance


@pytest.fixture
def target(tmp_path):
    """An empty instance to import into."""
    with PythonNestServer(tmp_path / "target") as instance:
        yield instance.setup()


def destination(tmp_path, how: str) -> list[str]:
    return ["--path", str(tmp_path / "bundle")] if how == "folder" else ["--archive", str(tmp_path / "bundle.tar")]


def run_plain(instance: PythonNestServer, *args: str) -> subprocess.CompletedProcess:
    return run_without_terminal([MANAGE, *args], terminal_environment(instance.environment()))


def assert_a_live_bar(output: str, label: str, size: str) -> None:
    """The bar was drawn, redrawn in place, reached the whole size with a rate, and was cleared."""
    for sequence in ("\x1b[?25l", "\x1b[2K", "\x1b[1A", "\x1b[?25h"):
        assert sequence in output, sequence
    number, unit = size.split()
    drawn = "\n".join(drawn_lines(output))
    assert re.search(rf"^{label} ━+ {re.escape(number)}/{re.escape(number)} {unit} {RATE} ", drawn, re.MULTILINE), drawn


def assert_on_a_line_of_its_own(output: str, header: re.Pattern) -> str:
    """The header is written once, alone on its line, and stays on the screen alone on its line."""
    written = [line for line in drawn_lines(output) if header.search(line)]
    assert len(written) == 1, written
    assert header.fullmatch(written[0]), written[0]
    shown = [line for line in screen(output) if header.search(line)]
    assert shown == written, screen(output)
    return written[0]


@pytest.mark.parametrize("how", ["folder", "archive"])
def test_export_on_a_terminal(source, tmp_path, how):
    code, output = run_in_terminal(
        [MANAGE, "export", *destination(tmp_path, how), "--tag", "terminal"], terminal_environment(source.environment())
    )
    assert code == 0, output
    header = assert_on_a_line_of_its_own(output, EXPORT_HEADER)
    assert EXPORT_HEADER.fullmatch(header)["tag"] == "terminal"
    assert_a_live_bar(output, "exporting", EXPORT_HEADER.fullmatch(header)["size"])
    # What stays on the screen: the header and the summary, the bar gone.
    written = tmp_path / ("bundle" if how == "folder" else "bundle.tar")
    assert screen(output) == [header, f"Wrote {written}", "Exported tag terminal up to serial 8."]


@pytest.mark.parametrize("how", ["folder", "archive"])
def test_import_on_a_terminal(source, target, tmp_path, how):
    bundle = destination(tmp_path, how)
    run_plain(source, "export", *bundle, "--tag", "offline", "--no-progress")
    code, output = run_in_terminal([MANAGE, "import", *bundle], terminal_environment(target.environment()))
    assert code == 0, output
    header = assert_on_a_line_of_its_own(output, IMPORT_HEADER)
    assert IMPORT_HEADER.fullmatch(header)["tag"] == "offline"
    shown = screen(output)
    assert len(shown) == 2 and shown[0] == header, shown
    summary = IMPORTED.fullmatch(shown[1])
    assert summary and summary["tag"] == "offline", shown
    assert_a_live_bar(output, "importing", summary["size"])


def test_plain_lines_without_a_terminal(source, target, tmp_path):
    exported = run_plain(source, "export", "--path", str(tmp_path / "bundle"), "--tag", "offline")
    imported = run_plain(target, "import", "--path", str(tmp_path / "bundle"))
    for result in (exported, imported):
        for mark in (*BAR_GLYPHS, "\x1b", "\r"):
            assert mark not in result.stdout + result.stderr, (mark, result.stdout + result.stderr)
        assert result.stderr == ""
    lines = exported.stdout.splitlines()
    assert len(lines) == 3 and EXPORT_HEADER.fullmatch(lines[0]), lines
    assert lines[1:] == [f"Wrote {tmp_path / 'bundle'}", "Exported tag offline up to serial 8."]
    lines = imported.stdout.splitlines()
    assert len(lines) == 2 and IMPORT_HEADER.fullmatch(lines[0]) and IMPORTED.fullmatch(lines[1]), lines
