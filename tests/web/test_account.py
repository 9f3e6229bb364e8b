"""The account pages: logging in and out, the shared login throttle, registration, the password change."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from pythonnest.api.auth import client_address
from pythonnest.core import accounts
from pythonnest.core.exceptions import AuthenticationFailed
from pythonnest.core.models import FailedLogin
from tests.support.uploads import basic_auth

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
NEW_PASSWORD = "another-long-password-42"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", email="alice@example.org", password=PASSWORD)


@pytest.fixture
def registration_open(settings):
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, allow_registration=True)


def _signed_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def _login(client: Client, password: str = PASSWORD, next_url: str = "", **extra):
    return client.post("/account/login/", {"username": "alice", "password": password, "next": next_url}, **extra)


# -- login ---------------------------------------------------------------------


def test_login_page_has_the_form_and_keeps_next(client):
    response = client.get("/account/login/", {"next": "/manage/projects/"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<form id="login-form" method="post"' in page
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="next" value="/manage/projects/"' in page
    assert "<title>Log in" in page


def test_login_signs_in_and_goes_to_next(client, alice):
    response = _login(client, next_url="/manage/projects/")
    assert response.status_code == 302
    assert response["Location"] == "/manage/projects/"
    assert _signed_in_user_id(client) == str(alice.pk)
    page = client.get("/manage/projects/").content.decode()
    assert 'id="account-link">alice<' in page


def test_login_without_next_goes_home(client, alice):
    response = _login(client)
    assert response.status_code == 302 and response["Location"] == "/"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/path", "http://testserver.evil.example/", "javascript:alert(1)"],
)
def test_login_ignores_a_next_outside_the_site(client, alice, next_url):
    response = _login(client, next_url=next_url)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_shows_the_form_again(client, alice):
    response = _login(client, password="wrong-password")
    assert response.status_code == 200
    assert "Invalid username or password." in response.content.decode()
    assert _signed_in_user_id(client) is None
    assert FailedLogin.objects.get(username="alice").failures == 1


def test_an_unknown_user_gets_the_same_answer(client, alice):
    response = client.post("/account/login/", {"username": "nobody", "password": PASSWORD})
    assert response.status_code == 200
    assert "Invalid username or password." in response.content.decode()


def test_an_inactive_user_cannot_log_in(client, alice):
    alice.is_active = False
    alice.save()
    assert _login(client).status_code == 200
    assert _signed_in_user_id(client) is None


def test_login_is_throttled_even_with_the_right_password(client, alice):
    for _ in range(accounts.LOGIN_FAILURE_LIMIT):
        assert _login(client, password="wrong-password").status_code == 200
    response = _login(client)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert _signed_in_user_id(client) is None
    # Another address is not affected.
    assert _login(client, REMOTE_ADDR="192.0.2.7").status_code == 302


@pytest.mark.parametrize("trusted", [True, False])
def test_behind_a_trusted_proxy_the_throttle_counts_per_forwarded_client(client, alice, settings, trusted):
    networks = (ipaddress.ip_network("10.0.0.0/8"),) if trusted else ()
    settings.PYTHONNEST = dataclasses.replace(settings.PYTHONNEST, trusted_proxies=networks)
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    attacker = {**via_proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.9, 10.0.0.3"}
    for _ in range(accounts.LOGIN_FAILURE_LIMIT):
        assert _login(client, password="wrong-password", **attacker).status_code == 200
    assert _login(client, **attacker).status_code == 429
    # Another client behind the same proxies: a client of its own, unless the proxy is not trusted.
    other = {**via_proxy, "HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    assert _login(client, **other).status_code == (302 if trusted else 429)
    # A forged X-Forwarded-For from a client that is not a proxy changes nothing.
    forged = {"REMOTE_ADDR": "198.51.100.9", "HTTP_X_FORWARDED_FOR": "192.0.2.8"}
    assert _login(client, **forged).status_code == (429 if trusted else 302)


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("10.0.0.2", "192.0.2.1", "192.0.2.1"),
        ("10.0.0.2", "203.0.113.5, 192.0.2.1, 10.0.0.3", "192.0.2.1"),  # the left part may be forged
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),
        ("10.0.0.2", "not-an-address", "10.0.0.2"),
        ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
        ("192.0.2.1", "10.0.0.9", "192.0.2.1"),  # not from a proxy: the header is not believed
    ],
)
def test_the_client_address_behind_trusted_proxies(rf, settings, remote, forwarded, client):
    settings.PYTHONNEST = dataclasses.replace(
        settings.PYTHONNEST, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),)
    )
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_web_and_http_basic_share_the_throttle(client, alice):
    for _ in range(accounts.LOGIN_FAILURE_LIMIT):
        _login(client, password="wrong-password")
    response = client.get("/simple/", **basic_auth("alice", PASSWORD))
    assert response.status_code == 429


def test_a_success_clears_the_failures(client, alice):
    _login(client, password="wrong-password")
    assert _login(client).status_code == 302
    assert not FailedLogin.objects.exists()


def test_login_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    response = _login(client)
    assert response.status_code == 403
    assert _signed_in_user_id(client) is None
    client.get("/account/login/")
    token = client.cookies["csrftoken"].value
    response = client.post("/account/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert _signed_in_user_id(client) == str(alice.pk)


# -- logout --------------------------------------------------------------------


def test_logout_needs_a_post(client, alice):
    client.force_login(alice)
    response = client.get("/account/logout/")
    assert response.status_code == 200
    assert 'action="/account/logout/"' in response.content.decode()
    assert _signed_in_user_id(client) == str(alice.pk)
    response = client.post("/account/logout/", follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert _signed_in_user_id(client) is None
    assert "You are logged out." in response.content.decode()
    assert client.get("/manage/projects/").status_code == 302


def test_logout_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/account/logout/").status_code == 403
    assert _signed_in_user_id(client) == str(alice.pk)


# -- registration --------------------------------------------------------------


def _registration(username: str = "newcomer", password: str = NEW_PASSWORD) -> dict[str, str]:
    return {"username": username, "email": f"{username}@example.org", "password1": password, "password2": password}


def test_registration_is_closed_by_default(client, django_user_model):
    response = client.get("/account/register/")
    assert response.status_code == 404
    assert "Registration is closed on this index" in response.content.decode()
    assert client.post("/account/register/", _registration()).status_code == 404
    assert not django_user_model.objects.filter(username="newcomer").exists()


def test_registration_creates_the_account_and_signs_in(client, registration_open, django_user_model):
    page = client.get("/account/register/")
    assert page.status_code == 200
    assert 'name="password2"' in page.content.decode()
    response = client.post("/account/register/", _registration())
    assert response.status_code == 302
    assert response["Location"] == "/manage/projects/"
    user = django_user_model.objects.get(username="newcomer")
    assert user.email == "newcomer@example.org"
    assert not user.is_staff
    assert _signed_in_user_id(client) == str(user.pk)
    assert accounts.authenticate_password("newcomer", NEW_PASSWORD, "127.0.0.1") == user


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (_registration(password="12345678"), "This password is too common."),
        (_registration(password="short"), "This password is too short."),
        ({**_registration(), "password2": "something-else-entirely"}, "The two password fields"),
        (_registration(username="alice"), "A user with that username already exists."),
        ({**_registration(), "email": ""}, "This field is required."),
    ],
)
def test_registration_refuses_bad_input(client, registration_open, alice, django_user_model, fields, error):
    response = client.post("/account/register/", fields)
    assert response.status_code == 200
    assert error in response.content.decode().replace("&#x27;", "'")
    assert django_user_model.objects.count() == 1


# -- password change -----------------------------------------------------------


def test_password_change_needs_a_login(client):
    response = client.get("/account/password/")
    assert response.status_code == 302
    assert response["Location"] == "/account/login/?next=/account/password/"


def test_password_change_replaces_the_password(client, alice):
    client.force_login(alice)
    # A verified password is remembered for a while: a change must still end it.
    accounts.authenticate_password("alice", PASSWORD, "127.0.0.1")
    fields = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/account/password/", fields, follow=True)
    assert response.redirect_chain == [("/account/password/", 302)]
    assert "Your password has been changed." in response.content.decode()
    # This session stays signed in.
    assert client.get("/manage/projects/").status_code == 200
    with pytest.raises(AuthenticationFailed):
        accounts.authenticate_password("alice", PASSWORD, "127.0.0.1")
    assert accounts.authenticate_password("alice", NEW_PASSWORD, "127.0.0.1") == alice
    fresh = Client()
    assert _login(fresh, password=NEW_PASSWORD).status_code == 302


def test_password_change_needs_the_old_password(client, alice):
    client.force_login(alice)
    fields = {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/account/password/", fields)
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
