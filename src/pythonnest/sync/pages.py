"""Reading an upstream's pages: the simple index (PEP 503 HTML, PEP 691 JSON) and the JSON API.

Everything an upstream sends is checked before it is believed: names are
PEP 508 names, filenames are plain names that cannot escape a folder,
digests are hex of the right length, URLs are http(s). Anything else raises
InvalidUpstream with the URL and the reason.
"""

from __future__ import annotations

import codecs
import datetime
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import BinaryIO, TextIO
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

from packaging.utils import canonicalize_name

from pythonnest.core.distributions import check_filename_is_safe
from pythonnest.core.exceptions import InvalidDistribution, InvalidUpstream
from pythonnest.core.names import is_valid_name
from pythonnest.sync.scratch import ProjectTable, ScratchIndex

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.1"
_HEX = re.compile(r"[0-9a-f]+")
# hashlib names a simple page may use, with their hex lengths.
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128, "blake2b_256": 64}


@dataclass(frozen=True)
class UpstreamFile:
    """One file as the upstream lists it."""

    filename: str
    url: str
    hashes: Mapping[str, str]
    size: int | None = None
    upload_time: datetime.datetime | None = None
    requires_python: str = ""
    yanked: bool = False
    yanked_reason: str = ""
    # None: no PEP 658 file offered; otherwise its hashes (maybe none).
    metadata_hashes: Mapping[str, str] | None = None

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def metadata_sha256(self) -> str | None:
        return (self.metadata_hashes or {}).get("sha256")

    def to_json(self) -> dict:
        return {
            "filename": self.filename,
            "url": self.url,
            "hashes": dict(self.hashes),
            "size": self.size,
            "upload_time": self.upload_time.isoformat() if self.upload_time else None,
            "requires_python": self.requires_python,
            "yanked": self.yanked,
            "yanked_reason": self.yanked_reason,
            "metadata_hashes": None if self.metadata_hashes is None else dict(self.metadata_hashes),
        }

    @classmethod
    def from_json(cls, data: dict) -> UpstreamFile:
        upload_time = data["upload_time"]
        return cls(**{**data, "upload_time": datetime.datetime.fromisoformat(upload_time) if upload_time else None})


@dataclass(frozen=True)
class ProjectPage:
    """A project's simple page: its files, and its versions where the page lists them (API 1.1)."""

    name: str
    serial: int | None
    files: tuple[UpstreamFile, ...]
    versions: tuple[str, ...] | None = None


@dataclass
class RootIndex:
    """The simple index: each project's display name and serial (None without serials).

    ``projects`` lives in a scratch database (sync/scratch.py), not in memory.
    """

    url: str
    serial: int | None
    projects: ProjectTable

    @property
    def has_serials(self) -> bool:
        return self.serial is not None or self.projects.all_have_serials()


# -- helpers ----------------------------------------------------------------


def _fail(url: str, reason: str) -> InvalidUpstream:
    return InvalidUpstream(f"{url}: {reason}")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _json(body: bytes, url: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _fail(url, f"malformed JSON ({exc})") from None


def _check_api_version(version: object, url: str) -> None:
    if version is None:
        return
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        raise _fail(url, f"api-version {version!r} is not MAJOR.MINOR")
    if version.split(".")[0] != "1":
        raise _fail(url, f"simple API version {version} is not one this mirror reads (1.x)")


# Serials are kept in 64-bit signed integers, by the catalog and the scratch database.
MAX_SERIAL = 2**63 - 1


def _serial(value: object, url: str, what: str) -> int | None:
    """A serial from a JSON page: a number, or its decimal digits as text (PyPI's project pages send a string)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SERIAL:
        raise _fail(url, f"{what} {str(value)[:40]!r} is not a serial")
    return value


def header_serial(headers: Mapping[str, str], url: str) -> int | None:
    value = headers.get("x-pypi-last-serial")
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_SERIAL:
        raise _fail(url, f"X-PyPI-Last-Serial {value[:40]!r} is not a serial")
    return int(text)


def checked_name(name: object, url: str) -> str:
    """The normalized form of a project name the upstream sent; raises InvalidUpstream."""
    if not isinstance(name, str) or not is_valid_name(name):
        raise _fail(url, f"{str(name)[:100]!r} is not a valid project name")
    return canonicalize_name(name)


def _hashes(value: object, url: str, filename: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(url, f"{filename}: hashes must be an object")
    hashes = {}
    for algorithm, digest in value.items():
        algorithm = str(algorithm).lower()
        if algorithm not in HASH_LENGTHS:
            continue  # PEP 691 allows any hashlib name; we check the ones we know
        if not isinstance(digest, str) or len(digest) != HASH_LENGTHS[algorithm] or not _HEX.fullmatch(digest.lower()):
            raise _fail(url, f"{filename}: {algorithm} {str(digest)[:80]!r} is not a hex digest")
        hashes[algorithm] = digest.lower()
    return hashes


def _absolute(page_url: str, href: str, what: str) -> SplitResult:
    """``href`` made absolute against the page, split; raises InvalidUpstream naming the page and the link.

    urllib raises ValueError for what cannot be a URL (``http://[oops/``, a
    host in brackets that is no IPv6 address, a port that is no number).
    """
    try:
        parts = urlsplit(urljoin(page_url, href))
        parts.port  # noqa: B018 (a port that is not a number raises ValueError here)
    except ValueError as exc:
        raise _fail(page_url, f"{what}: {href[:200]!r} is not a URL ({exc})") from None
    return parts


def _file_url(page_url: str, href: object, filename: str) -> str:
    if not isinstance(href, str) or not href:
        raise _fail(page_url, f"{filename}: no URL")
    return _http_url(page_url, _absolute(page_url, href, filename), href, filename)


def _http_url(page_url: str, parts: SplitResult, href: str, filename: str) -> str:
    """A file's URL, from its link already made absolute (``_absolute``), without the fragment."""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(page_url, f"{filename}: {href[:200]!r} is not an http(s) URL")
    return urlunsplit(parts._replace(fragment=""))


def _safe_filename(filename: object, page_url: str) -> str:
    if not isinstance(filename, str):
        raise _fail(page_url, f"filename {filename!r} is not text")
    try:
        check_filename_is_safe(filename)
    except InvalidDistribution as exc:
        raise _fail(page_url, str(exc)) from None
    return filename


def _upload_time(value: object, url: str, filename: str) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _fail(url, f"{filename}: upload-time {str(value)[:60]!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _metadata_hashes(value: object, url: str, filename: str) -> dict[str, str] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    return _hashes(value, url, filename)


# -- PEP 691 JSON -------------------------------------------------------------


# The root is read a piece at a time, so that PyPI's 50 MB of it is never held whole.
ROOT_READ_SIZE = 1024 * 1024
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# The json module's own scanner: a value at an index, with where it ends (raw_decode, without its wrapper).
_SCAN = _DECODER.scan_once
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]}])[ \t\n\r]*")
# The common shape of a root entry, with a plain valid name (no escapes, at most
# 200 characters) and a serial, then its separator: read by one match instead of
# the scanner, the name's check and the separator's (PyPI lists 700,000 of them).
# Anything else, or an entry cut by the end of a piece, takes the general way.
_SPACE = r"[ \t\n\r]*"
_PLAIN_NAME = r'"([A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?)"'
_PLAIN_SERIAL = r"(0|[1-9][0-9]{0,17})"
_PLAIN_ENTRY = re.compile(
    rf"\{{{_SPACE}(?:"
    rf'"name"{_SPACE}:{_SPACE}{_PLAIN_NAME}{_SPACE},{_SPACE}"_last-serial"{_SPACE}:{_SPACE}{_PLAIN_SERIAL}'
    rf'|"_last-serial"{_SPACE}:{_SPACE}{_PLAIN_SERIAL}{_SPACE},{_SPACE}"name"{_SPACE}:{_SPACE}{_PLAIN_NAME}'
    rf"){_SPACE}\}}{_SPACE}(?:,{_SPACE}(?=\S)|(\]))"
)
# packaging's canonicalize_name rule, applied inline on that path: the call costs more than the work.
_NAME_SEPARATORS = re.compile(r"[-_.]+")


class _JsonStream:
    """Values of a JSON document read one at a time from a text stream, for the root's project list.

    Each value is decoded whole by the json module's own scanner, from a
    buffer that holds what is left of the current piece of the stream plus
    as many more pieces as the value needs.
    """

    def __init__(self, stream: TextIO, url: str) -> None:
        self.stream, self.url = stream, url
        self.buffer, self.position, self.ended = "", 0, False

    def _more(self) -> bool:
        if self.ended:
            return False
        try:
            piece = self.stream.read(ROOT_READ_SIZE)
        except UnicodeDecodeError as exc:
            raise _fail(self.url, f"malformed JSON (not UTF-8: {exc})") from None
        if not piece:
            self.ended = True
            return False
        self.buffer = self.buffer[self.position :] + piece
        self.position = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end)."""
        while True:
            self.position = _JSON_SPACE.match(self.buffer, self.position).end()
            if self.position < len(self.buffer) or not self._more():
                return self.buffer[self.position : self.position + 1]

    def expect(self, character: str, what: str) -> None:
        found = self.peek()
        if found != character:
            raise _fail(self.url, f"malformed JSON (expected {what}, found {repr(found) if found else 'the end'})")
        self.position += 1

    def value(self) -> object:
        """The value that starts at the next character that is not white space."""
        self.peek()
        while True:
            try:
                value, end = _SCAN(self.buffer, self.position)
            except (json.JSONDecodeError, StopIteration) as exc:
                if self._more():
                    continue  # the value goes on in the next piece
                reason = exc if isinstance(exc, json.JSONDecodeError) else "expected a value"
                raise _fail(self.url, f"malformed JSON ({reason})") from None
            # A number at the very end of the buffer may go on in the next piece.
            if end == len(self.buffer) and self._more():
                continue
            self.position = end
            return value

    def separator(self, closing: str) -> bool:
        """Past a ',' (True) or ``closing`` (False), and the white space after it."""
        found = _SEPARATOR.match(self.buffer, self.position)
        if found is not None and found.end() < len(self.buffer):
            self.position = found.end()
            if found.group(1) == ",":
                return True
            if found.group(1) == closing:
                return False
            raise _fail(self.url, f"malformed JSON (expected ',' or {closing!r}, found {found.group(1)!r})")
        if self.peek() == ",":  # at the buffer's end: the slow way
            self.position += 1
            return True
        self.expect(closing, f"',' or {closing!r}")
        return False


def parse_root_json(stream: BinaryIO, url: str, headers: Mapping[str, str], scratch: ScratchIndex) -> RootIndex:
    """A PEP 691 root, read entry by entry into ``scratch``: memory does not grow with its length."""
    reader = _JsonStream(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict"), url)
    meta: object = {}
    seen_projects = False
    if reader.peek() != "{":
        raise _fail(url, "not a PEP 691 index (no list of projects)")
    reader.position += 1
    if reader.peek() != "}":
        while True:
            key = reader.value()
            if not isinstance(key, str):
                raise _fail(url, "malformed JSON (a key is not a string)")
            reader.expect(":", "':'")
            if key == "projects":
                if seen_projects:
                    raise _fail(url, "malformed JSON (two lists of projects)")
                seen_projects = True
                if reader.peek() != "[":
                    raise _fail(url, "not a PEP 691 index (no list of projects)")
                reader.position += 1
                _read_root_entries(reader, url, scratch)
            else:
                value = reader.value()
                if key == "meta":
                    meta = value
            if not reader.separator("}"):
                break
    else:
        reader.position += 1
    if reader.peek():
        raise _fail(url, "malformed JSON (extra data after the index)")
    if not seen_projects:
        raise _fail(url, "not a PEP 691 index (no list of projects)")
    meta = meta if isinstance(meta, dict) else {}
    _check_api_version(meta.get("api-version"), url)
    serial = _serial(meta.get("_last-serial"), url, "_last-serial")
    if serial is None:
        serial = header_serial(headers, url)
    return RootIndex(url=url, serial=serial, projects=scratch.projects)


def _read_root_entries(reader: _JsonStream, url: str, scratch: ScratchIndex) -> None:
    if reader.peek() == "]":
        reader.position += 1
        return
    plain, normalize = _PLAIN_ENTRY.match, _NAME_SEPARATORS.sub
    while True:
        found = plain(reader.buffer, reader.position)
        if found is not None:
            rows = []
            while found is not None:
                name, serial, serial_first, name_second, closing = found.groups()
                if name is None:
                    name, serial = name_second, serial_first
                rows.append((normalize("-", name).lower(), name, int(serial)))
                reader.position = found.end()
                if closing:
                    break
                found = plain(reader.buffer, reader.position)
            scratch.add_projects(rows)
            if closing:
                return
        entry = reader.value()
        if not isinstance(entry, dict):
            raise _fail(url, "a project entry is not an object")
        name = entry.get("name")
        normalized = checked_name(name, url)
        serial = entry.get("_last-serial")
        if serial is not None and (type(serial) is not int or not 0 <= serial <= MAX_SERIAL):
            serial = _serial(serial, url, f"{name}: _last-serial")
        scratch.add_project(normalized, name, serial)
        if not reader.separator("]"):
            return


def parse_project_json(body: bytes, url: str, name: str, headers: Mapping[str, str]) -> ProjectPage:
    document = _json(body, url)
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise _fail(url, "not a PEP 691 project page (no list of files)")
    meta = document.get("meta") if isinstance(document.get("meta"), dict) else {}
    _check_api_version(meta.get("api-version"), url)
    if checked_name(document.get("name"), url) != name:
        raise _fail(url, f"the page is for {document.get('name')!r}, not {name!r}")
    serial = header_serial(headers, url)
    if serial is None:
        serial = _serial(meta.get("_last-serial"), url, "_last-serial")
    files = []
    for entry in document["files"]:
        if not isinstance(entry, dict):
            raise _fail(url, "a file entry is not an object")
        filename = _safe_filename(entry.get("filename"), url)
        yanked = entry.get("yanked", False)
        if not isinstance(yanked, (bool, str)):
            raise _fail(url, f"{filename}: yanked must be a boolean or a reason")
        size = entry.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise _fail(url, f"{filename}: size {size!r} is not a number of bytes")
        requires_python = entry.get("requires-python") or ""
        if not isinstance(requires_python, str):
            raise _fail(url, f"{filename}: requires-python must be text")
        metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
        files.append(
            UpstreamFile(
                filename=filename,
                url=_file_url(url, entry.get("url"), filename),
                hashes=_hashes(entry.get("hashes", {}), url, filename),
                size=size,
                upload_time=_upload_time(entry.get("upload-time"), url, filename),
                requires_python=requires_python,
                yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) else "",
                metadata_hashes=_metadata_hashes(metadata, url, filename),
            )
        )
    versions = document.get("versions")
    if versions is not None and (not isinstance(versions, list) or not all(isinstance(v, str) for v in versions)):
        raise _fail(url, "versions must be a list of strings")
    return ProjectPage(
        name=name, serial=serial, files=tuple(files), versions=None if versions is None else tuple(versions)
    )


# -- PEP 503 HTML -------------------------------------------------------------


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str] = {}
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._current, self._text = dict(attrs), []
        elif tag == "meta":
            attributes = dict(attrs)
            if attributes.get("name"):
                self.meta[attributes["name"]] = attributes.get("content") or ""

    def handle_data(self, data):
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._current is not None:
            self.anchors.append((self._current, "".join(self._text).strip()))
            self._current = None


def _parse_html(body: bytes, url: str, parser: _AnchorParser | None = None) -> _AnchorParser:
    return _parse_html_stream(io.BytesIO(body), url, parser or _AnchorParser())


def _parse_html_stream(stream: BinaryIO, url: str, parser: _AnchorParser) -> _AnchorParser:
    """Feed the parser a piece at a time, as UTF-8 text without NUL characters."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    while True:
        piece = stream.read(ROOT_READ_SIZE)
        try:
            text = decoder.decode(piece, final=not piece)
        except UnicodeDecodeError as exc:
            raise _fail(url, f"malformed HTML (not UTF-8: {exc})") from None
        if "\x00" in text:
            raise _fail(url, "malformed HTML (binary data)")
        parser.feed(text)
        if not piece:
            break
    parser.close()
    _check_api_version(parser.meta.get("pypi:repository-version"), url)
    return parser


# What _RootParser keeps of the link being read: only that there is one.
_IN_LINK: dict[str, str | None] = {}


class _RootParser(_AnchorParser):
    """The anchors of a root index, made into its projects as they are read rather than kept.

    PyPI's root lists about 700,000 projects: a list of every anchor's
    attributes beside the index made of them more than doubled the peak.
    """

    def __init__(self, url: str, scratch: ScratchIndex) -> None:
        super().__init__()
        self.url = url
        self.scratch = scratch
        self._href = ""

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = next((value for name, value in attrs if name == "href" and value), "")
            self._current, self._text = _IN_LINK, []
        else:
            super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "a" and self._current is not None:
            text = "".join(self._text).strip()
            self._current = None
            if not self._href:
                raise _fail(self.url, f"malformed HTML: the link {text[:100]!r} has no href")
            self.scratch.add_project(_project_link(self.url, self._href, text), text, None)


# A link with a scheme, a host or characters a plain path does not hold.
_ABSOLUTE_OR_ODD = re.compile(r"[:\[\]\\]|^//")


def _project_link(url: str, href: str, text: str) -> str:
    """The normalized name a root's link is for; raises InvalidUpstream for a link that is no project's.

    PEP 503: the text is the project's name, and the link goes to its page,
    whose URL ends in the name (normalized or not; devpi, pypiserver, PyPI,
    Nexus and PythonNest all write it so, and static hosts may add
    index.html). A web site's page answering for the index (a catch-all
    server, a portal) has links like "Home", "Log in" or "here" that are not:
    it is refused rather than taken for an index of odd projects.
    """
    if not is_valid_name(text):
        raise _not_a_project_link(url, href, text)
    normalized = canonicalize_name(text)
    if _ABSOLUTE_OR_ODD.search(href):
        # A URL with a scheme or a host: parsed, so that a malformed one is named as such.
        path = _absolute(url, href, text[:100]).path
    else:
        # Nearly every root's links ("/simple/name/", "name/"): PyPI's HTML lists
        # 700,000, and parsing each as a URL would double the time to read it.
        path = href.partition("#")[0].partition("?")[0]
    path = path.removesuffix("/index.html").rstrip("/")
    last_part = path.rsplit("/", 1)[-1]
    if last_part != text and canonicalize_name(unquote(last_part)) != normalized:
        raise _not_a_project_link(url, href, text)
    return normalized


def _not_a_project_link(url: str, href: str, text: str) -> InvalidUpstream:
    return _fail(
        url,
        f"not a package index: the link {text[:100]!r} to {href[:200]!r} is not a project's "
        "(PEP 503 links each project's name to its page)",
    )


def parse_root_html(stream: BinaryIO, url: str, headers: Mapping[str, str], scratch: ScratchIndex) -> RootIndex:
    """A PEP 503 root, read a piece at a time into ``scratch``."""
    _parse_html_stream(stream, url, _RootParser(url, scratch))
    return RootIndex(url=url, serial=header_serial(headers, url), projects=scratch.projects)


def _fragment_hashes(href: str, url: str, filename: str) -> dict[str, str]:
    fragment = href.partition("#")[2]
    if not fragment:
        return {}
    algorithm, _, digest = fragment.partition("=")
    return _hashes({algorithm: digest}, url, filename) if algorithm.lower() in HASH_LENGTHS else {}


def parse_project_html(body: bytes, url: str, name: str, headers: Mapping[str, str]) -> ProjectPage:
    parser = _parse_html(body, url)
    files = []
    for attributes, text in parser.anchors:
        href = attributes.get("href")
        if not href:
            raise _fail(url, f"malformed HTML: the link {text[:100]!r} has no href")
        parts = _absolute(url, href, text[:100] or "a link")
        # PEP 503: the link's text is the filename, and so is the URL's last part.
        last_part = unquote(parts.path.rsplit("/", 1)[-1])
        filename = _safe_filename(text or last_part, url)
        metadata = attributes.get("data-core-metadata", attributes.get("data-dist-info-metadata"))
        if metadata is None:
            metadata_hashes = None
        elif metadata in ("", "true"):
            metadata_hashes = {}
        else:
            algorithm, _, digest = metadata.partition("=")
            metadata_hashes = _hashes({algorithm: digest}, url, filename)
        yanked = "data-yanked" in attributes
        files.append(
            UpstreamFile(
                filename=filename,
                url=_http_url(url, parts, href, filename),
                hashes=_fragment_hashes(href, url, filename),
                requires_python=attributes.get("data-requires-python") or "",
                yanked=yanked,
                yanked_reason=(attributes.get("data-yanked") or "") if yanked else "",
                metadata_hashes=metadata_hashes,
            )
        )
    return ProjectPage(name=name, serial=header_serial(headers, url), files=tuple(files))


def parse_root(
    body: bytes | BinaryIO, url: str, headers: Mapping[str, str], scratch: ScratchIndex | None = None
) -> RootIndex:
    """The simple index, from JSON or HTML by its Content-Type, into ``scratch``; raises InvalidUpstream.

    ``body`` is the page's bytes, or a binary file holding them, read a piece
    at a time. Without ``scratch``, a new one holds the projects (the caller
    closes it through ``root.projects``'s owner when it is done, or leaves it
    to the garbage collector).
    """
    stream = io.BytesIO(body) if isinstance(body, bytes | bytearray) else body
    scratch = scratch if scratch is not None else ScratchIndex()
    kind = media_type(headers.get("content-type"))
    if kind == JSON_V1 or kind == "application/json":
        return parse_root_json(stream, url, headers, scratch)
    if kind in (HTML_V1, "text/html", ""):
        return parse_root_html(stream, url, headers, scratch)
    raise _fail(url, f"not a package index (it answered {kind})")


def parse_project(body: bytes, url: str, name: str, headers: Mapping[str, str]) -> ProjectPage:
    """A project page, from JSON or HTML by its Content-Type; raises InvalidUpstream."""
    kind = media_type(headers.get("content-type"))
    if kind == JSON_V1 or kind == "application/json":
        return parse_project_json(body, url, name, headers)
    if kind in (HTML_V1, "text/html", ""):
        return parse_project_html(body, url, name, headers)
    raise _fail(url, f"not a project page (it answered {kind})")


# -- the JSON API ------------------------------------------------------------


@dataclass(frozen=True)
class JsonApiProject:
    """What ``/pypi/<name>/json`` adds to the simple page: the display name, digests and times."""

    display_name: str
    serial: int | None
    files: dict[str, dict]


def parse_json_api(body: bytes, url: str, name: str, headers: Mapping[str, str]) -> JsonApiProject:
    document = _json(body, url)
    if not isinstance(document, dict) or not isinstance(document.get("info"), dict):
        raise _fail(url, "not a JSON API document (no info)")
    display_name = document["info"].get("name")
    if checked_name(display_name, url) != name:
        raise _fail(url, f"the document is for {display_name!r}, not {name!r}")
    serial = header_serial(headers, url)
    if serial is None:
        serial = _serial(document.get("last_serial"), url, "last_serial")
    files: dict[str, dict] = {}
    releases = document.get("releases") or {}
    if not isinstance(releases, dict):
        raise _fail(url, "releases must be an object")
    for entries in releases.values():
        if not isinstance(entries, list):
            raise _fail(url, "a release must be a list of files")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
                raise _fail(url, "a file entry has no filename")
            filename = entry["filename"]
            digests = entry.get("digests") or {}
            files[filename] = {
                "hashes": _hashes(digests, url, filename) if isinstance(digests, dict) else {},
                "upload_time": _upload_time(entry.get("upload_time_iso_8601"), url, filename),
            }
    return JsonApiProject(display_name=display_name, serial=serial, files=files)
