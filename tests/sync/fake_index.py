"""A small package index under the tests' control, for the faults a real one will not make on demand.

It serves real distributions (built by ``tests.support.builders``) the way
an upstream does: the simple index as PEP 691 JSON or PEP 503 HTML, with or
without serials, PEP 658 metadata files, the JSON API, and (when asked)
XML-RPC ``changelog_since_serial`` at /pypi. Faults are queued per path: a
500, a 404, a 429 (with or without Retry-After), a slow answer, corrupted
or cut-off bytes, a page staler than its serial, or any body at all. It
binds 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
import time
import xmlrpc.client
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from pythonnest.core.distributions import canonical_version, parse_filename

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class FakeFile:
    filename: str
    data: bytes
    upload_time: datetime.datetime
    yanked: bool | str = False
    metadata: bytes | None = None
    requires_python: str = ""
    # Set to lie about the file in the listings.
    listed_sha256: str | None = None
    listed_md5: str | None = None

    @property
    def sha256(self) -> str:
        return self.listed_sha256 or hashlib.sha256(self.data).hexdigest()

    @property
    def version(self) -> str:
        return str(parse_filename(self.filename).version)


@dataclass
class Fault:
    kind: str
    times: int = 1
    seconds: float = 0.0
    body: bytes = b""
    content_type: str = "text/html"
    # Sent as Retry-After with a 429 or 503 answer.
    retry_after: str | None = None


@dataclass
class FakeProject:
    display_name: str
    serial: int = 0
    files: dict[str, FakeFile] = field(default_factory=dict)


def wheel_metadata(path: Path) -> bytes | None:
    if not path.name.endswith(".whl"):
        return None
    with zipfile.ZipFile(path) as archive:
        name = next(member for member in archive.namelist() if member.endswith(".dist-info/METADATA"))
        return archive.read(name)


class FakeIndex:
    """An index in a thread of the test process; ``url`` is its base URL."""

    def __init__(self, *, serials: bool = True, json_pages: bool = True, json_api: bool = True) -> None:
        self.serials, self.json_pages, self.json_api = serials, json_pages, json_api
        self.projects: dict[str, FakeProject] = {}
        self.serial = 0
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._clock = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        self._server: ThreadingHTTPServer | None = None
        self.scheme = "http"
        # Seconds every file download waits, to make a run last long enough to interrupt.
        self.file_delay = 0.0
        # (username, password) every request must bring (HTTP Basic), as a private index wants.
        self.credentials: tuple[str, str] | None = None
        # Whether /pypi answers XML-RPC ``changelog_since_serial``, as PyPI and PythonNest do; off, a 404.
        self.xmlrpc = False
        # PyPI's changelog rows: [name, version, timestamp, action, serial].
        self.changelog: list[list] = []
        # The path the index lives under ("/api/pypi/pypi", as an Artifactory repository's); outside it, 404.
        self.prefix = ""

    # -- the catalog ---------------------------------------------------------------

    def _bump(self, name: str) -> None:
        self.serial += 1
        self.projects[name].serial = self.serial
        self._log(self.projects[name].display_name, "change")

    def _log(self, display_name: str, action: str) -> None:
        self.changelog.append([display_name, None, int(self._clock.timestamp()), action, self.serial])

    def add(
        self, path: Path, *, yanked: bool | str = False, metadata: bool = True, display_name: str | None = None
    ) -> FakeFile:
        parsed = parse_filename(path.name)
        name = parsed.normalized_name
        project = self.projects.setdefault(name, FakeProject(display_name or name))
        self._clock += datetime.timedelta(minutes=1)
        file = FakeFile(
            filename=path.name,
            data=path.read_bytes(),
            upload_time=self._clock,
            yanked=yanked,
            metadata=wheel_metadata(path) if metadata else None,
        )
        project.files[path.name] = file
        self._bump(name)
        return file

    def add_raw(self, name: str, filename: str, data: bytes, **fields) -> FakeFile:
        """A file that need not be a real distribution (for bad input)."""
        project = self.projects.setdefault(canonicalize_name(name), FakeProject(name))
        self._clock += datetime.timedelta(minutes=1)
        file = FakeFile(filename=filename, data=data, upload_time=self._clock, **fields)
        project.files[filename] = file
        self._bump(canonicalize_name(name))
        return file

    def yank(self, filename: str, reason: bool | str = True) -> None:
        for name, project in self.projects.items():
            if filename in project.files:
                project.files[filename].yanked = reason
                self._bump(name)

    def remove(self, filename: str) -> None:
        for name, project in self.projects.items():
            if project.files.pop(filename, None) is not None:
                self._bump(name)

    def remove_project(self, name: str) -> None:
        display_name = self.projects.pop(name).display_name
        self.serial += 1
        self._log(display_name, "remove project")

    def fault(self, path: str, kind: str, times: int = 1, **parameters) -> None:
        """Queue a fault for the next ``times`` requests of ``path`` (a path, or a filename under /files/)."""
        if not path.startswith("/"):
            path = f"/files/{path}"
        self.faults.setdefault(path, []).append(Fault(kind, times, **parameters))

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path) or []
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    def count(self, path: str) -> int:
        return sum(1 for _, seen in self.requests if seen == path)

    # -- pages ---------------------------------------------------------------------------

    def root_json(self) -> dict:
        meta = {"api-version": "1.1"}
        projects = []
        for name in sorted(self.projects):
            entry = {"name": self.projects[name].display_name}
            if self.serials:
                entry["_last-serial"] = self.projects[name].serial
            projects.append(entry)
        if self.serials:
            meta["_last-serial"] = self.serial
        return {"meta": meta, "projects": projects}

    def root_html(self) -> str:
        links = "".join(f'<a href="{name}/">{self.projects[name].display_name}</a>\n' for name in sorted(self.projects))
        return f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"

    def project_json(self, name: str, serial: int) -> dict:
        project = self.projects[name]
        files = []
        for file in sorted(project.files.values(), key=lambda file: file.filename):
            files.append(
                {
                    "filename": file.filename,
                    "url": f"../../files/{file.filename}",
                    "hashes": {"sha256": file.sha256},
                    "requires-python": file.requires_python or None,
                    "yanked": file.yanked,
                    "size": len(file.data),
                    "upload-time": file.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "core-metadata": {"sha256": hashlib.sha256(file.metadata).hexdigest()} if file.metadata else False,
                }
            )
        versions = sorted({file.version for file in project.files.values() if _parses(file.filename)})
        meta = {"api-version": "1.1"}
        if self.serials:
            meta["_last-serial"] = serial
        return {"meta": meta, "name": name, "versions": versions, "files": files}

    def project_html(self, name: str) -> str:
        anchors = []
        for file in sorted(self.projects[name].files.values(), key=lambda file: file.filename):
            attributes = f'href="../../files/{file.filename}#sha256={file.sha256}"'
            if file.metadata:
                attributes += f' data-core-metadata="sha256={hashlib.sha256(file.metadata).hexdigest()}"'
            if file.yanked is not False:
                attributes += f' data-yanked="{file.yanked if isinstance(file.yanked, str) else ""}"'
            anchors.append(f"<a {attributes}>{file.filename}</a><br/>\n")
        return f"<!DOCTYPE html>\n<html><body>\n<h1>Links for {name}</h1>\n{''.join(anchors)}</body></html>\n"

    def json_api_document(self, name: str, serial: int) -> dict:
        project = self.projects[name]
        releases: dict[str, list] = {}
        for file in sorted(project.files.values(), key=lambda file: file.filename):
            releases.setdefault(file.version, []).append(
                {
                    "filename": file.filename,
                    "digests": {
                        "sha256": file.sha256,
                        "md5": file.listed_md5 or hashlib.md5(file.data).hexdigest(),
                        "blake2b_256": hashlib.blake2b(file.data, digest_size=32).hexdigest(),
                    },
                    "size": len(file.data),
                    "upload_time_iso_8601": file.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            )
        return {"info": {"name": project.display_name}, "last_serial": serial, "releases": releases}

    def find_file(self, filename: str) -> FakeFile | None:
        for project in self.projects.values():
            if filename in project.files:
                return project.files[filename]
        return None

    # -- serving ----------------------------------------------------------------------

    def start(self, ssl_context=None) -> FakeIndex:
        """Serve on a free port of 127.0.0.1; over TLS with ``ssl_context``."""
        index = self
        self.scheme = "https" if ssl_context is not None else "http"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = urlsplit(self.path).path
                index.requests.append(("POST", path))
                path = index.unprefixed(path)
                if not index.authorized(self.headers.get("Authorization")):
                    return self._send(401, b"credentials needed\n", "text/plain", {"WWW-Authenticate": "Basic"})
                fault = index.take_fault(path)
                if fault is not None and fault.kind in ("500", "404", "503"):
                    return self._send(int(fault.kind), b"fault\n", "text/plain")
                if fault is not None and fault.kind == "body":
                    return self._send(200, fault.body, fault.content_type)
                if not index.xmlrpc or path.rstrip("/") != "/pypi":
                    return self._send(404, b"no XML-RPC here\n", "text/plain")
                return self._send(200, index.xmlrpc_answer(body), "text/xml")

            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                index.requests.append(("GET", path))
                path = index.unprefixed(path)
                if not index.authorized(self.headers.get("Authorization")):
                    return self._send(401, b"credentials needed\n", "text/plain", {"WWW-Authenticate": "Basic"})
                fault = index.take_fault(path)
                if path.startswith("/files/") and index.file_delay:
                    time.sleep(index.file_delay)
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.seconds)
                if fault is not None and fault.kind in ("500", "404", "503", "429"):
                    headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
                    return self._send(int(fault.kind), b"fault\n", "text/plain", headers)
                if fault is not None and fault.kind == "body":
                    return self._send(200, fault.body, fault.content_type)
                stale = fault is not None and fault.kind == "stale"
                answer = index.answer(path, self.headers.get("Accept", ""), stale)
                if answer is None:
                    return self._send(404, b"not found\n", "text/plain")
                status, body, content_type, headers = answer
                if fault is not None and fault.kind == "corrupt":
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                if fault is not None and fault.kind == "truncate":
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._send(status, body, content_type, headers)

            def _send(self, status, body, content_type, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that hangs up (a killed run, a timeout) is no error of the index.
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def xmlrpc_answer(self, body: bytes) -> bytes:
        """The answer to one XML-RPC call: ``changelog_since_serial`` as PyPI gives it, else a fault."""
        params, method = xmlrpc.client.loads(body)
        if method == "changelog_since_serial" and len(params) == 1 and isinstance(params[0], int):
            rows = [row for row in self.changelog if row[4] > params[0]]
            return xmlrpc.client.dumps((rows,), methodresponse=True, allow_none=True).encode()
        return xmlrpc.client.dumps(xmlrpc.client.Fault(1, f"method {method!r} is not offered here")).encode()

    @staticmethod
    def xmlrpc_body(value: object) -> bytes:
        """An XML-RPC answer holding ``value``, for a "body" fault on /pypi (bytes: the answer as given)."""
        if isinstance(value, bytes):
            return value
        return xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()

    def unprefixed(self, path: str) -> str:
        """The path inside the index; one outside it is answered 404 (as no path of it is "/-")."""
        if not self.prefix:
            return path
        return path[len(self.prefix) :] if path.startswith(self.prefix + "/") else "/-"

    def authorized(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        return header == "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()

    def answer(self, path: str, accept: str, stale: bool):
        """(status, body, content type, headers) for a path, or None for a 404."""
        wants_json = self.json_pages and "json" in accept
        if path == "/simple/":
            headers = {"X-PyPI-Last-Serial": str(self.serial)} if self.serials else {}
            if wants_json:
                return 200, json.dumps(self.root_json()).encode(), JSON_V1, headers
            return 200, self.root_html().encode(), "text/html", headers
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "simple":
            name = parts[1]
            if name not in self.projects:
                return None
            serial = self.projects[name].serial - (1 if stale else 0)
            headers = {"X-PyPI-Last-Serial": str(serial)} if self.serials else {}
            if wants_json:
                return 200, json.dumps(self.project_json(name, serial)).encode(), JSON_V1, headers
            return 200, self.project_html(name).encode(), "text/html", headers
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            if not self.json_api or parts[1] not in self.projects:
                return None
            serial = self.projects[parts[1]].serial - (1 if stale else 0)
            body = json.dumps(self.json_api_document(parts[1], serial)).encode()
            return 200, body, "application/json", {"X-PyPI-Last-Serial": str(serial)}
        if len(parts) == 2 and parts[0] == "files":
            filename = parts[1]
            if filename.endswith(".metadata"):
                file = self.find_file(filename.removesuffix(".metadata"))
                if file is None or file.metadata is None:
                    return None
                return 200, file.metadata, "application/octet-stream", {}
            file = self.find_file(filename)
            if file is None:
                return None
            return 200, file.data, "application/octet-stream", {}
        return None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}{self.prefix}/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _parses(filename: str) -> bool:
    try:
        canonical_version(parse_filename(filename).version)
    except Exception:
        return False
    return True
