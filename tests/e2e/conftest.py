"""Fixtures for the end-to-end tests: live PythonNest servers and fresh client environments.

The servers run in subprocesses with databases of their own, so these tests
never use pytest-django's database fixtures.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.e2e.clients import ClientVenv
from tests.support.builders import DATA
from tests.support.server import PythonNestServer


class ServerFactory:
    """Sets up and starts PythonNest servers, and closes them all at the end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.servers: list[PythonNestServer] = []

    def __call__(
        self,
        name: str = "server",
        *,
        files: Iterable[Path] = (),
        via: str = "serve",
        workers: int = 2,
        extra_ini: str = "",
    ) -> PythonNestServer:
        server = PythonNestServer(self.tmp_path_factory.mktemp(name), extra_ini=extra_ini)
        self.servers.append(server)
        server.setup()
        files = list(files)
        if files:
            server.add(files)
        server.start(via=via, workers=workers)
        return server

    def close(self) -> None:
        errors = []
        for server in reversed(self.servers):
            try:
                server.close()
            except Exception as exc:  # close the others all the same
                errors.append(exc)
        self.servers.clear()
        if errors:
            raise errors[0]


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory) -> Iterator[ServerFactory]:
    """Start servers with ``server_factory(name, files=..., via=..., extra_ini=...)``; all stop after the module."""
    factory = ServerFactory(tmp_path_factory)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def live_server_with_data(server_factory) -> PythonNestServer:
    """One server per module, started by ``pythonnest-manage serve``, holding every file of tests/data."""
    return server_factory("with-data", files=[DATA], via="serve", workers=2)


@pytest.fixture
def client_venv(tmp_path) -> ClientVenv:
    """A fresh, empty virtual environment; pip comes from the test's environment through --python."""
    return ClientVenv.create(tmp_path / "client-venv")


@pytest.fixture
def client_venv_with_pip(tmp_path) -> ClientVenv:
    """A fresh virtual environment holding the pip that ships with Python (ensurepip)."""
    return ClientVenv.create(tmp_path / "client-venv", with_pip=True)
