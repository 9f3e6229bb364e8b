"""File and PEP 658 metadata downloads at stable, content-derived URLs.

``/packages/<aa>/<bb>/<rest of sha256>/<filename>``: the path changes when the
bytes do, so clients and proxies may cache a file forever.
"""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_safe

from pythonnest.api.auth import identify_reader
from pythonnest.api.responses import not_found
from pythonnest.core.models import File
from pythonnest.core.queries import PrecompiledRead
from pythonnest.storage import blob_store

METADATA_SUFFIX = ".metadata"

# What a download reads of its file: one row, by the file's unique name. Compiled
# once per database, as the simple index's reads are: compiling it took several
# times as long as running it, on every download.
_FILE_FIELDS = ("sha256", "metadata_sha256", "upstream_url", "project_id", "project__private_group_id")
_file_by_name = PrecompiledRead(
    File,
    lambda filename, sha256: (
        File.objects.filter(filename=filename, sha256=sha256).order_by().values_list(*_FILE_FIELDS)
    ),
    arity=2,
)


def _find_file(filename: str, sha256: str) -> dict | None:
    _alias, rows = _file_by_name.rows(filename, sha256)
    return dict(zip(_FILE_FIELDS, rows[0], strict=True)) if rows else None


def _blob_response(
    sha256: str, filename: str, content_type: str, upstream_url: str = "", *, private: bool = False
) -> HttpResponse:
    store = blob_store()
    path = store.path_for(sha256)
    if not path.is_file():
        if upstream_url:
            return HttpResponseRedirect(upstream_url)
        return not_found(f"{filename} is known to this index but its content is not on this server")
    mode = settings.PYTHONNEST.xsendfile
    if mode is None:
        response = FileResponse(path.open("rb"), content_type=content_type)
    else:
        response = HttpResponse(content_type=content_type)
        if mode == "nginx":
            response["X-Accel-Redirect"] = settings.PYTHONNEST.xsendfile_nginx_prefix + store.relative_path(sha256)
        else:
            response["X-Sendfile"] = str(path)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = f'"{sha256}"'
    # A private project's files are for its group only: no shared cache may keep them.
    response["Cache-Control"] = f"max-age=31536000, {'private' if private else 'public'}, immutable"
    return response


@require_safe
def download(request: HttpRequest, prefix: str, filename: str) -> HttpResponse:
    sha256 = prefix.replace("/", "")
    wants_metadata = filename.endswith(METADATA_SUFFIX)
    distribution_name = filename.removesuffix(METADATA_SUFFIX) if wants_metadata else filename
    file = _find_file(distribution_name, sha256)
    private_group_id = file["project__private_group_id"] if file else None
    if private_group_id is not None:
        identity = identify_reader(request)
        if isinstance(identity, HttpResponse):
            return identity
        if not identity.viewer.can_see(private_group_id, file["project_id"]):
            file = None
    if file is None:
        return not_found(f"No file {filename} here")
    private = private_group_id is not None
    if wants_metadata:
        if not file["metadata_sha256"]:
            return not_found(f"{distribution_name} has no core metadata file")
        return _blob_response(file["metadata_sha256"], filename, "application/octet-stream", private=private)
    return _blob_response(file["sha256"], filename, "application/octet-stream", file["upstream_url"], private=private)
