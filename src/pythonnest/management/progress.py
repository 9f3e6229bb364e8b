"""Progress bars for long commands: shown on a terminal, silent elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

# rich is imported only to draw a bar: loading it costs 35-50 ms of a
# command's start, for nothing when the output is not a terminal.
if TYPE_CHECKING:
    from rich.progress import Progress


def on_terminal(disabled: bool = False) -> bool:
    return sys.stderr.isatty() and not disabled


class Bar:
    """What a command tells its progress bar; does nothing off a terminal."""

    def __init__(self, progress: Progress | None = None, task=None) -> None:
        self._progress, self._task = progress, task

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def print(self, line: str) -> None:
        """Print a line above the bar (on stderr), keeping the bar intact."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)

    def set_total(self, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)


@contextmanager
def progress_bar(label: str, total: int | None, *, in_bytes: bool = False, show: bool = True) -> Iterator[Bar]:
    """Yield a Bar, drawn on stderr when ``show``."""
    if not show:
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if in_bytes:
        columns = [TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    else:
        columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        yield Bar(progress, progress.add_task(label, total=total))


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
