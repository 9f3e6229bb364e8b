"""Peak memory and time of ``update`` reading a simple index of PyPI's size.

    .venv/bin/python bench/index_memory_bench.py [--projects 927088] [--format both|json|html]

A small HTTP server in this process (a thread, on 127.0.0.1) answers
``/simple/`` with a synthetic index of ``--projects`` projects: PEP 691 JSON
with serials (as pypi.org answers a client that asks for JSON), or PEP 503
HTML without serials (as Nexus, Artifactory or a caching proxy may). Every
project's display name differs from its normalized name, as many of PyPI's
do. ``/simple/<name>/`` answers an empty project page; anything else is a 404.

``pythonnest-manage update --allow synthetic-project-0 --dry-run`` then runs
against it from an empty instance: it must read the whole index to find that
one project. The script prints its wall time and peak RSS (update_bench.py's
``timed_manage``, which syncs first and reads the peak with ``wait4``), which
docs/performance.md records under "A large upstream". Everything lives in a
temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from update_bench import timed_manage  # noqa: E402

from tests.support.server import PythonNestServer  # noqa: E402

JSON_V1 = "application/vnd.pypi.simple.v1+json"
WANTED = "synthetic-project-0"


def display_name(number: int) -> str:
    return f"Synthetic_Project.{number}"


def root_body(projects: int, form: str) -> bytes:
    if form == "json":
        entries = [{"name": display_name(number), "_last-serial": number + 1} for number in range(projects)]
        return json.dumps(
            {"meta": {"api-version": "1.1", "_last-serial": projects}, "projects": entries}, separators=(",", ":")
        ).encode()
    links = "".join(f'<a href="synthetic-project-{number}/">{display_name(number)}</a>\n' for number in range(projects))
    return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()


def serve(root: bytes, form: str) -> ThreadingHTTPServer:
    content_type = JSON_V1 if form == "json" else "text/html"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            if self.path == "/simple/":
                body = root
            elif self.path == f"/simple/{WANTED}/":
                if form == "json":
                    page = {"meta": {"api-version": "1.1", "_last-serial": 1}, "name": display_name(0), "files": []}
                    body = json.dumps(page).encode()
                else:
                    body = b"<!DOCTYPE html><html><body></body></html>"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if form == "json":
                self.send_header("X-PyPI-Last-Serial", "1")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(work: Path, projects: int, form: str) -> str:
    # The index is made and served by a process of its own. A child's peak RSS
    # (from wait4) starts at its parent's peak when it is forked: made here,
    # the index would count in the measured peak of ``update`` (it did, until
    # 2026-11-28: the 409-472 MiB recorded before then were mostly this bench's).
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", form, "--projects", str(projects)],
        stdout=subprocess.PIPE,
        text=True,
    )
    port, size = server.stdout.readline().split()
    instance = PythonNestServer(work / f"mirror-{form}").setup()
    try:
        url = f"http://127.0.0.1:{port}/simple/"
        seconds, peak, output, _cpu = timed_manage(
            instance, "update", "--url", url, "--allow", WANTED, "--dry-run", "--no-progress", "--no-xmlrpc"
        )
        summary = next((line for line in output.splitlines() if line.startswith("Upstream")), "")
        return (
            f"- {form}: {projects} projects, index {int(size) / 1e6:.1f} MB: {seconds:.1f} s, "
            f"peak RSS {peak} MiB\n  - {summary}"
        )
    finally:
        instance.close()
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=927_088, help="projects in the index (default 927088)")
    parser.add_argument("--format", choices=["both", "json", "html"], default="both")
    parser.add_argument("--serve", choices=["json", "html"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        root = root_body(arguments.projects, arguments.serve)
        server = serve(root, arguments.serve)
        print(server.server_address[1], len(root), flush=True)
        threading.Event().wait()
    work = Path(tempfile.mkdtemp(prefix="index-memory-bench-"))
    try:
        for form in ("json", "html") if arguments.format == "both" else (arguments.format,):
            print(measure(work, arguments.projects, form), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
