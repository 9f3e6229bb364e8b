"""URLs, kept the same as PyPI's so that clients written for PyPI work."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("pythonnest.api.urls")),
    path("", include("pythonnest.web.urls")),
    path("admin/", admin.site.urls),
]
