"""One run of ``update``: find what changed, plan every changed project, then apply the plans.

Planning reads and checks every changed project's pages before the catalog
is touched, so malformed or unsafe upstream data stops the run with the
catalog as it was. Applying is resumable: each file is its own transaction,
blobs already fetched are not fetched again, and a project's serial is
recorded only once all of it is in.

The one exception is the dependency closure (``with_dependencies``): it is
read from the metadata of what is mirrored, so each round is planned once
the round before it is applied. Bad data in a dependency's page stops the
run with the earlier rounds' projects mirrored (each one whole) and the
upstream's serial not recorded, so the next run looks at it all again; a dry
run, which applies nothing, counts the first round only.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import httpx

from pythonnest.core.exceptions import ConfigError, InvalidUpstream, UpstreamUnavailable
from pythonnest.core.models import Upstream
from pythonnest.storage.local import LocalBlobStore
from pythonnest.sync import state
from pythonnest.sync.apply import TEMPORARY_PREFIX, Applier
from pythonnest.sync.client import Cancelled, ClientSettings, UpstreamClient, UpstreamNotFound, origin_of
from pythonnest.sync.filters import Filters
from pythonnest.sync.lock import UpdateLease
from pythonnest.sync.options import UpdateOptions
from pythonnest.sync.pages import RootIndex
from pythonnest.sync.plan import (
    Candidate,
    IndexUrls,
    PlanSpool,
    ProjectPlan,
    diff_project,
    fetch_changes,
    fetch_project,
    fetch_root,
    index_urls,
    merge_json_api,
    plan_has_work,
    resolve_index,
)
from pythonnest.sync.report import Reporter, RunSummary, format_bytes
from pythonnest.sync.scratch import CandidateRows, ScratchIndex

logger = logging.getLogger(__name__)

# Rounds of the dependency closure, each adding the dependencies of the last.
MAX_ROUNDS = 100


def run_update(
    options: UpdateOptions,
    *,
    store: LocalBlobStore,
    reporter: Reporter,
) -> RunSummary:
    """Mirror the upstream once; the summary says what was done and what failed.

    Raises ConfigError for a requirements or password file that cannot be read,
    InvalidUpstream for an upstream that is not an index or sends malformed
    or unsafe data, UpstreamUnavailable when it cannot be reached, and
    UpdateRunning when another update holds the lock. In each of these cases
    the catalog is unchanged, but for the rounds of the dependency closure
    applied before the round that met the bad data (see the module's doc).
    """
    filters = Filters.from_options(options.filters)
    urls = index_urls(options.url)
    if options.password_file is not None:
        urls = replace(urls, credentials=(_user_for_password_file(urls), _read_password(options.password_file)))
    cancel = threading.Event()
    settings = ClientSettings(
        timeout=options.timeout,
        retries=options.retry,
        backoff=options.retry_backoff,
        connections=options.workers + 2,
        ca_bundle=options.ca_bundle,
        credentials=urls.credentials,
        origin=origin_of(httpx.URL(urls.simple)),
    )
    lease = None if options.dry_run else UpdateLease()
    with UpstreamClient(settings, cancel=cancel) as client:
        if lease is not None:
            lease.acquire()
        try:
            urls = resolve_index(client, urls)
            summary = RunSummary(url=urls.simple, dry_run=options.dry_run)
            with ThreadPoolExecutor(options.workers, thread_name_prefix="update") as pool, ScratchIndex() as scratch:
                run = _Run(options, filters, urls, client, store, pool, summary, reporter, lease, scratch)
                try:
                    run.run()
                except KeyboardInterrupt:
                    summary.interrupted = True
                    reporter.event("failed", "interrupted; stopping the downloads in flight")
                    cancel.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                except BaseException:
                    cancel.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            reporter.close()
            if lease is not None:
                lease.release()
    return summary


def _user_for_password_file(urls: IndexUrls) -> str:
    if urls.credentials is None or not urls.credentials[0]:
        raise ConfigError(
            f"password_file: the URL names no user; give it as {urls.simple.replace('://', '://USER@', 1)}"
        )
    return urls.credentials[0]


def _read_password(path: Path) -> str:
    """The first line of ``path``, without its line ending; raises ConfigError naming the file."""
    try:
        with path.open(encoding="utf-8") as handle:
            password = handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"password_file: cannot read {path} ({exc.__class__.__name__}: {exc})") from None
    if not password:
        raise ConfigError(f"password_file: {path} holds no password on its first line")
    return password


class _Candidates:
    """The candidates kept in the scratch database: how many, and each in turn, by name."""

    def __init__(self, rows: CandidateRows) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Candidate]:
        return (Candidate(name, display_name, serial) for name, display_name, serial in self._rows)


class _Run:
    """The state of one run, shared by its phases."""

    def __init__(self, options, filters, urls, client, store, pool, summary, reporter, lease, scratch) -> None:
        self.options: UpdateOptions = options
        self.filters: Filters = filters
        self.urls: IndexUrls = urls
        self.client: UpstreamClient = client
        self.store: LocalBlobStore = store
        self.pool: ThreadPoolExecutor = pool
        self.summary: RunSummary = summary
        self.reporter: Reporter = reporter
        self.lease: UpdateLease | None = lease
        self.window = max(2, options.workers * 2)
        self.upstream: Upstream | None = None
        self.root: RootIndex | None = None
        self.digest = ""
        # The upstream's projects, the serials recorded for them and the
        # candidates, on disk: memory does not grow with the upstream.
        self.scratch: ScratchIndex = scratch
        # The projects mirrored from this upstream before: only they can be gone from it.
        self.known: Mapping[str, int | None] = scratch.recorded

    def heartbeat(self) -> None:
        if self.lease is not None:
            self.lease.renew()

    def run(self) -> None:
        options, filters = self.options, self.filters
        simple = self.urls.simple
        self.upstream = state.find_upstream(simple) if options.dry_run else state.get_upstream(simple)
        if not options.dry_run:
            self._remove_leftovers()
        digest = self.digest = filters.digest()
        self.scratch.add_recorded(state.project_serial_rows(self.upstream, digest))
        known = self.known
        # Only a complete run under these filters lets the next one trust the changelog.
        full = options.init_all or self.upstream is None or self.upstream.filter_digest != digest
        # What is already mirrored says which dependencies the requirements bring in.
        while filters.add_dependencies(state.mirrored_requirements):
            pass
        with self.lease.kept_alive() if self.lease is not None else nullcontext():
            candidates, gone, newest = self._candidates(known, full)
        self.heartbeat()
        self.summary.upstream_serial = newest
        for _round in range(MAX_ROUNDS):
            if not (candidates or gone):
                break
            spool = self._plan(candidates, gone)
            if options.dry_run or self.summary.interrupted or (options.nocontinue and self.summary.failures):
                spool.handle.close()
                if options.dry_run and filters.options.with_dependencies and spool.files:
                    self.reporter.event(
                        "info",
                        "dry run: the dependencies of the files it would fetch are not counted "
                        "(the closure is read from the metadata of what is mirrored)",
                    )
                break
            self.reporter.phase("mirroring", spool.count, spool.files, spool.bytes)
            applier = Applier(
                client=self.client,
                store=self.store,
                pool=self.pool,
                upstream=self.upstream,
                summary=self.summary,
                reporter=self.reporter,
                heartbeat=self.heartbeat,
                workers=options.workers,
                keep_deleted=options.keep_deleted,
                limit=None if options.limit is None else options.limit - self.summary.files_added,
                stop_at_first_failure=options.nocontinue,
                max_file_size=options.filters.max_file_size,
                verify_all_digests=options.verify_all_digests,
                filter_digest=digest,
            )
            applier.apply(spool.read())
            spool.handle.close()
            if applier.stopping or self.summary.limit_reached or self.summary.interrupted:
                break
            # The closure: dependencies of what was just mirrored.
            added = filters.add_dependencies(state.mirrored_requirements)
            candidates = [self._dependency_candidate(name) for name in sorted(added)]
            candidates = [candidate for candidate in candidates if candidate is not None]
            gone = []
        complete = not (self.summary.failed or self.summary.limit_reached or options.filters.packages)
        if not options.dry_run and complete:
            state.finish_run(self.upstream, newest if self.summary.has_serials else None, digest)
        elif not options.dry_run:
            state.touch_run(self.upstream)

    def _remove_leftovers(self) -> None:
        """Temporary files of a run that was killed: only one run holds the lock, so they are dead."""
        if self.store.temporary_dir.is_dir():
            for leftover in self.store.temporary_dir.glob(TEMPORARY_PREFIX + "*"):
                leftover.unlink(missing_ok=True)

    # -- which projects --------------------------------------------------------

    def _candidates(
        self, known: Mapping[str, int | None], full: bool
    ) -> tuple[Collection[Candidate], list[str], int | None]:
        """The projects to look at, the projects gone upstream, and the upstream's serial."""
        options, filters, summary = self.options, self.filters, self.summary
        local_names = state.local_project_names()
        # --package reads the named pages whatever the changelog says: the
        # changelog names only what changed since the last run, and a project
        # left out by that run's filters has not changed, yet is wanted now.
        if options.filters.packages:
            return self._named_candidates(local_names), [], None
        since = options.serial if options.serial is not None else (self.upstream.last_serial if self.upstream else None)
        changes = None
        if options.xmlrpc and since is not None and not (full and options.serial is None):
            changes = fetch_changes(self.client, self.urls, since)
        if changes is not None:
            changed, newest = changes
            summary.has_serials = summary.via_changelog = True
            candidates = []
            for name, (display_name, serial) in sorted(changed.items()):
                if not filters.wants_project(name):
                    continue
                if name in local_names:
                    summary.projects_protected += 1
                    continue
                recorded = known.get(name)
                if options.serial is None and recorded is not None and serial <= recorded:
                    continue
                candidates.append(Candidate(name, display_name, serial, may_be_gone=True))
            summary.projects_upstream = len(changed)
            return candidates, [], newest
        root = self.root = fetch_root(self.client, self.urls, self.scratch)
        self._check_root(root, known)
        has_serials = summary.has_serials = root.has_serials
        summary.projects_upstream = len(root.projects)
        compare_serials = has_serials and not options.init_all

        def wanted() -> Iterator[tuple[str, str, int | None]]:
            for name, display_name, serial, recorded_serial in self.scratch.projects_with_recorded():
                if not filters.wants_project(name):
                    continue
                if name in local_names:
                    summary.projects_protected += 1
                    continue
                if compare_serials:
                    threshold = options.serial if options.serial is not None else recorded_serial
                    if threshold is not None and serial is not None and serial <= threshold:
                        continue
                yield name, display_name, serial if has_serials else None

        candidates = _Candidates(self.scratch.set_candidates(wanted()))
        gone = [
            name
            for name in self.scratch.recorded_not_listed()
            if filters.wants_project(name) and name not in local_names
        ]
        if not has_serials:
            return candidates, gone, None
        newest = root.serial if root.serial is not None else root.projects.max_serial()
        return candidates, gone, newest

    def _check_root(self, root: RootIndex, known: Mapping[str, int | None]) -> None:
        """Refuse an index that would remove what was mirrored from it by mistake.

        An empty list where projects were mirrored before is a captive portal,
        a proxy's error page or a broken upstream far more often than an index
        emptied on purpose; an index older than the serial already mirrored is
        a stale cache, which would undo newer changes. Both raise
        UpstreamUnavailable before anything changes. ``--init-all`` (a fresh
        start) accepts an older index, for an upstream that was rebuilt.
        """
        if len(root.projects) == 0 and len(known) > 0:
            raise UpstreamUnavailable(
                f"{self.urls.simple}: the index lists no projects, but {len(known)} were mirrored from it; "
                "refusing to remove them all (is the URL still the index's?)"
            )
        recorded = self.upstream.last_serial if self.upstream is not None else None
        if root.serial is not None and recorded and root.serial < recorded and not self.options.init_all:
            raise UpstreamUnavailable(
                f"{self.urls.simple}: the index is at serial {root.serial}, older than serial {recorded} already "
                "mirrored from it (a stale cache?); nothing was changed. If the upstream was rebuilt, run with "
                "--init-all"
            )

    def _named_candidates(self, local_names: set[str]) -> list[Candidate]:
        """The projects ``--package`` names, each read from its own page, without the whole index.

        PyPI's index lists about 700,000 projects: reading it to mirror a few
        would cost more than mirroring them. A named project the upstream
        does not have is reported; one mirrored from this upstream before is
        removed as gone (unless deleted files are kept), as when the index
        omits it. One mirrored from elsewhere is left alone.
        """
        self.summary.via_names = True
        candidates = []
        for name in sorted(self.options.filters.packages):
            if name in local_names:
                self.summary.projects_protected += 1
                continue
            candidates.append(Candidate(name, may_be_gone=True))
        self.summary.projects_upstream = len(candidates)
        return candidates

    def _dependency_candidate(self, name: str) -> Candidate | None:
        if name in state.local_project_names():
            return None
        if self.root is None:
            return Candidate(name, optional=True)
        if name not in self.root.projects:
            self.reporter.event("info", f"{name}: a dependency the upstream does not have")
            return None
        display_name, serial = self.root.projects[name]
        return Candidate(name, display_name, serial if self.root.has_serials else None)

    # -- planning ----------------------------------------------------------------

    def _plan(self, candidates: Collection[Candidate], gone: list[str]) -> PlanSpool:
        """Read and check every candidate's pages, in parallel; spool a plan for each that changed.

        Raises InvalidUpstream, after the fetches in flight end, for the first
        page that is malformed or unsafe: then nothing has been applied.
        """
        spool = PlanSpool(tempfile.TemporaryFile("w+", encoding="utf-8"))
        self.reporter.phase("examining", len(candidates) + len(gone))
        for name in gone:
            self._keep(spool, ProjectPlan(name=name, gone=True), state.local_project(name))
        self.reporter.advance(projects=len(gone))
        use_json_api: bool | None = self.options.json_api and self.summary.has_serials
        if self.options.json_api and self.summary.via_names and not self.summary.has_serials:
            use_json_api = None  # named projects were not listed: each page tells whether it has serials
        in_flight: dict[Future, Candidate] = {}
        pending: Iterator[Candidate] = iter(candidates)
        error: InvalidUpstream | None = None
        stopping = False
        while True:
            while not stopping and len(in_flight) < self.window:
                candidate = next(pending, None)
                if candidate is None:
                    break
                in_flight[self.pool.submit(fetch_project, self.client, self.urls, candidate, use_json_api)] = candidate
            if not in_flight:
                break
            done, _ = wait(list(in_flight), timeout=5, return_when=FIRST_COMPLETED)
            self.heartbeat()
            for future in done:
                candidate = in_flight.pop(future)
                try:
                    self._examine(spool, candidate, future)
                except InvalidUpstream as exc:
                    error = error or exc
                    stopping = True
                if self.options.nocontinue and self.summary.failures:
                    stopping = True
        if error is not None:
            spool.handle.close()
            raise error
        return spool

    def _examine(self, spool: PlanSpool, candidate: Candidate, future: Future) -> None:
        self.reporter.advance(projects=1)
        try:
            page, document = future.result()
        except UpstreamNotFound as exc:
            if candidate.optional:
                self.reporter.event("info", f"{candidate.name}: a dependency the upstream does not have")
            elif candidate.may_be_gone:
                if candidate.name in self.known:
                    self._keep(spool, ProjectPlan(name=candidate.name, gone=True), state.local_project(candidate.name))
                elif self.summary.via_names:
                    self.reporter.event("info", f"{candidate.name}: the upstream has no such project")
                # Else a project this upstream made and deleted again, or one the mirror has from elsewhere.
            else:
                self._failure(f"{candidate.name}: listed in the index, but its page is missing ({exc})")
            return
        except UpstreamUnavailable as exc:
            self._failure(f"{candidate.name}: {exc}")
            return
        except Cancelled:
            self.summary.interrupted = True
            return
        except InvalidUpstream:
            raise
        except Exception as exc:
            self._unexpected(candidate.name, exc)
            return
        if self.summary.via_names and page.serial is not None:
            self.summary.has_serials = True
        page = merge_json_api(page, document)
        local = state.local_project(candidate.name)
        if local is not None and local.is_local:
            self.summary.projects_protected += 1
            return
        try:
            plan = diff_project(
                candidate,
                page,
                local,
                self.filters,
                display_name=document.display_name if document else "",
                keep_deleted=self.options.keep_deleted,
            )
        except InvalidUpstream:
            raise
        except Exception as exc:
            self._unexpected(candidate.name, exc)
            return
        self.summary.projects_examined += 1
        self.summary.skipped.update(plan.skipped)
        self._keep(spool, plan, local)

    def _keep(self, spool: PlanSpool, plan: ProjectPlan, local) -> None:
        """Spool a plan that changes the catalog; for one that does not, record the serial at once."""
        if plan_has_work(plan, local):
            self.summary.projects_changed += 1
            spool.write(plan)
            if self.options.dry_run:
                removals = len(plan.remove) if not plan.gone else len(local.files) if local else 0
                self.summary.planned_projects.append((plan.name, len(plan.add), plan.download_bytes, removals))
                what = "gone upstream" if plan.gone else f"{len(plan.add)} file(s), {format_bytes(plan.download_bytes)}"
                if plan.remove:
                    what += f", {len(plan.remove)} to remove"
                self.reporter.event("plan", f"{plan.name}: {what}")
        elif not self.options.dry_run and self.upstream is not None:
            if plan.gone:
                state.forget_project(self.upstream, plan.name)
            else:
                state.record_project(self.upstream, plan.name, plan.serial, self.digest)

    def _unexpected(self, name: str, exc: Exception) -> None:
        """A project's pages raised what reading them should never raise: a bug, kept to that project.

        The run goes on without it, and fails: the traceback goes to the log,
        and the next run looks at the project again.
        """
        logger.error("%s: reading its pages failed unexpectedly", name, exc_info=exc)
        self._failure(
            f"{name}: reading its pages failed unexpectedly ({exc.__class__.__name__}: {exc}); please report it"
        )

    def _failure(self, message: str) -> None:
        self.summary.failures.append(message)
        self.reporter.event("failed", message)
