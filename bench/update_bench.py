"""Benchmark ``update`` against PythonNest upstreams on loopback.

    .venv/bin/python bench/update_bench.py [--files 1000] [--file-size 1048576] [--projects 50]
                                           [--workers 6] [--index-projects 20000] [--attempts 2]
                                           [--skip-throughput] [--skip-index]

Run it from a checkout with the interpreter of the environment PythonNest is
installed in. Everything binds 127.0.0.1 and lives in a temporary folder,
removed at the end; servers are stopped by their PIDs.

1. **Throughput.** An upstream PythonNest (gunicorn, ``pythonnest-manage
   serve``) holds ``--files`` real wheels of about ``--file-size`` bytes
   each, in ``--projects`` projects. The same URLs are downloaded by a plain
   parallel httpx client (``--workers`` threads sharing one ``httpx.Client``,
   writing each chunk of a body to a file as it comes), and mirrored by ``pythonnest-manage
   update --workers N`` into an empty instance, which also reads the index,
   the project pages and the JSON API, checks every sha256 and size, reads
   each wheel's metadata, syncs the store and catalogs each file. Each side
   runs ``--attempts`` times, in turns (plain first, then update first), and
   each keeps its best time, as bundle_bench.py does; every time is printed.
   Every timed step starts after a ``sync``: ``update`` makes its blobs
   durable with one sync of the store per catalog batch, which would
   otherwise also flush the files the plain download left in the page cache.
   What each step wrote stays until the bench ends (each plain download in
   a folder of its own, each mirror kept): on a filesystem without a
   journal, as this machine's is, ext4 skips over the inodes deleted in the
   last minutes each time it makes a file, so a step that follows the
   deletion of thousands of files pays for every file it creates, and
   ``update`` creates about three for each the plain download does (the
   blob, its PEP 658 file, their folders). Seen with ``perf``: up to a fifth
   of a run's CPU in ``recently_deleted`` and ``find_get_block_common``.
   The plain download is also timed until a ``sync`` after it is done:
   ``update`` makes its files durable before it catalogs them, and the plain
   download followed by ``sync`` is the like-for-like comparison, as ``tar``
   followed by ``sync`` is in bundle_bench.py. Both ratios are printed.
2. **A large upstream.** An upstream holding ``--index-projects`` projects
   (bulk-loaded by bench/synthetic_catalog.py; their bytes are not real
   distributions, so the first run filters every file out with
   ``--max-file-size 1``: it still reads every page and records every
   project's serial). Then two runs with nothing to do: through the XML-RPC
   changelog, and through the simple index (``--no-xmlrpc``). For each run:
   wall time and the peak RSS of the ``update`` process.

The throughput step also prints the CPU time (user + system) of each
client: on a machine whose cores the upstream shares, the ratio follows it.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import pythonnest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.builders import build_wheel  # noqa: E402
from tests.support.server import MANAGE, PythonNestServer  # noqa: E402

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def settle() -> None:
    """Flush what earlier steps left dirty, so that no timed step pays for another's writes."""
    os.sync()
    time.sleep(1)


def timed_manage(server: PythonNestServer, *args: str) -> tuple[float, int, str, float]:
    """Run pythonnest-manage; (seconds, peak RSS in MiB, output, CPU seconds: user + system)."""
    settle()
    started = time.monotonic()
    process = subprocess.Popen(
        [str(MANAGE), *args],
        env=server.environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"pythonnest-manage {' '.join(args)} failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss // 1024, output, usage.ru_utime + usage.ru_stime


def file_urls(server: PythonNestServer) -> list[str]:
    with httpx.Client(headers={"Accept": JSON_V1}) as client:
        root = client.get(server.simple_url).json()
        urls = []
        for project in root["projects"]:
            page_url = f"{server.simple_url}{project['name']}/"
            page = client.get(page_url).json()
            urls += [str(httpx.URL(page_url).join(file["url"])) for file in page["files"]]
    return urls


def plain_download(urls: list[str], workers: int, folder: Path) -> tuple[float, float, int, float]:
    """The baseline: a parallel httpx download of every URL to a file in ``folder``, a new one.

    Returns (seconds, seconds until a ``sync`` after it returned, bytes, CPU
    seconds). ``update`` makes its files durable before it catalogs them; the
    plain download followed by ``sync`` does the same work, as ``tar`` followed
    by ``sync`` does in bundle_bench.py.
    """
    folder.mkdir()
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    settle()

    def fetch(client: httpx.Client, index: int, url: str) -> int:
        # The plainest loop is also the fastest: chunks as the connection
        # returns them, each written at once. Re-chunking to 256 KiB (this
        # bench's baseline until 2026-11-27 13:00 UTC) took 30-60% longer here.
        size = 0
        with client.stream("GET", url) as response, (folder / str(index)).open("wb", buffering=0) as target:
            response.raise_for_status()
            for chunk in response.iter_raw():
                target.write(chunk)
                size += len(chunk)
        return size

    started, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    with httpx.Client(limits=limits, trust_env=False) as client, ThreadPoolExecutor(workers) as pool:
        sizes = list(pool.map(lambda item: fetch(client, *item), enumerate(urls)))
    seconds, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_SELF)
    os.sync()
    synced = time.monotonic() - started
    return seconds, synced, sum(sizes), after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime


def throughput(work: Path, files: int, file_size: int, projects: int, workers: int, attempts: int) -> list[str]:
    distributions = work / "distributions"
    per_project = max(1, files // projects)
    for number in range(files):
        padding = base64.b64encode(os.urandom(file_size * 3 // 4)).decode()
        build_wheel(
            distributions,
            f"throughput-{number // per_project:03d}",
            f"1.{number % per_project}",
            module_source=f"DATA = {padding!r}\n",
        )
    upstream = PythonNestServer(work / "upstream").setup()
    # (seconds, seconds with a sync, bytes, CPU seconds) of each plain download.
    plain_times: list[tuple[float, float, int, float]] = []
    update_runs: list[tuple[float, int, str, float]] = []
    mirrors: list[PythonNestServer] = []
    try:
        started = time.monotonic()
        upstream.add([distributions])
        added_in = time.monotonic() - started
        upstream.start(via="serve")
        urls = file_urls(upstream)

        def plain() -> None:
            plain_times.append(plain_download(urls, workers, work / f"plain-{len(plain_times)}"))

        def mirror() -> None:
            # Each run into a fresh, empty mirror, kept until the bench ends (see above).
            folder = work / f"mirror-{len(update_runs)}"
            instance = PythonNestServer(folder).setup()
            mirrors.append(instance)
            update_runs.append(
                timed_manage(
                    instance,
                    "update",
                    "--url",
                    upstream.url,
                    "--workers",
                    str(workers),
                    "--no-progress",
                    "--verbosity",
                    "0",
                )
            )

        for attempt in range(attempts):
            for step in (plain, mirror) if attempt % 2 == 0 else (mirror, plain):
                step()
    finally:
        upstream.close()
        for instance in mirrors:
            instance.close()
    baseline, _, size, _ = min(plain_times)
    with_sync = min(run[1] for run in plain_times)
    seconds, _, output, _ = min(update_runs)
    megabytes = size / 1024**2
    summary = [line for line in output.splitlines() if line.startswith(("Upstream", "Added"))]
    return [
        f"- {len(urls)} files, {megabytes:.1f} MiB in {projects} projects "
        f"(upstream loaded by `add` in {added_in:.0f} s), {workers} workers, best of {attempts} each, in turns",
        f"- plain parallel httpx download: {', '.join(f'{run[0]:.2f} s' for run in plain_times)} "
        f"(best {baseline:.2f} s: {len(urls) / baseline:.0f} files/s, {megabytes / baseline:.1f} MiB/s), "
        f"CPU {', '.join(f'{run[3]:.2f} s' for run in plain_times)}",
        f"- the same followed by `sync`: {', '.join(f'{run[1]:.2f} s' for run in plain_times)} (best {with_sync:.2f} s)",
        f"- `update`: {', '.join(f'{run[0]:.2f} s' for run in update_runs)} "
        f"(best {seconds:.2f} s: {len(urls) / seconds:.0f} files/s, {megabytes / seconds:.1f} MiB/s), "
        f"CPU {', '.join(f'{run[3]:.2f} s' for run in update_runs)}, peak RSS {max(run[1] for run in update_runs)} MiB",
        f"- `update` reaches **{100 * baseline / seconds:.0f}%** of the plain download's throughput, "
        f"{100 * with_sync / seconds:.0f}% of the plain download followed by `sync`",
        *(f"  - {line}" for line in summary),
    ]


def large_index(work: Path, projects: int) -> list[str]:
    upstream = PythonNestServer(work / "index-upstream").setup()
    mirror = PythonNestServer(work / "index-mirror").setup()
    lines = []
    try:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "synthetic_catalog.py"), "--projects", str(projects), "--files", "0"],
            env=upstream.environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        lines.append(f"- upstream: {projects} projects of 2 files each, loaded in {time.monotonic() - started:.0f} s")
        upstream.start(via="serve")
        runs = [
            ("first run, every file filtered out (reads every page)", []),
            ("nothing to do, XML-RPC changelog", []),
            ("nothing to do, simple index (`--no-xmlrpc`)", ["--no-xmlrpc"]),
        ]
        # The same filter on every run: a changed filter makes a run look at every project again.
        common = ["--no-progress", "--verbosity", "0", "--workers", "6", "--max-file-size", "1"]
        for label, flags in runs:
            seconds, rss, output, _cpu = timed_manage(mirror, "update", "--url", upstream.url, *common, *flags)
            examined = next((line for line in output.splitlines() if line.startswith("Upstream")), "")
            lines.append(f"- {label}: {seconds:.1f} s, peak RSS {rss} MiB")
            lines.append(f"  - {examined}")
    finally:
        upstream.close()
        mirror.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--file-size", type=int, default=1024 * 1024)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--index-projects", type=int, default=20_000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument(
        "--attempts",
        type=int,
        default=2,
        help="runs of each side in the throughput step, in turns; the best of each counts (default 2)",
    )
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="update-bench-"))
    # As an installed package is: compiled once, so that no run of ``update``
    # compiles its modules again (PYTHONDONTWRITEBYTECODE would make each one).
    compileall.compile_dir(str(Path(pythonnest.__file__).parent), quiet=1)
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        if not arguments.skip_throughput:
            lines = throughput(
                work, arguments.files, arguments.file_size, arguments.projects, arguments.workers, arguments.attempts
            )
            print("\n".join(lines))
        if not arguments.skip_index:
            print("\n".join(large_index(work, arguments.index_projects)))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
