"""``update``: mirror an upstream index (PyPI, another PythonNest, any PEP 503/691 index)."""

from __future__ import annotations

import argparse
import signal
import sys

from django.conf import settings
from django.core.management.base import CommandError

from pythonnest.core.exceptions import ConfigError, PythonNestError
from pythonnest.management.base import PythonNestCommand
from pythonnest.management.progress import on_terminal
from pythonnest.storage import blob_store
from pythonnest.sync.options import DEFAULT_URL, DEFAULT_WORKERS, KEYS, SECTION, resolve_options
from pythonnest.sync.progress import PlainReporter
from pythonnest.sync.runner import run_update

MAX_LISTED_FAILURES = 20

BOOLEAN = {"action": argparse.BooleanOptionalAction, "default": None}
REPEATED = {"action": "append"}
# (flags, argparse settings); each flag's dest is its key in [update].
FLAGS = [
    (
        ["--url"],
        {
            "help": "The upstream: its base URL, its /simple/ URL or its XML-RPC URL ending in /pypi "
            f"(default: {DEFAULT_URL}). Credentials for a private index go in it: https://USER:PASSWORD@HOST/..."
        },
    ),
    (
        ["--init-all"],
        {
            **BOOLEAN,
            "help": "Look at every upstream project, not only those changed since the "
            "last run (a full pass, which also repairs).",
        },
    ),
    (
        ["--latest"],
        {
            "nargs": "?",
            "const": "1",
            "metavar": "N",
            "help": "Keep only the latest N releases of each project (N=1 when not given): older releases mirrored earlier are removed.",
        },
    ),
    (["--package"], {**REPEATED, "metavar": "NAME", "help": "Only this project (repeatable)."}),
    (["--serial"], {"metavar": "N", "help": "Take every project changed after upstream serial N as changed."}),
    (["--limit"], {"metavar": "N", "help": "Download at most N files in this run; the next run goes on."}),
    (["--retry"], {"metavar": "N", "help": "Retries of a failed request, with exponential backoff (default: 5)."}),
    (["--timeout"], {"metavar": "SECONDS", "help": "Network timeout of a request (default: 10)."}),
    (["--nocontinue"], {**BOOLEAN, "help": "Stop at the first failure."}),
    (["--workers"], {"metavar": "N", "help": f"Parallel downloads (default: {DEFAULT_WORKERS})."}),
    (
        ["--dry-run"],
        {**BOOLEAN, "help": "Print the projects, files and bytes a run would fetch and remove; change nothing."},
    ),
    (["--keep-deleted"], {**BOOLEAN, "help": "Keep what the upstream deleted (default: delete it too)."}),
    (
        ["--verify-all-digests"],
        {
            **BOOLEAN,
            "help": "Compute and check md5 and blake2b too, instead of taking the upstream's "
            "(sha256 and size are always checked).",
        },
    ),
    (["--allow"], {**REPEATED, "metavar": "NAME", "help": "Mirror only the projects named (repeatable)."}),
    (["--block"], {**REPEATED, "metavar": "NAME", "help": "Never mirror this project (repeatable)."}),
    (
        ["--allow-regex"],
        {
            **REPEATED,
            "metavar": "REGEX",
            "help": "Mirror only the projects whose normalized name matches this whole expression.",
        },
    ),
    (
        ["--block-regex"],
        {
            **REPEATED,
            "metavar": "REGEX",
            "help": "Never mirror the projects whose normalized name matches this whole expression.",
        },
    ),
    (
        ["--requirements", "-r"],
        {
            **REPEATED,
            "metavar": "FILE",
            "help": "Mirror the projects and versions a requirements file names (repeatable).",
        },
    ),
    (["--with-dependencies"], {**BOOLEAN, "help": "Also mirror the dependencies of what is selected."}),
    (["--exclude-prereleases"], {**BOOLEAN, "help": "Leave out pre-releases and development releases."}),
    (["--package-types"], {"metavar": "TYPES", "help": "sdist, wheel or both (default: both)."}),
    (
        ["--platform"],
        {
            **REPEATED,
            "metavar": "PATTERN",
            "help": "Only wheels with a platform tag like this, e.g. 'manylinux*_x86_64' or 'any'.",
        },
    ),
    (
        ["--exclude-platform"],
        {**REPEATED, "metavar": "PATTERN", "help": "Leave out wheels whose platform tags all match this pattern."},
    ),
    (
        ["--python-tag"],
        {**REPEATED, "metavar": "PATTERN", "help": "Only wheels with a Python tag like this, e.g. 'cp312' or 'py3'."},
    ),
    (
        ["--exclude-python-tag"],
        {**REPEATED, "metavar": "PATTERN", "help": "Leave out wheels whose Python tags all match this pattern."},
    ),
    (["--max-file-size"], {"metavar": "SIZE", "help": "Leave out files larger than SIZE (bytes, or with K, M, G)."}),
    (["--ca-bundle"], {"metavar": "FILE", "help": "Trust the certificate authorities in this PEM file."}),
    (
        ["--password-file"],
        {
            "metavar": "FILE",
            "help": "Read the upstream's password from the first line of this file; the user is the one "
            "--url names (https://USER@HOST/...). Keeps the password out of the URL and of ps.",
        },
    ),
    (["--xmlrpc"], {**BOOLEAN, "help": "Use the upstream's XML-RPC changelog when offered (default: yes)."}),
    (["--json-api"], {**BOOLEAN, "help": "Read /pypi/<name>/json of changed projects (default: yes)."}),
    (["--retry-backoff"], {"metavar": "SECONDS", "help": "Wait before the first retry, then doubled (default: 1)."}),
    (["--progress"], {**BOOLEAN, "help": "A progress bar on a terminal (default: yes); never one elsewhere."}),
]


def _interrupt(signum, frame):
    # systemd stops a unit with SIGTERM: stop as cleanly as on Ctrl-C.
    raise KeyboardInterrupt()


class Command(PythonNestCommand):
    help = (
        "Mirror an upstream index: only what changed since the last run, every file checked against its "
        "sha256, deletions and yanks followed, resumable after any interruption. Every option can also be "
        f"set in the [{SECTION}] section of pythonnest.ini (--init-all is init_all); a flag wins over the file."
    )

    def add_arguments(self, parser):
        for flags, settings_ in FLAGS:
            parser.add_argument(*flags, **settings_)

    def handle(self, *args, **options):
        given = {key: options[key] for key in KEYS if options.get(key) is not None}
        config = settings.PYTHONNEST
        try:
            update_options = resolve_options(config.sections.get(SECTION, {}), config.path, given)
        except PythonNestError as exc:
            raise CommandError(str(exc), returncode=2) from None
        verbosity = options["verbosity"]
        terminal = on_terminal(disabled=not update_options.progress)
        if terminal:
            from pythonnest.sync.terminal import TerminalReporter  # loads rich: only to draw a bar

            reporter = TerminalReporter(sys.stderr, verbosity)
        else:
            reporter = PlainReporter(self.stdout, self.stderr, verbosity)
        previous_handler = signal.signal(signal.SIGTERM, _interrupt)
        try:
            summary = run_update(update_options, store=blob_store(), reporter=reporter)
        except ConfigError as exc:  # a requirements file that cannot be read
            raise CommandError(str(exc), returncode=2) from None
        except PythonNestError as exc:
            raise CommandError(str(exc), returncode=1) from None
        finally:
            signal.signal(signal.SIGTERM, previous_handler)
            # run_update stops the bar once it runs; an error before that (a
            # requirements file that cannot be read, the lock held elsewhere)
            # must not leave it drawn, nor the cursor hidden. Stopping twice is harmless.
            reporter.close()
        for line in summary.lines():
            self.stdout.write(line)
        problems = summary.failures + summary.refused
        if terminal:
            # Plain output printed each problem as it happened, and a log
            # needs them once; on a terminal they scrolled by above the bar.
            for problem in problems[:MAX_LISTED_FAILURES]:
                self.stderr.write(f"  {problem}")
            if len(problems) > MAX_LISTED_FAILURES:
                self.stderr.write(f"  ... and {len(problems) - MAX_LISTED_FAILURES} more")
        if summary.interrupted:
            raise CommandError("interrupted", returncode=130)
        if summary.failed:
            raise CommandError(f"{len(problems)} problem(s); see above", returncode=1)
