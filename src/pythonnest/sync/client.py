"""The upstream's HTTP: one keep-alive connection pool, timeouts, retries with backoff.

One ``httpx.Client`` is shared by the download threads (its pool is
thread-safe). It honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY, and
SSL_CERT_FILE, from the environment; ``ca_bundle`` replaces the trusted CAs.
What is retried: connection errors, timeouts, cut-off bodies, 429 and 5xx
answers, bytes that do not match their digest, and pages older than the
change feed promised. A 404 is an answer, not a failure, and is not retried.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from defusedxml.xmlrpc import DefusedExpatParser

from pythonnest import __version__
from pythonnest.core.exceptions import IntegrityFailure, InvalidUpstream, UpstreamUnavailable

logger = logging.getLogger(__name__)

USER_AGENT = f"pythonnest/{__version__} (update)"
MAX_PAGE_SIZE = 1024**3
MAX_BACKOFF = 60.0
T = TypeVar("T")


class UpstreamNotFound(UpstreamUnavailable):
    """The upstream answered 404 or 410."""


class StalePage(Exception):
    """A page older than the change feed promised; raised by a check, and retried."""


class Cancelled(Exception):
    """The run is stopping (Ctrl-C or SIGTERM); work in flight gives up."""


class XmlRpcUnsupported(Exception):
    """The upstream does not offer this XML-RPC method."""


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
class ClientSettings:
    timeout: float = 10.0
    retries: int = 5
    backoff: float = 1.0
    connections: int = 8
    ca_bundle: Path | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke ({exc})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__} ({exc})"
    return str(exc)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.strip().isdigit() else None


class UpstreamClient:
    """HTTP GETs, streamed downloads and XML-RPC calls to one upstream, with retries."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        cancel: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.cancel = cancel or threading.Event()
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
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
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

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
            except (httpx.TransportError, _RetryableStatus, IntegrityFailure, StalePage) as exc:
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
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (404, 410):
            raise UpstreamNotFound(f"{what}: HTTP {status}")
        if status == 429 or status >= 500:
            raise _RetryableStatus(status, _retry_after(response))
        raise UpstreamUnavailable(f"{what}: HTTP {status}")

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
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_size:
                        raise InvalidUpstream(f"{url}: the page is larger than {max_size} bytes")
                    chunks.append(chunk)
                page = Page(
                    url=str(response.url),
                    status=response.status_code,
                    headers={key.lower(): value for key, value in response.headers.items()},
                    body=b"".join(chunks),
                )
            if check is not None:
                check(page)
            return page

        return self._with_retries(url, attempt)

    def download(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Stream ``url`` into ``consume``, which may raise IntegrityFailure to have it fetched again."""

        def attempt() -> T:
            # The digest is of the bytes as stored: never let a server's
            # Content-Encoding (a .tar.gz sent "gzip") unpack them.
            with self._http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
                self._check_status(response, url)
                return consume(self._chunks(response))

        return self._with_retries(url, attempt)

    def _chunks(self, response: httpx.Response) -> Iterator[bytes]:
        # As the connection reads them (64 KiB at most): re-chunking to a
        # larger size cost a copy of every byte and more system time.
        for chunk in response.iter_raw():
            if self.cancel.is_set():
                raise Cancelled()
            yield chunk

    def xmlrpc(self, url: str, method: str, *params: object) -> object:
        """Call an XML-RPC method; raises XmlRpcUnsupported when the upstream does not offer it."""
        body = xmlrpc.client.dumps(params, method, allow_none=False).encode("utf-8")

        def attempt() -> object:
            response = self._http.post(url, content=body, headers={"Content-Type": "text/xml"})
            if 400 <= response.status_code < 500 or response.status_code == 501:
                raise XmlRpcUnsupported(f"{url}: HTTP {response.status_code}")
            self._check_status(response, url)
            return _parse_xmlrpc_response(response.content, url)

        return self._with_retries(f"{url} {method}", attempt)


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
