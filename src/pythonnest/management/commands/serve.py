"""``serve``: migrate if needed, then run gunicorn with sane defaults."""

from __future__ import annotations

import os
import shutil
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pythonnest.manage import SETTINGS_MODULE


class Command(BaseCommand):
    help = "Apply pending migrations and collect static files, then serve PythonNest with gunicorn."

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            "-b",
            default="127.0.0.1:8000",
            help="Address to listen on, HOST:PORT (default: 127.0.0.1:8000; use 0.0.0.0:8000 for every interface).",
        )
        parser.add_argument(
            "--workers",
            "-w",
            type=int,
            default=None,
            help="Number of gunicorn worker processes (default: 2 per CPU core plus one).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=4,
            help="Threads per worker, so slow downloads do not block other requests (default: 4).",
        )
        parser.add_argument(
            "--timeout",
            type=int,
            default=120,
            help="Seconds a worker may spend on one request before it is restarted (default: 120).",
        )
        parser.add_argument(
            "--no-migrate",
            action="store_false",
            dest="migrate",
            help="Do not apply pending migrations first.",
        )

    def handle(self, *args, **options):
        workers = options["workers"] or (2 * (os.cpu_count() or 1) + 1)
        if workers < 1 or options["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")
        if options["migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")
        if gunicorn is None:
            raise CommandError("gunicorn is not installed; install it with: pip install gunicorn")
        argv = [
            gunicorn,
            "pythonnest.djangoproject.wsgi:application",
            "--bind",
            options["bind"],
            "--workers",
            str(workers),
            "--threads",
            str(options["threads"]),
            "--timeout",
            str(options["timeout"]),
            "--access-logfile",
            "-",
        ]
        argv += _control_socket_arguments(settings.PYTHONNEST.root_path)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
        self.stdout.write(f"Serving PythonNest at http://{options['bind']}/ with {workers} workers")
        self.stdout.flush()
        # exec: gunicorn becomes this process, so signals reach it directly.
        os.execv(gunicorn, argv)


def _control_socket_arguments(root_path) -> list[str]:
    """Give gunicorn's control socket a path of this instance's own.

    Recent gunicorn opens one at ~/.gunicorn/gunicorn.ctl by default, which
    two instances on one host would fight over.
    """
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket" for setting in KNOWN_SETTINGS):
        return ["--control-socket", str(root_path / "gunicorn.ctl")]
    return []
