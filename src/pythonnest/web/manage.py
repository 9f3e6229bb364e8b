"""Placeholder: being written."""

from django.http import Http404


def _missing(request, *args, **kwargs):
    raise Http404("not written yet")


login = logout = register = password_change = projects = tokens = project = release = _missing
