"""``import``: apply a bundle whole, or not at all (DESIGN.md invariant 4).

1. The manifest is checked: its digest, its signature, its header, the serial
   range against what this tag already imported, and every record.
2. Every blob is streamed into the store's staging area and verified against
   its name and size. Nothing is visible yet.
3. The staged blobs are moved into place (content addressing makes that safe
   even if what follows fails), then the catalog changes in one transaction,
   with the tag's new serial.

A crash anywhere leaves the catalog as it was; running the import again
finishes the job. A bundle already imported is a no-op.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils import timezone
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pythonnest.bundles import signing
from pythonnest.bundles.format import (
    INTEGER_LIMIT,
    RECORD_PROJECT,
    RECORD_REMOVED_PROJECT,
    RECORD_SUMMARY,
    SHA256,
    Header,
    check_tag,
    check_time,
    listed,
    loads,
)
from pythonnest.bundles.index import BundleIndex
from pythonnest.bundles.reader import TAR_ERRORS, BundleSource, open_bundle
from pythonnest.core import peers, replica
from pythonnest.core.distributions import canonical_version, parse_filename
from pythonnest.core.exceptions import BundleError, BundleGap, IntegrityFailure, InvalidDistribution
from pythonnest.core.journal import lock_catalog
from pythonnest.core.models import RELEASE_METADATA_FIELDS, File, Project, Release, SyncState
from pythonnest.core.names import is_valid_name
from pythonnest.storage.local import CHUNK_SIZE, LocalBlobStore, unlink_if_there

logger = logging.getLogger(__name__)
# Blobs this large are written in the store's writer thread while the next chunk is read and hashed.
BACKGROUND_WRITE_SIZE = 4 * 1024 * 1024
# Blobs this large that lie whole in a file are copied by the kernel, a piece at a time, and
# hashed where the copy lies; smaller ones cost less read and written (docs/performance.md).
KERNEL_COPY_SIZE = 4 * 1024 * 1024
# Those blobs are staged (or checked) by this many threads at once, each with
# a writer thread of its own: hashing is most of an import's CPU
# (docs/performance.md).
HASHING_LANES = 2


@dataclass(frozen=True)
class ImportOptions:
    tag: str | None = None
    force: bool = False
    require_signature: bool = False
    trusted_keys: dict = field(default_factory=dict)


@dataclass
class ManifestFacts:
    """What checking the manifest learned, before anything changes."""

    header: Header
    tag: str
    counts: dict
    # Every file named, and every blob the bundle must carry, on disk.
    index: BundleIndex
    signed_by: str | None = None
    signature_unchecked: bool = False
    forced_gap: dict | None = None
    already_imported: bool = False


@dataclass
class ImportSummary:
    facts: ManifestFacts
    counts: replica.ReplicaCounts = field(default_factory=replica.ReplicaCounts)
    blobs_stored: int = 0
    blob_bytes: int = 0
    missing_blobs: list[str] = field(default_factory=list)


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open("rb") as manifest:
        for number, line in enumerate(manifest, start=1):
            yield number, loads(line, f"manifest line {number}")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_file_record(record: dict, project: str, where: str) -> None:
    try:
        filename = record["filename"]
        parsed = parse_filename(filename)
        if parsed.normalized_name != project:
            raise BundleError(f"{where}: file {filename} does not belong to project {project}")
        if not isinstance(record["sha256"], str) or not SHA256.match(record["sha256"]):
            raise BundleError(f"{where}: file {filename} has a malformed sha256")
        for name, pattern in _OPTIONAL_DIGESTS.items():
            if not isinstance(record[name], str) or not pattern.match(record[name]):
                raise BundleError(f"{where}: file {filename} has a malformed {name}")
        for name in ("size", "metadata_size"):
            value = record[name]
            if name == "metadata_size" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < INTEGER_LIMIT:
                raise BundleError(f"{where}: file {filename} has a bad {name}")
        if not isinstance(record["blob_included"], bool):
            raise BundleError(f"{where}: file {filename} has a bad blob_included")
        try:
            check_time(record["upload_time"])
        except ValueError as exc:
            raise BundleError(f"{where}: file {filename} has a bad upload_time ({exc})") from exc
        upstream_url = record.get("upstream_url", "")
        if not isinstance(upstream_url, str) or len(upstream_url) > _UPSTREAM_URL_LENGTH:
            raise BundleError(f"{where}: file {filename} has a bad upstream_url")
        for name, limit in _FILE_TEXT.items():
            if not isinstance(record[name], str):
                raise BundleError(f"{where}: file {filename} has a bad {name}")
            if limit is not None and len(record[name]) > limit:
                raise BundleError(f"{where}: file {filename[:100]}: {name} is longer than {limit} characters")
    except InvalidDistribution as exc:
        raise BundleError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{where}: malformed file record ({exc!r})") from exc


def _text_limits(model: type[models.Model], names: tuple[str, ...]) -> dict[str, int | None]:
    """Each text column's longest value (None: no limit), as the database will enforce it."""
    limits = {}
    for name in names:
        column = model._meta.get_field(name)
        if isinstance(column, models.CharField | models.TextField):
            limits[name] = column.max_length
    return limits


_RELEASE_TEXT = _text_limits(Release, ("version", "yanked_reason", *RELEASE_METADATA_FIELDS))
_PROJECT_NAME_LENGTH = Project._meta.get_field("name").max_length
_FILE_TEXT = _text_limits(File, ("filename", "packagetype", "python_version", "requires_python"))
_CANONICAL_LENGTH = Release._meta.get_field("canonical_version").max_length
_GROUP_NAME_LENGTH = Group._meta.get_field("name").max_length
_UPSTREAM_URL_LENGTH = File._meta.get_field("upstream_url").max_length


def _hex_digest(name: str) -> re.Pattern:
    """Empty, or a lower-case hex digest exactly as wide as its column (md5 32, blake2_256 and sha256 64)."""
    return re.compile(rf"^(?:[0-9a-f]{{{File._meta.get_field(name).max_length}}})?\Z")


_OPTIONAL_DIGESTS = {name: _hex_digest(name) for name in ("md5", "blake2_256", "metadata_sha256")}
# PostgreSQL refuses a NUL character in text, and no database (nor the import's
# index) takes a lone surrogate, which JSON's \ud800 escapes can make.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_release_values(release: dict, project: str, where: str) -> None:
    """Types and lengths of a release's metadata, before the database sees them (SQLite would not check)."""
    version = release.get("version")
    for name, limit in _RELEASE_TEXT.items():
        value = release.get(name, "")
        if not isinstance(value, str):
            raise BundleError(f"{where}: {project} {version}: {name} is not text")
        if limit is not None and len(value) > limit:
            raise BundleError(f"{where}: {project} {version}: {name} is longer than {limit} characters")
    for name in RELEASE_METADATA_FIELDS:
        if name in _RELEASE_TEXT or name not in release:
            continue
        value = release[name]
        if name == "project_urls":
            good = isinstance(value, dict) and all(isinstance(item, str) for pair in value.items() for item in pair)
        else:
            good = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not good:
            raise BundleError(f"{where}: {project} {version}: {name} is malformed")


def _check_text(value: object, where: str) -> None:
    """No NUL character nor lone surrogate in any text of a record.

    The database would refuse them, after the blobs are in place. ``loads`` bounds how deep a record nests.
    """
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is not None:
            kind = "a NUL character" if found.group() == "\x00" else "a lone surrogate (not Unicode text)"
            raise BundleError(f"{where}: {kind} in {value[:60]!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, where)
    elif isinstance(value, list):
        for item in value:
            _check_text(item, where)


@dataclass
class _Tally:
    """What the records hold, for the summary's counts that the index does not keep."""

    releases: int = 0
    removed_projects: int = 0
    # The blobs export counted missing: those of included files whose metadata file
    # was gone for certain, and at most every blob of the files that came without theirs
    # (the records do not say which of those were in the range, and missing, or older).
    missing_blobs_least: int = 0
    missing_blobs_most: int = 0


def _check_project_record(record: dict, where: str, facts: ManifestFacts, tally: _Tally) -> str:
    try:
        _check_text(record, where)
        name = record["normalized_name"]
        if not isinstance(name, str) or not is_valid_name(name) or canonicalize_name(name) != name:
            raise BundleError(f"{where}: {name!r} is not a normalized project name")
        if not isinstance(record["name"], str):
            raise BundleError(f"{where}: the display name of {name} is not text")
        group = record.get("private_group")
        if group is not None and (not isinstance(group, str) or not group or len(group) > _GROUP_NAME_LENGTH):
            raise BundleError(f"{where}: {name}: private_group must be a group's name")
        if not isinstance(record.get("partial_releases", False), bool):
            raise BundleError(f"{where}: {name}: partial_releases must be true or false")
        if not isinstance(record["releases"], list) or not all(isinstance(item, dict) for item in record["releases"]):
            raise BundleError(f"{where}: {name}: releases must be a list of objects")
        if canonicalize_name(record["name"]) != name:
            raise BundleError(f"{where}: display name {record['name']!r} does not match {name}")
        if len(record["name"]) > _PROJECT_NAME_LENGTH:  # runs of "-_." shrink to one "-" when normalized
            raise BundleError(f"{where}: the display name of {name} is longer than {_PROJECT_NAME_LENGTH} characters")
        versions = set()
        for release in record["releases"]:
            _check_release_values(release, name, where)
            version = Version(release["version"])
            if len(canonical_version(release["version"])) > _CANONICAL_LENGTH:
                raise BundleError(f"{where}: {name} {release['version']}: the version is too long")
            if version in versions:
                raise BundleError(f"{where}: release {release['version']} of {name} appears twice")
            versions.add(version)
            facts.index.add_release(name, canonical_version(release["version"]))
            if not isinstance(release["yanked"], bool) or not isinstance(release["yanked_reason"], str):
                raise BundleError(f"{where}: bad yank fields for {name} {release['version']}")
            try:
                check_time(release["created"])
            except ValueError as exc:
                raise BundleError(f"{where}: {name} {release['version']}: bad created time ({exc})") from exc
            if not isinstance(release["files"], list) or not all(isinstance(item, dict) for item in release["files"]):
                raise BundleError(f"{where}: {name} {release['version']}: files must be a list of objects")
            tally.releases += 1
            for file in release["files"]:
                _check_file_record(file, name, where)
                if not facts.index.add_file(file["filename"]):
                    raise BundleError(f"{where}: file {file['filename']} appears twice in the manifest")
                metadata_gone = bool(file["metadata_sha256"]) and file["metadata_size"] is None
                if not file["blob_included"]:
                    tally.missing_blobs_most += 1 + metadata_gone
                else:
                    tally.missing_blobs_least += metadata_gone
                    tally.missing_blobs_most += metadata_gone
                    facts.index.add_blob(file["sha256"], file["size"], file["filename"])
                    if file["metadata_sha256"] and file["metadata_size"] is not None:
                        facts.index.add_blob(
                            file["metadata_sha256"], file["metadata_size"], file["filename"] + ".metadata"
                        )
    except InvalidVersion as exc:
        raise BundleError(f"{where}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{where}: malformed project record ({exc!r})") from exc
    return name


def read_manifest(source: BundleSource, options: ImportOptions, index_path: Path | None = None) -> ManifestFacts:
    """Check the manifest's digest, signature and every record.

    What it names per file goes to an index at ``index_path`` (in memory
    without one). Raises BundleError naming what is wrong; nothing has
    changed then.
    """
    actual = _sha256_of(source.manifest_path)
    if actual != source.manifest_digest:
        raise BundleError(
            f"{source.description}: manifest.jsonl is damaged or truncated (its sha256 is {actual}, "
            f"manifest.sha256 says {source.manifest_digest})"
        )
    signed_by = None
    if source.signature is not None:
        signature = signing.Signature.from_bytes(source.signature)
        if options.trusted_keys or options.require_signature:
            signed_by = signing.verify(signature, actual, options.trusted_keys)
    elif options.require_signature:
        raise BundleError(f"{source.description}: the bundle is not signed, and REQUIRE_SIGNATURE is set")
    records = _records(source.manifest_path)
    try:
        _, first = next(records)
    except StopIteration:
        raise BundleError("manifest: empty") from None
    header = Header.from_json(first)
    tag = check_tag(options.tag or header.tag)
    facts = ManifestFacts(header=header, tag=tag, counts={}, index=BundleIndex(index_path), signed_by=signed_by)
    facts.signature_unchecked = source.signature is not None and signed_by is None
    summary = None
    tally = _Tally()
    for number, record in records:
        where = f"manifest line {number}"
        if summary is not None:
            raise BundleError(f"{where}: records after the summary")
        kind = record.get("type")
        if kind == RECORD_PROJECT:
            name = _check_project_record(record, where, facts, tally)
            removed = False
        elif kind == RECORD_REMOVED_PROJECT:
            name = record.get("normalized_name")
            if not isinstance(name, str) or not is_valid_name(name) or canonicalize_name(name) != name:
                raise BundleError(f"{where}: {name!r} is not a normalized project name")
            tally.removed_projects += 1
            removed = True
        elif kind == RECORD_SUMMARY:
            summary = record.get("counts") or {}
            if not isinstance(summary, dict):
                raise BundleError(f"{where}: malformed summary")
            continue
        else:
            raise BundleError(f"{where}: unknown record type {kind!r}")
        # One record per project: a second one would be applied over the first.
        if not facts.index.add_project(name, removed=removed):
            raise BundleError(f"{where}: project {name} appears twice in the manifest")
    if summary is None:
        raise BundleError("manifest: no summary line: the manifest is truncated")
    _check_counts(summary, facts.index, tally)
    facts.counts = summary
    return facts


def _check_counts(summary: dict, index: BundleIndex, tally: _Tally) -> None:
    """Every count of the summary against the records (docs/bundle-format.md: "the counts must agree")."""
    found = {
        "projects": (index.project_count, index.project_count),
        "removed_projects": (tally.removed_projects, tally.removed_projects),
        "releases": (tally.releases, tally.releases),
        "files": (index.file_count, index.file_count),
        "blobs": (index.blob_count, index.blob_count),
        "blob_bytes": (index.blob_bytes, index.blob_bytes),
        "missing_blobs": (tally.missing_blobs_least, tally.missing_blobs_most),
    }
    for name, (least, most) in found.items():
        count = summary.get(name)
        if type(count) is not int or not least <= count <= most:
            shown = count if type(count) is int else "none" if count is None else type(count).__name__
            held = least if least == most else f"{least} to {most}"
            raise BundleError(
                f"manifest: the summary's counts disagree with the records ({name}: {shown} in the summary, "
                f"{held} in the records)"
            )


def check_sequence(facts: ManifestFacts, options: ImportOptions) -> None:
    """Refuse a gap or a foreign source for the tag; mark a bundle already imported.

    Raises BundleGap (naming the missing range and the export to bring) or
    BundleError.
    """
    header = facts.header
    state = peers.sync_state(facts.tag, SyncState.Direction.IMPORT)
    if state is not None and state.peer_instance and state.peer_instance != header.source_instance:
        raise BundleError(
            f"tag {facts.tag} receives bundles from instance {state.peer_instance}; "
            f"this bundle comes from {header.source_instance}"
        )
    last = state.last_serial if state else 0
    if state is not None and header.serial_to <= last:
        facts.already_imported = True
        return
    if header.serial_from > last:
        if not options.force:
            raise BundleGap(
                f"gap: tag {facts.tag} has serials up to {last}, this bundle covers ({header.serial_from}, "
                f"{header.serial_to}]: changes {last + 1} to {header.serial_from} are missing. Import the bundles "
                f"in between, or on the source run: pythonnest-manage export --tag {header.tag} --serial {last} "
                "(or add --force to accept the gap)"
            )
        facts.forced_gap = {
            "missing_from": last,
            "missing_to": header.serial_from,
            "bundle": [header.serial_from, header.serial_to],
            "at": timezone.now().isoformat(),
        }


def check_local_conflicts(facts: ManifestFacts) -> None:
    """Refuse to merge a bundle into projects created here (DESIGN.md invariant 7).

    A removal of such a name is no conflict: the source's project of that
    name was deleted, and the one here, another project, is left alone.
    """
    local = sorted(
        name
        for names in facts.index.project_batches()
        for name in Project.objects.filter(normalized_name__in=names, origin=Project.Origin.LOCAL).values_list(
            "normalized_name", flat=True
        )
    )
    if local:
        raise BundleError(
            f"the bundle changes project(s) {', '.join(local)}, which are local to this instance; "
            "an administrator must mark them mirrored before they can be imported"
        )


class _UnreadableBundle(Exception):
    """Reading a blob from the bundle failed (the ``__cause__``), as opposed to writing it into the store."""


def _bundle_bytes(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A blob's bytes as the bundle gives them; a failure to read them becomes _UnreadableBundle."""
    try:
        yield from chunks
    except TAR_ERRORS as exc:
        raise _UnreadableBundle() from exc


_LOCAL_PROBLEM = "a problem of this instance, not of the bundle; the catalog is unchanged"
# A kernel copy reads the bundle and writes the store in one call: these failures are the store's.
_STORE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


def _blob_refused(
    sha256: str, where: str, exc: BaseException, store: LocalBlobStore | None, *, kernel_copy: bool = False
) -> BundleError:
    """The one line for a blob that could not be staged: damaged, unreadable, or the local store's fault.

    A full or read-only store must not send the operator looking for a bad
    bundle. Where Python reads the bundle, what fails outside that reading
    is the store's; in a kernel copy, the error's kind, or its naming a
    staging file (the only paths there), says so.
    """
    if isinstance(exc, IntegrityFailure):
        return BundleError(f"{where}: blob {sha256} is damaged: {exc}")
    if isinstance(exc, _UnreadableBundle):
        exc = exc.__cause__
    elif (
        store is not None
        and isinstance(exc, OSError)
        and (not kernel_copy or exc.errno in _STORE_ERRNOS or exc.filename is not None)
    ):
        return BundleError(
            f"{store.root}: cannot write blob {sha256} into the blob store ({exc.strerror or exc}): {_LOCAL_PROBLEM}"
        )
    return BundleError(f"{where}: unreadable or corrupt while reading blob {sha256} ({exc})")


@dataclass(frozen=True)
class _InPlaceBlob:
    """A blob a lane stages or checks where it lies, through a descriptor of the bundle file of its own."""

    sha256: str
    size: int
    where: str
    fd: int


def _check_or_stage_range(store: LocalBlobStore | None, fd: int, offset: int, length: int, sha256: str, size: int):
    if store is None:
        LocalBlobStore.check_range(fd, offset, length, expected_sha256=sha256, expected_size=size)
        return None
    # Copied by the kernel, then hashed where the copy lies; one sync of the store follows.
    return store.stage_range(fd, offset, length, expected_sha256=sha256, expected_size=size, sync=False)


def stage_blobs(
    source: BundleSource,
    facts: ManifestFacts,
    store: LocalBlobStore | None,
    on_blob: Callable[[int], None],
) -> None:
    """Verify every blob of the bundle (or only those the index wants) and stage them in ``store``.

    The staged paths are kept in the index, for ``_store_blobs``. Without a
    store (verify-bundle) each blob is only hashed and checked, and nothing
    is written. Blobs of KERNEL_COPY_SIZE or more that lie whole in a file go
    to HASHING_LANES threads; the others are read in this one meanwhile.
    Raises BundleError naming the damaged or missing blob and where it is;
    nothing staged is left behind then.
    """
    index = facts.index
    lanes = ThreadPoolExecutor(max_workers=HASHING_LANES, thread_name_prefix="blob-lane")
    in_flight: dict[Future, _InPlaceBlob] = {}

    def settle(future: Future) -> None:
        blob = in_flight.pop(future)
        try:
            staged = future.result()
        except (IntegrityFailure, *TAR_ERRORS) as exc:
            raise _blob_refused(blob.sha256, blob.where, exc, store, kernel_copy=True) from exc
        finally:
            os.close(blob.fd)
        if staged is not None:
            try:
                index.set_staged(blob.sha256, staged.path_text)
            except BaseException:
                staged.discard()
                raise
        on_blob(blob.size)

    try:
        for sha256, stream, where, span in source.blobs():
            size, met_before, wanted = index.meet(sha256)
            if size is None:
                raise BundleError(f"{where}: blob {sha256} is not named in the manifest")
            if met_before:
                raise BundleError(f"{where}: blob {sha256} appears twice")
            if not wanted:
                continue
            if span is not None and size >= KERNEL_COPY_SIZE:
                # At most one waits for a free lane; whichever lane is done settles first.
                while len(in_flight) > HASHING_LANES:
                    for future in wait(in_flight, return_when=FIRST_COMPLETED).done:
                        settle(future)
                # A descriptor of its own: the reader may close a volume before the lane is done.
                fd = os.dup(span.fd)
                try:
                    future = lanes.submit(_check_or_stage_range, store, fd, span.offset, span.length, sha256, size)
                except BaseException:
                    os.close(fd)
                    raise
                in_flight[future] = _InPlaceBlob(sha256, size, where, fd)
                continue
            # Where the bytes lie in a file, they are read there, past tarfile's layers.
            chunks = span.chunks() if span is not None else iter(functools.partial(stream.read, CHUNK_SIZE), b"")
            try:
                if store is None:
                    LocalBlobStore.check(chunks, expected_sha256=sha256, expected_size=size)
                else:
                    # md5 and blake2 come from the manifest; one sync of the store follows.
                    blob = store.stage(
                        _bundle_bytes(chunks),
                        expected_sha256=sha256,
                        expected_size=size,
                        only_sha256=True,
                        sync=False,
                        background_write=size >= BACKGROUND_WRITE_SIZE,
                    )
                    index.set_staged(sha256, blob.path_text)
            except (IntegrityFailure, _UnreadableBundle, *TAR_ERRORS) as exc:
                raise _blob_refused(sha256, where, exc, store) from exc
            on_blob(size)
        for future in list(in_flight):
            settle(future)
        missing, first = index.missing()
        if missing:
            named = listed([f"{file} (blob {sha256})" if file else f"blob {sha256}" for file, sha256 in first], missing)
            raise BundleError(
                f"{missing} blob(s) named in the manifest are not in the bundle: {named}; the bundle is incomplete"
            )
    except BaseException:
        # Every lane finishes before what it staged is removed.
        for future, blob in in_flight.items():
            try:
                staged = future.result()
            except BaseException:  # refused too; the first refusal is the one raised
                staged = None
            finally:
                os.close(blob.fd)
            if staged is not None:
                staged.discard()
        in_flight.clear()
        _discard_staged(index)
        raise
    finally:
        lanes.shutdown(wait=True)


def _discard_staged(index: BundleIndex) -> None:
    for batch in index.staged_batches():
        for _, path, _ in batch:
            unlink_if_there(path)
    index.clear_staged()


def apply_bundle(
    source: BundleSource,
    facts: ManifestFacts,
    store: LocalBlobStore,
    summary: ImportSummary,
    options: ImportOptions | None = None,
) -> None:
    """Change the catalog to the bundle's states and record the tag, in one transaction."""
    with transaction.atomic():
        lock_catalog()
        if options is not None:
            # Again under the lock: another import of the tag may have run meanwhile.
            check_sequence(facts, options)
            if facts.already_imported:
                raise BundleError(
                    f"tag {facts.tag} moved past serial {facts.header.serial_to} while this bundle was being "
                    "imported (another import?); the catalog is unchanged"
                )
        check_local_conflicts(facts)
        applier = replica.Replica(store)
        for _, record in _records(source.manifest_path):
            kind = record.get("type")
            if kind == RECORD_PROJECT:
                applier.apply(record)
            elif kind == RECORD_REMOVED_PROJECT:
                applier.remove(record["normalized_name"])
        summary.counts = applier.finish()
        last_serial = facts.header.serial_to
        if facts.header.selection is not None:
            # A partial bundle (export --project, --requirements) leaves out
            # changes in its range: moving the tag past them would make the
            # full bundle that carries them look already imported.
            state = peers.sync_state(facts.tag, SyncState.Direction.IMPORT)
            last_serial = state.last_serial if state else 0
        peers.record_sync(
            facts.tag,
            SyncState.Direction.IMPORT,
            last_serial=last_serial,
            peer_instance=facts.header.source_instance,
            forced=facts.forced_gap,
        )
    summary.missing_blobs = _files_without_blobs(facts, store)


def _files_without_blobs(facts: ManifestFacts, store: LocalBlobStore) -> list[str]:
    """The bundle's files whose bytes this store lacks (exported with --allow-missing).

    A wheel's PEP 658 metadata file the store lacks is named too (``name.whl.metadata``): it answers 404 as well.
    """
    missing = []
    for names in facts.index.filename_batches():
        rows = File.objects.filter(filename__in=names).values_list("filename", "sha256", "metadata_sha256")
        for filename, sha256, metadata_sha256 in rows:
            if not store.exists(sha256):
                missing.append(filename)
            if metadata_sha256 and not store.exists(metadata_sha256):
                missing.append(filename + ".metadata")
    return sorted(missing)


@dataclass(frozen=True)
class ImportPlan:
    """What an import would change, for --dry-run."""

    projects_new: int
    projects_updated: int
    projects_removed: int
    releases_new: int
    files_new: int
    files_removed: int
    bytes_new: int


def plan_import(facts: ManifestFacts, store: LocalBlobStore) -> ImportPlan:
    removed, files_kept, files_here = 0, 0, 0
    existing = 0
    for names in facts.index.project_batches():
        existing += Project.objects.filter(normalized_name__in=names).count()
        files_here += File.objects.filter(project__normalized_name__in=names).count()
    for names in facts.index.project_batches(removed=True):
        removed += Project.objects.filter(normalized_name__in=names).exclude(origin=Project.Origin.LOCAL).count()
    for names in facts.index.filename_batches():
        files_kept += File.objects.filter(filename__in=names).count()
    releases_new = 0
    for batch in facts.index.release_batches():
        here = set(
            Release.objects.filter(
                project__normalized_name__in={project for project, _ in batch},
                canonical_version__in={version for _, version in batch},
            ).values_list("project__normalized_name", "canonical_version")
        )
        releases_new += sum(1 for pair in batch if pair not in here)
    files_new = facts.index.file_count - files_kept
    # The projects' files here that the bundle no longer lists.
    files_removed = files_here - files_kept
    bytes_new = sum(size for batch in facts.index.blob_batches() for sha256, size in batch if not store.exists(sha256))
    return ImportPlan(
        projects_new=facts.index.project_count - existing,
        releases_new=releases_new,
        projects_updated=existing,
        projects_removed=removed,
        files_new=files_new,
        files_removed=files_removed,
        bytes_new=bytes_new,
    )


def _store_blobs(facts: ManifestFacts, store: LocalBlobStore, summary: ImportSummary) -> None:
    """Move every staged blob into place, then make sure all are on disk.

    Raises BundleError naming the store when it cannot take them; the catalog is unchanged then.
    """
    try:
        try:
            for batch in facts.index.staged_batches():
                for sha256, path, size in batch:
                    if store.adopt(path, sha256):
                        summary.blobs_stored += 1
                        summary.blob_bytes += size
        except BaseException:
            _discard_staged(facts.index)
            raise
        # Each staged file is in place now, or was removed because its blob already was.
        facts.index.clear_staged()
        # Every blob on disk before the catalog points at any of them.
        store.sync()
    except OSError as exc:
        raise BundleError(
            f"{store.root}: cannot move the verified blobs into the blob store ({exc.strerror or exc}): {_LOCAL_PROBLEM}"
        ) from exc


def _restore_missing_blobs(
    source: BundleSource, facts: ManifestFacts, store: LocalBlobStore, summary: ImportSummary, on_blob
) -> None:
    """From a bundle already imported, take the blobs the catalog lists but the store lacks.

    A file imported without its bytes (exported with --allow-missing) gets
    them from a later export that carries them, even when that export's
    range is already imported: the catalog does not change.
    """
    # Few, as a rule: only files imported earlier without their bytes.
    wanted = set()
    for batch in facts.index.blob_batches():
        absent = [sha256 for sha256, _ in batch if not store.exists(sha256)]
        if absent:
            wanted.update(File.objects.filter(sha256__in=absent).values_list("sha256", flat=True))
            wanted.update(File.objects.filter(metadata_sha256__in=absent).values_list("metadata_sha256", flat=True))
    if wanted:
        facts.index.want_only(wanted)
        stage_blobs(source, facts, store, on_blob)
        _store_blobs(facts, store, summary)
    summary.missing_blobs = _files_without_blobs(facts, store)


def import_bundle(
    paths: list[Path],
    options: ImportOptions,
    *,
    store: LocalBlobStore,
    dry_run: bool = False,
    on_start: Callable[[ManifestFacts], None] = lambda facts: None,
    on_blob: Callable[[int], None] = lambda size: None,
) -> tuple[ImportSummary, ImportPlan | None]:
    """Check and apply a bundle; returns what was done (or, dry, what would be).

    Raises BundleError (BundleGap for a gap) with one line naming the problem;
    the catalog and the store are then unchanged.
    """
    with tempfile.TemporaryDirectory(prefix="pythonnest-import-") as scratch:
        source = open_bundle(paths, Path(scratch))
        facts = None
        try:
            facts = read_manifest(source, options, Path(scratch) / "index.sqlite3")
            check_sequence(facts, options)
            summary = ImportSummary(facts=facts)
            if facts.already_imported:
                if not dry_run:
                    _restore_missing_blobs(source, facts, store, summary, on_blob)
                return summary, None
            check_local_conflicts(facts)
            if dry_run:
                return summary, plan_import(facts, store)
            on_start(facts)
            store.remove_stale_temporary_files()
            stage_blobs(source, facts, store, on_blob)
            _store_blobs(facts, store, summary)
            apply_bundle(source, facts, store, summary, options)
            return summary, None
        finally:
            source.close()
            if facts is not None:
                facts.index.close()


def verify_bundle(
    paths: list[Path], options: ImportOptions, on_blob: Callable[[int], None] = lambda size: None
) -> ManifestFacts:
    """Check a bundle completely (manifest, signature, every blob) without importing it."""
    with tempfile.TemporaryDirectory(prefix="pythonnest-verify-") as scratch:
        source = open_bundle(paths, Path(scratch))
        facts = None
        try:
            facts = read_manifest(source, options, Path(scratch) / "index.sqlite3")
            stage_blobs(source, facts, None, on_blob)
            return facts
        finally:
            source.close()
            if facts is not None:
                facts.index.close()
