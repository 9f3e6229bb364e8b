"""Signing in and out, self-registration and the password change of the web UI.

The login form goes through ``accounts.authenticate_password``, as HTTP Basic
does, so that both share one failed-login throttle.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as start_session
from django.contrib.auth import logout as end_session
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from pythonnest.api.auth import client_address
from pythonnest.core import accounts
from pythonnest.core.exceptions import AuthenticationFailed, InvalidName, TooManyAttempts
from pythonnest.web.forms import LoginForm, RegistrationForm

# Django's ModelBackend, named because authenticate_password is not an authentication backend.
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, target: str) -> str:
    """``target`` when it stays on this site, else the home page: never an open redirect."""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("home")


def _throttled(exc: TooManyAttempts) -> str:
    minutes = max(1, round(exc.retry_after / 60))
    return ngettext(
        "Too many failed logins for this username from this address; try again in %(minutes)d minute.",
        "Too many failed logins for this username from this address; try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    """Sign in with a username and password, then go back to the page that asked for it."""
    status, retry_after = 200, None
    if request.method == "POST":
        form = LoginForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = accounts.authenticate_password(data["username"], data["password"], client_address(request))
            except TooManyAttempts as exc:
                form.add_error(None, _throttled(exc))
                status, retry_after = 429, exc.retry_after
            except AuthenticationFailed:
                form.add_error(None, _("Invalid username or password."))
            else:
                start_session(request, user, backend=SESSION_BACKEND)
                return redirect(_safe_next(request, data["next"]))
    else:
        form = LoginForm(initial={"next": request.GET.get("next", "")})
    response = render(request, "pythonnest/account/login.html", {"form": form}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@csrf_protect
def logout(request: HttpRequest) -> HttpResponse:
    """Sign out on a POST; a GET only asks to confirm, so that a link or an image cannot sign anyone out."""
    if request.method != "POST":
        return render(request, "pythonnest/account/logout.html")
    end_session(request)
    messages.success(request, _("You are logged out."))
    return redirect("home")


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
def register(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in with it, when ALLOW_REGISTRATION is on."""
    if not accounts.registration_allowed(settings.PYTHONNEST):
        return render(request, "pythonnest/account/registration_closed.html", status=404)
    form = RegistrationForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user = accounts.create_user(data["username"], data["password1"], email=data["email"])
        except InvalidName:
            # Someone took the name between the form's check and now.
            form.add_error("username", _("A user with that username already exists."))
        else:
            start_session(request, user, backend=SESSION_BACKEND)
            messages.success(request, _("Welcome, %(username)s: your account is ready.") % {"username": user})
            return redirect("manage-projects")
    return render(request, "pythonnest/account/register.html", {"form": form})


@sensitive_post_parameters()
@csrf_protect
@never_cache
@login_required(login_url="login")
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password; the current session stays signed in, the others end."""
    form = PasswordChangeForm(request.user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        messages.success(request, _("Your password has been changed."))
        return redirect("password-change")
    return render(request, "pythonnest/account/password_change.html", {"form": form})
