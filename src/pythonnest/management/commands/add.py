"""``add``: load wheels and sdists from files or folders."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pythonnest.core.loading import find_distributions, load_paths
from pythonnest.storage import blob_store


class Command(BaseCommand):
    help = (
        "Add wheels and sdists to the index, from files or from folders searched recursively. "
        "Each file added is one journaled change; exact duplicates are skipped; bad files are "
        "refused with a reason. The exit code is 1 if any file was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="A distribution file or a folder.")
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Do not show a progress bar, even on a terminal.",
        )

    def handle(self, *args, **options):
        candidates = list(find_distributions(options["paths"]))
        verbose = options["verbosity"] >= 2
        self.stdout.write(f"Adding {len(candidates)} file(s)")
        show_progress = sys.stderr.isatty() and not options["no_progress"]
        console = Console(file=sys.stderr)

        def report(kind: str, message: str) -> None:
            if kind == "refused":
                line = f"refused: {message}"
                console.print(line, markup=False, highlight=False) if show_progress else self.stderr.write(line)
            elif kind == "skipped" or verbose:
                line = f"{kind}: {message}"
                console.print(line, markup=False, highlight=False) if show_progress else self.stdout.write(line)

        store = blob_store()
        if show_progress:
            columns = [TextColumn("adding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("add", total=len(candidates))

                def report_and_advance(kind: str, message: str) -> None:
                    report(kind, message)
                    progress.advance(task)

                summary = load_paths(candidates, store=store, on_result=report_and_advance)
        else:
            summary = load_paths(candidates, store=store, on_result=report)
        self.stdout.write(
            f"Added {len(summary.added)} file(s) ({summary.new_projects} new project(s), "
            f"{summary.new_releases} new release(s)); skipped {len(summary.skipped)} duplicate(s); "
            f"refused {len(summary.refused)}."
        )
        if summary.refused:
            raise CommandError(f"{len(summary.refused)} file(s) refused", returncode=1)
