"""``keygen``: make an Ed25519 key pair for signing bundles."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from pythonnest.bundles.signing import generate_key_pair
from pythonnest.core.exceptions import PythonNestError
from pythonnest.management.base import PythonNestCommand


class Command(PythonNestCommand):
    help = (
        "Make an Ed25519 key pair: PREFIX.key (private, mode 0600, for export --sign-key) and PREFIX.pub "
        "(public, for TRUSTED_KEYS in the importing instance's pythonnest.ini)."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix", type=Path, metavar="PREFIX", help="Path and base name of the two files.")
        parser.add_argument("--comment", default="", help="A note stored after the public key (e.g. the host name).")

    def handle(self, *args, **options):
        try:
            private, public, key_id = generate_key_pair(options["prefix"], options["comment"])
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Private key: {private} (keep it secret; use it with export --sign-key)")
        self.stdout.write(f"Public key:  {public} (add it to TRUSTED_KEYS in [import] on the importing side)")
        self.stdout.write(f"Key id: {key_id}")
