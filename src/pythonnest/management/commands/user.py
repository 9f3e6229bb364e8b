"""``user``: create accounts and put them in groups, for administrators without the admin site."""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from pythonnest.core import accounts
from pythonnest.core.exceptions import PythonNestError
from pythonnest.management.base import PythonNestCommand


class Command(PythonNestCommand):
    help = "Create users, add them to groups or take them out, and list them with their groups."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,join,leave,list}")
        create = actions.add_parser("create", help="Create a user.")
        create.add_argument("username")
        create.add_argument("--email", default="")
        create.add_argument("--staff", action="store_true", help="May log in to the admin site.")
        create.add_argument("--superuser", action="store_true", help="Has every permission.")
        create.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from standard input; otherwise it is asked on a terminal.",
        )
        create.add_argument("--no-password", action="store_true", help="Create the user without a usable password.")
        memberships = (("join", "Add a user to a group (made if missing)."), ("leave", "Take a user out of a group."))
        for name, text in memberships:
            action = actions.add_parser(name, help=text)
            action.add_argument("username")
            action.add_argument("group")
        actions.add_parser("list", help="List users and their groups.")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, options):
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
        elif not options["no_password"]:
            if not sys.stdin.isatty():
                raise CommandError("no terminal to ask the password on: use --password-stdin or --no-password")
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
        if password is not None:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        user = accounts.create_user(
            options["username"],
            password,
            email=options["email"],
            staff=options["staff"],
            superuser=options["superuser"],
        )
        self.stdout.write(f"Created user {user.get_username()}.")

    def _join(self, options):
        user = accounts.find_user(options["username"])
        group = accounts.find_group(options["group"], create=True)
        accounts.add_to_group(user, group)
        self.stdout.write(f"{user.get_username()} is a member of {group.name}.")

    def _leave(self, options):
        user = accounts.find_user(options["username"])
        group = accounts.find_group(options["group"])
        accounts.remove_from_group(user, group)
        self.stdout.write(f"{user.get_username()} is no longer a member of {group.name}.")

    def _list(self, options):
        for user in accounts.list_users():
            groups = ", ".join(group.name for group in user.groups.all()) or "-"
            flags = "".join(flag for flag, on in (("S", user.is_superuser), ("s", user.is_staff)) if on)
            self.stdout.write(f"{user.get_username():<20} {flags:<3} {groups}")
