"""Export and import: throughput against tar, memory, and manifest import time.

    python bench/bundle_bench.py [--skip-throughput] [--skip-memory] [--files 100000] [--large]
                                 [--rounds 1] [--attempts 2] [--keep]

1. Throughput. A fresh instance gets a set of real wheels from PyPI (fetched
   once into bench/.cache/dists with pip; wheels already there are reused).
   ``export --archive`` is timed against ``tar cf`` of the same blobs, and
   ``import --archive`` into a fresh instance against ``tar xf`` of the
   bundle. Each runs --attempts times in a round, in turns with tar, and the
   best time of each side counts (every time is printed too). What each
   command wrote is removed once it is timed (but the first bundle, which
   the imports read), so that every command meets the same free memory. The
   target is 70% of tar's throughput each way.
2. Memory. A synthetic catalog of --files small files (bench/
   synthetic_catalog.py, every blob written) is exported, and the bundle
   imported into a fresh instance. Peak RSS of each command is read with GNU
   time. Target: under 300 MB, not growing with the bundle.
3. The time to import the manifest of that bundle is printed.

Everything runs on sqlite in a temporary folder, removed at the end unless
--keep is given. Needs GNU time (/usr/bin/time, Debian package "time").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MANAGE = str(BIN / "pythonnest-manage")
CACHE = HERE / ".cache" / "dists"
REAL_WHEELS = ["numpy==2.2.6", "pandas==2.2.3", "Django==5.2.1", "cryptography==45.0.3", "scipy==1.15.3"]
# --large adds these, for a bundle of about 1 GB, where a fixed start-up cost no longer dominates.
LARGE_WHEELS = [
    "tensorflow-cpu==2.19.0",
    "duckdb==1.3.0",
    "pyarrow==20.0.0",
    "opencv-python-headless==4.11.0.86",
    "onnxruntime==1.22.0",
    "polars==1.30.0",
    "xgboost==3.0.2",
]


def _project_of(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower()


def instance(root: Path, name: str) -> dict:
    folder = root / name
    folder.mkdir(parents=True)
    config = folder / "pythonnest.ini"
    config.write_text(f"[pythonnest]\nROOT_PATH = {folder / 'data'}\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHONNEST_", "DJANGO_"))}
    env["PYTHONNEST_CONFIG"] = str(config)
    subprocess.run([MANAGE, "syncdb", "--noinput"], env=env, check=True, capture_output=True)
    return env


def timed(argv: list[str], env: dict | None = None) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one command, through GNU time.

    Every timed command starts after a ``sync`` and a second's rest: the
    page cache's dirty pages left by one step would otherwise slow the
    writes, or be flushed by the sync, of the next.
    """
    os.sync()
    time.sleep(1)
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stdout}\n{result.stderr[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return seconds, peak


def fetch_real_wheels(large: bool = False) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    wanted = REAL_WHEELS + (LARGE_WHEELS if large else [])
    names = {requirement.split("==")[0].lower().replace("-", "_") for requirement in wanted}
    if len([path for path in CACHE.glob("*.whl") if _project_of(path) in names]) < len(wanted):
        env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--isolated",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--index-url",
                "https://pypi.org/simple/",
                "--python-version",
                "3.11",
                "--platform",
                "manylinux_2_17_x86_64",
                "--platform",
                "manylinux_2_28_x86_64",
                "-d",
                str(CACHE),
                *wanted,
            ],
            check=True,
            env=env,
        )
    # The PyTorch wheel this machine keeps on disk, when there, for volume.
    chosen = [path for path in CACHE.glob("*.whl") if _project_of(path) in names]
    return sorted(chosen) + sorted(Path("/opt/wheels").glob("torch-*.whl"))


def throughput(root: Path, large: bool = False, attempts: int = 2) -> dict:
    """Export and import against tar, each command timed ``attempts`` times, the best time of each kept.

    On this kind of machine the first writes into page-cache memory the guest
    has not touched lately run at a fraction of the speed of later ones, so a
    single timing measures whichever command met fresh memory. Each attempt
    runs tar and PythonNest in turns (tar first, then PythonNest first), and
    each side keeps its best time, as update_bench.py does for its baseline.
    """
    wheels = fetch_real_wheels(large)
    total = sum(path.stat().st_size for path in wheels)
    source = instance(root, "source")
    subprocess.run([MANAGE, "add", "--no-progress", *map(str, wheels)], env=source, check=True, capture_output=True)
    blobs = Path(source["PYTHONNEST_CONFIG"]).parent / "data" / "media" / "downloads"
    times: dict[str, list[float]] = {
        key: [] for key in ("export", "tar_c", "tar_c_sync", "import", "tar_x", "tar_x_sync")
    }

    def in_turns(attempt: int, steps: list) -> None:
        for key, argv, env, output in steps if attempt % 2 == 0 else reversed(steps):
            times[key].append(timed(argv, env)[0])
            discard(output)

    def discard(output: Path | None) -> None:
        # What a command wrote goes once it is timed, so that every command
        # meets the same free memory: on this kind of machine, writes into
        # memory the page cache must first reclaim run at a fraction of the speed.
        if output is None:
            return
        if output.is_dir():
            shutil.rmtree(output)
        else:
            output.unlink()

    for attempt in range(attempts):
        plain = root / f"plain-{attempt}.tar"
        in_turns(
            attempt,
            [
                ("tar_c", ["tar", "cf", str(plain), "--exclude=.incoming", "-C", str(blobs), "."], None, plain),
                # Each export is a first one for its tag: the whole catalog.
                (
                    "export",
                    [
                        MANAGE,
                        "export",
                        "--no-progress",
                        "--tag",
                        f"bench-{attempt}",
                        "--archive",
                        str(root / f"bundle-{attempt}.tar"),
                    ],
                    source,
                    # The first bundle is kept: the imports read it.
                    None if attempt == 0 else root / f"bundle-{attempt}.tar",
                ),
            ],
        )
        # export fsyncs what it writes, import syncs before its transaction:
        # tar followed by sync is the like-for-like comparison.
        times["tar_c_sync"].append(timed(["sh", "-c", f"tar cf {plain}.2 --exclude=.incoming -C {blobs} . && sync"])[0])
        discard(Path(f"{plain}.2"))
    bundle = root / "bundle-0.tar"
    for attempt in range(attempts):
        extract = root / f"extract-{attempt}"
        extract.mkdir()
        target = instance(root, f"target-{attempt}")
        in_turns(
            attempt,
            [
                ("tar_x", ["tar", "xf", str(bundle), "-C", str(extract)], None, extract),
                (
                    "import",
                    [MANAGE, "import", "--no-progress", "--archive", str(bundle)],
                    target,
                    Path(target["PYTHONNEST_CONFIG"]).parent,
                ),
            ],
        )
        extract_again = root / f"extract-again-{attempt}"
        extract_again.mkdir()
        times["tar_x_sync"].append(timed(["sh", "-c", f"tar xf {bundle} -C {extract_again} && sync"])[0])
        discard(extract_again)
    return {"bytes": total, "files": len(wheels), "times": times, **{key: min(value) for key, value in times.items()}}


def memory(root: Path, files: int) -> dict:
    source = instance(root, "big-source")
    projects = files // 2
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "synthetic_catalog.py"),
            "--projects",
            str(projects),
            "--files",
            "0",
            "--files-per-project",
            "2",
            "--blobs",
            str(files),
        ],
        env=source,
        check=True,
        capture_output=True,
    )
    load_seconds = time.perf_counter() - start
    bundle = root / "big-bundle"
    export_seconds, export_rss = timed(
        [MANAGE, "export", "--no-progress", "--tag", "bench", "--path", str(bundle)], source
    )
    manifest_size = (bundle / "manifest.jsonl").stat().st_size
    target = instance(root, "big-target")
    import_seconds, import_rss = timed([MANAGE, "import", "--no-progress", "--path", str(bundle)], target)
    return {
        "files": files,
        "load": load_seconds,
        "export": export_seconds,
        "export_rss_mb": export_rss / 1024,
        "import": import_seconds,
        "import_rss_mb": import_rss / 1024,
        "manifest_mb": manifest_size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the synthetic bundle (default 100000)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--large", action="store_true", help="a bundle of about 1 GB of real wheels (more downloads)")
    parser.add_argument("--rounds", type=int, default=1, help="throughput measurements, each on fresh instances")
    parser.add_argument(
        "--attempts", type=int, default=2, help="times each command runs in a round, in turns with tar (best kept)"
    )
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pythonnest-bundle-bench-"))
    try:
        for round_number in range(options.rounds if not options.skip_throughput else 0):
            folder = root / f"round-{round_number}"
            result = throughput(folder, options.large, options.attempts)
            if not options.keep:
                shutil.rmtree(folder, ignore_errors=True)
            megabytes = result["bytes"] / 1e6
            print(f"throughput: {result['files']} real wheels, {megabytes:.1f} MB, best of {options.attempts} each")
            print(
                "  every time: "
                + ", ".join(
                    f"{key} {' '.join(f'{value:.2f}' for value in values)}" for key, values in result["times"].items()
                )
            )
            for ours, theirs in (("export", "tar_c"), ("import", "tar_x")):
                ours_rate = megabytes / result[ours]
                line = f"  {ours:<7} {result[ours]:6.2f} s {ours_rate:7.1f} MB/s"
                for label, key in (("tar", theirs), ("tar+sync", theirs + "_sync")):
                    tar_rate = megabytes / result[key]
                    line += f" | {label} {result[key]:5.2f} s {tar_rate:7.1f} MB/s ratio {ours_rate / tar_rate:4.0%}"
                print(line)
        if not options.skip_memory:
            result = memory(root, options.files)
            print(f"memory: {result['files']:,} small files (synthetic catalog loaded in {result['load']:.0f} s)")
            print(f"  manifest {result['manifest_mb']:.1f} MB")
            print(f"  export  {result['export']:7.1f} s  peak RSS {result['export_rss_mb']:6.0f} MB")
            print(f"  import  {result['import']:7.1f} s  peak RSS {result['import_rss_mb']:6.0f} MB")
    finally:
        if options.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
