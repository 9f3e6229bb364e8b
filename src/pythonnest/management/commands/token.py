"""``token``: create, list and revoke API tokens, until the web UI does it."""

from __future__ import annotations

from django.core.management.base import CommandError

from pythonnest.core import tokens
from pythonnest.core.accounts import find_user
from pythonnest.core.exceptions import PythonNestError
from pythonnest.core.projects import find_project
from pythonnest.management.base import PythonNestCommand


class Command(PythonNestCommand):
    help = (
        "Manage API tokens, which twine and pip use as the password of the username __token__. "
        "A new token's secret is printed once and never stored."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = actions.add_parser("create", help="Create a token and print its secret, once.")
        create.add_argument("username")
        create.add_argument("--project", metavar="NAME", help="Scope the token to this project only.")
        create.add_argument("--description", default="", help="A note to recognise the token by.")
        listing = actions.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("username", nargs="?", help="Only this user's tokens.")
        revoke = actions.add_parser("revoke", help="Revoke a token for good.")
        revoke.add_argument("token", help="The token's id, or its prefix as 'list' shows it (pynest-xxxxxx).")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _create(self, options):
        user = find_user(options["username"])
        project = find_project(options["project"]) if options["project"] else None
        new = tokens.create_token(user, project=project, description=options["description"])
        scope = f"project {project.name}" if project else "all of the user's projects"
        self.stdout.write(f"Created token {new.token.pk} for {user.get_username()}, scoped to {scope}.")
        self.stderr.write("Copy it now; it is not shown again:")
        self.stdout.write(new.secret)

    def _list(self, options):
        user = find_user(options["username"]) if options["username"] else None
        found = tokens.list_tokens(user)
        if not found:
            self.stdout.write("No tokens.")
            return
        self.stdout.write(
            f"{'ID':>5}  {'PREFIX':<14} {'USER':<16} {'SCOPE':<24} {'LAST USED':<20} {'STATE':<8} DESCRIPTION"
        )
        for token in found:
            scope = token.project.name if token.project else "(all projects)"
            last_used = token.last_used.isoformat(timespec="seconds")[:19] if token.last_used else "never"
            state = "revoked" if token.revoked else "active"
            self.stdout.write(
                f"{token.pk:>5}  {token.prefix:<14} {token.user.get_username():<16} {scope:<24} "
                f"{last_used:<20} {state:<8} {token.description}"
            )

    def _revoke(self, options):
        token = tokens.find_token(options["token"])
        if tokens.revoke_token(token):
            self.stdout.write(f"Revoked token {token.pk} ({token.prefix}) of {token.user.get_username()}.")
        else:
            self.stdout.write(f"Token {token.pk} ({token.prefix}) was already revoked.")
