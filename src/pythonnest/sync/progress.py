"""Showing a run: plain log lines off a terminal (a bar on one is ``sync.terminal``'s).

``update`` loads rich, through ``sync.terminal``, only when it draws a bar:
loading it was a tenth of the command's start.
"""

from __future__ import annotations

from typing import TextIO

from pythonnest.sync.report import format_bytes

# Kinds of events shown whatever the verbosity.
ALWAYS = {"failed", "refused", "plan"}
ERRORS = {"failed", "refused"}


class PlainReporter:
    """One line per event, for logs and timers; failures go to standard error."""

    def __init__(self, stdout: TextIO, stderr: TextIO, verbosity: int = 1) -> None:
        self.stdout, self.stderr, self.verbosity = stdout, stderr, verbosity

    def event(self, kind: str, message: str) -> None:
        if kind in ALWAYS or self.verbosity >= 1:
            stream = self.stderr if kind in ERRORS else self.stdout
            stream.write(f"{kind}: {message}\n")
            stream.flush()

    def phase(self, name: str, projects: int, files: int = 0, size: int = 0) -> None:
        if self.verbosity >= 1:
            detail = f", {files} file(s), {format_bytes(size)}" if files else ""
            self.stdout.write(f"{name} {projects} project(s){detail}\n")
            self.stdout.flush()

    def advance(self, projects: int = 0, files: int = 0, size: int = 0) -> None:
        pass

    def close(self) -> None:
        pass
