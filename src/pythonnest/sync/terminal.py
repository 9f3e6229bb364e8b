"""``update``'s progress bar on a terminal: projects, files and bytes with the rate."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from pythonnest.sync.progress import ALWAYS, ERRORS
from pythonnest.sync.report import format_bytes


class _AmountColumn(ProgressColumn):
    """``done/total`` and the unit for counts; sizes and the transfer rate for bytes."""

    def render(self, task: Task) -> Text:
        total = int(task.total) if task.total else None
        if task.fields.get("unit") == "bytes":
            return Text(
                f"{format_bytes(int(task.completed))} of {format_bytes(total) if total else '?'} at {_rate(task)}"
            )
        unit = task.fields.get("unit")
        return Text(f"{int(task.completed)}/{total if total is not None else '?'}" + (f" {unit}" if unit else ""))


def _rate(task: Task) -> str:
    """Bytes per second over rich's recent samples, else on average since the phase began."""
    speed = task.speed
    if not speed and task.completed and task.elapsed:
        speed = task.completed / task.elapsed
    return f"{format_bytes(int(speed))}/s" if speed else "?/s"


class _ConsoleHandler(logging.Handler):
    """Log records printed through the bar's console, above the bar, instead of onto its line."""

    def __init__(self, console: Console, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, style="yellow")
        except Exception:
            self.handleError(record)


class TerminalReporter:
    """A rich progress bar of projects, files and bytes with the rate; events print above it.

    One row per amount: the phase with its projects (``mirroring ━━━ 2/3 projects``),
    then, once files are to be fetched, ``files ━━━ 6/8`` and
    ``bytes ━━━ 647.0 KiB of 657.3 KiB at 2.4 MiB/s``.
    """

    def __init__(self, stream: TextIO | None = None, verbosity: int = 1) -> None:
        self.console = Console(file=stream or sys.stderr)
        self.verbosity = verbosity
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            _AmountColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        # Until the first phase, while the upstream's listing is read.
        self.projects = self.progress.add_task("starting", total=None, unit="projects")
        self.files = self.progress.add_task("files", total=None, visible=False)
        self.bytes = self.progress.add_task("bytes", total=None, visible=False, unit="bytes")
        self._logging = self._log_through_console()

    def _log_through_console(self) -> list[logging.Handler]:
        """Send what PythonNest logs to the terminal through the console while the bar is drawn."""
        logger = logging.getLogger("pythonnest")
        replaced = [
            handler
            for handler in logger.handlers
            if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__)
        ]
        if replaced:
            for handler in replaced:
                logger.removeHandler(handler)
            self._console_handler = _ConsoleHandler(self.console, replaced[0].formatter)
            self._console_handler.setLevel(replaced[0].level)
            logger.addHandler(self._console_handler)
        return replaced

    def event(self, kind: str, message: str) -> None:
        if kind in ALWAYS or self.verbosity >= 2:
            style = "red" if kind in ERRORS else None
            self.console.print(f"{kind}: {message}", markup=False, highlight=False, style=style)

    def phase(self, name: str, projects: int, files: int = 0, size: int = 0) -> None:
        self.progress.reset(self.projects, total=projects, description=name)
        self.progress.reset(self.files, total=files or None, visible=bool(files))
        self.progress.reset(self.bytes, total=size or None, visible=bool(files))

    def advance(self, projects: int = 0, files: int = 0, size: int = 0) -> None:
        if projects:
            self.progress.advance(self.projects, projects)
        if files:
            self.progress.advance(self.files, files)
        if size:
            self.progress.advance(self.bytes, size)

    def close(self) -> None:
        self.progress.stop()
        if self._logging:
            logger = logging.getLogger("pythonnest")
            logger.removeHandler(self._console_handler)
            for handler in self._logging:
                logger.addHandler(handler)
            self._logging = []
