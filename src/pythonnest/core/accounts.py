"""Accounts: password logins with throttling, users and groups, self-registration.

Users are Django's. A failed password login is counted per username and
client address; past ``LOGIN_FAILURE_LIMIT`` failures within
``LOGIN_FAILURE_WINDOW`` the login is refused before the password is even
checked. The web UI's login form and HTTP Basic share this door.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pythonnest.conf import Config
from pythonnest.core.exceptions import AuthenticationFailed, InvalidName, NotFound, TooManyAttempts
from pythonnest.core.models import FailedLogin

logger = logging.getLogger(__name__)

LOGIN_FAILURE_LIMIT = 10
LOGIN_FAILURE_WINDOW = datetime.timedelta(minutes=15)
# A password check costs a deliberately slow hash (PBKDF2); pip sends the
# credentials of the index URL with every request, so a success is
# remembered briefly. The entry holds the password hash it was checked
# against: a changed password misses it.
VERIFIED_PASSWORD_TTL = 300


def registration_allowed(config: Config) -> bool:
    """Whether visitors may create their own accounts (ALLOW_REGISTRATION); administrators always can."""
    return config.allow_registration


def _verified_key(username: str, password: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"{username}\0{password}".encode(), hashlib.sha256)
    return f"pythonnest-verified-login:{mac.hexdigest()}"


def check_login_allowed(username: str, address: str) -> bool:
    """Raise TooManyAttempts when this username has failed too often from this address lately.

    Returns whether failures are on record, to be cleared by a success.
    """
    row = FailedLogin.objects.filter(username=username[:150], address=address[:45]).first()
    if row is None or row.failures < LOGIN_FAILURE_LIMIT:
        return row is not None
    wait = row.first_failure + LOGIN_FAILURE_WINDOW - timezone.now()
    if wait.total_seconds() > 0:
        raise TooManyAttempts(
            f"Too many failed logins for '{username[:150]}' from this address; try again in "
            f"{max(1, round(wait.total_seconds() / 60))} minute(s)",
            retry_after=int(wait.total_seconds()) + 1,
        )
    return True


def record_login_failure(username: str, address: str) -> None:
    """Count one failed login; a count older than the window starts again."""
    username, address = username[:150], address[:45]
    logger.warning("failed login for %s from %s", username, address)
    now = timezone.now()
    with transaction.atomic():
        updated = FailedLogin.objects.filter(
            username=username, address=address, first_failure__gt=now - LOGIN_FAILURE_WINDOW
        ).update(failures=F("failures") + 1)
        if updated:
            return
        # Expired counts are of no use; dropping them here keeps the table small.
        FailedLogin.objects.filter(first_failure__lte=now - LOGIN_FAILURE_WINDOW).exclude(
            username=username, address=address
        ).delete()
        try:
            with transaction.atomic():
                FailedLogin.objects.update_or_create(
                    username=username, address=address, defaults={"failures": 1, "first_failure": now}
                )
        except IntegrityError:
            # A concurrent failure created the row; counting it once is enough.
            pass


def clear_login_failures(username: str, address: str) -> None:
    FailedLogin.objects.filter(username=username[:150], address=address[:45]).delete()


def authenticate_password(username: str, password: str, address: str) -> AbstractBaseUser:
    """The active user with this username and password.

    Raises TooManyAttempts when throttled, AuthenticationFailed otherwise.
    """
    failed_before = check_login_allowed(username, address)
    User = get_user_model()
    key = _verified_key(username, password)
    remembered = cache.get(key)
    user = None
    if remembered is not None:
        user = User._default_manager.filter(pk=remembered[0], is_active=True).first()
        if user is None or user.password != remembered[1] or user.get_username() != username:
            user = None
    if user is None:
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            # Hash anyway, so that the time taken does not tell which usernames exist.
            User().set_password(password)
        elif user.is_active and user.check_password(password):
            cache.set(key, (user.pk, user.password), timeout=VERIFIED_PASSWORD_TTL)
        else:
            user = None
    if user is not None:
        if failed_before:
            clear_login_failures(username, address)
        return user
    record_login_failure(username, address)
    raise AuthenticationFailed("Invalid or non-existent authentication information")


# -- users and groups, for administrators --------------------------------------


def find_user(username: str) -> AbstractBaseUser:
    """The user with this username; raises NotFound."""
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def create_user(
    username: str, password: str | None, *, email: str = "", staff: bool = False, superuser: bool = False
) -> AbstractBaseUser:
    """Create a user; without a password, the account cannot log in until one is set.

    Raises InvalidName when the username is taken or empty.
    """
    User = get_user_model()
    if not username or User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():
        raise InvalidName(f"the username {username!r} is empty or already taken")
    maker = User._default_manager.create_superuser if superuser else User._default_manager.create_user
    user = maker(username=username, email=email, password=password)
    if staff and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    logger.info("created user %s", username)
    return user


def find_group(name: str, *, create: bool = False) -> Group:
    """The group with this name; raises NotFound unless ``create``."""
    if create:
        return Group.objects.get_or_create(name=name)[0]
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise NotFound(f"no group named {name!r}")
    return group


def add_to_group(user: AbstractBaseUser, group: Group) -> None:
    user.groups.add(group)
    logger.info("added %s to group %s", user.get_username(), group.name)


def remove_from_group(user: AbstractBaseUser, group: Group) -> None:
    user.groups.remove(group)
    logger.info("removed %s from group %s", user.get_username(), group.name)


def list_users():
    """Every user, by username, with their groups."""
    User = get_user_model()
    return User._default_manager.order_by(User.USERNAME_FIELD).prefetch_related("groups")
