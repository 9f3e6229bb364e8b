"""``verify-bundle``: check a bundle completely without importing it."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from pythonnest.bundles.config import bundle_settings
from pythonnest.bundles.importer import ImportOptions, verify_bundle
from pythonnest.core.exceptions import PythonNestError
from pythonnest.management.base import PythonNestCommand
from pythonnest.management.progress import human_bytes, on_terminal, progress_bar


class Command(PythonNestCommand):
    help = (
        "Check a bundle without importing it: the manifest's digest and records, the signature against the "
        "trusted keys of pythonnest.ini, every volume, and the sha256 and size of every blob. Exit 0 if sound."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="Bundle folder, archive or volumes.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar, even on a terminal.")

    def handle(self, *args, **options):
        try:
            config = bundle_settings(settings.PYTHONNEST)
            verify_options = ImportOptions(require_signature=config.require_signature, trusted_keys=config.trusted_keys)
            with progress_bar("verifying", None, in_bytes=True, show=on_terminal(options["no_progress"])) as bar:
                facts = verify_bundle(options["paths"], verify_options, on_blob=bar.advance)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc
        header = facts.header
        if facts.signed_by:
            signature = f"signed by trusted key {facts.signed_by}"
        elif facts.signature_unchecked:
            signature = "signed, but the signature was not checked (no TRUSTED_KEYS)"
        else:
            signature = "not signed"
        self.stdout.write(
            f"Bundle OK: instance {header.source_instance}, tag {header.tag}, serials ({header.serial_from}, "
            f"{header.serial_to}], {facts.counts.get('projects', 0)} project(s), {facts.index.file_count} file(s), "
            f"{facts.index.blob_count} blob(s) ({human_bytes(facts.index.blob_bytes)}), {signature}."
        )
