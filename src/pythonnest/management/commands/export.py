"""``export``: write a bundle of every change since the last export for a tag."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from packaging.requirements import InvalidRequirement, Requirement

from pythonnest.bundles import export
from pythonnest.bundles.config import bundle_settings, parse_size
from pythonnest.bundles.writers import ArchiveWriter, DirectoryWriter
from pythonnest.core.exceptions import PythonNestError
from pythonnest.management.base import PythonNestCommand
from pythonnest.management.progress import human_bytes, on_terminal, progress_bar
from pythonnest.storage import blob_store


def _requirements(path: Path) -> list[Requirement]:
    requirements = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read requirements file {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            requirements.append(Requirement(text))
        except InvalidRequirement as exc:
            raise CommandError(f"{path}:{number}: not a requirement: {exc}") from exc
    return requirements


class Command(PythonNestCommand):
    help = (
        "Export every change after the serial last exported for TAG (or after --serial N) as a bundle: "
        "a folder (--path, the default), one tar archive (--archive), or tar volumes (--volume-size)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", type=Path, help="Folder to write the bundle to (must not exist, or be empty).")
        parser.add_argument("--archive", type=Path, help="Write one tar archive instead of a folder.")
        parser.add_argument(
            "--volume-size",
            help="With --archive: split into volumes of at most this size (e.g. 4G, 700M): ARCHIVE.001, .002, ...",
        )
        parser.add_argument("--tag", default="default", help="Name of the peer this export is for (default: default).")
        parser.add_argument(
            "--serial", type=int, help="Export the changes after this serial instead of after the tag's last export."
        )
        parser.add_argument(
            "--project", action="append", default=[], metavar="NAME", help="Export only this project (repeatable)."
        )
        parser.add_argument(
            "--requirements",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help="Export only the projects (and releases matching the specifiers) of this requirements file.",
        )
        parser.add_argument(
            "--allow-missing",
            action="store_true",
            help="Export the metadata of files whose blob is missing, without the blob, instead of failing.",
        )
        parser.add_argument(
            "--sign-key",
            type=Path,
            help="Ed25519 private key (from keygen) to sign the manifest (default: SIGN_KEY in [export]).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be exported; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar, even on a terminal.")

    def handle(self, *args, **options):
        try:
            self._export(options)
        except PythonNestError as exc:
            raise CommandError(str(exc)) from exc

    def _export(self, options) -> None:
        if options["path"] and options["archive"]:
            raise CommandError("give --path or --archive, not both")
        if options["volume_size"] and not options["archive"]:
            raise CommandError("--volume-size needs --archive FILE")
        try:
            volume_size = parse_size(options["volume_size"]) if options["volume_size"] else None
        except ValueError as exc:
            raise CommandError(f"--volume-size: {exc}") from exc
        if not (options["path"] or options["archive"] or options["dry_run"]):
            raise CommandError("give --path DIR or --archive FILE (or --dry-run)")
        config = bundle_settings(settings.PYTHONNEST)
        requirements = [requirement for path in options["requirements"] for requirement in _requirements(path)]
        export_options = export.ExportOptions(
            tag=options["tag"],
            serial=options["serial"],
            projects=frozenset(options["project"]),
            requirements=tuple(requirements),
            allow_missing=options["allow_missing"],
            private_groups=config.private_groups(options["tag"]),
        )
        sign_key = options["sign_key"] or config.sign_key
        store = blob_store()
        with export.scratch_directory() as scratch:
            plan = export.plan_export(export_options, store=store, scratch=Path(scratch))
            self._describe(plan, export_options)
            if options["dry_run"]:
                self.stdout.write("Dry run: nothing written.")
                return
            if options["archive"]:
                writer = ArchiveWriter(
                    options["archive"],
                    volume_size,
                    plan.manifest_sha256,
                    export.member_plan(plan, sign_key is not None),
                )
            else:
                writer = DirectoryWriter(options["path"])
            show = on_terminal(options["no_progress"])
            with progress_bar("exporting", plan.blob_bytes, in_bytes=True, show=show) as bar:
                paths = export.write_bundle(plan, writer, store=store, sign_key=sign_key, on_blob=bar.advance)
            export.record_export(plan, export_options)
        for path in paths:
            self.stdout.write(f"Wrote {path}")
        note = " (partial export: the tag's last serial is unchanged)" if export_options.partial else ""
        self.stdout.write(f"Exported tag {plan.header.tag} up to serial {plan.header.serial_to}{note}.")

    def _describe(self, plan: export.ExportPlan, options: export.ExportOptions) -> None:
        counts = plan.counts
        header = plan.header
        self.stdout.write(
            f"Bundle for tag {header.tag}: serials ({header.serial_from}, {header.serial_to}], "
            f"{counts['projects']} project(s), {counts['removed_projects']} removed project(s), "
            f"{counts['releases']} release(s), {counts['files']} file(s), "
            f"{counts['blobs']} blob(s) ({human_bytes(plan.blob_bytes)})."
        )
        if plan.withheld:
            self.stdout.write(f"{plan.withheld} private project(s) withheld: tag {header.tag} may not receive them.")
        if plan.missing:
            self.stderr.write(f"{len(plan.missing)} file(s) exported without their blob: {', '.join(plan.missing)}")
