"""Password logins and their throttle, API tokens, registration."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib

import pytest
from django.conf import settings
from django.utils import timezone

from pythonnest.core import accounts, tokens
from pythonnest.core.exceptions import AuthenticationFailed, InvalidName, NotFound, TooManyAttempts
from pythonnest.core.models import ApiToken, FailedLogin

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture
def ann(django_user_model):
    return django_user_model.objects.create_user("ann", password=PASSWORD)


def test_a_right_password_gives_the_user(ann):
    assert accounts.authenticate_password("ann", PASSWORD, "10.1.1.1") == ann


@pytest.mark.parametrize(("username", "password"), [("ann", "wrong"), ("nobody", PASSWORD), ("", "")])
def test_a_wrong_login_fails_and_is_counted(ann, username, password):
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password(username, password, "10.1.1.1")
    assert FailedLogin.objects.get(username=username, address="10.1.1.1").failures == 1


def test_the_throttle_holds_for_the_window_then_lets_go(ann):
    for _ in range(accounts.LOGIN_FAILURE_LIMIT):
        with pytest.raises(AuthenticationFailed):
            accounts.authenticate_password("ann", "wrong", "10.1.1.1")
    with pytest.raises(TooManyAttempts) as raised:
        accounts.authenticate_password("ann", PASSWORD, "10.1.1.1")
    assert 0 < raised.value.retry_after <= accounts.LOGIN_FAILURE_WINDOW.total_seconds() + 1
    # Another address, or another username, is not held back.
    assert accounts.authenticate_password("ann", PASSWORD, "10.1.1.2") == ann
    # Once the window has passed, the right password works again and clears the count.
    past = timezone.now() - accounts.LOGIN_FAILURE_WINDOW - datetime.timedelta(seconds=1)
    FailedLogin.objects.update(first_failure=past)
    assert accounts.authenticate_password("ann", PASSWORD, "10.1.1.1") == ann
    assert not FailedLogin.objects.filter(address="10.1.1.1").exists()


def test_a_failure_after_the_window_starts_a_new_count(ann):
    FailedLogin.objects.create(
        username="ann", address="10.1.1.1", failures=50, first_failure=timezone.now() - datetime.timedelta(days=1)
    )
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password("ann", "wrong", "10.1.1.1")
    assert FailedLogin.objects.get().failures == 1


def test_a_remembered_login_is_forgotten_when_the_password_changes(ann):
    assert accounts.authenticate_password("ann", PASSWORD, "10.1.1.1") == ann
    ann.set_password("another-long-password")
    ann.save()
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password("ann", PASSWORD, "10.1.1.1")
    assert accounts.authenticate_password("ann", "another-long-password", "10.1.1.1") == ann


def test_a_remembered_login_is_forgotten_when_the_user_is_deactivated(ann):
    accounts.authenticate_password("ann", PASSWORD, "10.1.1.1")
    ann.is_active = False
    ann.save()
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password("ann", PASSWORD, "10.1.1.1")


def test_a_token_is_stored_hashed_and_shown_once(ann):
    new = tokens.create_token(ann, description="laptop")
    assert new.secret.startswith("pynest-") and len(new.secret) >= 7 + 43
    stored = ApiToken.objects.get()
    assert stored.digest == hashlib.sha256(new.secret.encode()).hexdigest()
    assert new.secret not in repr(list(ApiToken.objects.values()))
    assert stored.prefix == new.secret[: len(stored.prefix)] and len(stored.prefix) < 20
    identity = tokens.authenticate_token(new.secret)
    assert (identity.user, identity.token.pk) == (ann, stored.pk)


def test_a_tokens_last_use_is_recorded_at_most_once_a_minute(ann):
    new = tokens.create_token(ann)
    tokens.authenticate_token(new.secret)
    first = ApiToken.objects.get().last_used
    tokens.authenticate_token(new.secret)
    assert ApiToken.objects.get().last_used == first
    ApiToken.objects.update(last_used=first - datetime.timedelta(minutes=2))
    tokens.authenticate_token(new.secret)
    assert ApiToken.objects.get().last_used > first


@pytest.mark.parametrize("secret", ["", "pynest-", "pynest-unknown", "pypi-abc", "pynest-" + "x" * 300])
def test_bad_tokens_are_refused(ann, secret):
    tokens.create_token(ann)
    with pytest.raises(AuthenticationFailed):
        tokens.authenticate_token(secret)


def test_revoking_is_final(ann):
    new = tokens.create_token(ann)
    assert tokens.revoke_token(new.token) is True
    assert tokens.revoke_token(new.token) is False
    with pytest.raises(AuthenticationFailed):
        tokens.authenticate_token(new.secret)


def test_find_token_by_id_prefix_or_secret(ann, django_user_model):
    first, second = tokens.create_token(ann), tokens.create_token(ann)
    assert tokens.find_token(str(first.token.pk)) == first.token
    assert tokens.find_token(second.token.prefix) == second.token
    assert tokens.find_token(second.secret) == second.token
    other = django_user_model.objects.create_user("ben")
    with pytest.raises(NotFound):
        tokens.find_token(str(first.token.pk), user=other)
    with pytest.raises(NotFound):
        tokens.find_token("pynest-nothing")


def test_users_and_groups(ann):
    with pytest.raises(InvalidName):
        accounts.create_user("ann", "x")
    ben = accounts.create_user("ben", None, staff=True)
    assert ben.is_staff and not ben.has_usable_password()
    with pytest.raises(NotFound):
        accounts.find_group("team")
    team = accounts.find_group("team", create=True)
    accounts.add_to_group(ben, team)
    assert list(ben.groups.values_list("name", flat=True)) == ["team"]
    accounts.remove_from_group(ben, team)
    assert not ben.groups.exists()


def test_registration_follows_the_setting():
    config = settings.PYTHONNEST
    assert accounts.registration_allowed(dataclasses.replace(config, allow_registration=False)) is False
    assert accounts.registration_allowed(dataclasses.replace(config, allow_registration=True)) is True


def test_expired_counts_are_dropped_when_a_new_one_starts(ann):
    old = timezone.now() - accounts.LOGIN_FAILURE_WINDOW - datetime.timedelta(minutes=1)
    FailedLogin.objects.create(username="someone", address="10.9.9.9", failures=3, first_failure=old)
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password("ann", "wrong", "10.1.1.1")
    assert list(FailedLogin.objects.values_list("username", flat=True)) == ["ann"]
