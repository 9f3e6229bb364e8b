"""Run the whole suite on sqlite, then on PostgreSQL and MariaDB.

    python -m tests [PYTEST ARGS...]

A server backend that does not answer is skipped with a note on an ordinary
machine, and is a failure under CI (CI=true) or with
PYTHONNEST_TEST_REQUIRE_ALL=1. PYTHONNEST_TEST_DATABASES=sqlite,postgresql
picks the backends. The last line sums up every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from tests.support.databases import BACKEND_ENV, BACKENDS, server_reachable

ROOT = Path(__file__).resolve().parent.parent


def _counts(report: Path) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not report.exists():
        return counts
    for suite in ElementTree.parse(report).getroot().iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["skipped"] += skipped
        counts["passed"] += tests - failed - skipped
    return counts


def main(argv: list[str]) -> int:
    strict = os.environ.get("CI", "").lower() == "true" or os.environ.get("PYTHONNEST_TEST_REQUIRE_ALL") == "1"
    wanted = os.environ.get("PYTHONNEST_TEST_DATABASES", ",".join(BACKENDS)).split(",")
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    results = []
    exit_code = 0
    for backend in [name.strip() for name in wanted if name.strip()]:
        if backend not in BACKENDS:
            print(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}", file=sys.stderr)
            return 2
        if backend != "sqlite":
            reason = server_reachable(backend)
            if reason is not None:
                results.append(f"{backend}: not run, server unreachable ({reason})")
                if strict:
                    exit_code = 1
                continue
        print(f"\n===== test suite on {backend} =====", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            report = Path(scratch) / "report.xml"
            command = [sys.executable, "-m", "pytest", f"--junitxml={report}", *argv]
            code = subprocess.call(command, cwd=ROOT, env={**os.environ, BACKEND_ENV: backend})
            counts = _counts(report)
        for key in totals:
            totals[key] += counts[key]
        results.append(f"{backend}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
        if code not in (0,):
            exit_code = 1
    print("\n===== summary =====")
    for line in results:
        print(line)
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
