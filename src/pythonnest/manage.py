"""``pythonnest-manage``: Django's manage.py with PythonNest's settings."""

from __future__ import annotations

import os
import sys

SETTINGS_MODULE = "pythonnest.djangoproject.settings"


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from pythonnest.conf import load_config
    from pythonnest.core.exceptions import ConfigError

    try:
        load_config()
    except ConfigError as exc:
        # One clear line, before Django turns it into a traceback.
        print(f"pythonnest-manage: error: {exc}", file=sys.stderr)
        sys.exit(2)
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError, ProgrammingError

    try:
        execute_from_command_line(argv if argv is not None else sys.argv)
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
