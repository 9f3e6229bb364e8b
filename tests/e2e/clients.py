"""Real clients in a fresh virtual environment: pip and uv, isolated from this machine's settings.

This machine has a global pip configuration (find-links, constraints) and
PIP_* variables. Every client here runs without them, so that whatever it
installs can only have come from the server under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import BIN, clean_environment

UV = BIN / "uv"
CLIENT_TIMEOUT = 300


def pip_environment() -> dict[str, str]:
    # --isolated ignores PIP_* and the user's file, but not the global one:
    # only PIP_CONFIG_FILE=/dev/null turns that off.
    return clean_environment(PIP_CONFIG_FILE=os.devnull)


def uv_environment() -> dict[str, str]:
    return clean_environment(UV_NO_CONFIG="1")


def _run(argv: list[str], environment: dict[str, str], check: bool) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLIENT_TIMEOUT
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


class ClientVenv:
    """A virtual environment made for one test, and the clients that install into it."""

    def __init__(self, path: Path, *, has_pip: bool) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        self.has_pip = has_pip

    @classmethod
    def create(cls, path: Path, *, with_pip: bool = False) -> ClientVenv:
        """``python -m venv``; without pip, pip runs from the test's own environment with --python."""
        options = [] if with_pip else ["--without-pip"]
        _run([sys.executable, "-m", "venv", *options, str(path)], pip_environment(), check=True)
        return cls(path, has_pip=with_pip)

    def pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run pip against this environment: its own pip if it has one."""
        if self.has_pip:
            argv = [str(self.python), "-m", "pip"]
        else:
            argv = [sys.executable, "-m", "pip", "--python", str(self.python)]
        argv += ["--isolated", "--no-input", "--disable-pip-version-check", *args]
        return _run(argv, pip_environment(), check)

    def uv_pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run([str(UV), "pip", *args, "--python", str(self.python)], uv_environment(), check)

    def run(self, code: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run([str(self.python), "-c", code], clean_environment(), check)

    def import_report(self, *modules: str) -> dict[str, dict[str, str]]:
        """For each module imported in this environment: its file and version."""
        code = (
            "import importlib, json, sys\n"
            "report = {}\n"
            "for name in sys.argv[1:]:\n"
            "    module = importlib.import_module(name)\n"
            "    report[name] = {'file': module.__file__,"
            " 'version': str(getattr(module, '__version__', getattr(module, 'VERSION', '')))}\n"
            "print(json.dumps(report))\n"
        )
        result = _run([str(self.python), "-c", code, *modules], clean_environment(), check=True)
        return json.loads(result.stdout)

    def installed(self) -> dict[str, str]:
        """Installed distributions, by normalized name, with their versions."""
        code = (
            "import importlib.metadata as m, json, re\n"
            "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
            " for d in m.distributions()}))\n"
        )
        return json.loads(self.run(code).stdout)


TWINE = BIN / "twine"


def twine_environment() -> dict[str, str]:
    """No TWINE_* variables, so that only the command line says where and as whom."""
    return {key: value for key, value in clean_environment().items() if not key.startswith("TWINE_")}


def twine_upload(
    repository_url: str, username: str, password: str, *files: Path, config_file: Path, check: bool = True
) -> subprocess.CompletedProcess:
    """``twine upload`` as a developer runs it; ``config_file`` stands in for ~/.pypirc."""
    argv = [
        str(TWINE),
        "upload",
        "--non-interactive",
        "--disable-progress-bar",
        "--config-file",
        str(config_file),
        "--repository-url",
        repository_url,
        "--username",
        username,
        "--password",
        password,
        *map(str, files),
    ]
    return _run(argv, twine_environment(), check)
