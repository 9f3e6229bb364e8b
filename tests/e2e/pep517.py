"""An sdist-only project whose build backend is itself a wheel on the index.

pip and uv must prepare an sdist's metadata before they will download or
install it, which needs its build requirements from the index. setuptools is
not on the test server, so the project here names a tiny PEP 517 backend,
built as a wheel, that turns PKG-INFO into METADATA and packs one module.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from tests.support.builders import build_wheel

BACKEND_SOURCE = '''\
"""A PEP 517 backend for a one-module project described by its PKG-INFO."""
import base64
import email.parser
import hashlib
import os
import re
import zipfile

WHEEL = b"Wheel-Version: 1.0\\nGenerator: pn-e2e-backend\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _project():
    with open("PKG-INFO", encoding="utf-8") as handle:
        text = handle.read()
    headers = email.parser.Parser().parsestr(text)
    stem = re.sub(r"[-_.]+", "_", headers["Name"]).lower()
    return text, stem, headers["Version"]


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    text, stem, version = _project()
    dist_info = f"{stem}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info))
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, stem, version = _project()
    dist_info = f"{stem}-{version}.dist-info"
    with open(f"{stem}.py", "rb") as handle:
        members = {f"{stem}.py": handle.read()}
    members[f"{dist_info}/METADATA"] = text.encode()
    members[f"{dist_info}/WHEEL"] = WHEEL
    record = []
    for path, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return filename
'''


def build_backend_wheel(directory: Path, name: str) -> Path:
    return build_wheel(directory, name, "1.0", module_source=BACKEND_SOURCE)


def build_sdist_with_backend(directory: Path, name: str, version: str, backend_project: str) -> Path:
    """A PEP 625 sdist: PKG-INFO, pyproject.toml naming ``backend_project``, and a module."""
    stem = name.replace("-", "_").lower()
    backend_module = backend_project.replace("-", "_").lower()
    base = f"{stem}-{version}"
    members = {
        f"{base}/PKG-INFO": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: An sdist-only test project\n"
        ).encode(),
        f"{base}/pyproject.toml": (
            f'[build-system]\nrequires = ["{backend_project}"]\nbuild-backend = "{backend_module}"\n'
        ).encode(),
        f"{base}/{stem}.py": f"VERSION = {version!r}\n".encode(),
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
