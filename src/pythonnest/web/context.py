"""Values every page's template sees."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from pythonnest.core.accounts import registration_allowed


def site(request: HttpRequest) -> dict:
    return {"registration_allowed": registration_allowed(settings.PYTHONNEST)}
