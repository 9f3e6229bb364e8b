"""Upload forms as twine sends them, and HTTP Basic headers, built byte by byte.

The multipart body is written here rather than by Django's test client, so
that tests can send what a client must never be trusted with: a file name
holding a path, a missing boundary, a truncated part.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from pythonnest.core.distributions import parse_filename

BOUNDARY = "pythonnest-test-boundary-7d1e"
# What twine sends besides the file, in its order (twine.repository._upload).
DIGESTS = {
    "md5_digest": lambda data: hashlib.md5(data).hexdigest(),
    "sha256_digest": lambda data: hashlib.sha256(data).hexdigest(),
    "blake2_256_digest": lambda data: hashlib.blake2b(data, digest_size=32).hexdigest(),
}


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The test client's keyword for an ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


def upload_fields(path: Path, data: bytes | None = None, **overrides: str | None) -> dict[str, str]:
    """The form twine sends for the distribution at ``path``; an override of None drops a field."""
    data = path.read_bytes() if data is None else data
    parsed = parse_filename(path.name)
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": parsed.normalized_name,
        "version": str(parsed.version),
        "filetype": parsed.packagetype,
        "pyversion": parsed.python_version if parsed.packagetype == "bdist_wheel" else "source",
        "summary": "uploaded by a test",
    }
    fields |= {field: digest(data) for field, digest in DIGESTS.items()}
    for key, value in overrides.items():
        key = {"action": ":action"}.get(key, key)
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body; ``files`` are (field, file name as sent, bytes)."""
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def content_type(boundary: str = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}"


def post_upload(
    client,
    path: Path,
    *,
    auth: dict[str, str] | None = None,
    url: str = "/legacy/",
    data: bytes | None = None,
    filename: str | None = None,
    remote_addr: str = "127.0.0.1",
    **overrides: str | None,
):
    """POST the distribution at ``path`` as twine would; ``data`` and ``filename`` replace what is sent."""
    data = path.read_bytes() if data is None else data
    fields = upload_fields(path, data, **overrides)
    body = multipart(fields, [("content", filename or path.name, data)])
    return client.generic("POST", url, body, content_type=content_type(), REMOTE_ADDR=remote_addr, **(auth or {}))
