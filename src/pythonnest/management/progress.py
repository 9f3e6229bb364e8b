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
    """What a command tells its progress bar; does nothing off a terminal.

    The bar is drawn on standard error, and its line is redrawn in place: a
    line the command writes to standard output while the bar is drawn would
    land on the bar's line. Such a line is written before ``start()`` or
    within ``paused()``; ``print()`` puts a line above the bar, on standard error.
    """

    def __init__(self, label: str = "", total: int | None = None, *, in_bytes: bool = False, show: bool = False):
        self._label, self._total, self._in_bytes, self._show = label, total, in_bytes, show
        self._completed = 0
        self._progress: Progress | None = None
        self._task = None

    def start(self) -> None:
        """Draw the bar from now on (on a terminal), below what standard output has had."""
        if not self._show or self._progress is not None:
            return
        sys.stdout.flush()
        progress = _new_progress(self._label, self._in_bytes)
        self._task = progress.add_task(self._label, total=self._total, completed=self._completed)
        progress.start()
        self._progress = progress

    def stop(self) -> None:
        """Stop drawing the bar, and clear it."""
        progress, self._progress = self._progress, None
        if progress is not None:
            progress.stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Clear the bar for the block and draw it again after: for lines written to standard output."""
        drawn = self._progress is not None
        self.stop()
        try:
            yield
        finally:
            if drawn:
                self.start()

    def advance(self, amount: int = 1) -> None:
        self._completed += amount
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def print(self, line: str) -> None:
        """Print a line above the bar (on stderr), keeping the bar intact."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)

    def set_total(self, total: int) -> None:
        self._total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)


@contextmanager
def progress_bar(label: str, total: int | None, *, in_bytes: bool = False, show: bool = True) -> Iterator[Bar]:
    """Yield a Bar, drawn on stderr when ``show`` until the block ends."""
    bar = Bar(label, total, in_bytes=in_bytes, show=show)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()


def _new_progress(label: str, in_bytes: bool) -> Progress:
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
    from rich.text import Text

    class BinaryRateColumn(TransferSpeedColumn):
        """The rate in KiB/s, MiB/s..., as the commands print sizes."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{human_bytes(int(speed))}/s" if speed else "?", style="progress.data.speed")

    if in_bytes:
        columns = [
            TextColumn(label),
            BarColumn(),
            DownloadColumn(binary_units=True),
            BinaryRateColumn(),
            TimeRemainingColumn(),
        ]
    else:
        columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    return Progress(*columns, console=Console(file=sys.stderr), transient=True)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
