"""Writing a bundle as a folder, one tar archive, or volumes of at most a given size."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
from pathlib import Path

import pytest

from pythonnest.bundles import writers
from pythonnest.bundles.writers import ArchiveWriter, DirectoryWriter, tar_member_size, tar_total_size
from pythonnest.core.exceptions import BundleError

BUNDLE_ID = "f" * 64


def blob(tmp_path: Path, data: bytes) -> tuple[str, Path]:
    sha256 = hashlib.sha256(data).hexdigest()
    path = tmp_path / "source" / sha256
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return sha256, path


def write_members(writer, tmp_path: Path, manifest: bytes, blobs: list[bytes]) -> list[Path]:
    source = tmp_path / "source-manifest.jsonl"
    source.write_bytes(manifest)
    writer.add_file("manifest.jsonl", source)
    writer.add_bytes("manifest.sha256", hashlib.sha256(manifest).hexdigest().encode() + b"\n")
    for data in sorted(blobs, key=lambda data: hashlib.sha256(data).hexdigest()):
        sha256, path = blob(tmp_path, data)
        writer.add_blob(sha256, path, len(data))
    return writer.finish()


def plan_of(manifest: bytes, blobs: list[bytes]) -> list[tuple[str, int]]:
    members = [("manifest.jsonl", len(manifest)), ("manifest.sha256", 65)]
    members += sorted((f"blobs/{hashlib.sha256(data).hexdigest()}", len(data)) for data in blobs)
    return members


def tar_contents(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as archive:
        return [(member.name, archive.extractfile(member).read()) for member in archive]


# -- sizes ---------------------------------------------------------------


@pytest.mark.parametrize(("size", "expected"), [(0, 512), (1, 1024), (512, 1024), (513, 1536), (10240, 10752)])
def test_tar_member_size(size, expected):
    assert tar_member_size(size) == expected


@pytest.mark.parametrize("sizes", [[], [0], [1], [100, 200], [9000], [10240 - 1536], [5000] * 7, [123456, 7, 0]])
def test_tar_total_size_is_what_tarfile_writes(tmp_path, sizes):
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for index, size in enumerate(sizes):
            info = tarfile.TarInfo(f"blobs/{index:064x}")
            info.size = size
            archive.addfile(info, io.BytesIO(b"x" * size))
    assert path.stat().st_size == tar_total_size(sizes)


# -- folder --------------------------------------------------------------


def test_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    writer = DirectoryWriter(target)
    writer.add_bytes("manifest.sha256", b"x\n")
    assert not target.exists()
    assert writer.staging.exists() and writer.staging.name.startswith(".bundle.partial-")
    sha256, path = blob(tmp_path, b"wheel bytes")
    writer.add_blob(sha256, path, 11)
    assert writer.finish() == [target]
    assert not writer.staging.exists()
    assert (target / "blobs" / sha256).read_bytes() == b"wheel bytes"
    assert (target / "manifest.sha256").read_bytes() == b"x\n"


def test_folder_may_be_an_existing_empty_folder(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    writer = DirectoryWriter(target)
    writer.add_bytes("manifest.sha256", b"x\n")
    assert writer.finish() == [target]
    assert (target / "manifest.sha256").exists()


def test_folder_refuses_a_non_empty_folder_or_a_file(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(BundleError, match="already exists and is not an empty folder"):
        DirectoryWriter(target)
    assert (target / "precious.txt").read_text() == "keep me"
    a_file = tmp_path / "file"
    a_file.write_text("keep me too")
    with pytest.raises(BundleError, match="already exists"):
        DirectoryWriter(a_file)
    assert a_file.read_text() == "keep me too"


def test_an_aborted_folder_leaves_nothing(tmp_path):
    target = tmp_path / "bundle"
    writer = DirectoryWriter(target)
    writer.add_bytes("manifest.sha256", b"x\n")
    writer.abort()
    assert list(tmp_path.iterdir()) == []


# -- archive -------------------------------------------------------------


def test_archive_members_in_order_with_fixed_owner_mode_and_time(tmp_path):
    manifest = b'{"type":"header"}\n'
    blobs = [b"one", b"two" * 1000]
    archive = tmp_path / "bundle.tar"
    writer = ArchiveWriter(archive, None, BUNDLE_ID, plan_of(manifest, blobs))
    assert write_members(writer, tmp_path, manifest, blobs) == [archive]
    assert not archive.with_name("bundle.tar.partial").exists()
    with tarfile.open(archive) as opened:
        members = opened.getmembers()
    names = [member.name for member in members]
    assert names[:2] == ["manifest.jsonl", "manifest.sha256"]
    assert names[2:] == sorted(f"blobs/{hashlib.sha256(data).hexdigest()}" for data in blobs)
    for member in members:
        assert member.isreg()
        assert (member.mode, member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0o644,
            0,
            0,
            0,
            "",
            "",
        )
    assert archive.stat().st_size == tar_total_size([size for _, size in plan_of(manifest, blobs)])


def test_the_same_bundle_gives_the_same_archive_bytes(tmp_path):
    manifest = b'{"type":"header"}\n'
    blobs = [b"a" * 700, b"b" * 30]
    outputs = []
    for run in ("first", "second"):
        folder = tmp_path / run
        folder.mkdir()
        writer = ArchiveWriter(folder / "bundle.tar", None, BUNDLE_ID, plan_of(manifest, blobs))
        (path,) = write_members(writer, folder, manifest, blobs)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_blobs_copied_by_the_kernel_make_the_archive_tarfile_would_write(tmp_path):
    # Blob bytes go straight from file to file; headers, padding and end must be tarfile's own.
    manifest = b'{"type":"header"}\n'
    blobs = [b"", b"z", os.urandom(511), os.urandom(512), os.urandom(513), os.urandom(3 * 1024 * 1024 + 7)]
    archive = tmp_path / "bundle.tar"
    write_members(ArchiveWriter(archive, None, BUNDLE_ID, plan_of(manifest, blobs)), tmp_path, manifest, blobs)
    reference = tmp_path / "reference.tar"
    with tarfile.open(reference, "w", format=tarfile.GNU_FORMAT) as expected:
        for name, data in [
            ("manifest.jsonl", manifest),
            ("manifest.sha256", hashlib.sha256(manifest).hexdigest().encode() + b"\n"),
            *sorted((f"blobs/{hashlib.sha256(data).hexdigest()}", data) for data in blobs),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(data), 0o644, 0, "", ""
            expected.addfile(info, io.BytesIO(data))
    assert archive.read_bytes() == reference.read_bytes()


@pytest.mark.parametrize("form", ["archive", "volumes"])
def test_each_piece_of_a_blob_is_sent_to_disk_as_soon_as_it_is_copied(tmp_path, monkeypatch, form):
    # The head start the fsync at the end gets: exactly the bytes of each blob
    # in its volume, piece by piece, and the archive's bytes unchanged by it.
    monkeypatch.setattr(writers, "WRITEBACK_PIECE", 4096)
    hinted = []
    monkeypatch.setattr(writers, "start_writeback", lambda fd, offset, count: hinted.append((fd, offset, count)))
    manifest = b'{"type":"header"}\n'
    blobs = [b"", b"z", os.urandom(4096), os.urandom(4097), os.urandom(3 * 4096 + 5)]
    archive = tmp_path / "bundle.tar"
    volume_size = 30_000 if form == "volumes" else None
    paths = write_members(
        ArchiveWriter(archive, volume_size, BUNDLE_ID, plan_of(manifest, blobs)), tmp_path, manifest, blobs
    )
    assert len(paths) == 1 if volume_size is None else len(paths) > 1
    expected = []
    for path in paths:
        with tarfile.open(path) as opened:
            for member in opened:
                if member.name.startswith("blobs/"):
                    ranges = [
                        (member.offset_data + start, min(4096, member.size - start))
                        for start in range(0, member.size, 4096)
                    ]
                    expected.append((path.name, ranges, member.size))
    assert len(expected) == len(blobs)
    assert [count for _, offset, count in hinted] == [count for _, ranges, _ in expected for _, count in ranges]
    assert [offset for _, offset, _ in hinted] == [offset for _, ranges, _ in expected for offset, _ in ranges]
    for path in paths:
        for name, data in tar_contents(path):
            if name.startswith("blobs/"):
                assert hashlib.sha256(data).hexdigest() == name.removeprefix("blobs/")


def test_a_folder_bundle_is_made_durable_before_it_takes_its_name(tmp_path, monkeypatch):
    target = tmp_path / "bundle"
    synced = []

    def sync_filesystem(path):
        # The bytes go to disk while the folder still has its temporary name.
        synced.append((path, path.exists(), target.exists()))

    monkeypatch.setattr(writers, "sync_filesystem", sync_filesystem)
    writer = DirectoryWriter(target)
    sha256, path = blob(tmp_path, b"wheel bytes")
    writer.add_blob(sha256, path, 11)
    writer.finish()
    assert synced == [(writer.staging, True, False)]
    assert (target / "blobs" / sha256).read_bytes() == b"wheel bytes"


@pytest.mark.parametrize("form", ["folder", "archive", "volumes"])
def test_a_blob_shorter_than_the_catalog_says_is_refused_and_nothing_is_left(tmp_path, form):
    manifest = b'{"type":"header"}\n'
    data = os.urandom(5000)
    plan = plan_of(manifest, [data])
    target = tmp_path / "out" / ("bundle" if form == "folder" else "bundle.tar")
    target.parent.mkdir()
    if form == "folder":
        writer = DirectoryWriter(target)
    else:
        writer = ArchiveWriter(target, 40_000 if form == "volumes" else None, BUNDLE_ID, plan)
    sha256, path = blob(tmp_path, data)
    path.write_bytes(data[:4000])  # the store lost the end of it
    source = tmp_path / "source-manifest.jsonl"
    source.write_bytes(manifest)
    writer.add_file("manifest.jsonl", source)
    writer.add_bytes("manifest.sha256", hashlib.sha256(manifest).hexdigest().encode() + b"\n")
    with pytest.raises(BundleError, match=f"blob {sha256} in the store is shorter than the catalog says"):
        writer.add_blob(sha256, path, len(data))
    writer.abort()
    assert list((tmp_path / "out").iterdir()) == []


def test_archive_refuses_to_overwrite(tmp_path):
    archive = tmp_path / "bundle.tar"
    archive.write_bytes(b"precious")
    with pytest.raises(BundleError, match="bundle.tar already exists"):
        ArchiveWriter(archive, None, BUNDLE_ID, [("manifest.jsonl", 1)])
    assert archive.read_bytes() == b"precious"


def test_an_aborted_archive_leaves_nothing(tmp_path):
    archive = tmp_path / "bundle.tar"
    writer = ArchiveWriter(archive, 40_000, BUNDLE_ID, [("manifest.jsonl", 5000), ("blobs/" + "a" * 64, 9000)])
    source = tmp_path / "m"
    source.write_bytes(b"m" * 5000)
    writer.add_file("manifest.jsonl", source)
    writer.abort()
    assert [path.name for path in tmp_path.iterdir()] == ["m"]


# -- volumes -------------------------------------------------------------


def volume_headers(paths: list[Path]) -> list[dict]:
    headers = []
    for path in paths:
        name, data = tar_contents(path)[0]
        assert name == "volume.json"
        headers.append(json.loads(data))
    return headers


@pytest.mark.parametrize("seed", range(6))
def test_volumes_never_exceed_the_size_and_their_sizes_are_planned_exactly(tmp_path, seed):
    rng = random.Random(seed)
    volume_size = rng.choice([30_000, 64 * 1024, 100_000])
    manifest = b"x" * rng.randrange(100, 9000)
    # Sizes around block and volume boundaries, none too big for a volume.
    budget = volume_size - tar_member_size(4096) - 1024 - 10240
    blobs = [
        os.urandom(rng.choice([0, 1, 511, 512, 513, rng.randrange(budget - 512)])) for _ in range(rng.randrange(5, 25))
    ]
    blobs = list({hashlib.sha256(data).hexdigest(): data for data in blobs}.values())
    archive = tmp_path / "bundle.tar"
    writer = ArchiveWriter(archive, volume_size, BUNDLE_ID, plan_of(manifest, blobs))
    paths = write_members(writer, tmp_path, manifest, blobs)
    assert [path.name for path in paths] == [f"bundle.tar.{index:03d}" for index in range(1, len(paths) + 1)]
    assert not list(tmp_path.glob("*.partial"))
    headers = volume_headers(paths)
    seen = []
    for index, (path, header) in enumerate(zip(paths, headers, strict=True), start=1):
        contents = tar_contents(path)
        assert header == {
            "bundle": BUNDLE_ID,
            "volume": index,
            "volumes": len(paths),
            "member_count": len(contents) - 1,
        }
        size = path.stat().st_size
        assert size <= volume_size, f"{path.name} is {size} bytes, more than {volume_size}"
        assert size == tar_total_size([len(data) for _, data in contents])
        seen += [name for name, _ in contents[1:]]
    # Every member once, in the writer's order; the manifest members in volume 1.
    assert seen == [name for name, _ in plan_of(manifest, blobs)]
    assert {name for name, _ in tar_contents(paths[0])} >= {"manifest.jsonl", "manifest.sha256"}


def test_a_blob_larger_than_a_volume_is_refused_before_anything_is_written(tmp_path):
    plan = [("manifest.jsonl", 100), ("manifest.sha256", 65), ("blobs/" + "a" * 64, 50_000)]
    with pytest.raises(BundleError, match=r"blobs/a{64} \(50000 bytes\) does not fit in a volume of 40000 bytes"):
        ArchiveWriter(tmp_path / "bundle.tar", 40_000, BUNDLE_ID, plan)
    assert list(tmp_path.iterdir()) == []


def test_a_volume_size_too_small_for_anything_is_refused(tmp_path):
    with pytest.raises(BundleError, match="does not fit"):
        ArchiveWriter(tmp_path / "bundle.tar", 1000, BUNDLE_ID, [("manifest.jsonl", 10)])


def test_volumes_refuse_to_overwrite_any_of_them(tmp_path):
    plan = [("manifest.jsonl", 100), ("manifest.sha256", 65)] + [(f"blobs/{index:064x}", 15_000) for index in range(4)]
    (tmp_path / "bundle.tar.002").write_bytes(b"precious")
    with pytest.raises(BundleError, match="bundle.tar.002 already exists"):
        ArchiveWriter(tmp_path / "bundle.tar", 40_000, BUNDLE_ID, plan)
    assert (tmp_path / "bundle.tar.002").read_bytes() == b"precious"


# -- failures ------------------------------------------------------------


def writer_of(form: str, target: Path, plan: list[tuple[str, int]]):
    if form == "folder":
        return DirectoryWriter(target)
    return ArchiveWriter(target, 40_000 if form == "volumes" else None, BUNDLE_ID, plan)


@pytest.mark.parametrize("form", ["folder", "archive", "volumes"])
def test_a_bundle_whose_new_name_cannot_be_made_durable_is_removed_by_abort(tmp_path, monkeypatch, form):
    manifest = b'{"type":"header"}\n'
    blobs = [os.urandom(15_000) for _ in range(3)]
    (tmp_path / "out").mkdir()
    writer = writer_of(form, tmp_path / "out" / "bundle", plan_of(manifest, blobs))

    def failing_sync(folder):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(writers, "_sync_folder", failing_sync)
    with pytest.raises(OSError, match="Input/output error"):
        write_members(writer, tmp_path, manifest, blobs)
    # Renamed into place, but the export fails: it must not look written.
    writer.abort()
    assert list((tmp_path / "out").iterdir()) == []


def test_an_archive_aborted_on_a_full_disk_closes_its_file(tmp_path):
    archive = tmp_path / "out" / "bundle.tar"
    archive.parent.mkdir()
    archive.with_name("bundle.tar.partial").symlink_to("/dev/full")
    manifest = b'{"type":"header"}\n'
    data = os.urandom(20_000)
    writer = ArchiveWriter(archive, None, BUNDLE_ID, plan_of(manifest, [data]))
    with pytest.raises(OSError, match="No space left on device"):
        write_members(writer, tmp_path, manifest, [data])
    descriptor = writer.handle.fileno()
    writer.abort()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(descriptor)
    assert list(archive.parent.iterdir()) == []
