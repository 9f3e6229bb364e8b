"""The web UI's views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pythonnest.core.models import File, Project, Release


def home(request: HttpRequest) -> HttpResponse:
    counts = {
        "projects": Project.objects.count(),
        "releases": Release.objects.count(),
        "files": File.objects.count(),
    }
    return render(request, "pythonnest/home.html", {"counts": counts})


def _missing(request, *args, **kwargs):
    from django.http import Http404

    raise Http404("not written yet")


search = classifiers = recent = project = release = _missing
