"""The upstream's HTTP: keep-alive connections, timeouts, retries with backoff.

Pages and XML-RPC go through one ``httpx.Client``, shared by the threads
(its pool is thread-safe). It honours HTTP_PROXY, HTTPS_PROXY, ALL_PROXY
and NO_PROXY, and SSL_CERT_FILE, from the environment; ``ca_bundle``
replaces the trusted CAs. File bodies, which are nearly all the bytes of a
run, are read with ``http.client`` straight into a buffer, over keep-alive
connections of each thread's own, with the same TLS settings: httpx's
per-read work cost more CPU than hashing the bytes (docs/performance.md).
When a proxy is configured for the file's scheme, httpx downloads it too.
What is retried: connection errors, timeouts, cut-off bodies, 429 and 5xx
answers, bytes that do not match their digest, and pages older than the
change feed promised. A 404 is an answer, not a failure, and is not retried.
"""

from __future__ import annotations

import base64
import http.client
import logging
import os
import random
import socket
import ssl
import tempfile
import threading
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import certifi
import httpx
from defusedxml.xmlrpc import DefusedExpatParser

from pythonnest import __version__
from pythonnest.core.exceptions import ConfigError, IntegrityFailure, InvalidUpstream, UpstreamUnavailable

logger = logging.getLogger(__name__)

USER_AGENT = f"pythonnest/{__version__} (update)"
MAX_PAGE_SIZE = 1024**3
# An XML-RPC answer is held and parsed whole: PyPI's changelog answers 50,000 rows at most, a few MB.
MAX_XMLRPC_SIZE = 64 * 1024**2
MAX_BACKOFF = 60.0
# The buffer a file body is read into: one per download thread, reused. Each
# read also takes what the connection already holds, up to this much: when
# the downloads fall behind the upstream, that is a digest update and a
# write per MiB rather than per 64 KiB (docs/performance.md, ninth pass of
# update).
BODY_BUFFER_SIZE = 1024 * 1024
# A read of a body waits for this much, or the body's end, before it hands it on.
BODY_MIN_READ = 64 * 1024
# What is read of a body's rest, to keep its connection, when the consumer stopped early.
BODY_LEFTOVER_LIMIT = 64 * 1024
MAX_REDIRECTS = 10
REDIRECTS = (301, 302, 303, 307, 308)
T = TypeVar("T")


class UpstreamNotFound(UpstreamUnavailable):
    """The upstream answered 404 or 410."""


class StalePage(Exception):
    """A page older than the change feed promised; raised by a check, and retried."""


class Cancelled(Exception):
    """The run is stopping (Ctrl-C or SIGTERM); work in flight gives up."""


class XmlRpcUnsupported(Exception):
    """The upstream does not offer this XML-RPC method."""


class _TransportFailure(Exception):
    """A file download broke off: the connection, the TLS handshake, a timeout, a short body."""


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    """A whole answer: the URL it finally came from (after redirects), its headers and body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class SpooledPage:
    """A whole answer whose body is in a temporary file (binary, read from its start), not in memory."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: BinaryIO


@dataclass(frozen=True)
class ClientSettings:
    timeout: float = 10.0
    retries: int = 5
    backoff: float = 1.0
    connections: int = 8
    ca_bundle: Path | None = None
    # A username and password for the upstream, sent (HTTP Basic) only to
    # ``origin`` ("https://host:port"): never to a file host it redirects to.
    credentials: tuple[str, str] | None = None
    origin: str = ""


def origin_of(url: httpx.URL) -> str:
    """scheme://host:port, the port always written: what credentials are bound to."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode("ascii")


class _OriginAuth(httpx.Auth):
    """HTTP Basic for requests to one origin only."""

    def __init__(self, origin: str, credentials: tuple[str, str]) -> None:
        self.origin = origin
        self.header = _basic(credentials)

    def auth_flow(self, request: httpx.Request):
        if origin_of(request.url) == self.origin:
            request.headers["Authorization"] = self.header
        yield request


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _TransportFailure):
        exc = exc.__cause__ or exc
        if isinstance(exc, TimeoutError):
            return "timed out"
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return f"cannot connect ({exc})"
        if isinstance(exc, http.client.IncompleteRead | http.client.RemoteDisconnected | ConnectionError):
            return f"the connection broke ({exc!r})"
        return f"{type(exc).__name__} ({exc})"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke ({exc})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__} ({exc})"
    return str(exc)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or ""
    return float(value) if value.strip().isdigit() else None


def _check_status(status: int, headers: Mapping[str, str], what: str) -> None:
    """Return for a 2xx; raise UpstreamNotFound, _RetryableStatus or UpstreamUnavailable otherwise."""
    if 200 <= status < 300:
        return
    if status in (404, 410):
        raise UpstreamNotFound(f"{what}: HTTP {status}")
    if status == 429 or status >= 500:
        raise _RetryableStatus(status, _retry_after(headers))
    if status == 401:
        raise UpstreamUnavailable(
            f"{what}: HTTP 401, the upstream wants credentials (give them in the URL: https://USER:PASSWORD@HOST/...)"
        )
    raise UpstreamUnavailable(f"{what}: HTTP {status}")


class UpstreamClient:
    """HTTP GETs, streamed downloads and XML-RPC calls to one upstream, with retries."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.cancel = cancel or threading.Event()
        verify = _ssl_context(settings.ca_bundle)
        authorization = {}
        if settings.credentials is not None:
            authorization = {settings.origin: _basic(settings.credentials)}
        self._bodies = _BodyConnections(settings.timeout, verify, authorization)
        # Schemes whose files go through httpx, because a proxy is configured for them.
        proxies = urllib.request.getproxies_environment()
        self._proxied = {scheme for scheme in ("http", "https") if proxies.get(scheme) or proxies.get("all")}
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(
                max_connections=settings.connections,
                max_keepalive_connections=settings.connections,
                keepalive_expiry=30,
            ),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
            verify=verify,
            trust_env=True,
            auth=None if settings.credentials is None else _OriginAuth(settings.origin, settings.credentials),
        )

    def close(self) -> None:
        self._http.close()
        self._bodies.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- retries ---------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Cancelled()

    def _with_retries(self, what: str, attempt: Callable[[], T]) -> T:
        attempts = self.settings.retries + 1
        for number in range(1, attempts + 1):
            if self.cancel.is_set():
                raise Cancelled()
            try:
                return attempt()
            except (httpx.TransportError, _TransportFailure, _RetryableStatus, IntegrityFailure, StalePage) as exc:
                if self.cancel.is_set():
                    raise Cancelled() from None
                if number == attempts:
                    raise UpstreamUnavailable(f"{what}: {_describe(exc)} (after {attempts} attempts)") from None
                delay = min(self.settings.backoff * 2 ** (number - 1), MAX_BACKOFF)
                if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), MAX_BACKOFF)
                delay *= random.uniform(0.8, 1.2)
                logger.info("%s: %s; retrying in %.1fs", what, _describe(exc), delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _check_status(self, response: httpx.Response, what: str) -> None:
        _check_status(response.status_code, response.headers, what)

    # -- requests ----------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        accept: str | None = None,
        check: Callable[[Page], None] | None = None,
        max_size: int = MAX_PAGE_SIZE,
        params: Mapping[str, str] | None = None,
    ) -> Page:
        """GET a whole page; ``check`` may raise StalePage to have it fetched again.

        Raises UpstreamNotFound for a 404, UpstreamUnavailable when the retries
        are spent, InvalidUpstream for a page over ``max_size``.
        """
        headers = {"Accept": accept} if accept else {}

        def attempt() -> Page:
            with self._http.stream("GET", url, headers=headers, params=params) as response:
                self._check_status(response, url)
                body = b"".join(_bounded_chunks(response, url, max_size))
                page = Page(str(response.url), response.status_code, _lowered_headers(response), body)
            if check is not None:
                check(page)
            return page

        return self._with_retries(url, attempt)

    def found(self, url: str, *, accept: str | None = None) -> bool:
        """Whether ``url`` answers (False for a 404 or 410), without reading the body.

        Raises UpstreamUnavailable when the retries are spent.
        """
        headers = {"Accept": accept} if accept else {}

        def attempt() -> bool:
            with self._http.stream("GET", url, headers=headers) as response:
                try:
                    self._check_status(response, url)
                except UpstreamNotFound:
                    return False
                return True

        return self._with_retries(url, attempt)

    def get_spooled(self, url: str, *, accept: str | None = None, max_size: int = MAX_PAGE_SIZE) -> SpooledPage:
        """GET a page into a temporary file, for one too large to hold (PyPI's root: 50 MB and more).

        The caller reads the page's ``body`` from its start and closes it.
        Raises as ``get`` does.
        """
        headers = {"Accept": accept} if accept else {}

        def attempt() -> SpooledPage:
            body = tempfile.TemporaryFile()
            try:
                with self._http.stream("GET", url, headers=headers) as response:
                    self._check_status(response, url)
                    for chunk in _bounded_chunks(response, url, max_size):
                        body.write(chunk)
                    body.seek(0)
                    return SpooledPage(str(response.url), response.status_code, _lowered_headers(response), body)
            except BaseException:
                body.close()
                raise

        return self._with_retries(url, attempt)

    def download(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Stream ``url`` into ``consume``, which may raise IntegrityFailure to have it fetched again.

        A chunk may be a view of a buffer that the next chunk overwrites:
        ``consume`` uses each one before it asks for the next.
        """
        # The scheme is what comes before the first colon (RFC 3986); a parse per file cost more.
        proxied = url.partition(":")[0].lower() in self._proxied

        def attempt() -> T:
            if not proxied:
                return self._bodies.download(url, consume, self._checked_chunks)
            # The digest is of the bytes as stored: never let a server's
            # Content-Encoding (a .tar.gz sent "gzip") unpack them.
            with self._http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                self._check_status(response, url)
                return consume(self._checked_chunks(response.iter_raw()))

        return self._with_retries(url, attempt)

    def _checked_chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        # As the connection reads them: re-chunking to a larger size cost a
        # copy of every byte and more system time.
        for chunk in chunks:
            if self.cancel.is_set():
                raise Cancelled()
            yield chunk

    def xmlrpc(self, url: str, method: str, *params: object) -> object:
        """Call an XML-RPC method; raises XmlRpcUnsupported when the upstream does not offer it."""
        body = xmlrpc.client.dumps(params, method, allow_none=False).encode("utf-8")

        def attempt() -> object:
            with self._http.stream("POST", url, content=body, headers={"Content-Type": "text/xml"}) as response:
                if 400 <= response.status_code < 500 or response.status_code == 501:
                    raise XmlRpcUnsupported(f"{url}: HTTP {response.status_code}")
                self._check_status(response, url)
                content = b"".join(_bounded_chunks(response, url, MAX_XMLRPC_SIZE))
            return _parse_xmlrpc_response(content, url)

        return self._with_retries(f"{url} {method}", attempt)


def _bounded_chunks(response: httpx.Response, url: str, max_size: int) -> Iterator[bytes]:
    """A page's body as it comes; raises InvalidUpstream once it runs over ``max_size`` bytes."""
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_size:
            raise InvalidUpstream(f"{url}: the answer is larger than {max_size} bytes")
        yield chunk


def _lowered_headers(response: httpx.Response) -> dict[str, str]:
    return {key.lower(): value for key, value in response.headers.items()}


def _ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """The certificate authorities to trust: ``ca_bundle``, else the system's (with certifi's where it has none).

    OpenSSL reads ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` for the system's.
    Raises ConfigError, naming the file, for certificates it cannot load.
    """
    try:
        if ca_bundle is not None:
            return ssl.create_default_context(cafile=str(ca_bundle))
        context = ssl.create_default_context()
        if not context.cert_store_stats()["x509_ca"] and not os.environ.get("SSL_CERT_DIR"):
            # No system store (a minimal container): the bundle httpx ships with.
            context.load_verify_locations(cafile=certifi.where())
        return context
    except (ssl.SSLError, OSError, ValueError) as exc:
        where = f"ca_bundle {ca_bundle}" if ca_bundle is not None else "the system's certificates (SSL_CERT_FILE?)"
        raise ConfigError(f"{where}: not usable as certificate authorities ({exc})") from None


class _BodyConnections:
    """Keep-alive ``http.client`` connections for file bodies, each thread its own per host."""

    def __init__(self, timeout: float, ssl_context: ssl.SSLContext, authorization: Mapping[str, str]) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        # The Authorization header for each origin that has one.
        self.authorization = authorization
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every thread's pool, to close them all at the end.
        self._pools: list[dict[tuple[str, str, int], http.client.HTTPConnection]] = []

    def _pool(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
            with self._lock:
                self._pools.append(pool)
        return pool

    def _buffer(self) -> memoryview:
        """This thread's body buffer: its chunks are consumed before the next is read."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = memoryview(bytearray(BODY_BUFFER_SIZE))
        return buffer

    def _connection(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to (scheme, host, port); True when it served a request before."""
        pool = self._pool()
        connection = pool.get(key)
        if connection is not None:
            return connection, True
        scheme, host, port = key
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl_context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        pool[key] = connection
        return connection, False

    def _drop(self, key: tuple[str, str, int]) -> None:
        connection = self._pool().pop(key, None)
        if connection is not None:
            connection.close()

    def download(
        self,
        url: str,
        consume: Callable[[Iterator[bytes]], T],
        guard: Callable[[Iterator[bytes]], Iterator[bytes]],
    ) -> T:
        """GET ``url``, following redirects; ``consume`` gets the body's chunks through ``guard``.

        Raises _TransportFailure for a broken connection or a short body, and
        what ``_check_status`` raises for a status that is not 2xx.
        """
        for _redirect in range(MAX_REDIRECTS + 1):
            parts = httpx.URL(url)
            if parts.scheme not in ("http", "https"):
                raise UpstreamUnavailable(f"{url}: not an http or https URL")
            # raw_host: the name as DNS knows it (an internationalized one in its IDNA form).
            key = (parts.scheme, parts.raw_host.decode("ascii"), parts.port or (443 if parts.scheme == "https" else 80))
            headers = {"Host": parts.netloc.decode("ascii"), "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            authorization = self.authorization.get(origin_of(parts))
            if authorization is not None:
                headers["Authorization"] = authorization
            response = self._request(key, parts.raw_path.decode("ascii"), headers)
            status = response.status
            location = response.getheader("location")
            if status in REDIRECTS and location:
                self._finish(key, response)
                url = str(parts.join(location))
                continue
            if not 200 <= status < 300:
                headers = {name.lower(): value for name, value in response.getheaders()}
                self._drop(key)
                _check_status(status, headers, url)
            try:
                result = consume(guard(self._chunks(response)))
            except BaseException:
                self._drop(key)
                raise
            self._finish(key, response)
            return result
        raise UpstreamUnavailable(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _request(self, key: tuple[str, str, int], target: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        while True:
            connection, reused = self._connection(key)
            try:
                connection.request("GET", target, headers=headers)
                return connection.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop(key)
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                if not reused:
                    raise _TransportFailure(str(exc)) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key)
                raise _TransportFailure(str(exc)) from exc

    def _chunks(self, response: http.client.HTTPResponse) -> Iterator[memoryview]:
        view = self._buffer()
        # Chunked and close-delimited bodies (rare for files) are read 64 KiB at a
        # time, by http.client, which would otherwise wait to fill the whole buffer.
        read = _read_available if _reads_available(response) else _read_framed
        while True:
            try:
                count = read(response, view)
            except (OSError, http.client.HTTPException) as exc:
                raise _TransportFailure(str(exc)) from exc
            if not count:
                if response.length:  # closed by the server before Content-Length
                    raise _TransportFailure("the body ended early") from http.client.IncompleteRead(b"")
                return
            yield view[:count]

    def _finish(self, key: tuple[str, str, int], response: http.client.HTTPResponse) -> None:
        """Keep the connection for the next file when the whole body was read, else close it."""
        if not response.isclosed():
            try:
                if len(response.read(BODY_LEFTOVER_LIMIT + 1)) > BODY_LEFTOVER_LIMIT or not response.isclosed():
                    self._drop(key)
            except (OSError, http.client.HTTPException):
                self._drop(key)
        if response.will_close:
            self._drop(key)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, []
        for pool in pools:
            while pool:
                pool.popitem()[1].close()


def _reads_available(response: http.client.HTTPResponse) -> bool:
    """Whether a body can be read as it arrives: one of known length, not chunked, on a buffered socket."""
    return (
        not response.chunked
        and isinstance(response.length, int)
        and callable(getattr(getattr(response, "fp", None), "readinto1", None))
    )


def _read_available(response: http.client.HTTPResponse, view: memoryview) -> int:
    """Read the body into ``view``: at least BODY_MIN_READ bytes (or the rest), more if the connection holds them.

    ``HTTPResponse.readinto`` waits until the whole buffer is filled, which
    for a MiB from a slow upstream would hold up progress and Ctrl-C for
    seconds. Each ``readinto1`` takes what one receive brings (all the
    socket holds, over plain http; one TLS record, over https), so this
    waits for as much as the 64 KiB reads before it did, and takes up to
    the whole buffer when the downloads are behind the upstream. Returns 0
    at the body's end, or when the connection closes before it.
    """
    wanted = min(len(view), response.length)
    got = 0
    while got < wanted:
        count = response.fp.readinto1(view[got:wanted])
        if not count:
            break
        got += count
        if got >= BODY_MIN_READ:
            break
    response.length -= got
    return got


def _read_framed(response: http.client.HTTPResponse, view: memoryview) -> int:
    return response.readinto(view[:BODY_MIN_READ])


def _parse_xmlrpc_response(body: bytes, url: str) -> object:
    unmarshaller = xmlrpc.client.Unmarshaller(use_datetime=False, use_builtin_types=True)
    parser = DefusedExpatParser(unmarshaller, forbid_dtd=True)
    try:
        parser.feed(body)
        parser.close()
        result = unmarshaller.close()
    except xmlrpc.client.Fault as fault:
        raise XmlRpcUnsupported(f"{url}: fault {fault.faultCode}: {fault.faultString[:200]}") from None
    except Exception as exc:  # expat, defusedxml and unmarshalling errors alike
        raise XmlRpcUnsupported(f"{url}: not an XML-RPC answer ({type(exc).__name__})") from None
    return result[0] if isinstance(result, tuple) and len(result) == 1 else result
