"""PyPI's legacy upload API, as twine speaks it: a multipart POST with ``:action=file_upload``.

Served at ``/legacy/``, at the original PythonNest's ``/setup/``, and for a
multipart POST to ``/pypi``. Every refusal is a 4xx whose reason phrase and
body say why, which is what twine prints; ``400 File already exists`` is what
``twine upload --skip-existing`` looks for.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from pythonnest.api.auth import authenticate_basic, challenge, refusal
from pythonnest.api.responses import error
from pythonnest.core.exceptions import (
    AuthenticationFailed,
    DuplicateFile,
    Forbidden,
    IntegrityFailure,
    InvalidDistribution,
    InvalidName,
    InvalidUpload,
    NotAuthenticated,
    TooManyAttempts,
)
from pythonnest.core.uploads import read_form, upload_distribution
from pythonnest.storage import blob_store

logger = logging.getLogger(__name__)

# Room for the form fields beside the file (a long README travels as one).
FORM_ALLOWANCE = 16 * 1024 * 1024
BAD_REQUEST = (InvalidUpload, InvalidDistribution, IntegrityFailure, InvalidName)


class _RawNameParser(MultiPartParser):
    """Django's multipart parser, but keeping file names as sent.

    Django cuts ``../../x.whl`` down to ``x.whl``; an index must refuse such
    a name rather than quietly store something else.
    """

    def sanitize_file_name(self, file_name: str) -> str:
        return file_name


class _LimitedUploadHandler(TemporaryFileUploadHandler):
    """Spools each file to a temporary file, stopping at ``max_size`` bytes."""

    def __init__(self, request: HttpRequest, max_size: int) -> None:
        super().__init__(request)
        self.max_size = max_size
        self.too_large = False
        self.raw_names: dict[str, str] = {}

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        self.raw_names[field_name] = file_name
        super().new_file(field_name, file_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int):
        if start + len(raw_data) > self.max_size:
            self.too_large = True
            # Stop reading: the rest of a huge body is not worth receiving.
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def _too_large(max_size: int) -> HttpResponse:
    return error(413, f"File too large: this index accepts uploads of up to {max_size} bytes (MAX_UPLOAD_SIZE)")


def handle_upload(request: HttpRequest) -> HttpResponse:
    """Answer one legacy upload POST."""
    try:
        identity = authenticate_basic(request)
    except (AuthenticationFailed, TooManyAttempts) as exc:
        # As PyPI: refused credentials on upload are a 403, throttling a 429.
        return refusal(exc, status=403)
    if identity.user is None:
        return challenge("Uploading needs a username and password, or __token__ and an API token")
    if request.content_type != "multipart/form-data":
        return error(400, f"Malformed upload: expected multipart/form-data, not {request.content_type or 'nothing'}")
    max_size = settings.PYTHONNEST.max_upload_size
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error(400, "Malformed upload: invalid Content-Length")
    if declared > max_size + FORM_ALLOWANCE:
        return _too_large(max_size)
    handler = _LimitedUploadHandler(request, max_size)
    try:
        fields, files = _RawNameParser(request.META, request, [handler], request.encoding).parse()
    except RequestDataTooBig:
        return error(413, "Form fields too large")
    except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as exc:
        return error(400, f"Malformed multipart body: {exc}")
    try:
        if handler.too_large:
            return _too_large(max_size)
        return _store(request, identity, fields, files, handler.raw_names, max_size)
    finally:
        for uploaded in files.values():
            uploaded.close()


def _store(request, identity, fields, files, raw_names, max_size) -> HttpResponse:
    content = files.get("content")
    if content is None and "content" in raw_names:
        return error(400, "Malformed multipart body: the file part 'content' is incomplete")
    if content is None:
        return error(400, "Missing required field: content (the distribution file)")
    form = None
    try:
        form = read_form({key: fields.get(key) for key in fields}, raw_names.get("content", ""))
        added = upload_distribution(form, content, identity, store=blob_store(), max_size=max_size)
    except DuplicateFile:
        return error(400, f"File already exists: {form.filename if form else content.name}")
    except BAD_REQUEST as exc:
        return error(400, str(exc))
    except NotAuthenticated as exc:
        return challenge(str(exc))
    except Forbidden as exc:
        return error(403, str(exc))
    logger.info("%s uploaded %s as serial %d", identity.username, added.file.filename, added.serial)
    response = HttpResponse(f"OK: {added.file.filename} uploaded, serial {added.serial}\n", content_type="text/plain")
    response["X-PyPI-Last-Serial"] = str(added.serial)
    return response


@csrf_exempt
def legacy_upload(request: HttpRequest) -> HttpResponse:
    """``/legacy/`` and ``/setup/``: twine's upload URL."""
    if request.method != "POST":
        response = error(405, "Method Not Allowed: upload with a multipart/form-data POST, as twine does")
        response["Allow"] = "POST"
        return response
    return handle_upload(request)
