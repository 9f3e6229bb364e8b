"""``project``: an administrator's settings of a project: its origin and its privacy."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandError

from pythonnest.core import access
from pythonnest.core.accounts import find_group
from pythonnest.core.exceptions import PythonNestError
from pythonnest.core.models import Project
from pythonnest.core.projects import find_project, set_project_origin, set_project_private
from pythonnest.management.base import PythonNestCommand


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


class Command(PythonNestCommand):
    help = (
        "Show a project, make it local or mirrored (uploads go only to local projects), "
        "or restrict it to a group. Each change is journaled."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{show,origin,private,public}")
        show = actions.add_parser("show", help="Print a project's origin, privacy, roles and counts.")
        show.add_argument("name")
        origin = actions.add_parser(
            "origin", help="Make a project local (it takes uploads, never upstream files) or mirrored."
        )
        origin.add_argument("name")
        origin.add_argument("origin", choices=[choice.value for choice in Project.Origin])
        private = actions.add_parser("private", help="Make a project invisible to everyone outside GROUP.")
        private.add_argument("name")
        private.add_argument("group")
        private.add_argument("--create-group", action="store_true", help="Create the group if it does not exist.")
        public = actions.add_parser("public", help="Make a private project visible to everyone again.")
        public.add_argument("name")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _show(self, options):
        project = find_project(options["name"])
        group = project.private_group.name if project.private_group else None
        self.stdout.write(f"Project:  {project.name} ({project.normalized_name})")
        self.stdout.write(f"Origin:   {project.origin}")
        self.stdout.write(f"Private:  {'to group ' + group if group else 'no (public)'}")
        self.stdout.write(f"Releases: {project.releases.count()}, files: {project.files.count()}")
        self.stdout.write(f"Serial:   {project.last_serial}")
        roles = access.project_roles(project)
        self.stdout.write("Roles:    " + (", ".join(f"{user} ({role})" for role, user in roles) or "none"))

    def _origin(self, options):
        project = find_project(options["name"])
        entry = set_project_origin(project, options["origin"], source="admin", submitted_by=_operator())
        self._report(project, options["origin"], entry)

    def _private(self, options):
        project = find_project(options["name"])
        group = find_group(options["group"], create=options["create_group"])
        entry = set_project_private(project, group, source="admin", submitted_by=_operator())
        self._report(project, f"private to group {group.name}", entry)

    def _public(self, options):
        project = find_project(options["name"])
        entry = set_project_private(project, None, source="admin", submitted_by=_operator())
        self._report(project, "public", entry)

    def _report(self, project, state, entry):
        if entry is None:
            self.stdout.write(f"{project.name} is already {state}; nothing changed.")
        else:
            self.stdout.write(f"{project.name} is now {state} (serial {entry.serial}).")
