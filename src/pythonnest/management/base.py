"""The base of PythonNest's own commands."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class PythonNestCommand(BaseCommand):
    """A PythonNest command: it skips Django's system checks.

    Those checks import every URL pattern and view (the web UI, docutils for
    README rendering) and cost a third of a short command's run. ``serve``
    and ``syncdb`` still run them, as does ``pythonnest-manage check``.
    """

    requires_system_checks: list[str] = []
