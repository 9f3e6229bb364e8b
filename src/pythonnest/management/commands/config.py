"""``config``: show where the configuration lives and what is in force."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import CommandError

from pythonnest.conf import CONFIG_ENV, config_path, default_file_text, load_config
from pythonnest.management.base import PythonNestCommand


class Command(PythonNestCommand):
    help = (
        "Print the path of pythonnest.ini in use and the effective configuration "
        "(passwords hidden), or write a commented default file."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--write",
            action="store_true",
            help="Write a commented default file at the path in use, if no file is there yet.",
        )
        parser.add_argument(
            "--default",
            action="store_true",
            help="Print a commented default file on standard output instead.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="With --write, replace an existing file.",
        )

    def handle(self, *args, **options):
        if options["default"]:
            self.stdout.write(default_file_text(), ending="")
            return
        path = config_path()
        if options["write"]:
            self._write(path, options["force"])
            return
        config = load_config(path)
        origin = f"from ${CONFIG_ENV}" if os.environ.get(CONFIG_ENV) else "default location"
        state = "" if config.file_exists else " (not present: defaults apply)"
        self.stdout.write(f"Configuration file: {path} ({origin}){state}")
        self.stdout.write("[pythonnest]")
        for key, value in config.effective_values().items():
            self.stdout.write(f"{key} = {value}")

    def _write(self, path: Path, force: bool) -> None:
        if path.exists() and not force:
            raise CommandError(f"{path} already exists; add --force to replace it")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(path.name + ".tmp")
            temporary.write_text(default_file_text(), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from exc
        self.stdout.write(f"Wrote a default configuration to {path}")
