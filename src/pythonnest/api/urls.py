"""Machine-facing URLs: the simple index, files, the JSON API and XML-RPC."""

from django.urls import path, re_path

from pythonnest.api import files, simple

urlpatterns = [
    path("simple/", simple.simple_index, name="simple-index"),
    path("simple/<str:name>/", simple.simple_detail, name="simple-detail"),
    re_path(
        r"^packages/(?P<prefix>[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60})/(?P<filename>[^/]+)$",
        files.download,
        name="file-download",
    ),
]
