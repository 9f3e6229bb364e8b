"""The offline workflow between live instances: export, carry, import.

A is the connected instance, B the offline one, C a second hop (B -> C) and
D an offline instance that misses a bundle. Every step drives the real
commands (``pythonnest-manage export/import/verify-bundle/keygen/sync-status``)
against each instance's own pythonnest.ini and database, and compares what
the instances serve over HTTP.

The instances are shared by the module and the tests run in order, each
building on the state the previous ones left, as an operator's routine
does. A test whose groundwork failed is skipped rather than failing twice.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pythonnest.bundles import signing
from tests.e2e.clients import pip_environment
from tests.support.builders import DATA, build_sdist, build_wheel
from tests.support.bundles import Member, flip_byte, tar_with
from tests.support.server import MANAGE, PythonNestServer

pytestmark = pytest.mark.e2e

JSON_V1 = {"Accept": "application/vnd.pypi.simple.v1+json"}
TAG = "offline"


# -- what an instance serves ----------------------------------------------------------


def _json(server: PythonNestServer, path: str, headers: dict | None = None) -> dict:
    answer = server.get(path, headers=headers)
    assert answer.status == 200, f"{server.url}{path}: {answer.status} {answer.body[:500]!r}"
    return json.loads(answer.body)


def catalog_serial(server: PythonNestServer) -> int:
    return _json(server, "/simple/", JSON_V1)["meta"]["_last-serial"]


def served_catalog(server: PythonNestServer) -> dict:
    """The root index, every project page (PEP 691 JSON) and every JSON API answer.

    Serials are left out: each instance journals the changes it applies with
    serials of its own, so ``meta._last-serial``, each project's
    ``_last-serial`` and the JSON API's ``last_serial`` (and the
    X-PyPI-Last-Serial header) legitimately differ between instances. File
    URLs, hashes, sizes, upload times, yanks and metadata must not. The JSON
    API's URLs are absolute: the instance's own address is cut off.
    """
    root = _json(server, "/simple/", JSON_V1)
    names = [project["name"] for project in root["projects"]]
    pages, documents = {}, {}
    for name in names:
        normalized = re.sub(r"[-_.]+", "-", name).lower()
        page = _json(server, f"/simple/{normalized}/", JSON_V1)
        del page["meta"]["_last-serial"]
        pages[normalized] = page
        document = json.loads(json.dumps(_json(server, f"/pypi/{normalized}/json")).replace(server.url, "SERVER"))
        del document["last_serial"]
        documents[normalized] = document
    # The HTML pages (PEP 503) carry no serial: the same bytes on every instance.
    html = {"/simple/": _html(server, "/simple/")}
    for normalized in pages:
        html[f"/simple/{normalized}/"] = _html(server, f"/simple/{normalized}/")
    return {"projects": names, "pages": pages, "json": documents, "html": html}


def _html(server: PythonNestServer, path: str) -> str:
    answer = server.get(path, headers={"Accept": "text/html"})
    assert answer.status == 200, f"{server.url}{path}: {answer.status} {answer.body[:500]!r}"
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    return answer.body.decode()


def stored_blobs(server: PythonNestServer) -> set[str]:
    """The blobs in the instance's store (the .incoming staging folder is not the store)."""
    root = server.root_path / "media" / "downloads"
    if not root.exists():
        return set()
    return {path.name for path in root.rglob("*") if path.is_file() and ".incoming" not in path.relative_to(root).parts}


def file_urls(server: PythonNestServer, project: str) -> dict[str, str]:
    page = _json(server, f"/simple/{project}/", JSON_V1)
    # URLs are relative to the page: /simple/<project>/../../packages/...
    return {file["filename"]: "/" + file["url"].removeprefix("../../") for file in page["files"]}


# -- running the commands ------------------------------------------------------------


def manage(server: PythonNestServer, *args: str) -> subprocess.CompletedProcess:
    return server.manage(*args, check=False, timeout=300)


def succeeds(server: PythonNestServer, *args: str) -> subprocess.CompletedProcess:
    result = manage(server, *args)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def refused(server: PythonNestServer, *args: str, says: str | list[str]) -> str:
    """The command exits non-zero with one line on stderr holding every ``says``; returns that line."""
    result = manage(server, *args)
    assert result.returncode != 0, f"{' '.join(args)} was accepted:\n{result.stdout}\n{result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    for expected in [says] if isinstance(says, str) else says:
        assert expected in lines[0], lines[0]
    return lines[0]


def bundle_header(paths: list[Path] | Path) -> dict:
    """The header line of a bundle's manifest, whatever its form."""
    paths = [paths] if isinstance(paths, Path) else paths
    if paths[0].is_dir():
        with (paths[0] / "manifest.jsonl").open("rb") as manifest:
            return json.loads(manifest.readline())
    for path in paths:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.name == "manifest.jsonl":
                    return json.loads(archive.extractfile(member).readline())
    raise AssertionError(f"no manifest in {paths}")


def _pip(server: PythonNestServer, verb: str, requirements: list[str], *where: str) -> None:
    """pip ``verb`` (download or install) of wheels only, from ``server`` alone."""
    command = [
        sys.executable, "-m", "pip", verb, "--isolated", "--no-input", "--disable-pip-version-check",
        "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--index-url", server.simple_url,
        *where, *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, env=pip_environment(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"pip {verb} from {server.url} failed:\n{result.stdout}\n{result.stderr}"


def pip_download(server: PythonNestServer, requirements: list[str], destination: Path) -> dict[str, str]:
    """What pip downloads from ``server`` for ``requirements``: filename -> sha256."""
    destination.mkdir(parents=True)
    _pip(server, "download", requirements, "--dest", str(destination))
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in destination.iterdir()}


def pip_install(server: PythonNestServer, requirements: list[str], target: Path) -> None:
    """pip installs ``requirements`` from ``server`` into the folder ``target``."""
    _pip(server, "install", requirements, "--target", str(target))


# -- the world the tests share -----------------------------------------------------------


@dataclass
class World:
    a: PythonNestServer
    b: PythonNestServer
    c: PythonNestServer
    d: PythonNestServer
    bundles: Path
    built: Path
    # A's catalog as served right after each numbered export.
    a_at: dict[str, dict] = field(default_factory=dict)
    # What the missing-downloads test leaves for the next one.
    lost: tuple = ()
    done: set[str] = field(default_factory=set)

    def needs(self, *steps: str) -> None:
        missing = [step for step in steps if step not in self.done]
        if missing:
            pytest.skip(f"an earlier step failed: {', '.join(missing)}")

    def add_to_a(self, *paths: Path) -> None:
        self.a.add(paths)

    def wheels(self, name: str, *versions: str, **options) -> list[Path]:
        return [build_wheel(self.built / name, name, version, **options) for version in versions]


@pytest.fixture(scope="module")
def world(server_factory, tmp_path_factory) -> World:
    built = tmp_path_factory.mktemp("built")
    servers = [PythonNestServer(tmp_path_factory.mktemp(name)) for name in "abcd"]
    # The factory stops them all after the module, whatever happens here.
    server_factory.servers.extend(servers)

    def start(server: PythonNestServer) -> None:
        server.setup()
        server.start(workers=1)

    # Four instances at once: most of their start is waiting.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(start, server) for server in servers]:
            future.result()
    world = World(*servers, tmp_path_factory.mktemp("bundles"), built)
    world.add_to_a(DATA, *world.wheels("pn-bundle-app", "1.0", "1.1", requires_dist=["six"]))
    return world


def export_from(world: World, server: PythonNestServer, name: str, *options: str, form: str = "path") -> list[Path]:
    """Export a bundle named ``name`` from ``server``; returns its paths (one folder, one archive, or volumes)."""
    target = world.bundles / name
    if form == "path":
        succeeds(server, "export", "--tag", TAG, "--path", str(target), "--no-progress", *options)
        return [target]
    result = succeeds(server, "export", "--tag", TAG, "--archive", str(target), "--no-progress", *options)
    paths = [Path(line.removeprefix("Wrote ")) for line in result.stdout.splitlines() if line.startswith("Wrote ")]
    assert paths and all(path.is_file() for path in paths), result.stdout
    return paths


def import_args(paths: list[Path]) -> list[str]:
    if len(paths) == 1 and paths[0].is_dir():
        return ["--path", str(paths[0])]
    return ["--archive", *map(str, paths)]


@dataclass(frozen=True)
class Snapshot:
    catalog: dict
    serial: int
    blobs: frozenset[str]


def snapshot(server: PythonNestServer) -> Snapshot:
    return Snapshot(served_catalog(server), catalog_serial(server), frozenset(stored_blobs(server)))


def assert_unchanged(server: PythonNestServer, before: Snapshot) -> None:
    after = snapshot(server)
    assert after.serial == before.serial, "the journal moved"
    assert after.blobs == before.blobs, f"blobs changed: {sorted(after.blobs ^ before.blobs)}"
    assert after.catalog == before.catalog


# -- the routine ------------------------------------------------------------------------------


class TestOfflineWorkflow:
    def test_export_dry_run_prints_counts_and_changes_nothing(self, world):
        result = succeeds(world.a, "export", "--tag", TAG, "--dry-run")
        assert re.search(
            r"Bundle for tag offline: serials \(0, \d+\], 4 project\(s\), 0 removed project\(s\), "
            r"6 release\(s\), 10 file\(s\), \d+ blob\(s\)",
            result.stdout,
        ), result.stdout
        assert "Dry run: nothing written." in result.stdout
        assert "No export or import recorded yet." in succeeds(world.a, "sync-status").stdout
        assert list(world.bundles.iterdir()) == []
        world.done.add("dry-run")

    def test_round_trip_makes_b_serve_what_a_serves(self, world, tmp_path):
        paths = export_from(world, world.a, "1")
        world.a_at["1"] = served_catalog(world.a)
        header = bundle_header(paths)
        assert (header["serial_from"], header["serial_to"]) == (0, catalog_serial(world.a))
        empty = snapshot(world.b)
        assert empty.catalog["projects"] == [] and empty.serial == 0

        dry = succeeds(world.b, "import", *import_args(paths), "--dry-run")
        planned = re.search(
            r"Dry run: would create 4 project\(s\), update 0, remove 0; add (\d+) release\(s\) and 10 file\(s\), "
            r"remove 0 file\(s\);",
            dry.stdout,
        )
        assert planned, dry.stdout
        assert_unchanged(world.b, empty)

        result = succeeds(world.b, "import", *import_args(paths), "--no-progress")
        assert "4 project(s) created" in result.stdout and "10 file(s) added" in result.stdout
        # Each release the dry run counted is one the JSON API lists now.
        served = served_catalog(world.b)
        assert int(planned.group(1)) == sum(len(document["releases"]) for document in served["json"].values())
        assert served_catalog(world.b) == world.a_at["1"]
        assert stored_blobs(world.b) == stored_blobs(world.a)

        requirements = ["six==1.17.0", "iniconfig", "python-dateutil", "pn-bundle-app"]
        from_a = pip_download(world.a, requirements, tmp_path / "from-a")
        from_b = pip_download(world.b, requirements, tmp_path / "from-b")
        assert from_b == from_a
        assert sorted(from_b) == [
            "iniconfig-2.0.0-py3-none-any.whl",
            "pn_bundle_app-1.1-py3-none-any.whl",
            "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
            "six-1.17.0-py2.py3-none-any.whl",
        ]
        assert (
            from_b["six-1.17.0-py2.py3-none-any.whl"]
            == hashlib.sha256((DATA / "six-1.17.0-py2.py3-none-any.whl").read_bytes()).hexdigest()
        )
        # And pip installs them from B: the same distributions, importable.
        target = tmp_path / "installed-from-b"
        pip_install(world.b, requirements, target)
        assert sorted(path.name for path in target.glob("*.dist-info")) == [
            "iniconfig-2.0.0.dist-info",
            "pn_bundle_app-1.1.dist-info",
            "python_dateutil-2.9.0.post0.dist-info",
            "six-1.17.0.dist-info",
        ]
        imported = subprocess.run(
            [sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import six; print(six.__file__)",
             str(target)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert imported.stdout.strip() == str(target / "six.py")
        world.done.add("round trip")

    def test_importing_the_same_bundle_again_is_a_no_op(self, world):
        world.needs("round trip")
        before = snapshot(world.b)
        result = succeeds(world.b, "import", "--path", str(world.bundles / "1"), "--no-progress")
        assert result.stdout.strip().startswith("Already imported: tag offline is past serial")
        assert "nothing to do" in result.stdout
        assert_unchanged(world.b, before)

    def test_three_incremental_bundles_as_archive_volumes_and_folder(self, world):
        world.needs("round trip")
        world.add_to_a(*world.wheels("pn-bundle-app", "2.0"), *world.wheels("pn-bundle-lib", "1.0"))
        archive = export_from(world, world.a, "2.tar", form="archive")
        world.a_at["2"] = served_catalog(world.a)

        # Wheels of about 15 KB each, so that the volumes of 48K hold a few each.
        noise = [{"module_source": f"DATA = {base64.b64encode(os.urandom(11_000)).decode()!r}\n"} for _ in range(6)]
        for index, options in enumerate(noise):
            world.add_to_a(*world.wheels("pn-bundle-lib", f"1.{index + 1}", **options))
        volumes = export_from(world, world.a, "3.tar", "--volume-size", "48K", form="archive")
        world.a_at["3"] = served_catalog(world.a)
        assert len(volumes) >= 3, volumes
        assert all(path.stat().st_size <= 48 * 1024 for path in volumes)

        world.add_to_a(
            *world.wheels("pn-bundle-app", "2.1"), build_sdist(world.built / "sdists", "pn-bundle-app", "2.1")
        )
        folder = export_from(world, world.a, "4")
        world.a_at["4"] = served_catalog(world.a)

        headers = [bundle_header(paths) for paths in (archive, volumes, folder)]
        assert [header["serial_from"] for header in headers[1:]] == [header["serial_to"] for header in headers[:-1]]

        shuffled = list(volumes)
        random.Random(3).shuffle(shuffled)
        assert shuffled != volumes

        succeeds(world.b, "import", "--archive", *map(str, archive), "--no-progress")
        assert served_catalog(world.b) == world.a_at["2"]
        succeeds(world.b, "import", "--archive", *map(str, shuffled), "--no-progress")
        assert served_catalog(world.b) == world.a_at["3"]
        succeeds(world.b, "import", "--path", str(folder[0]), "--no-progress")
        assert served_catalog(world.b) == world.a_at["4"]
        assert stored_blobs(world.b) == stored_blobs(world.a)
        world.done.add("incremental")

    def test_a_gap_is_refused_then_forced_and_recorded(self, world):
        world.needs("incremental")
        d = world.d
        succeeds(d, "import", "--path", str(world.bundles / "1"), "--no-progress")
        assert served_catalog(d) == world.a_at["1"]
        before = snapshot(d)
        last = bundle_header(world.bundles / "1")["serial_to"]
        third = sorted(world.bundles.glob("3.tar.*"))
        header = bundle_header(third)
        assert header["serial_from"] > last
        line = refused(
            d,
            "import", "--archive", *map(str, third), "--no-progress",
            says=[
                f"gap: tag offline has serials up to {last}",
                f"covers ({header['serial_from']}, {header['serial_to']}]",
                f"changes {last + 1} to {header['serial_from']} are missing",
                f"pythonnest-manage export --tag offline --serial {last}",
            ],
        )  # fmt: skip
        assert line.startswith("CommandError: gap:")
        assert_unchanged(d, before)

        forced = succeeds(d, "import", "--archive", *map(str, third), "--force", "--no-progress")
        assert f"accepted a gap with --force: serials {last + 1} to {header['serial_from']}" in forced.stderr
        # What the third bundle carries arrived; what only the second did is missing.
        lib = _json(d, "/simple/pn-bundle-lib/", JSON_V1)
        assert "pn_bundle_lib-1.6-py3-none-any.whl" in [file["filename"] for file in lib["files"]]
        status = succeeds(d, "sync-status").stdout
        assert re.search(
            rf"^offline\s+import\s+{header['serial_to']}\s.*\(1 gap\(s\) forced\)$", status, re.MULTILINE
        ), status
        # The bundle skipped is older than what was forced in: a no-op now.
        late = succeeds(d, "import", "--archive", str(world.bundles / "2.tar"), "--no-progress")
        assert "Already imported" in late.stdout
        world.done.add("gap")

    def test_yanks_and_deletions_travel(self, world):
        world.needs("incremental")
        succeeds(
            world.a,
            "shell",
            "-c",
            "from pythonnest.core import services\n"
            "from pythonnest.core.models import Project\n"
            "from pythonnest.storage import blob_store\n"
            "store = blob_store()\n"
            "app = Project.objects.get(normalized_name='pn-bundle-app')\n"
            "services.yank_release(app, '2.0', 'broken on Tuesdays', source='admin')\n"
            "services.yank_release(app, '1.0', '', source='admin')\n"
            "services.remove_file(app, 'pn_bundle_app-2.1.tar.gz', store=store, source='admin')\n"
            "services.remove_release(Project.objects.get(normalized_name='six'), '1.16.0', store=store, source='admin')\n"
            "services.remove_project(Project.objects.get(normalized_name='iniconfig'), store=store, source='admin')\n",
        )
        paths = export_from(world, world.a, "5")
        world.a_at["5"] = served_catalog(world.a)
        result = succeeds(world.b, "import", "--path", str(paths[0]), "--no-progress")
        assert "1 removed" in result.stdout
        b = served_catalog(world.b)
        assert b == world.a_at["5"]
        assert "iniconfig" not in b["pages"]
        assert world.b.get("/pypi/iniconfig/json").status == 404
        yanks = {file["filename"]: file["yanked"] for file in b["pages"]["pn-bundle-app"]["files"]}
        assert yanks["pn_bundle_app-2.0-py3-none-any.whl"] == "broken on Tuesdays"
        assert yanks["pn_bundle_app-1.0-py3-none-any.whl"] is True
        assert yanks["pn_bundle_app-1.1-py3-none-any.whl"] is False
        assert "pn_bundle_app-2.1.tar.gz" not in yanks
        assert b["pages"]["six"]["versions"] == ["1.17.0"]
        # The bytes nothing points at any more are gone from B as from A.
        assert stored_blobs(world.b) == stored_blobs(world.a)
        world.done.add("deletions")

    def test_a_chain_a_to_b_to_c(self, world):
        world.needs("deletions")
        first = world.bundles / "c1"
        succeeds(world.b, "export", "--tag", "downstream", "--path", str(first), "--no-progress")
        succeeds(world.c, "import", "--path", str(first), "--no-progress")
        assert served_catalog(world.c) == world.a_at["5"]

        # More changes on A go to B, then on to C.
        (wheel,) = world.wheels("pn-bundle-chain", "1.0")
        succeeds(
            world.a,
            "shell",
            "-c",
            "from pathlib import Path\n"
            "from pythonnest.core import services\n"
            "from pythonnest.core.models import Project\n"
            "from pythonnest.storage import blob_store\n"
            f"services.add_distribution_path(Path({str(wheel)!r}), store=blob_store(), source='upload')\n"
            "services.unyank_release(Project.objects.get(normalized_name='pn-bundle-app'), '1.0', source='admin')\n",
        )
        paths = export_from(world, world.a, "6")
        world.a_at["6"] = served_catalog(world.a)
        succeeds(world.b, "import", "--path", str(paths[0]), "--no-progress")
        second = world.bundles / "c2"
        succeeds(world.b, "export", "--tag", "downstream", "--path", str(second), "--no-progress")
        assert bundle_header(second)["serial_from"] == bundle_header(first)["serial_to"]
        succeeds(world.c, "import", "--path", str(second), "--no-progress")
        assert served_catalog(world.c) == world.a_at["6"]
        assert stored_blobs(world.c) == stored_blobs(world.a)

        # D takes bundles from A under the tag offline: B's are refused there.
        a_id, b_id = bundle_header(paths)["source_instance"], bundle_header(second)["source_instance"]
        assert a_id != b_id
        before = snapshot(world.d)
        refused(
            world.d, "import", "--path", str(second), "--tag", TAG, "--no-progress",
            says=[f"tag offline receives bundles from instance {a_id}; this bundle comes from {b_id}"],
        )  # fmt: skip
        assert_unchanged(world.d, before)
        world.done.add("chain")


@pytest.fixture(scope="module")
def fresh(world) -> dict[str, list[Path]]:
    """A bundle of changes B has not seen, in several forms, and two signing keys."""
    world.needs("chain")
    world.add_to_a(*world.wheels("pn-bundle-fresh", "1.0", "1.1"))
    forms = {"folder": export_from(world, world.a, "7")}
    serial_from = str(bundle_header(forms["folder"])["serial_from"])
    world.a_at["7"] = served_catalog(world.a)
    forms["volumes"] = export_from(
        world, world.a, "7v.tar", "--serial", serial_from, "--volume-size", "24K", form="archive"
    )
    assert len(forms["volumes"]) >= 2
    keys = world.bundles / "keys"
    output = succeeds(world.a, "keygen", str(keys / "trusted"), "--comment", "connected side").stdout
    assert f"Private key: {keys / 'trusted'}.key" in output
    assert (keys / "trusted.pub").read_text().endswith(" connected side\n")
    forms["signed-trusted"] = export_from(
        world, world.a, "7-trusted", "--serial", serial_from, "--sign-key", str(keys / "trusted.key")
    )
    # The same bundle signed by a key B does not trust, as a stranger would sign it.
    stranger_key, _, _ = signing.generate_key_pair(keys / "stranger")
    stranger = world.bundles / "7-stranger"
    shutil.copytree(forms["folder"][0], stranger)
    digest = (stranger / "manifest.sha256").read_text().strip()
    signature = signing.sign(signing.load_private_key(stranger_key), digest)
    (stranger / "manifest.sig").write_bytes(signature.to_bytes())
    forms["signed-stranger"] = [stranger]
    forms["keys"] = [keys]
    return forms


class TestBadBundles:
    """Damaged, forged and hostile bundles: one line, a non-zero exit, B unchanged."""

    @pytest.fixture
    def damaged(self, fresh, tmp_path):
        def copy(form: str = "folder") -> Path:
            target = tmp_path / form
            shutil.copytree(fresh[form][0], target)
            return target

        return copy

    def check_refused(self, world, args: list[str], says: list[str] | str) -> None:
        before = snapshot(world.b)
        refused(world.b, "import", *args, "--no-progress", says=says)
        assert_unchanged(world.b, before)

    def test_a_flipped_byte_in_a_blob(self, world, damaged):
        bundle = damaged()
        victim = min((bundle / "blobs").iterdir())
        flip_byte(victim)
        self.check_refused(world, ["--path", str(bundle)], [str(victim), f"blob {victim.name} is damaged"])
        refused(world.b, "verify-bundle", str(bundle), "--no-progress", says=f"blob {victim.name} is damaged")

    def test_a_truncated_manifest(self, world, damaged):
        bundle = damaged()
        manifest = bundle / "manifest.jsonl"
        manifest.write_bytes(manifest.read_bytes()[:-100])
        self.check_refused(world, ["--path", str(bundle)], "manifest.jsonl is damaged or truncated")

    def test_a_missing_volume(self, world, fresh):
        volumes = fresh["volumes"]
        given = [volumes[0], *volumes[2:]]
        self.check_refused(world, ["--archive", *map(str, given)], f"volume(s) 2 of {len(volumes)} missing")

    def test_a_corrupt_volume(self, world, fresh, tmp_path):
        volumes = [Path(shutil.copy(path, tmp_path)) for path in fresh["volumes"]]
        # A byte of the first blob of the last volume: after volume.json
        # (a header and a block) and the blob's own header.
        flip_byte(volumes[-1], 512 + 512 + 512 + 10)
        self.check_refused(world, ["--archive", *map(str, volumes)], [str(volumes[-1]), "is damaged"])

    @pytest.mark.parametrize(
        ("member", "says", "position"),
        [
            (Member("../escaped", b"x"), "member '../escaped' escapes the bundle", 0),
            (Member("/tmp/pythonnest-absolute", b"x"), "member '/tmp/pythonnest-absolute' escapes the bundle", 4),
            (Member(f"blobs/{'0' * 64}", kind="symlink", target="/etc/passwd"), "is not a regular file", 4),
            (Member(f"blobs/{'1' * 64}", kind="hardlink", target="manifest.jsonl"), "is not a regular file", 0),
        ],
        ids=["dot-dot-first", "absolute-among-blobs", "symlink-among-blobs", "hardlink-first"],
    )
    def test_an_archive_whose_members_escape(self, world, fresh, tmp_path, member, says, position):
        archive = tar_with(fresh["folder"][0], tmp_path / "hostile.tar", extra=[member], position=position)
        self.check_refused(world, ["--archive", str(archive)], [str(archive), says])
        assert not (tmp_path.parent / "escaped").exists()
        assert not Path("/tmp/pythonnest-absolute").exists()

    def test_signatures(self, world, fresh, damaged):
        keys = fresh["keys"][0]
        original = world.b.config_path.read_text()
        world.b.config_path.write_text(
            original + f"\n[import]\nTRUSTED_KEYS = {keys / 'trusted.pub'}\nREQUIRE_SIGNATURE = true\n"
        )
        try:
            self.check_refused(
                world, ["--path", str(fresh["folder"][0])], "the bundle is not signed, and REQUIRE_SIGNATURE is set"
            )
            self.check_refused(
                world, ["--path", str(fresh["signed-stranger"][0])], "which is not among the trusted keys"
            )
            forged = damaged("signed-trusted")
            body = json.loads((forged / "manifest.sig").read_text())
            stranger_body = json.loads((fresh["signed-stranger"][0] / "manifest.sig").read_text())
            body["signature"] = stranger_body["signature"]
            (forged / "manifest.sig").write_text(json.dumps(body))
            self.check_refused(world, ["--path", str(forged)], "does not match the manifest")

            result = succeeds(world.b, "import", "--path", str(fresh["signed-trusted"][0]), "--no-progress")
            assert re.search(r"signed by (trusted )?key [0-9a-f]{16}", result.stdout), result.stdout
            assert served_catalog(world.b) == world.a_at["7"]
        finally:
            world.b.config_path.write_text(original)
        world.done.add("signatures")


class TestMissingDownloads:
    def test_export_after_the_downloads_folder_was_deleted(self, world, tmp_path):
        world.needs("round trip")
        world.add_to_a(
            *world.wheels("pn-bundle-lost", "1.0"), build_sdist(world.built / "lost", "pn-bundle-lost", "1.0")
        )
        downloads = world.a.root_path / "media" / "downloads"
        kept = tmp_path / "kept-downloads"
        shutil.copytree(downloads, kept)
        shutil.rmtree(downloads)

        target = world.bundles / "9"
        line = refused(
            world.a, "export", "--tag", TAG, "--path", str(target), "--no-progress",
            says=[
                "3 file(s) to export are missing from the blob store:",
                (
                    "pn_bundle_lost-1.0-py3-none-any.whl, pn_bundle_lost-1.0-py3-none-any.whl.metadata, "
                    "pn_bundle_lost-1.0.tar.gz"
                ),
                "--allow-missing",
            ],
        )  # fmt: skip
        assert "six" not in line, "files exported before are not this bundle's business"
        assert not target.exists()

        result = succeeds(world.a, "export", "--tag", TAG, "--path", str(target), "--allow-missing", "--no-progress")
        assert "3 file(s) exported without their blob" in result.stderr
        expected = served_catalog(world.a)
        imported = succeeds(world.b, "import", "--path", str(target), "--no-progress")
        assert "3 file(s) came without their content" in imported.stdout
        assert served_catalog(world.b) == expected
        urls = file_urls(world.b, "pn-bundle-lost")
        assert sorted(urls) == ["pn_bundle_lost-1.0-py3-none-any.whl", "pn_bundle_lost-1.0.tar.gz"]
        for url in urls.values():
            answer = world.b.get(url)
            assert answer.status == 404
            assert b"is known to this index but its content is not on this server" in answer.body
        world.lost = (kept, expected, urls)
        world.done.add("missing downloads")

    def test_a_later_bundle_brings_the_missing_files(self, world):
        world.needs("missing downloads")
        kept, expected, urls = world.lost
        downloads = world.a.root_path / "media" / "downloads"
        # The operator restores the folder; the next export to the tag carries the bytes it owed.
        shutil.copytree(kept, downloads)
        again = world.bundles / "10"
        succeeds(world.a, "export", "--tag", TAG, "--path", str(again), "--no-progress")
        owed = {"".join(url.split("/")[2:5]) for url in urls.values()}
        assert owed <= {path.name for path in (again / "blobs").iterdir()}
        before = catalog_serial(world.b)
        restored = succeeds(world.b, "import", "--path", str(again), "--no-progress")
        # Its range is already imported: the catalog stays as it is, the bytes arrive.
        assert "Already imported" in restored.stdout and "restored" in restored.stdout
        assert catalog_serial(world.b) == before
        assert served_catalog(world.b) == expected
        for filename, url in urls.items():
            answer = world.b.get(url)
            assert answer.status == 200, f"{filename}: {answer.status} {answer.body[:200]!r}"
            _, _, first, second, rest, _ = url.split("/")
            assert hashlib.sha256(answer.body).hexdigest() == first + second + rest

    def test_sync_status_lists_each_tag_its_serial_and_peer(self, world):
        world.needs("chain")
        a_id = bundle_header(world.bundles / "1")["source_instance"]
        status = succeeds(world.b, "sync-status").stdout
        line = next(line for line in status.splitlines() if line.startswith("offline "))
        assert line.split()[1] == "import" and line.split()[-1] == a_id
        # The date of the last import: after the first bundle was made, and not in the future.
        imported_at = datetime.datetime.fromisoformat(line.split()[3])
        first_made = datetime.datetime.fromisoformat(bundle_header(world.bundles / "1")["created"])
        assert imported_at.tzinfo is not None
        assert first_made.replace(microsecond=0) <= imported_at <= datetime.datetime.now(datetime.UTC)
        assert re.search(r"^downstream\s+export\s+\d+", status, re.MULTILINE)
        a_status = succeeds(world.a, "sync-status").stdout
        assert re.search(rf"^offline\s+export\s+{catalog_serial(world.a)}\s", a_status, re.MULTILINE), a_status


class TestInterruptions:
    def test_kill_9_during_import_leaves_the_catalog_as_it_was(self, world):
        """Whenever the import dies, B serves its old catalog or the new one whole; a re-run completes it."""
        world.needs("round trip")
        # Enough files that staging and the transaction take a while.
        many = [build_wheel(world.built / "many", f"pn-bulk-{index}", "1.0") for index in range(60)]
        heavy = [
            build_wheel(
                world.built / "heavy", "pn-bundle-heavy", version,
                module_source=f"DATA = {base64.b64encode(os.urandom(3_000_000)).decode()!r}\n",
            )
            for version in ("1.0", "1.1", "1.2")
        ]  # fmt: skip
        world.add_to_a(*many, *heavy)
        paths = export_from(world, world.a, "8")
        expected = served_catalog(world.a)
        before = snapshot(world.b)

        def quick_view(server: PythonNestServer) -> tuple:
            root = _json(server, "/simple/", JSON_V1)
            heavy_page = server.get("/simple/pn-bundle-heavy/", headers=JSON_V1)
            return root["meta"]["_last-serial"], [p["name"] for p in root["projects"]], heavy_page.status

        quick_before = quick_view(world.b)
        quick_expected = quick_view(world.a)[1:]
        incoming = world.b.root_path / "media" / "downloads" / ".incoming"

        def staging_started() -> bool:
            return incoming.is_dir() and any(incoming.iterdir())

        def blobs_moved() -> bool:
            return len(stored_blobs(world.b)) > len(before.blobs)

        # Kill as staging starts, as the first blob lands in the store (the
        # catalog's transaction follows at once), then after a delay.
        outcomes = []
        for trigger in (staging_started, blobs_moved, 1.5):
            process = subprocess.Popen(
                [str(MANAGE), "import", "--path", str(paths[0]), "--no-progress"],
                env=world.b.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + (trigger if isinstance(trigger, float) else 120)
            while process.poll() is None and time.monotonic() < deadline:
                if callable(trigger) and trigger():
                    break
                time.sleep(0.002)
            killed = process.poll() is None
            if killed:
                os.kill(process.pid, signal.SIGKILL)
            out, err = process.communicate(timeout=300)
            assert process.returncode in (0, -signal.SIGKILL), f"import failed:\n{out}\n{err}"
            # The journal's serial, the list of projects and the heaviest
            # page: all old, or all new. The whole catalog is compared at the end.
            now = quick_view(world.b)
            done = now != quick_before
            outcomes.append((getattr(trigger, "__name__", trigger), "killed" if killed else "finished", done))
            if done:
                assert now[0] > quick_before[0] and now[1:] == quick_expected, f"half-changed catalog: {outcomes}"
                break
        assert any(killed == "killed" for _, killed, _ in outcomes), f"never interrupted: {outcomes}"
        # Running the import again completes it (or finds it complete).
        succeeds(world.b, "import", "--path", str(paths[0]), "--no-progress")
        assert served_catalog(world.b) == expected, outcomes
        assert {path.name for path in (paths[0] / "blobs").iterdir()} <= stored_blobs(world.b)
        world.done.add("kill")
