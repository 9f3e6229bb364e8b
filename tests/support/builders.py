"""Build small, real, installable wheels and sdists inside the tests."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

DATA = Path(__file__).resolve().parent.parent / "data"


def _metadata(
    name: str, version: str, requires_dist=(), requires_python=None, summary=None, extra_headers=(), description=None
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines.append(f"Summary: {summary if summary is not None else f'The {name} test package'}")
    lines += [f"Requires-Dist: {requirement}" for requirement in requires_dist]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += list(extra_headers)
    text = "\n".join(lines) + "\n"
    if description is not None:
        text += "Description-Content-Type: text/markdown\n\n" + description
    return text


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires_dist=(),
    requires_python=None,
    summary=None,
    extra_headers=(),
    description=None,
    module_source: str | None = None,
    tag: str = "py3-none-any",
    metadata_name: str | None = None,
    metadata_version: str | None = None,
) -> Path:
    """A real wheel with one module named after the project.

    ``metadata_name``/``metadata_version`` make METADATA disagree with the
    file name, for tests of refusals.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist_name = module
    dist_info = f"{dist_name}-{version}.dist-info"
    files = {
        f"{module}.py": (module_source or f"VERSION = {version!r}\n").encode(),
        f"{dist_info}/METADATA": _metadata(
            metadata_name or name,
            metadata_version or version,
            requires_dist,
            requires_python,
            summary,
            extra_headers,
            description,
        ).encode(),
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: pythonnest-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
    }
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dist_name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def build_sdist(
    directory: Path, name: str, version: str, *, requires_dist=(), summary=None, metadata_name=None
) -> Path:
    """A PEP 625 sdist holding PKG-INFO and a module."""
    base = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    members = {
        f"{base}/PKG-INFO": _metadata(metadata_name or name, version, requires_dist, None, summary).encode(),
        f"{base}/{canonicalize_name(name).replace('-', '_')}.py": f"VERSION = {version!r}\n".encode(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return path
