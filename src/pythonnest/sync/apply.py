"""Carrying out plans: download in parallel, verify while streaming, catalog one file at a time.

Worker threads download: each file streams into the blob store's temporary
folder while its sha256 and size are checked, then moves to its
content-addressed place. The md5 and blake2b digests the upstream gives are
taken as given (they are checked too with ``verify_all_digests``), and
computed when it gives none. A file whose blob is already there (from an
earlier, interrupted run) is checked again and not downloaded again.
The main thread does every catalog write through ``core.services``, in the
upstream's order within a project: files ready in a row are cataloged
together, up to ``COMMIT_BATCH`` in one transaction (one serial each still),
and one by one when a batch is refused, so that each refusal names its file.
Blobs are written without an fsync each; one sync of the store before each
catalog transaction makes them durable before the catalog points at them.
A run killed before a batch commits loses nothing but that transaction: the
bytes are in the store, and the next run catalogs them without downloading.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field, replace

from django.db import IntegrityError

from pythonnest.core import services
from pythonnest.core.distributions import (
    MAX_METADATA_SIZE,
    DistributionInfo,
    canonical_version,
    inspect_distribution,
    parse_filename,
    parse_metadata,
)
from pythonnest.core.exceptions import (
    DuplicateFile,
    IntegrityFailure,
    InvalidDistribution,
    NotFound,
    ProtectedName,
    UpstreamUnavailable,
)
from pythonnest.core.models import File, Project, Upstream
from pythonnest.storage.local import CHUNK_SIZE, Digests, LocalBlobStore, StagedBlob
from pythonnest.sync import state
from pythonnest.sync.client import Cancelled, UpstreamClient
from pythonnest.sync.pages import UpstreamFile
from pythonnest.sync.plan import ProjectPlan
from pythonnest.sync.report import Reporter, RunSummary

logger = logging.getLogger(__name__)

SOURCE = "update"
# Files cataloged in one transaction, at most. A transaction per file cost
# more than the download of a file of a megabyte (docs/performance.md).
COMMIT_BATCH = 50
# Temporary files of downloads in flight; one left behind was killed with its run.
TEMPORARY_PREFIX = "update-"


@dataclass(frozen=True)
class FetchedFile:
    """A file whose verified bytes are in the blob store, ready to catalog."""

    file: UpstreamFile
    info: DistributionInfo
    digests: Digests
    metadata_bytes: bytes | None
    downloaded: int


# The digests a File row keeps besides sha256, by their names in the simple API.
STORED_DIGESTS = ("md5", "blake2b_256")


def _trusts_digests(hashes: Mapping[str, str], verify_all: bool) -> bool:
    """Whether the upstream's md5 and blake2b are taken as given rather than computed."""
    return not verify_all and all(hashes.get(algorithm) for algorithm in STORED_DIGESTS)


def _check_other_digests(staged: StagedBlob, hashes: dict[str, str], url: str, *, trusted: bool) -> None:
    """Check the digests besides sha256 that the upstream gave; raises IntegrityFailure.

    With ``trusted``, md5 and blake2b were not computed and are not checked.
    """
    digests = staged.digests
    known = {"md5": digests.md5, "blake2b_256": digests.blake2_256, "sha256": digests.sha256}
    others = {}
    for algorithm, expected in hashes.items():
        if trusted and algorithm in STORED_DIGESTS:
            continue
        if algorithm in known:
            if known[algorithm] != expected:
                raise IntegrityFailure(f"{url}: {algorithm} {known[algorithm]} does not match the expected {expected}")
        else:
            others[algorithm] = expected
    if others:
        hashers = {algorithm: hashlib.new(algorithm) for algorithm in others}
        with staged.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
                for hasher in hashers.values():
                    hasher.update(chunk)
        for algorithm, hasher in hashers.items():
            if hasher.hexdigest() != others[algorithm]:
                raise IntegrityFailure(f"{url}: {algorithm} does not match")


def fetch_file(
    client: UpstreamClient,
    store: LocalBlobStore,
    file: UpstreamFile,
    *,
    max_size: int | None = None,
    verify_all_digests: bool = False,
    on_bytes: Callable[[int], None] = lambda size: None,
) -> FetchedFile:
    """Bring one file's verified bytes into the store and read its metadata (in a worker thread).

    The bytes are not fsynced here: the caller syncs the store before it
    catalogs the file. Raises UpstreamUnavailable when the retries are spent
    (a mismatched or cut-off download among them), InvalidDistribution for a
    file the index cannot hold, Cancelled when the run stops.
    """
    digests = None
    if file.sha256 and store.exists(file.sha256):
        digests = store.digests(file.sha256)
        if digests.sha256 != file.sha256:
            logger.warning("blob %s was damaged on disk; fetching it again", file.sha256)
            store.delete(file.sha256)
            digests = None
    downloaded = 0
    if digests is None:
        if not file.hashes:
            raise InvalidDistribution(f"{file.filename}: the upstream gives no digest to check it against")
        trusted = _trusts_digests(file.hashes, verify_all_digests)

        def consume(chunks: Iterator[bytes]) -> StagedBlob:
            def counted() -> Iterator[bytes]:
                for chunk in chunks:
                    on_bytes(len(chunk))
                    yield chunk

            staged = store.stage(
                counted(),
                expected_sha256=file.sha256,
                expected_size=file.size,
                max_size=max_size,
                prefix=TEMPORARY_PREFIX,
                only_sha256=trusted,
                sync=False,
            )
            try:
                _check_other_digests(staged, dict(file.hashes), file.url, trusted=trusted)
            except BaseException:
                staged.discard()
                raise
            return staged

        staged = client.download(file.url, consume)
        staged.commit()
        digests, downloaded = staged.digests, staged.digests.size
        if trusted:
            digests = replace(digests, md5=file.hashes["md5"], blake2_256=file.hashes["blake2b_256"])
    # The bytes are the upstream's to the last bit (their sha256 says so):
    # reading the metadata is enough, without re-checking every member's CRC.
    info = inspect_distribution(store.path_for(digests.sha256), file.filename, verify_archive=False)
    metadata, fields = _upstream_metadata(client, file, info)
    if fields is not None:
        # What pip reads (PEP 658) is what the release says: its dependencies,
        # Requires-Python and the rest come from the upstream's file too.
        info = replace(info, fields=fields)
    if metadata is not None or info.offers_core_metadata:
        # Stored here rather than by the catalog write, which runs in the
        # main thread, one file at a time.
        data = metadata if metadata is not None else info.metadata_bytes
        if not store.exists(hashlib.sha256(data).hexdigest()):
            store.stage_bytes(data, prefix=TEMPORARY_PREFIX, sync=False).commit()
    return FetchedFile(file, info, digests, metadata, downloaded)


def _upstream_metadata(
    client: UpstreamClient, file: UpstreamFile, info: DistributionInfo
) -> tuple[bytes | None, dict | None]:
    """The upstream's PEP 658 file and the release fields it gives, when it differs from the distribution's.

    (None, None) when the upstream offers none, or the same bytes.
    """
    expected = file.metadata_sha256
    if not expected or hashlib.sha256(info.metadata_bytes).hexdigest() == expected:
        return None, None

    def consume(chunks: Iterator[bytes]) -> bytes:
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > MAX_METADATA_SIZE:
                raise InvalidDistribution(f"{file.filename}.metadata is larger than {MAX_METADATA_SIZE} bytes")
        if hashlib.sha256(data).hexdigest() != expected:
            raise IntegrityFailure(f"{file.url}.metadata: sha256 does not match the expected {expected}")
        return bytes(data)

    metadata = client.download(file.url + ".metadata", consume)
    _name, _version, fields = parse_metadata(metadata, info.parsed)
    return metadata, fields


_REFUSED = object()
_FAILED = object()


@dataclass
class _ProjectJob:
    plan: ProjectPlan
    slots: list = field(default_factory=list)
    done: int = 0
    committed: int = 0
    failed: bool = False
    cut: bool = False
    # Still being scheduled: the project is not finished even if all its slots so far are.
    scheduling: bool = True


class Applier:
    """Carries out plans: the main thread's loop over downloads in flight and catalog writes."""

    def __init__(
        self,
        *,
        client: UpstreamClient,
        store: LocalBlobStore,
        pool: Executor,
        upstream: Upstream,
        summary: RunSummary,
        reporter: Reporter,
        heartbeat: Callable[[], None],
        workers: int,
        keep_deleted: bool = False,
        limit: int | None = None,
        stop_at_first_failure: bool = False,
        max_file_size: int | None = None,
        verify_all_digests: bool = False,
        filter_digest: str = "",
    ) -> None:
        self.client, self.store, self.pool, self.upstream = client, store, pool, upstream
        self.summary, self.reporter, self.heartbeat = summary, reporter, heartbeat
        self.window = max(2, workers * 2)
        self.keep_deleted, self.limit, self.stop_at_first_failure = keep_deleted, limit, stop_at_first_failure
        self.max_file_size = max_file_size
        self.verify_all_digests = verify_all_digests
        self.filter_digest = filter_digest
        self.in_flight: dict[Future, tuple[_ProjectJob, int]] = {}
        self.scheduled = 0
        self.stopping = False

    # -- the loop --------------------------------------------------------------

    def apply(self, plans: Iterable[ProjectPlan]) -> None:
        for plan in plans:
            if self.stopping:
                break
            self._start(plan)
        while self.in_flight:
            self._wait()

    def _wait(self) -> None:
        done, _ = wait(list(self.in_flight), timeout=5, return_when=FIRST_COMPLETED)
        self.heartbeat()
        for future in done:
            self._complete(future)

    def _fail(self, message: str) -> None:
        self.summary.failures.append(message)
        self.reporter.event("failed", message)
        if self.stop_at_first_failure:
            self.stopping = True

    # -- one project ---------------------------------------------------------

    def _project(self, name: str) -> Project | None:
        return Project.objects.filter(normalized_name=name).first()

    def _start(self, plan: ProjectPlan) -> None:
        project = self._project(plan.name)
        if project is not None and project.origin == Project.Origin.LOCAL:
            self.summary.projects_protected += 1
            self.reporter.event("info", f"{plan.name}: a local project of that name exists; left alone")
            self.reporter.advance(projects=1)
            return
        if plan.gone:
            self._remove_project(plan)
            self.reporter.advance(projects=1)
            return
        for filename in plan.remove:
            self._remove_file(project, filename)
        if plan.remove and project is not None:
            self._drop_emptied_releases(project, plan)
        job = _ProjectJob(plan)
        for index, file in enumerate(plan.add):
            if self.stopping or (self.limit is not None and self.scheduled >= self.limit):
                job.cut = True
                self.summary.limit_reached = not self.stopping
                break
            while len(self.in_flight) >= self.window:
                self._wait()
            future = self.pool.submit(
                fetch_file,
                self.client,
                self.store,
                file,
                max_size=self.max_file_size,
                verify_all_digests=self.verify_all_digests,
                on_bytes=lambda size: self.reporter.advance(size=size),
            )
            job.slots.append(None)
            self.in_flight[future] = (job, index)
            self.scheduled += 1
        job.scheduling = False
        if job.done == len(job.slots):
            self._commit_ready(job, everything=True)
            self._finish(job)

    def _complete(self, future: Future) -> None:
        job, index = self.in_flight.pop(future)
        file = job.plan.add[index]
        try:
            job.slots[index] = future.result()
        except Cancelled:
            job.slots[index], job.failed = _FAILED, True
            self.summary.interrupted = True
        except InvalidDistribution as exc:
            job.slots[index] = _REFUSED
            self.summary.refused.append(str(exc))
            self.reporter.event("refused", str(exc))
            self._drop_orphan(file.sha256)
        except UpstreamUnavailable as exc:
            job.slots[index], job.failed = _FAILED, True
            self._fail(f"{file.filename}: {exc}")
        except Exception as exc:  # a bug or an I/O error: report it with the file, go on with the others
            logger.exception("unexpected error while fetching %s", file.url)
            job.slots[index], job.failed = _FAILED, True
            self._fail(f"{file.filename}: {type(exc).__name__}: {exc}")
        job.done += 1
        self.reporter.advance(files=1)
        complete = not job.scheduling and job.done == len(job.slots)
        self._commit_ready(job, everything=complete)
        if complete:
            self._finish(job)

    def _commit_ready(self, job: _ProjectJob, *, everything: bool = False) -> None:
        """Catalog the files ready in a row, a batch at a time; a partial batch waits, unless ``everything``."""
        while True:
            ready = []
            position = job.committed
            while position < len(job.slots) and job.slots[position] is not None and len(ready) < COMMIT_BATCH:
                ready.append(job.slots[position])
                position += 1
            if not ready or (len(ready) < COMMIT_BATCH and not everything):
                return
            job.committed = position
            self._catalog_batch(job, [fetched for fetched in ready if isinstance(fetched, FetchedFile)])

    def _catalog_batch(self, job: _ProjectJob, batch: list[FetchedFile]) -> None:
        if not batch:
            return
        # The downloads were not fsynced one by one: the catalog points only at durable bytes.
        self.store.sync()
        if len(batch) < 2:
            for fetched in batch:
                self._catalog(job, fetched)
            return
        items = [
            services.StoredDistribution(
                info=fetched.info,
                digests=fetched.digests,
                upstream_url=fetched.file.url,
                upload_time=fetched.file.upload_time,
                metadata_bytes=fetched.metadata_bytes,
            )
            for fetched in batch
        ]
        try:
            serials = services.add_stored_distributions(
                items, store=self.store, source=SOURCE, display_name=job.plan.display_name
            )
        except (DuplicateFile, ProtectedName, InvalidDistribution, IntegrityError):
            # Nothing of the batch was written: one by one, each refusal is told with its file.
            for fetched in batch:
                self._catalog(job, fetched)
            return
        for fetched, serial in zip(batch, serials, strict=True):
            self._count_added(fetched, serial)

    def _catalog(self, job: _ProjectJob, fetched: FetchedFile) -> None:
        file = fetched.file
        try:
            added = services.add_stored_distribution(
                fetched.info,
                fetched.digests,
                store=self.store,
                source=SOURCE,
                upstream_url=file.url,
                upload_time=file.upload_time,
                metadata_bytes=fetched.metadata_bytes,
                display_name=job.plan.display_name,
            )
        except DuplicateFile as exc:
            if "same content" in str(exc):
                return  # another writer got it there first
            job.failed = True
            self._fail(str(exc))
            return
        except ProtectedName as exc:
            job.failed = True
            self.summary.projects_protected += 1
            self.reporter.event("info", str(exc))
            return
        except InvalidDistribution as exc:
            self.summary.refused.append(str(exc))
            self.reporter.event("refused", str(exc))
            return
        self._count_added(fetched, added.serial)

    def _count_added(self, fetched: FetchedFile, serial: int) -> None:
        self.summary.files_added += 1
        self.summary.bytes_downloaded += fetched.downloaded
        if not fetched.downloaded:
            self.summary.files_reused += 1
        self.reporter.event("added", f"{fetched.file.filename} (serial {serial})")

    def _finish(self, job: _ProjectJob) -> None:
        """Yanks and emptied releases once the project's files are in, then record its serial."""
        plan = job.plan
        local = state.local_project(plan.name)
        changes = self._release_changes(plan, local) if local is not None and not local.is_local else []
        # The Project row is read only when a release changes: most projects have none.
        project = self._project(plan.name) if changes else None
        for action, version, reason in changes:
            if action == "remove":
                services.remove_release(project, version, store=self.store, source=SOURCE)
                self.summary.releases_removed += 1
                self.reporter.event("removed", f"{plan.name} {version}")
            elif action == "yank":
                services.yank_release(project, version, reason, source=SOURCE)
                self.summary.yanked += 1
                self.reporter.event("yanked", f"{plan.name} {version}" + (f": {reason}" if reason else ""))
            else:
                services.unyank_release(project, version, source=SOURCE)
                self.summary.unyanked += 1
                self.reporter.event("unyanked", f"{plan.name} {version}")
        if not (job.failed or job.cut or self.summary.interrupted):
            state.record_project(self.upstream, plan.name, plan.serial, self.filter_digest)
        self.reporter.advance(projects=1)

    def _release_changes(self, plan: ProjectPlan, local: state.LocalProject) -> list[tuple[str, str, str]]:
        """(action, version, reason) for each release to remove, yank or un-yank, in catalog order."""
        with_files = {canonical for _sha256, canonical in local.files.values()}
        versions = set(plan.versions)
        pruned = set(plan.pruned)
        changes = []
        for canonical, (version, yanked, reason) in local.releases.items():
            if canonical not in with_files and (
                canonical in pruned or (not self.keep_deleted and canonical not in versions)
            ):
                changes.append(("remove", version, ""))
                continue
            wanted = plan.yanks.get(canonical)
            if wanted is None or (wanted[0], wanted[1]) == (yanked, reason):
                continue
            changes.append(("yank", version, wanted[1]) if wanted[0] else ("unyank", version, ""))
        return changes

    # -- removals ----------------------------------------------------------------

    def _remove_project(self, plan: ProjectPlan) -> None:
        project = self._project(plan.name)
        if project is not None and not self.keep_deleted:
            services.remove_project(project, store=self.store, source=SOURCE)
            self.summary.projects_removed += 1
            self.reporter.event("removed", f"project {plan.name}")
        state.forget_project(self.upstream, plan.name)

    def _drop_emptied_releases(self, project: Project, plan: ProjectPlan) -> None:
        """A release left without files that gets new ones is made again, from the new files' metadata."""
        local = state.local_project(plan.name)
        coming = {canonical_version(parse_filename(file.filename).version) for file in plan.add}
        holding = {canonical for _sha256, canonical in local.files.values()}
        for canonical, (version, _yanked, _reason) in local.releases.items():
            if canonical in coming and canonical not in holding:
                services.remove_release(project, version, store=self.store, source=SOURCE)

    def _remove_file(self, project: Project | None, filename: str) -> None:
        if project is None:
            return
        try:
            services.remove_file(project, filename, store=self.store, source=SOURCE)
        except NotFound:
            return
        self.summary.files_removed += 1
        self.reporter.event("removed", filename)

    def _drop_orphan(self, sha256: str | None) -> None:
        """Delete the blob of a refused file, unless the catalog uses those bytes."""
        if not sha256 or not self.store.exists(sha256):
            return
        if File.objects.filter(sha256=sha256).exists() or File.objects.filter(metadata_sha256=sha256).exists():
            return
        self.store.delete(sha256)
