"""Machine-facing URLs: the simple index, files, the JSON API and XML-RPC."""

from django.urls import path, re_path

from pythonnest.api import files, json_api, simple, upload, xmlrpc

urlpatterns = [
    path("simple/", simple.simple_index, name="simple-index"),
    path("simple/<str:name>/", simple.simple_detail, name="simple-detail"),
    re_path(
        r"^packages/(?P<prefix>[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60})/(?P<filename>[^/]+)$",
        files.download,
        name="file-download",
    ),
    # PyPI answers with and without the trailing slash; so do we.
    path("pypi/<str:name>/json", json_api.json_project, name="json-project"),
    path("pypi/<str:name>/json/", json_api.json_project, name="json-project-slash"),
    path("pypi/<str:name>/<str:version>/json", json_api.json_release, name="json-release"),
    path("pypi/<str:name>/<str:version>/json/", json_api.json_release, name="json-release-slash"),
    # XML-RPC, and legacy uploads POSTed as multipart/form-data (see xmlrpc.POST_HANDLERS).
    path("pypi", xmlrpc.pypi_endpoint, name="pypi-endpoint"),
    path("pypi/", xmlrpc.pypi_endpoint, name="pypi-endpoint-slash"),
    # twine's upload URL; /setup/ is the original PythonNest's. Both spellings,
    # because a redirected POST is an upload lost.
    path("legacy/", upload.legacy_upload, name="legacy-upload"),
    path("legacy", upload.legacy_upload),
    path("setup/", upload.legacy_upload, name="setup-upload"),
    path("setup", upload.legacy_upload),
]
