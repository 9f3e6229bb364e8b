"""HTTP Basic authentication for the machine-facing APIs.

pip and uv send the credentials written in the index URL; twine sends a
username and password, or ``__token__`` and an API token. A browser logged
in to the web UI is known by its session, for reads only: a POST authorized
by a cookie would be open to cross-site requests.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from pythonnest.api.responses import error
from pythonnest.core.access import ANONYMOUS, Identity
from pythonnest.core.accounts import authenticate_password
from pythonnest.core.exceptions import AuthenticationFailed, TooManyAttempts
from pythonnest.core.tokens import TOKEN_USERNAME, authenticate_token

REALM = "pythonnest"


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """The username and password of an ``Authorization: Basic`` header, None without one.

    Raises AuthenticationFailed for another scheme or a malformed value.
    """
    header = request.headers.get("Authorization", "")
    if not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise AuthenticationFailed(f"Unsupported authentication scheme {scheme[:20]!r}: use HTTP Basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationFailed("Malformed HTTP Basic credentials") from exc
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    username, separator, password = text.partition(":")
    if not separator:
        raise AuthenticationFailed("Malformed HTTP Basic credentials: no ':' between username and password")
    return username, password


def client_address(request: HttpRequest) -> str:
    """The address of the client: the peer's, or, from a trusted reverse proxy, its ``X-Forwarded-For``.

    Each proxy appends the address it received the request from, so the
    list is read from the right, skipping trusted proxies; the first
    address that is not one is the client (anything left of it may be forged).
    """
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    trusted = settings.PYTHONNEST.trusted_proxies
    if not _is_trusted(_ip(address), trusted):
        return address
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for hop in reversed(forwarded):
        ip = _ip(hop)
        if ip is None:
            return address  # garbage in the header: the last proxy that forwarded it
        if not _is_trusted(ip, trusted):
            return hop
        address = hop
    return address


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(ip, networks) -> bool:
    return ip is not None and any(ip in network for network in networks)


def authenticate_basic(request: HttpRequest) -> Identity:
    """The identity of the request's Basic credentials; anonymous without any.

    Raises AuthenticationFailed or TooManyAttempts.
    """
    credentials = basic_credentials(request)
    if credentials is None:
        return ANONYMOUS
    username, password = credentials
    if username == TOKEN_USERNAME:
        return authenticate_token(password)
    return Identity(authenticate_password(username, password, client_address(request)))


def identify_reader(request: HttpRequest) -> Identity | HttpResponse:
    """Who is reading: Basic credentials, else the web UI's session; or the answer refusing them."""
    try:
        identity = authenticate_basic(request)
    except (AuthenticationFailed, TooManyAttempts) as exc:
        return refusal(exc)
    if identity.user is None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Identity(user)
    return identity


def challenge(reason: str) -> HttpResponse:
    """401, asking for HTTP Basic credentials."""
    response = error(401, reason)
    response["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


def refusal(exc: Exception, *, status: int = 401) -> HttpResponse:
    """The answer to credentials refused: 429 when throttled, else ``status`` (401 re-asks)."""
    if isinstance(exc, TooManyAttempts):
        response = error(429, str(exc))
        response["Retry-After"] = str(exc.retry_after)
        return response
    if status == 401:
        return challenge(str(exc))
    return error(status, str(exc))
