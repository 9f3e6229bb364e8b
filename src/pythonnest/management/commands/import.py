"""``import``: apply a bundle, in order, refusing gaps unless forced."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from pythonnest.bundles.config import bundle_settings
from pythonnest.bundles.format import listed
from pythonnest.bundles.importer import ImportOptions, import_bundle
from pythonnest.core.exceptions import PythonNestError
from pythonnest.management.base import PythonNestCommand
from pythonnest.management.progress import human_bytes, on_terminal, progress_bar
from pythonnest.storage import blob_store


class Command(PythonNestCommand):
    help = (
        "Import a bundle written by 'export' on another instance: a folder (--path), or an archive or volumes "
        "(--archive, in any order). Every digest and the signature are checked before anything changes; the "
        "catalog changes in one transaction. A gap in the serials is refused unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", type=Path, help="The bundle folder (or a folder holding its archive or volumes).")
        parser.add_argument("--archive", type=Path, nargs="+", help="The bundle archive, or all its volumes.")
        parser.add_argument(
            "--tag", help="Name under which imports from this source are tracked (default: the bundle's own tag)."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Accept a bundle that leaves a gap in the serials; the gap is recorded.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the manifest and print what would change.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar, even on a terminal.")

    def handle(self, *args, **options):
        paths = ([options["path"]] if options["path"] else []) + (options["archive"] or [])
        if not paths:
            raise CommandError("give --path DIR or --archive FILE [FILE ...]")
        if options["path"] and options["archive"]:
            raise CommandError("give --path or --archive, not both")
        try:
            self._import(paths, options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _import(self, paths: list[Path], options) -> None:
        config = bundle_settings(settings.PYTHONNEST)
        import_options = ImportOptions(
            tag=options["tag"],
            force=options["force"],
            require_signature=config.require_signature,
            trusted_keys=config.trusted_keys,
        )
        show = on_terminal(options["no_progress"])
        with progress_bar("importing", None, in_bytes=True, show=show) as bar:

            def start(facts) -> None:
                bar.set_total(facts.index.blob_bytes)
                # The header goes to standard output: written while the bar
                # is drawn, it would share the bar's line.
                with bar.paused():
                    self._header(facts)

            summary, plan = import_bundle(
                paths,
                import_options,
                store=blob_store(),
                dry_run=options["dry_run"],
                on_start=start,
                on_blob=bar.advance,
            )
        facts = summary.facts
        header = facts.header
        if facts.already_imported:
            outcome = (
                f"the catalog is unchanged; restored {summary.blobs_stored} missing blob(s)."
                if summary.blobs_stored
                else "nothing to do."
            )
            self.stdout.write(f"Already imported: tag {facts.tag} is past serial {header.serial_to}; {outcome}")
            return
        if plan is not None:
            self._header(facts)
            self.stdout.write(
                f"Dry run: would create {plan.projects_new} project(s), update {plan.projects_updated}, "
                f"remove {plan.projects_removed}; add {plan.releases_new} release(s) and {plan.files_new} file(s), "
                f"remove {plan.files_removed} file(s); "
                f"store {human_bytes(plan.bytes_new)} of new blobs. Nothing changed."
            )
            return
        counts = summary.counts
        if facts.signature_unchecked:
            # A log should show it as a warning, not only in the header's wording.
            self.stderr.write(
                "warning: the bundle is signed, but TRUSTED_KEYS in [import] is empty: its signature was not "
                "checked (set TRUSTED_KEYS, and REQUIRE_SIGNATURE to refuse unsigned bundles)"
            )
        if facts.forced_gap:
            gap = facts.forced_gap
            self.stderr.write(
                f"warning: accepted a gap with --force: serials {gap['missing_from'] + 1} to {gap['missing_to']} "
                f"of tag {facts.tag} were never imported (recorded)"
            )
        reach = (
            f"Imported a partial bundle of tag {facts.tag} (serials ({header.serial_from}, {header.serial_to}]; "
            "the tag's last serial is unchanged)"
            if header.selection is not None
            else f"Imported tag {facts.tag} up to serial {header.serial_to}"
        )
        self.stdout.write(
            f"{reach}: "
            f"{counts.projects_created} project(s) created, {len(counts.projects_changed)} changed, "
            f"{counts.projects_removed} removed; {counts.files_added} file(s) added, {counts.files_removed} removed; "
            f"{counts.yanks} yank change(s); {summary.blobs_stored} blob(s) stored ({human_bytes(summary.blob_bytes)})."
        )
        if counts.local_left_alone:
            names = counts.local_left_alone
            self.stdout.write(
                f"{len(names)} project(s) the bundle removes are local to this instance and were left alone: "
                f"{listed(names[:10], len(names))}"
            )
        if summary.missing_blobs:
            self.stdout.write(
                f"{len(summary.missing_blobs)} file(s) came without their content and answer 404 until a later "
                f"bundle brings it: {', '.join(summary.missing_blobs)}"
            )

    def _header(self, facts) -> None:
        header = facts.header
        if facts.signed_by:
            signed = f", signed by trusted key {facts.signed_by}"
        elif facts.signature_unchecked:
            signed = ", signed but not checked (no TRUSTED_KEYS)"
        else:
            signed = ", not signed"
        self.stdout.write(
            f"Bundle from instance {header.source_instance}, tag {header.tag}, serials "
            f"({header.serial_from}, {header.serial_to}]{signed}: {facts.counts.get('projects', 0)} project(s), "
            f"{facts.counts.get('files', 0)} file(s), {facts.index.blob_count} blob(s)."
        )
