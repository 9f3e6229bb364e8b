"""A real PythonNest instance in a subprocess, for end-to-end tests.

Each ``PythonNestServer`` has its own folder holding its ``pythonnest.ini``,
its ROOT_PATH and its logs, and its own database (a file under ROOT_PATH
with sqlite, else a database created for it on the run's server and dropped
when it stops). Several can run at once, for example an upstream and a mirror.

The commands run are the installed ones (``pythonnest-manage``, ``gunicorn``)
beside the interpreter running the tests, with an environment cleaned of
whatever would steer Django, gunicorn, pip or uv elsewhere.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.support.databases import backend, create_database, drop_database, ini_text

BIN = Path(sys.executable).parent
MANAGE = BIN / "pythonnest-manage"
GUNICORN = BIN / "gunicorn"
WSGI_APPLICATION = "pythonnest.djangoproject.wsgi:application"

# The test process itself runs with DJANGO_SETTINGS_MODULE=tests.settings and
# its own PYTHONNEST_CONFIG; a server must see neither, nor the machine's
# pip and uv settings, nor gunicorn's.
_SCRUBBED_PREFIXES = ("PIP_", "UV_", "PYTHONNEST_", "DJANGO_", "GUNICORN_")
_SCRUBBED_NAMES = {"WEB_CONCURRENCY", "XDG_RUNTIME_DIR"}

START_TIMEOUT = 60
STOP_TIMEOUT = 20

_database_numbers = itertools.count(1)

# gunicorn's default access log format: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
_ADDED_LINE = re.compile(r"^added: (?P<filename>[^\s:]+): added as serial (?P<serial>\d+)$", re.MULTILINE)
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')


def clean_environment(**overrides: str) -> dict[str, str]:
    """``os.environ`` without the variables that would steer Django, gunicorn, pip or uv."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_SCRUBBED_PREFIXES) and key not in _SCRUBBED_NAMES
    }
    environment.update(overrides)
    return environment


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a later bind may still lose a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_manage(
    config_path: Path, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``pythonnest-manage ARGS`` against the configuration file ``config_path``; ``input`` is its stdin."""
    stdin = {"stdin": subprocess.DEVNULL} if input is None else {"input": input}
    result = subprocess.run(
        [str(MANAGE), *args],
        env=clean_environment(PYTHONNEST_CONFIG=str(config_path)),
        **stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pythonnest-manage {' '.join(args)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class Request:
    """One line of the server's access log."""

    method: str
    target: str
    status: int

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_plain_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class PythonNestServer:
    """A PythonNest instance: its files, its database and its gunicorn.

    ``setup()`` writes the configuration and creates the tables, ``start()``
    serves, ``close()`` stops the server and drops its database.
    """

    def __init__(self, directory: Path, *, extra_ini: str = "") -> None:
        self.directory = Path(directory)
        self.config_path = self.directory / "pythonnest.ini"
        self.root_path = self.directory / "root"
        self.access_log_path = self.directory / "access.log"
        self.error_log_path = self.directory / "error.log"
        # gunicorn puts its control socket under $XDG_RUNTIME_DIR (else
        # ~/.gunicorn/), which would be shared by every instance.
        self.runtime_dir = self.directory / "run"
        self.extra_ini = extra_ini
        self.backend = backend()
        self.database_name = (
            None if self.backend == "sqlite" else f"pythonnest_e2e_{os.getpid()}_{next(_database_numbers)}"
        )
        # Every file ``add`` added, with the serial its journal entry got.
        self.added: dict[str, int] = {}
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.via: str | None = None
        self._database_created = False

    # -- lifecycle ------------------------------------------------------

    def setup(self) -> PythonNestServer:
        """Write pythonnest.ini, create the database and its tables."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(mode=0o700, exist_ok=True)
        self.config_path.write_text(ini_text(str(self.root_path), self.database_name, self.extra_ini), encoding="utf-8")
        if self.database_name is not None:
            create_database(self.backend, self.database_name)
            self._database_created = True
        self.manage("syncdb", "--noinput")
        return self

    def start(self, *, via: str = "serve", workers: int = 2) -> PythonNestServer:
        """Serve on a free port of 127.0.0.1 and wait until /simple/ answers.

        ``via`` is "serve" (``pythonnest-manage serve``, whose access log goes
        to its standard output) or "gunicorn" (gunicorn started directly).
        """
        if self.process is not None:
            raise RuntimeError("this server is already started")
        if via not in ("serve", "gunicorn"):
            raise ValueError(f"unknown way to start: {via!r}")
        for _attempt in range(3):
            self.port = free_port()
            self.via = via
            self._spawn(via, workers)
            if self._wait_until_ready():
                return self
            if "Address already in use" not in self.error_log():
                break
            # Another process took the port between free_port() and bind.
            self.process = None
        raise RuntimeError(f"PythonNest did not start ({via}); its error log ends with:\n{self.error_log()[-4000:]}")

    def _spawn(self, via: str, workers: int) -> None:
        bind = f"127.0.0.1:{self.port}"
        if via == "serve":
            argv = [str(MANAGE), "serve", "--bind", bind, "--workers", str(workers)]
            stdout_path = self.access_log_path
        else:
            argv = [
                str(GUNICORN),
                WSGI_APPLICATION,
                "--bind",
                bind,
                "--workers",
                str(workers),
                "--threads",
                "4",
                "--access-logfile",
                str(self.access_log_path),
                "--error-logfile",
                str(self.error_log_path),
            ]
            stdout_path = self.error_log_path
        with stdout_path.open("ab") as stdout, self.error_log_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                argv,
                env=self.environment(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                # Its own process group, so that a server that ignores
                # SIGTERM can be killed with its workers and nothing else.
                start_new_session=True,
            )

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                answer = self.get("/simple/", timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            if answer.status != 200:
                self.stop()
                raise RuntimeError(
                    f"PythonNest answered /simple/ with {answer.status}: {answer.body[:2000]!r}\n"
                    f"{self.error_log()[-4000:]}"
                )
            return True
        self.stop()
        raise RuntimeError(f"PythonNest did not answer within {START_TIMEOUT}s:\n{self.error_log()[-4000:]}")

    def stop(self) -> None:
        """Stop gunicorn by its PID: SIGTERM, then SIGKILL to its group after a timeout."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # The master is not reaped yet, so its group id is still ours.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Stop serving and drop the server's database, if it has one."""
        try:
            self.stop()
        finally:
            if self._database_created:
                self._database_created = False
                drop_database(self.backend, self.database_name)

    def __enter__(self) -> PythonNestServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- commands -------------------------------------------------------

    def environment(self) -> dict[str, str]:
        return clean_environment(
            PYTHONNEST_CONFIG=str(self.config_path),
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            # Log lines reach the files as they are written.
            PYTHONUNBUFFERED="1",
        )

    def manage(
        self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``pythonnest-manage ARGS`` with this server's configuration; ``input`` is its stdin."""
        return run_manage(self.config_path, *args, check=check, timeout=timeout, input=input)

    def add(self, paths: Iterable[Path | str], *, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``pythonnest-manage add`` on files or folders; what it added is kept in ``added``."""
        result = self.manage("add", "--no-progress", "--verbosity", "2", *map(str, paths), check=check)
        for match in _ADDED_LINE.finditer(result.stdout):
            self.added[match["filename"]] = int(match["serial"])
        return result

    # -- HTTP -----------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("this server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def get(self, path: str, *, headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
        """GET ``path`` without following redirects; any status is returned, not raised."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with _plain_opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as answer:
            with answer:
                return Response(answer.code, {k.lower(): v for k, v in answer.headers.items()}, answer.read())

    # -- what the server saw --------------------------------------------

    def log_mark(self) -> int:
        """A position in the access log; ``requests(since=mark)`` reads what follows it."""
        try:
            return self.access_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def requests(self, since: int = 0) -> list[Request]:
        try:
            with self.access_log_path.open("rb") as log:
                log.seek(since)
                text = log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        found = []
        for line in text.splitlines():
            match = _ACCESS_LINE.search(line)
            if match:
                found.append(Request(match["method"], match["target"], int(match["status"])))
        return found

    def wait_for_requests(
        self, condition: Callable[[list[Request]], bool], since: int = 0, timeout: float = 10
    ) -> list[Request]:
        """The requests logged since ``since``, once ``condition`` holds for them.

        gunicorn writes a line just after the answer is sent, so a client
        can finish before its last request is logged.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests(since)
            if condition(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(
                    "the access log never showed the expected requests; it has:\n"
                    + "\n".join(f"{r.method} {r.target} {r.status}" for r in seen)
                )
            time.sleep(0.05)

    def settled_requests(self, since: int = 0) -> list[Request]:
        """Every request logged since ``since`` once the server is idle.

        A request of our own is sent and waited for; the short pause after
        it lets a line for an earlier answer, from another worker, land too.
        """
        marker = f"/simple/?settled={time.monotonic_ns()}"
        self.get(marker)
        self.wait_for_requests(lambda seen: any(r.target == marker for r in seen), since)
        time.sleep(0.2)
        return [request for request in self.requests(since) if request.target != marker]

    def error_log(self) -> str:
        try:
            return self.error_log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def worker_pids(self) -> list[int]:
        """The PIDs of the gunicorn master's children (its workers)."""
        if self.process is None:
            return []
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(child) for child in children.read_text().split()]
