"""``role``: give, take away and list the Owner and Maintainer roles on projects."""

from __future__ import annotations

from django.core.management.base import CommandError

from pythonnest.core import access
from pythonnest.core.accounts import find_user
from pythonnest.core.exceptions import PythonNestError
from pythonnest.core.models import Role
from pythonnest.core.projects import find_project
from pythonnest.management.base import PythonNestCommand

ROLE_NAMES = {"owner": Role.Kind.OWNER, "maintainer": Role.Kind.MAINTAINER}


class Command(PythonNestCommand):
    help = (
        "Manage roles: Owners upload and manage roles, Maintainers upload. A project always keeps at least one Owner."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,remove,list}")
        add = actions.add_parser("add", help="Give a user a role on a project (replacing any other).")
        add.add_argument("project")
        add.add_argument("username")
        add.add_argument("role", nargs="?", default="maintainer", choices=sorted(ROLE_NAMES))
        remove = actions.add_parser("remove", help="Take away a user's role on a project.")
        remove.add_argument("project")
        remove.add_argument("username")
        listing = actions.add_parser("list", help="List the roles of a project, or of a user.")
        listing.add_argument("project", nargs="?")
        listing.add_argument("--user", metavar="USERNAME")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _add(self, options):
        project, user = find_project(options["project"]), find_user(options["username"])
        role = access.set_role(project, user, ROLE_NAMES[options["role"]])
        self.stdout.write(f"{user.get_username()} is now {role.role} of {project.name}.")

    def _remove(self, options):
        project, user = find_project(options["project"]), find_user(options["username"])
        access.remove_role(project, user)
        self.stdout.write(f"{user.get_username()} no longer has a role on {project.name}.")

    def _list(self, options):
        if options["project"]:
            rows = [(role, username) for role, username in access.project_roles(find_project(options["project"]))]
        elif options["user"]:
            rows = [(role, name) for role, name in access.user_roles(find_user(options["user"]))]
        else:
            raise CommandError("name a project, or a user with --user")
        if not rows:
            self.stdout.write("No roles.")
        for role, name in rows:
            self.stdout.write(f"{role:<11} {name}")
