"""API tokens: the password twine and pip send with the username ``__token__``.

A token is ``pynest-`` and 43 random URL-safe characters (256 bits). Only its
sha256 is stored: the secret is shown once, at creation, and a stolen
database does not give it away. The secret is random, so one fast hash is
enough, and checking a token costs no deliberately slow password hash.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from pythonnest.core.access import Identity
from pythonnest.core.exceptions import AuthenticationFailed, NotFound
from pythonnest.core.models import ApiToken, Project

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "pynest-"
TOKEN_USERNAME = "__token__"
# How much of the secret is kept in clear, for people to recognise a token.
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
# Recording every use would write on every request pip makes.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    """A token just created, with its secret: the only time the secret is known."""

    token: ApiToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(user: AbstractBaseUser, *, project: Project | None = None, description: str = "") -> NewToken:
    """Make a token for ``user``, for every project of theirs or for ``project`` only."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        project=project,
        description=description[:100],
        digest=_digest(secret),
        prefix=secret[:SHOWN_PREFIX_LENGTH],
    )
    scope = project.normalized_name if project else "all projects"
    logger.info("created API token %s for %s (%s)", token.prefix, user.get_username(), scope)
    return NewToken(token, secret)


def revoke_token(token: ApiToken) -> bool:
    """Revoke a token for good; False when it already was."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked__isnull=True).update(revoked=timezone.now())
    if updated:
        logger.info("revoked API token %s of user %s", token.prefix, token.user_id)
    return bool(updated)


def find_token(reference: str, user: AbstractBaseUser | None = None) -> ApiToken:
    """A token by its id or the start of its secret (as ``list_tokens`` shows them).

    Raises NotFound when none or several match.
    """
    tokens = ApiToken.objects.select_related("user", "project")
    if user is not None:
        tokens = tokens.filter(user=user)
    condition = Q(prefix=reference[:SHOWN_PREFIX_LENGTH]) if reference.startswith(TOKEN_PREFIX) else Q(pk=-1)
    if reference.isdigit():
        condition |= Q(pk=int(reference))
    matches = list(tokens.filter(condition)[:2])
    if reference.startswith(TOKEN_PREFIX) and len(reference) > SHOWN_PREFIX_LENGTH:
        # A whole secret: match it exactly.
        matches = [token for token in matches if token.digest == _digest(reference)]
    if len(matches) != 1:
        raise NotFound(f"{'several tokens match' if matches else 'no token matches'} {reference[:20]!r}")
    return matches[0]


def list_tokens(user: AbstractBaseUser | None = None) -> list[ApiToken]:
    """Tokens, oldest first, of one user or of everyone."""
    tokens = ApiToken.objects.select_related("user", "project").order_by("created", "id")
    return list(tokens.filter(user=user) if user is not None else tokens)


def authenticate_token(secret: str) -> Identity:
    """The identity a token's secret stands for, its last use recorded.

    Raises AuthenticationFailed for an unknown, revoked or malformed token,
    or one whose user is inactive.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationFailed(f"Invalid API token: PythonNest tokens start with {TOKEN_PREFIX}")
    token = ApiToken.objects.select_related("user").filter(digest=_digest(secret)).first()
    if token is None or token.revoked is not None or not token.user.is_active:
        raise AuthenticationFailed("Invalid or non-existent authentication information: unknown or revoked API token")
    now = timezone.now()
    if token.last_used is None or now - token.last_used > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return Identity(token.user, token)
