"""Benchmark the index pages as gunicorn serves them, on loopback.

    python bench/serve_bench.py [--projects 20000] [--files 2000] [--duration 10]
                                [--warmup 2] [--workers N] [--threads T]
                                [--connections 16] [--wrk-threads 2]
                                [--database sqlite|postgresql] [--only TEXT]
                                [--keep | --reuse DIR]

Requires wrk, the HTTP load generator: ``apt-get install -y wrk`` (run
``apt-get update`` first on a fresh machine). Run it with the interpreter of
the environment PythonNest is installed in (for a checkout: .venv/bin/python).

What it does, start to end:

1. makes a temporary directory with a pythonnest.ini (sqlite in ROOT_PATH,
   or with --database postgresql a new database on 127.0.0.1:5432 as user
   postgres, dropped at the end) and runs ``syncdb``;
2. bulk-loads a synthetic catalog (bench/synthetic_catalog.py: --projects
   small projects of two files each, plus one project with --files files);
3. starts ``pythonnest-manage serve`` on a free loopback port, with its access
   log going to a file in the temporary directory;
4. for each URL: one request to check the answer (its latency is that of a
   cold worker, which builds the page), a short wrk run to warm every
   worker's cache, then ``wrk -t2 -c16 -d<duration>s --latency``;
5. prints a table of requests/s, p50 and p99 latency, and the CPU time the
   server (gunicorn's master and workers, from /proc) spent per request;
   stops the server by its PID and removes the temporary directory (kept
   with --keep; --reuse DIR serves a kept one again without loading).

wrk and gunicorn share the machine's cores, as they would on one box, and so
do any other programs running: requests/s moves with the machine's load (the
load average is printed before and after), CPU per request much less.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic_catalog  # a sibling script, not a package

JSON_V1 = "application/vnd.pypi.simple.v1+json"
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class Target:
    label: str
    path: str
    accept: str | None = None


@dataclass(frozen=True)
class Result:
    target: Target
    status: int
    body_bytes: int = 0
    first_ms: float = 0.0
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_request: float = 0.0
    errors: str = ""


def targets(small: str, big_files: int) -> list[Target]:
    big = synthetic_catalog.BIG_PROJECT
    return [
        Target("/simple/ (HTML)", "/simple/"),
        Target("/simple/ (JSON, PEP 691)", "/simple/", JSON_V1),
        Target(f"/simple/{big}/ ({big_files:,} files, HTML)", f"/simple/{big}/"),
        Target(f"/simple/{big}/ (JSON)", f"/simple/{big}/", JSON_V1),
        Target(f"/simple/{small}/ (HTML)", f"/simple/{small}/"),
        Target(f"/simple/{small}/ (JSON)", f"/simple/{small}/", JSON_V1),
        Target(f"/pypi/{small}/json", f"/pypi/{small}/json"),
        Target(f"/pypi/{big}/json", f"/pypi/{big}/json"),
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected latency {text!r} in wrk's output")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class WrkFigures:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str


def parse_wrk(output: str) -> WrkFigures:
    """The figures of a ``wrk --latency`` run, from its output."""
    return WrkFigures(
        requests=int(re.search(r"^\s*(\d+) requests in", output, re.MULTILINE).group(1)),
        requests_per_second=float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE).group(1)),
        p50_ms=_milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1)),
        p99_ms=_milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)),
        errors="; ".join(re.findall(r"^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$", output, re.MULTILINE)),
    )


def server_cpu_seconds(master_pid: int) -> float:
    """CPU time used so far by gunicorn's master and its workers (Linux /proc).

    Other programs share this machine; CPU per request does not depend on
    them the way requests/s does.
    """
    total_ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        # The fields after "(command name)": state, ppid, ..., utime and stime 12th and 13th.
        fields = text[text.rindex(")") + 2 :].split()
        if int(entry.name) == master_pid or int(fields[1]) == master_pid:
            total_ticks += int(fields[11]) + int(fields[12])
    return total_ticks / os.sysconf("SC_CLK_TCK")


def write_config(directory: Path, database: str) -> Path:
    lines = ["[pythonnest]", f"ROOT_PATH = {directory / 'root'}", "DEBUG = false"]
    if database == "postgresql":
        lines += [
            "DATABASE_ENGINE = postgresql",
            f"DATABASE_NAME = {_postgres_name()}",
            f"DATABASE_USER = {POSTGRES['user']}",
            f"DATABASE_HOST = {POSTGRES['host']}",
            f"DATABASE_PORT = {POSTGRES['port']}",
        ]
    path = directory / "pythonnest.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _postgres_name() -> str:
    return f"pythonnest_bench_{os.getpid()}"


def _postgres(statement: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **POSTGRES) as connection:
        connection.execute(statement)


def _manage(*args: str) -> list[str]:
    return [sys.executable, "-m", "pythonnest.manage", *args]


def start_server(env: dict, port: int, workers: int | None, threads: int | None, log: Path) -> subprocess.Popen:
    command = _manage("serve", "--bind", f"127.0.0.1:{port}", "--no-migrate")
    if workers:
        command += ["--workers", str(workers)]
    if threads:
        command += ["--threads", str(threads)]
    with log.open("wb") as handle:
        # serve execs gunicorn, so this PID is gunicorn's master process.
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_until_ready(server: subprocess.Popen, url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def first_request(url: str, accept: str | None) -> tuple[int, int, float]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, len(body), (time.perf_counter() - started) * 1e3


def run_wrk(url: str, accept: str | None, duration: float, connections: int, threads: int) -> str:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    if accept:
        command += ["-H", f"Accept: {accept}"]
    completed = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    return completed.stdout


def measure(base: str, target: Target, server_pid: int, options: argparse.Namespace) -> Result:
    url = base + target.path
    status, size, first_ms = first_request(url, target.accept)
    if status != 200:
        return Result(target, status, size, first_ms)
    if options.warmup > 0:
        run_wrk(url, target.accept, options.warmup, options.connections, options.wrk_threads)
    cpu_before = server_cpu_seconds(server_pid)
    figures = parse_wrk(run_wrk(url, target.accept, options.duration, options.connections, options.wrk_threads))
    cpu_ms = (server_cpu_seconds(server_pid) - cpu_before) * 1e3 / max(figures.requests, 1)
    return Result(
        target,
        status,
        size,
        first_ms,
        requests_per_second=figures.requests_per_second,
        p50_ms=figures.p50_ms,
        p99_ms=figures.p99_ms,
        cpu_ms_per_request=cpu_ms,
        errors=figures.errors,
    )


def machine_description() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = f"{os.cpu_count()} cores" + (f" ({model})" if model else "")
    return f"{cores}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def print_table(results: list[Result]) -> None:
    print()
    print("| URL | body | first request | requests/s | p50 | p99 | server CPU per request |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for result in results:
        if result.status != 200:
            print(f"| {result.target.label} | HTTP {result.status}: not measured | | | | | |")
            continue
        print(
            f"| {result.target.label} | {result.body_bytes / 1024:,.1f} KiB | {result.first_ms:,.1f} ms "
            f"| {result.requests_per_second:,.0f} | {result.p50_ms:,.2f} ms | {result.p99_ms:,.2f} ms "
            f"| {result.cpu_ms_per_request:,.2f} ms |"
        )
    for result in results:
        if result.errors:
            print(f"wrk reported for {result.target.label}: {result.errors}")


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20_000, help="small projects in the catalog (default 20000)")
    parser.add_argument("--files", type=int, default=2_000, help="files of the big project (default 2000)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of wrk per URL (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of wrk per URL before measuring (default 2)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: serve's, 2 per core + 1)")
    parser.add_argument("--threads", type=int, default=None, help="threads per worker (default: serve's)")
    parser.add_argument("--connections", type=int, default=16, help="open connections of wrk (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="threads of wrk (default 2)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--only", default="", help="measure only the URLs whose label contains this text")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (and database)")
    parser.add_argument("--reuse", type=Path, help="serve the catalog of a directory kept by --keep; load nothing")
    options = parser.parse_args(argv)
    if options.projects < 1 or options.files < 1:
        parser.error("--projects and --files must be at least 1")
    return options


def prepare_instance(directory: Path, options: argparse.Namespace) -> dict:
    """Configure and load an instance in ``directory`` (unless reused); the environment selecting it."""
    if options.reuse:
        return _environment(directory / "pythonnest.ini")
    env = _environment(write_config(directory, options.database))
    if options.database == "postgresql":
        _postgres(f'CREATE DATABASE "{_postgres_name()}"')
    subprocess.run(_manage("syncdb", "--noinput", "--verbosity", "0"), env=env, check=True)
    loader = [sys.executable, synthetic_catalog.__file__, "--projects", str(options.projects)]
    subprocess.run([*loader, "--files", str(options.files)], env=env, check=True)
    return env


def _environment(config: Path) -> dict:
    env = {**os.environ, "PYTHONNEST_CONFIG": str(config)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def _load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def benchmark(env: dict, directory: Path, options: argparse.Namespace) -> list[Result]:
    """Serve the instance, measure every target, stop the server."""
    port = _free_port()
    log = directory / "server.log"
    server = start_server(env, port, options.workers, options.threads, log)
    try:
        small = synthetic_catalog.small_project_name(options.projects // 2)
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(server, f"{base}/simple/{small}/", log)
        print(f"load average before (1, 5, 15 min): {_load_average()}")
        print(
            f"server: PID {server.pid} on {base}; wrk -t{options.wrk_threads} -c{options.connections} "
            f"-d{options.duration:g}s --latency after a {options.warmup:g} s warm-up",
            flush=True,
        )
        results = []
        for target in targets(small, options.files):
            if options.only not in target.label:
                continue
            result = measure(base, target, server.pid, options)
            results.append(result)
            print(
                f"  {target.label}: HTTP {result.status}, {result.requests_per_second:,.0f} requests/s, "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms",
                flush=True,
            )
        print(f"load average at the end (1, 5, 15 min): {_load_average()}; other programs share these cores")
        return results
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if shutil.which("wrk") is None:
        print("serve_bench: wrk is not installed; install it with: apt-get install -y wrk", file=sys.stderr)
        return 2
    print(f"machine: {machine_description()}", flush=True)
    directory = options.reuse.resolve() if options.reuse else Path(tempfile.mkdtemp(prefix="pythonnest-bench-"))
    try:
        env = prepare_instance(directory, options)
        print(f"instance: {directory / 'pythonnest.ini'}", flush=True)
        print_table(benchmark(env, directory, options))
    finally:
        if options.keep or options.reuse:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
            if options.database == "postgresql":
                _postgres(f'DROP DATABASE IF EXISTS "{_postgres_name()}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
