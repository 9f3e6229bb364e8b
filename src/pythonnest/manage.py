"""``pythonnest-manage``: Django's manage.py with PythonNest's settings."""

from __future__ import annotations

import gc
import os
import select
import sys

SETTINGS_MODULE = "pythonnest.djangoproject.settings"
# The status a shell reports for a command killed by SIGPIPE (128 + 13), as
# for other tools whose reader went away.
EXIT_BROKEN_PIPE = 141


def _collect_from_now_on(collect: bool) -> None:
    """Turn the garbage collector back on (if ``collect``), leaving what start-up built out of its rounds.

    Start-up builds a few hundred thousand objects that live as long as the
    process (modules, classes, Django's app registry and models). Collecting
    while they are being built finds nothing to free and cost about a tenth
    of a short command's run; once built, ``gc.freeze`` keeps them out of
    every later full collection (an ``update`` or ``import`` makes many).
    """
    gc.freeze()
    if collect:
        gc.enable()


def _utility(argv: list[str], collect: bool):
    from django.core.management import ManagementUtility

    class Utility(ManagementUtility):
        # Django calls this once its setup is done, to load the command to run.
        def fetch_command(self, subcommand):
            command = super().fetch_command(subcommand)
            _collect_from_now_on(collect)
            return command

    return Utility(argv)


def _reader_gone(stream) -> bool:
    """Whether ``stream`` is a pipe or socket whose reading end is closed (poll says POLLERR)."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so that nothing more is written to a closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # A collector its caller had turned off stays off, through the command too.
        _run(argv if argv is not None else sys.argv, collect=was_enabled)
    finally:
        # Whatever path the command took (help, an error, a command of Django's own).
        if was_enabled:
            gc.enable()


def _run(argv: list[str], collect: bool) -> None:
    from pythonnest.conf import load_config
    from pythonnest.core.exceptions import ConfigError

    try:
        load_config()
    except ConfigError as exc:
        # One clear line, before Django turns it into a traceback.
        print(f"pythonnest-manage: error: {exc}", file=sys.stderr)
        sys.exit(2)
    from django.db.utils import OperationalError, ProgrammingError

    try:
        _utility(argv, collect).execute()
    except BrokenPipeError:
        if not _reader_gone(sys.stdout):
            raise  # a pipe or socket of the command's own: a failure to report
        # Whoever read the output stopped reading (``| head``): end quietly, as
        # other command-line tools do, and keep the interpreter's last flush of
        # stdout from failing in turn with "Exception ignored".
        _drop_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except (OperationalError, ProgrammingError) as exc:
        # A missing table or an unreachable server: one line, not a traceback.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"pythonnest-manage: database error: {first_line} (is the database up, and has "
            "'pythonnest-manage syncdb' been run?)",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
