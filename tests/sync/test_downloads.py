"""File bodies through ``UpstreamClient.download``: keep-alive, redirects, framing, short bodies.

Files are read with ``http.client`` rather than httpx (see sync/client.py);
these drive it against a real HTTP server in a thread of the test.
"""

from __future__ import annotations

import base64
import gzip
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pythonnest.core.exceptions import UpstreamUnavailable
from pythonnest.sync.client import BODY_MIN_READ, ClientSettings, UpstreamClient, UpstreamNotFound

BODY = bytes(range(256)) * 1000  # 256,000 bytes
# More than three times the body buffer (1 MiB), and not a multiple of it.
BIG_BODY = bytes(range(251)) * 12_600
# What /trickle and /trickle-chunked send before they wait for the client.
TRICKLED = 100_000


class _Server:
    """Answers by path; counts requests and the connections they came on."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []
        self.connections = 0
        self.redirect_to = ""
        # Paths whose answer closes the connection afterwards, once.
        self.close_after: set[str] = set()
        # /trickle and /trickle-chunked send the rest of their body once this is set, or after 10 s.
        self.release = threading.Event()
        self.waited_out = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                server.connections += 1

            def do_GET(self):
                server.requests.append(self.path)
                server.authorizations.append(self.headers.get("Authorization"))
                if self.path == "/private":
                    expected = "Basic " + base64.b64encode(b"mirror user:p@ss").decode()
                    if self.headers.get("Authorization") == expected:
                        self._send(200, BODY)
                    else:
                        self._send(401, b"who are you?\n", {"WWW-Authenticate": 'Basic realm="index"'})
                elif self.path == "/file":
                    self._send(200, BODY)
                elif self.path == "/big":
                    self._send(200, BIG_BODY)
                elif self.path in ("/trickle", "/trickle-chunked"):
                    self._trickle(chunked=self.path.endswith("chunked"))
                elif self.path == "/elsewhere":
                    self._send(302, b"", {"Location": server.redirect_to})
                elif self.path == "/redirect":
                    self._send(302, b"", {"Location": "/file"})
                elif self.path == "/absolute-redirect":
                    self._send(301, b"moved\n", {"Location": f"{server.url}/file"})
                elif self.path.startswith("/loop/"):
                    number = int(self.path.rsplit("/", 1)[1])
                    self._send(307, b"", {"Location": f"/loop/{number + 1}"})
                elif self.path == "/chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(BODY), 70_000):
                        piece = BODY[start : start + 70_000]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif self.path == "/gzipped":
                    self._send(200, gzip.compress(BODY, mtime=0), {"Content-Encoding": "gzip"})
                elif self.path == "/short":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(BODY)))
                    self.end_headers()
                    self.wfile.write(BODY[:1000])
                    self.close_connection = True
                elif self.path == "/until-close":
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(BODY)
                    self.close_connection = True
                else:
                    self._send(404, b"not found\n")
                if self.path in server.close_after:
                    server.close_after.discard(self.path)
                    self.close_connection = True

            def _trickle(self, chunked):
                """TRICKLED bytes of BODY, then nothing until the client has handed some on (or 10 s)."""
                self.send_response(200)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                for number, piece in enumerate((BODY[:TRICKLED], BODY[TRICKLED:])):
                    if number:
                        server.waited_out = not server.release.wait(10)
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                    self.wfile.flush()
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")

            def _send(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server():
    running = _Server()
    yield running
    running.stop()


@pytest.fixture
def client(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with UpstreamClient(ClientSettings(timeout=5, retries=1, backoff=0.01)) as upstream:
        yield upstream


def collect(chunks) -> bytes:
    # Each chunk may be a view of a buffer the next read overwrites: copy as it comes.
    return b"".join(bytes(chunk) for chunk in chunks)


def test_files_share_one_kept_alive_connection(server, client):
    for _ in range(5):
        assert client.download(f"{server.url}/file", collect) == BODY
    assert server.requests == ["/file"] * 5
    assert server.connections == 1


def test_bodies_larger_than_the_buffer_keep_their_connection(server, client):
    assert client.download(f"{server.url}/big", collect) == BIG_BODY
    assert client.download(f"{server.url}/big", collect) == BIG_BODY
    assert client.download(f"{server.url}/file", collect) == BODY
    assert server.connections == 1


@pytest.mark.parametrize("path", ["/trickle", "/trickle-chunked"])
def test_a_read_does_not_wait_to_fill_the_buffer(server, client, path):
    # The body buffer is a MiB, but a read waits for 64 KiB at most (as
    # reads did before), or a slow upstream would hold up the progress bar
    # and Ctrl-C until a whole MiB had come.
    first_chunks = []

    def consume(chunks):
        data = b""
        for chunk in chunks:
            if not first_chunks:
                first_chunks.append(len(chunk))
                server.release.set()
            data += bytes(chunk)
        return data

    assert client.download(f"{server.url}{path}", consume) == BODY
    assert BODY_MIN_READ <= first_chunks[0] <= TRICKLED
    assert not server.waited_out
    assert client.download(f"{server.url}/file", collect) == BODY
    assert server.connections == 1


def test_a_connection_the_server_closed_is_replaced_without_a_retry(server, client):
    server.close_after.add("/file")
    assert client.download(f"{server.url}/file", collect) == BODY
    assert client.download(f"{server.url}/file", collect) == BODY
    assert server.requests == ["/file", "/file"]
    assert server.connections == 2


@pytest.mark.parametrize("path", ["/redirect", "/absolute-redirect"])
def test_redirects_are_followed(server, client, path):
    assert client.download(f"{server.url}{path}", collect) == BODY
    assert server.requests == [path, "/file"]
    # The redirect's own body was read, so the same connection served both.
    assert server.connections == 1


def with_credentials(server: _Server) -> UpstreamClient:
    settings = ClientSettings(
        timeout=5, retries=1, backoff=0.01, credentials=("mirror user", "p@ss"), origin=server.url
    )
    return UpstreamClient(settings)


def test_credentials_are_sent_to_the_upstream(server, client):
    with with_credentials(server) as authorized:
        assert authorized.download(f"{server.url}/private", collect) == BODY
    with pytest.raises(UpstreamUnavailable, match="HTTP 401, the upstream wants credentials"):
        client.download(f"{server.url}/private", collect)


def test_credentials_do_not_follow_a_redirect_to_another_host(server):
    other = _Server()
    try:
        # Another origin: localhost instead of 127.0.0.1.
        server.redirect_to = other.url.replace("127.0.0.1", "localhost") + "/file"
        with with_credentials(server) as authorized:
            assert authorized.download(f"{server.url}/elsewhere", collect) == BODY
    finally:
        other.stop()
    assert server.authorizations[0] is not None
    assert other.requests == ["/file"] and other.authorizations == [None]


def test_a_redirect_loop_is_a_failure(server, client):
    with pytest.raises(UpstreamUnavailable, match="more than 10 redirects"):
        client.download(f"{server.url}/loop/0", collect)


def test_a_chunked_body_is_read_whole(server, client):
    assert client.download(f"{server.url}/chunked", collect) == BODY
    assert client.download(f"{server.url}/file", collect) == BODY
    assert server.connections == 1


def test_a_body_read_until_the_server_closes(server, client):
    assert client.download(f"{server.url}/until-close", collect) == BODY
    assert client.download(f"{server.url}/file", collect) == BODY
    assert server.connections == 2


def test_a_content_encoding_is_not_undone(server, client):
    # The digest is of the bytes as the upstream stores them.
    assert client.download(f"{server.url}/gzipped", collect) == gzip.compress(BODY, mtime=0)


def test_a_body_shorter_than_its_length_is_retried_then_a_failure(server, client):
    with pytest.raises(UpstreamUnavailable, match="the connection broke.*after 2 attempts"):
        client.download(f"{server.url}/short", collect)
    assert server.requests == ["/short", "/short"]


def test_a_missing_file_is_not_found(server, client):
    with pytest.raises(UpstreamNotFound, match="HTTP 404"):
        client.download(f"{server.url}/missing", collect)
    assert client.download(f"{server.url}/file", collect) == BODY


def test_nothing_listening_is_a_failure_that_names_it(client):
    # A port that is bound but not listening: a connection to it is refused.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(UpstreamUnavailable, match="cannot connect"):
            client.download(f"http://127.0.0.1:{taken.getsockname()[1]}/file", collect)


def test_pages_carry_the_credentials_to_the_upstream_only(server):
    other = _Server()
    try:
        with with_credentials(server) as authorized:
            assert authorized.get(f"{server.url}/private").body == BODY
            assert authorized.get(f"{other.url}/file").body == BODY
    finally:
        other.stop()
    assert other.authorizations == [None]


def test_connections_closed_by_the_server_are_not_kept(server, client):
    # A server that closes after every answer: a new connection each time, none piling up.
    for _ in range(20):
        assert client.download(f"{server.url}/until-close", collect) == BODY
    assert server.connections == 20
    assert sum(len(pool) for pool in client._bodies._pools) <= 1
