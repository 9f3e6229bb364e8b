"""Load a large synthetic catalog quickly, for benchmarks only.

    PYTHONNEST_CONFIG=/path/to/pythonnest.ini python bench/synthetic_catalog.py \
        [--projects 20000] [--files 2000] [--files-per-project 2] [--blobs 8]

Adding 20,000 projects through ``services.add_distribution`` one file at a
time takes far too long for a benchmark, so this loader writes the catalog
rows in bulk straight through the ORM (``bulk_create`` of Project, Release,
File and JournalEntry, then the SerialCounter). It is the one place outside
``pythonnest.core.services`` that writes the catalog, and it only ever runs
against a fresh, empty catalog that it refuses otherwise. It keeps the
catalog's invariants as ``add_distribution`` would leave them:

- one ADD_FILE journal entry per file, serials 1..N, SerialCounter = N;
- ``Project.last_serial`` is the serial of the project's newest entry;
- each file's sha256, md5 and blake2_256 are the digests of its (synthetic)
  bytes, and so is the PEP 658 metadata digest of each wheel.

Only the bytes of the first ``--blobs`` files are written to the blob store;
the others are "known but not on this server", which the index pages do not
care about (DESIGN.md invariant 3) and which keeps the loader fast.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass

# The big project's files, one release after another: one sdist and wheels.
WHEEL_TAGS = [
    "cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-macosx_11_0_arm64",
    "cp312-cp312-win_amd64",
    "cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64",
]
BIG_PROJECT = "big-project"
BIG_DISPLAY_NAME = "Big_Project"
# Every 50th release of the big project is yanked, so pages carry PEP 592 marks.
YANK_EVERY = 50


def small_project_name(index: int) -> str:
    """The normalized name of the ``index``-th small project (0-based)."""
    return f"bench-pkg-{index:05d}"


def small_display_name(index: int) -> str:
    # Differs from the normalized form, as many real names do.
    return f"Bench_Pkg.{index:05d}"


@dataclass(frozen=True)
class SyntheticFile:
    filename: str
    version: str
    packagetype: str
    python_version: str
    content: bytes
    metadata: bytes | None


@dataclass(frozen=True)
class LoadSummary:
    projects: int
    releases: int
    files: int
    serial: int
    blobs_written: int
    seconds: float


def _dist_name(normalized: str) -> str:
    return normalized.replace("-", "_")


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.9\n".encode()


def _project_files(normalized: str, display: str, file_count: int, files_per_release: int) -> list[SyntheticFile]:
    """``file_count`` files, ``files_per_release`` per version: sdist first, then wheels."""
    files = []
    dist = _dist_name(normalized)
    for release_index in range(math.ceil(file_count / files_per_release)):
        version = f"{release_index // 100}.{release_index // 10 % 10}.{release_index % 10}"
        for slot in range(min(files_per_release, file_count - len(files))):
            if slot == 0:
                filename = f"{dist}-{version}.tar.gz"
                packagetype, python_version, metadata = "sdist", "source", None
            else:
                tag = WHEEL_TAGS[(slot - 1) % len(WHEEL_TAGS)]
                if slot > len(WHEEL_TAGS):
                    tag = f"py3-none-any{slot}"  # only past 8 files per release
                filename = f"{dist}-{version}-{tag}.whl"
                packagetype, python_version = "bdist_wheel", tag.split("-")[0]
                metadata = _metadata(display, version)
            content = f"synthetic distribution {filename}\n".encode()
            files.append(SyntheticFile(filename, version, packagetype, python_version, content, metadata))
    return files


def _is_empty() -> bool:
    from pythonnest.core.journal import current_serial
    from pythonnest.core.models import Project

    return current_serial() == 0 and not Project.objects.exists()


def load_synthetic_catalog(
    projects: int = 20_000,
    big_files: int = 2_000,
    *,
    files_per_project: int = 2,
    blobs: int = 8,
    progress=None,
) -> LoadSummary:
    """Bulk-load ``projects`` small projects plus ``BIG_PROJECT`` with ``big_files`` files.

    Raises RuntimeError when the catalog is not empty.
    """
    from django.conf import settings
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.utils import timezone

    from pythonnest.core.distributions import canonical_version
    from pythonnest.core.journal import SERIAL_COUNTER_ID
    from pythonnest.core.models import File, JournalEntry, Project, Release, SerialCounter
    from pythonnest.storage.local import LocalBlobStore

    started = time.monotonic()
    if not _is_empty():
        raise RuntimeError("the catalog is not empty; the synthetic loader only fills a fresh one")
    store = LocalBlobStore(settings.PYTHONNEST_BLOB_ROOT)
    now = timezone.now()
    catalog = [
        (small_project_name(index), small_display_name(index), files_per_project, 2) for index in range(projects)
    ]
    if big_files:
        catalog.append((BIG_PROJECT, BIG_DISPLAY_NAME, big_files, 1 + len(WHEEL_TAGS)))

    project_rows, release_rows, file_rows, journal_rows = [], [], [], []
    blobs_written = 0
    serial = 0
    # Explicit primary keys: the rows are linked before anything is inserted,
    # and MySQL's bulk_create does not hand the keys back.
    for project_id, (normalized, display, file_count, per_release) in enumerate(catalog, start=1):
        project = Project(id=project_id, name=display, normalized_name=normalized, created=now, origin="local")
        releases: dict[str, Release] = {}
        first_serial = serial + 1
        for synthetic in _project_files(normalized, display, file_count, per_release):
            release = releases.get(synthetic.version)
            new_release = release is None
            if new_release:
                yanked = len(releases) % YANK_EVERY == YANK_EVERY - 1
                release = Release(
                    id=len(release_rows) + 1,
                    project_id=project_id,
                    version=synthetic.version,
                    canonical_version=canonical_version(synthetic.version),
                    created=now,
                    yanked=yanked,
                    yanked_reason="broken build" if yanked else "",
                    metadata_version="2.1",
                    summary=f"The synthetic {display} package",
                    requires_python=">=3.9",
                )
                releases[synthetic.version] = release
                release_rows.append(release)
            serial += 1
            digest = hashlib.sha256(synthetic.content).hexdigest()
            metadata_digest = hashlib.sha256(synthetic.metadata).hexdigest() if synthetic.metadata else ""
            file_rows.append(
                File(
                    id=len(file_rows) + 1,
                    project_id=project_id,
                    release_id=release.id,
                    filename=synthetic.filename,
                    packagetype=synthetic.packagetype,
                    python_version=synthetic.python_version,
                    size=len(synthetic.content),
                    sha256=digest,
                    md5=hashlib.md5(synthetic.content, usedforsecurity=False).hexdigest(),
                    blake2_256=hashlib.blake2b(synthetic.content, digest_size=32).hexdigest(),
                    upload_time=now,
                    requires_python=">=3.9",
                    metadata_sha256=metadata_digest,
                )
            )
            journal_rows.append(
                JournalEntry(
                    serial=serial,
                    action=JournalEntry.Action.ADD_FILE,
                    project_name=normalized,
                    version=synthetic.version,
                    filename=synthetic.filename,
                    data={
                        "sha256": digest,
                        "size": len(synthetic.content),
                        "packagetype": synthetic.packagetype,
                        "python_version": synthetic.python_version,
                        "new_project": serial == first_serial,
                        "new_release": new_release,
                    },
                    source="add",
                    created=now,
                )
            )
            if blobs_written < blobs:
                _write_blob(store, digest, synthetic.content)
                if synthetic.metadata:
                    _write_blob(store, metadata_digest, synthetic.metadata)
                blobs_written += 1
        project.last_serial = serial
        project_rows.append(project)

    with transaction.atomic():
        tables = ((Project, project_rows), (Release, release_rows), (File, file_rows), (JournalEntry, journal_rows))
        for model, rows in tables:
            if progress:
                progress(f"inserting {len(rows):,} {model._meta.verbose_name_plural}")
            model.objects.bulk_create(rows, batch_size=2_000)
        SerialCounter.objects.update_or_create(pk=SERIAL_COUNTER_ID, defaults={"value": serial})
        # PostgreSQL's sequences do not follow explicit keys; later adds need them to.
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Project, Release, File]):
                cursor.execute(statement)
    return LoadSummary(
        projects=len(project_rows),
        releases=len(release_rows),
        files=len(file_rows),
        serial=serial,
        blobs_written=blobs_written,
        seconds=time.monotonic() - started,
    )


def _write_blob(store, sha256: str, content: bytes) -> None:
    path = store.path_for(sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20_000, help="small projects to create (default 20000)")
    parser.add_argument("--files", type=int, default=2_000, help=f"files of {BIG_PROJECT!r} (default 2000; 0: none)")
    parser.add_argument("--files-per-project", type=int, default=2, help="files of each small project (default 2)")
    parser.add_argument("--blobs", type=int, default=8, help="files whose bytes are written to the store (default 8)")
    options = parser.parse_args(argv)
    if "PYTHONNEST_CONFIG" not in os.environ:
        print("synthetic_catalog: set PYTHONNEST_CONFIG to the pythonnest.ini of a fresh instance", file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pythonnest.djangoproject.settings")
    import django

    django.setup()
    try:
        summary = load_synthetic_catalog(
            options.projects,
            options.files,
            files_per_project=options.files_per_project,
            blobs=options.blobs,
            progress=lambda message: print(f"  {message}", flush=True),
        )
    except RuntimeError as exc:
        print(f"synthetic_catalog: {exc}", file=sys.stderr)
        return 1
    print(
        f"loaded {summary.projects:,} projects, {summary.releases:,} releases, {summary.files:,} files "
        f"(serial {summary.serial:,}, {summary.blobs_written} blobs written) in {summary.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
