"""``add``: load wheels and sdists from files or folders."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from pythonnest.core.loading import find_distributions, load_paths
from pythonnest.management.base import PythonNestCommand
from pythonnest.management.progress import on_terminal, progress_bar
from pythonnest.storage import blob_store


class Command(PythonNestCommand):
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
        show_progress = on_terminal(options["no_progress"])
        with progress_bar("adding", len(candidates), show=show_progress) as bar:

            def report(kind: str, message: str) -> None:
                if kind == "refused" or kind == "skipped" or verbose:
                    line = f"{kind}: {message}"
                    if show_progress:
                        bar.print(line)  # above the live bar
                    else:
                        (self.stderr if kind == "refused" else self.stdout).write(line)
                bar.advance()

            summary = load_paths(candidates, store=blob_store(), on_result=report)
        self.stdout.write(
            f"Added {len(summary.added)} file(s) ({summary.new_projects} new project(s), "
            f"{summary.new_releases} new release(s)); skipped {len(summary.skipped)} duplicate(s); "
            f"refused {len(summary.refused)}."
        )
        if summary.refused:
            raise CommandError(f"{len(summary.refused)} file(s) refused", returncode=1)
