"""What changed upstream: which projects to look at, and for each, what to add, remove and yank.

An upstream with serials (PyPI, PythonNest) says which projects changed:
its XML-RPC ``changelog_since_serial`` where offered, else the
``_last-serial`` of each project in its PEP 691 index, compared with the
serial recorded when the project was last mirrored. An upstream without
serials (pypiserver, devpi) is compared project by project, by file names
and hashes. Either way each project's page is read whole and checked before
anything is planned from it, and a plan is only a description: ``apply``
carries it out.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import IO
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.version import InvalidVersion, Version

from pythonnest.core.distributions import canonical_version, parse_filename
from pythonnest.core.exceptions import InvalidDistribution, InvalidUpstream, UpstreamUnavailable
from pythonnest.sync.client import Page, StalePage, UpstreamClient, UpstreamNotFound, XmlRpcUnsupported
from pythonnest.sync.filters import Filters
from pythonnest.sync.pages import (
    ACCEPT,
    MAX_SERIAL,
    JsonApiProject,
    ProjectPage,
    RootIndex,
    UpstreamFile,
    checked_name,
    parse_json_api,
    parse_project,
    parse_root,
)
from pythonnest.sync.scratch import ScratchIndex
from pythonnest.sync.state import LocalProject

logger = logging.getLogger(__name__)

MAX_CHANGELOG_CALLS = 1000


@dataclass(frozen=True)
class IndexUrls:
    """Where an index keeps its simple pages, its JSON API and its XML-RPC."""

    simple: str
    base: str
    xmlrpc: str
    # Taken out of the URL given, so that no URL shown or stored holds them.
    credentials: tuple[str, str] | None = None
    # A URL ending in /pypi is read as the original's XML-RPC URL; it may
    # also be the base URL of a repository named "pypi" (Artifactory's
    # …/api/pypi/pypi, Nexus's …/repository/pypi): that reading, tried when
    # the first finds no index (see ``resolve_index``).
    as_base: IndexUrls | None = None

    def project(self, name: str) -> str:
        return f"{self.simple}{name}/"

    def json_api(self, name: str) -> str:
        return f"{self.base}pypi/{name}/json"


def index_urls(url: str) -> IndexUrls:
    """Read ``--url``: an index's base URL, its /simple/ URL, or the original's XML-RPC URL (…/pypi).

    Raises InvalidUpstream for anything but an http(s) URL.
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (a port that is not a number raises ValueError here)
    except ValueError as exc:
        raise InvalidUpstream(f"{redact(url)}: not a URL ({exc})") from None
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise InvalidUpstream(f"{redact(url)}: not an http:// or https:// URL of an index")
    credentials = None
    if userinfo:
        username, _, password = userinfo.partition(":")
        credentials = (unquote(username), unquote(password))
    parts = parts._replace(netloc=host)
    path = parts.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    as_base = None
    if last == "pypi":
        base = path[: -len("pypi")]
        simple, xmlrpc = base + "simple/", path
        as_base = (path + "/simple/", path + "/", path + "/pypi")
    elif "simple" in last:
        base = path[: -len(last)]
        simple, xmlrpc = path + "/", base + "pypi"
    else:
        base = path + "/"
        simple, xmlrpc = base + "simple/", base + "pypi"

    def join(part: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, part if part.startswith("/") else "/" + part, "", ""))

    return IndexUrls(
        simple=join(simple),
        base=join(base or "/"),
        xmlrpc=join(xmlrpc),
        credentials=credentials,
        as_base=None if as_base is None else IndexUrls(*map(join, as_base), credentials=credentials),
    )


def resolve_index(client: UpstreamClient, urls: IndexUrls) -> IndexUrls:
    """The reading of the URL given under which the upstream has an index.

    Only a URL ending in /pypi has two (``IndexUrls.as_base``): the index's
    /simple/ is asked for without its body, and when it is missing, the
    other reading's. Raises InvalidUpstream naming both when neither has
    one, and UpstreamUnavailable as ``client.get`` does.
    """
    if urls.as_base is None or client.found(urls.simple, accept=ACCEPT):
        return urls
    other = replace(urls.as_base, credentials=urls.credentials)
    if client.found(other.simple, accept=ACCEPT):
        return other
    raise InvalidUpstream(f"{urls.simple}: not a package index (HTTP 404), nor is {other.simple} (HTTP 404)")


def redact(url: str) -> str:
    """``url`` with any password in it replaced by ``***``, to be shown.

    A URL that does not parse has all it holds before its last "@" hidden.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        scheme, separator, rest = url.strip().partition("://")
        _, at, host = rest.rpartition("@")
        return f"{scheme}{separator}***@{host}" if at else url.strip()
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    username = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{username}:***@{host}"))


# -- the list of projects ---------------------------------------------------------


def fetch_root(client: UpstreamClient, urls: IndexUrls, scratch: ScratchIndex) -> RootIndex:
    """The upstream's simple index, its projects in ``scratch``.

    Raises UpstreamUnavailable, or InvalidUpstream for what is not an index.
    The page goes to a temporary file and is read from there a piece at a
    time, so that memory does not grow with the index.
    """
    try:
        page = client.get_spooled(urls.simple, accept=ACCEPT)
    except UpstreamNotFound:
        raise InvalidUpstream(f"{urls.simple}: not a package index (HTTP 404)") from None
    with page.body:
        return parse_root(page.body, page.url, page.headers, scratch)


def fetch_changes(client: UpstreamClient, urls: IndexUrls, since: int) -> tuple[dict[str, tuple[str, int]], int] | None:
    """Projects changed after serial ``since`` by XML-RPC, with the newest serial seen.

    None when the upstream does not offer ``changelog_since_serial``, or
    when it keeps failing (PyPI rate-limits and sheds XML-RPC first): the
    simple index then says what changed. Raises InvalidUpstream for a
    malformed changelog.
    """
    changed: dict[str, tuple[str, int]] = {}
    newest = since
    for _ in range(MAX_CHANGELOG_CALLS):
        try:
            entries = client.xmlrpc(urls.xmlrpc, "changelog_since_serial", newest)
        except XmlRpcUnsupported as exc:
            logger.info("no XML-RPC changelog (%s); reading the simple index", exc)
            return None
        except UpstreamUnavailable as exc:
            logger.warning("the XML-RPC changelog is failing (%s); reading the simple index instead", exc)
            return None
        if not isinstance(entries, list):
            raise InvalidUpstream(f"{urls.xmlrpc}: changelog_since_serial did not answer a list")
        if not entries:
            return changed, newest
        for entry in entries:
            # type(), not isinstance(): an XML-RPC boolean is a Python bool, which is an int.
            if (
                not isinstance(entry, list | tuple)
                or len(entry) != 5
                or type(entry[4]) is not int
                or not 0 <= entry[4] <= MAX_SERIAL
            ):
                raise InvalidUpstream(f"{urls.xmlrpc}: malformed changelog entry {str(entry)[:200]}")
            display_name, serial = entry[0], entry[4]
            name = checked_name(display_name, urls.xmlrpc)
            if serial > changed.get(name, ("", -1))[1]:
                changed[name] = (display_name, serial)
            newest = max(newest, serial)
        if newest == since:
            raise InvalidUpstream(f"{urls.xmlrpc}: the changelog does not advance past serial {since}")
        since = newest
    return changed, newest


# -- one project -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A project to look at; ``expected_serial`` is what the change feed promised."""

    name: str
    display_name: str = ""
    expected_serial: int | None = None
    # From the changelog, a missing page means the project is gone.
    may_be_gone: bool = False
    # A dependency the upstream may not have: a missing page is no failure.
    optional: bool = False


@dataclass
class ProjectPlan:
    """What to do to one project to bring it in step with the upstream."""

    name: str
    display_name: str = ""
    serial: int | None = None
    gone: bool = False
    add: list[UpstreamFile] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    # canonical version -> [yanked, reason], for every release upstream
    yanks: dict[str, list] = field(default_factory=dict)
    # canonical versions the upstream has, files or not
    versions: list[str] = field(default_factory=list)
    # canonical versions of mirrored releases older than the ``latest`` N: removed
    pruned: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def download_bytes(self) -> int:
        return sum(file.size or 0 for file in self.add)

    def to_json(self) -> str:
        data = asdict(self)
        data["add"] = [file.to_json() for file in self.add]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProjectPlan:
        data = json.loads(text)
        data["add"] = [UpstreamFile.from_json(file) for file in data["add"]]
        return cls(**data)


def _page_serial_check(expected: int | None, parse):
    """A check for ``client.get`` that parses the page and refuses it when stale."""
    parsed = {}

    def check(page: Page) -> None:
        parsed["value"] = value = parse(page)
        serial = value.serial
        if expected is not None and serial is not None and serial < expected:
            raise StalePage(f"stale page: serial {serial}, the index promised {expected}")

    return check, parsed


def fetch_project(
    client: UpstreamClient, urls: IndexUrls, candidate: Candidate, json_api: bool | None
) -> tuple[ProjectPage, JsonApiProject | None]:
    """Read one project's simple page, and its JSON API document when asked (run in a worker thread).

    ``json_api`` None asks for the JSON API document only when the page
    carries a serial (an upstream with serials is one that has the JSON API).

    Raises UpstreamNotFound when the page is missing, UpstreamUnavailable
    when the retries are spent (a page staying stale among them), and
    InvalidUpstream for a page that is malformed or unsafe.
    """
    page_url = urls.project(candidate.name)
    check, parsed = _page_serial_check(
        candidate.expected_serial, lambda page: parse_project(page.body, page.url, candidate.name, page.headers)
    )
    client.get(page_url, accept=ACCEPT, check=check)
    page: ProjectPage = parsed["value"]
    document = None
    if json_api or (json_api is None and page.serial is not None):
        check, parsed = _page_serial_check(
            candidate.expected_serial, lambda page: parse_json_api(page.body, page.url, candidate.name, page.headers)
        )
        try:
            client.get(urls.json_api(candidate.name), accept="application/json", check=check)
            document = parsed["value"]
        except UpstreamNotFound:
            document = None
    return page, document


def merge_json_api(page: ProjectPage, document: JsonApiProject | None) -> ProjectPage:
    """Complete the simple page with the JSON API's digests and upload times; they must agree."""
    if document is None:
        return page
    files = []
    for file in page.files:
        extra = document.files.get(file.filename)
        if extra is None:
            files.append(file)
            continue
        hashes = dict(file.hashes)
        for algorithm, digest in extra["hashes"].items():
            if hashes.setdefault(algorithm, digest) != digest:
                raise InvalidUpstream(
                    f"{file.url}: the simple page and the JSON API disagree on its {algorithm} digest"
                )
        files.append(
            UpstreamFile(**{**file.__dict__, "hashes": hashes, "upload_time": file.upload_time or extra["upload_time"]})
        )
    return ProjectPage(name=page.name, serial=page.serial, files=tuple(files), versions=page.versions)


def _canonical(version: str) -> str:
    try:
        return canonical_version(version)
    except InvalidVersion:
        return version


def diff_project(
    candidate: Candidate,
    page: ProjectPage,
    local: LocalProject | None,
    filters: Filters,
    *,
    display_name: str = "",
    keep_deleted: bool = False,
) -> ProjectPlan:
    """Compare an upstream page with what the catalog holds of the project."""
    plan = ProjectPlan(
        name=candidate.name,
        display_name=display_name or candidate.display_name,
        serial=page.serial if page.serial is not None else candidate.expected_serial,
    )
    yanks: dict[str, list] = {}
    versions: set[str] = {_canonical(version) for version in page.versions or ()}
    for file in page.files:
        try:
            version = canonical_version(parse_filename(file.filename).version)
        except InvalidDistribution:
            continue
        versions.add(version)
        yanked, reason = yanks.get(version, [True, ""])
        yanks[version] = [yanked and file.yanked, reason or file.yanked_reason]
    plan.yanks = {version: state if state[0] else [False, ""] for version, state in yanks.items()}
    plan.versions = sorted(versions)

    choice = filters.choose_files(candidate.name, page.files)
    plan.skipped = dict(choice.skipped)
    local_files = local.files if local else {}
    upstream_names = {file.filename for file in page.files}
    for file, _parsed in choice.wanted:
        present = local_files.get(file.filename)
        if present is None:
            plan.add.append(file)
        elif file.sha256 is not None and present[0] != file.sha256:
            # The upstream replaced the bytes under the same name: follow it.
            plan.remove.append(file.filename)
            plan.add.append(file)
    if not keep_deleted:
        plan.remove += sorted(name for name in local_files if name not in upstream_names)
    if choice.oldest_kept is not None and local is not None:
        _prune(plan, local, choice.oldest_kept)
    # Upstream order, so that the first file of a release (whose metadata
    # the release takes) is the one the upstream had first.
    plan.add.sort(key=lambda file: (file.upload_time is None, file.upload_time or 0, file.filename))
    return plan


def _prune(plan: ProjectPlan, local: LocalProject, oldest_kept: Version) -> None:
    """Remove the mirrored releases older than the ``latest`` N, and their files.

    ``latest`` says what to keep, not only what to fetch. A release newer
    than the oldest kept one stays even when the filter did not choose it (a
    yanked or excluded pre-release mirrored earlier): it is not older.
    """
    older = set()
    for canonical, (version, _yanked, _reason) in local.releases.items():
        try:
            if Version(version) < oldest_kept:
                older.add(canonical)
        except InvalidVersion:
            continue
    removing = set(plan.remove)
    plan.remove += sorted(
        filename
        for filename, (_sha256, canonical) in local.files.items()
        if canonical in older and filename not in removing
    )
    plan.pruned = sorted(older)


def plan_has_work(plan: ProjectPlan, local: LocalProject | None) -> bool:
    """Whether applying the plan changes the catalog (else it only records the serial)."""
    if plan.gone:
        return local is not None
    if plan.add or plan.remove:
        return True
    if local is None:
        return False
    for canonical, (_version, yanked, reason) in local.releases.items():
        wanted = plan.yanks.get(canonical)
        if wanted is not None and (wanted[0], wanted[1]) != (yanked, reason):
            return True
    return bool(plan.pruned)


class PlanSpool:
    """Plans written to a temporary file as they are made, so memory does not grow with the index."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.count = 0
        self.files = 0
        self.bytes = 0
        self.skipped: Counter = Counter()

    def write(self, plan: ProjectPlan) -> None:
        self.handle.write(plan.to_json() + "\n")
        self.count += 1
        self.files += len(plan.add)
        self.bytes += plan.download_bytes
        self.skipped.update(plan.skipped)

    def read(self) -> Iterable[ProjectPlan]:
        self.handle.flush()
        self.handle.seek(0)
        for line in self.handle:
            if line.strip():
                yield ProjectPlan.from_json(line)
