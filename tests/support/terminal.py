"""Running a command on a pseudo-terminal, and reading what it drew there.

``run_in_terminal`` gives a command a pty for its standard streams, as an
operator's shell does, and returns every byte it wrote. ``screen`` replays
those bytes the way a terminal shows them (carriage returns, erased lines,
the cursor moved up), so a test can check the lines an operator is left
with, not only the bytes that went by.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Sequence

# Every CSI sequence (colours, erasing, cursor moves, showing and hiding the cursor).
CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# What a progress bar draws and a plain line never holds.
BAR_GLYPHS = ("━", "╸", "╺")


def terminal_environment(environment: dict[str, str]) -> dict[str, str]:
    """An instance's environment as an operator's terminal has it: 120 columns, output line-buffered."""
    environment = {**environment, "COLUMNS": "120", "TERM": "xterm"}
    # Buffered as an operator's shell leaves it: standard output line by line on a terminal.
    environment.pop("PYTHONUNBUFFERED", None)
    return environment


def run_without_terminal(argv: Sequence[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``argv`` with its output captured (no terminal anywhere); it must succeed."""
    result = subprocess.run(
        [str(arg) for arg in argv], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_in_terminal(argv: Sequence[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with a pty as stdin, stdout and stderr; returns its exit code and all it wrote."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(arg) for arg in argv], env=env, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True
    )
    os.close(terminal)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the command and its children closed the terminal
                break
            if not chunk:
                break
            output += chunk
        else:
            process.kill()
            raise AssertionError(
                f"{argv[1:3]} still ran after {timeout}s; it wrote:\n{output.decode(errors='replace')}"
            )
    finally:
        os.close(controller)
    return process.wait(timeout=30), output.decode(errors="replace")


def strip_ansi(text: str) -> str:
    return CSI.sub("", text)


def drawn_lines(output: str) -> list[str]:
    """Every line as written, each carriage-return redraw a line of its own, without escape sequences."""
    return [part for line in strip_ansi(output).split("\n") for part in line.split("\r") if part.strip()]


def screen(output: str) -> list[str]:
    """The lines a terminal shows once ``output`` is written (scrolled-off ones included).

    Enough of a terminal for what rich and Django write: printable
    characters overwrite the cell under the cursor, CR and LF, erasing a line
    (ESC [ n K) and moving up (ESC [ n A); other sequences change nothing
    that shows.
    """
    rows: list[list[str]] = [[]]
    row = column = 0
    position = 0
    while position < len(output):
        match = CSI.match(output, position)
        if match:
            sequence = match.group()
            final, parameter = sequence[-1], sequence[2:-1]
            if final == "K":
                line = rows[row]
                if parameter in ("", "0"):
                    del line[column:]
                elif parameter == "1":
                    line[: column + 1] = [" "] * min(column + 1, len(line))
                else:
                    line.clear()
            elif final == "A":
                row = max(0, row - int(parameter or 1))
            position = match.end()
            continue
        char = output[position]
        position += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            row += 1
            if row == len(rows):
                rows.append([])
        elif char == "\x1b" or char < " ":
            continue
        else:
            line = rows[row]
            line.extend(" " * (column - len(line)))
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    lines = ["".join(line).rstrip() for line in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines
