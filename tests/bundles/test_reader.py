"""Opening a bundle of any form without trusting it: folders, archives, volumes, hostile tars."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest

from pythonnest.bundles.reader import ArchiveSource, DirectorySource, Span, open_bundle
from pythonnest.bundles.writers import ArchiveWriter, DirectoryWriter
from pythonnest.core.exceptions import BundleError
from tests.support.bundles import Member, folder_members, tar_with, write_tar

MANIFEST = b'{"type":"header"}\n{"type":"summary"}\n'
DIGEST = hashlib.sha256(MANIFEST).hexdigest()
# Three blobs too big to share a volume of 40,000 bytes: at least three volumes.
BLOBS = {
    hashlib.sha256(data).hexdigest(): data
    for data in (b"first blob", b"second" * 3000, b"third" * 3000, b"fourth" * 2500, b"")
}


def write_bundle(writer, tmp_path: Path, signature: bytes | None = None) -> list[Path]:
    manifest = tmp_path / "manifest-source"
    manifest.write_bytes(MANIFEST)
    writer.add_file("manifest.jsonl", manifest)
    writer.add_bytes("manifest.sha256", DIGEST.encode() + b"\n")
    if signature is not None:
        writer.add_bytes("manifest.sig", signature)
    for sha256, data in sorted(BLOBS.items()):
        source = tmp_path / f"source-{sha256}"
        source.write_bytes(data)
        writer.add_blob(sha256, source, len(data))
    return writer.finish()


def member_plan(signature: bool = False) -> list[tuple[str, int]]:
    plan = [("manifest.jsonl", len(MANIFEST)), ("manifest.sha256", 65)]
    if signature:
        plan.append(("manifest.sig", 200))
    return plan + [(f"blobs/{sha256}", len(data)) for sha256, data in sorted(BLOBS.items())]


@pytest.fixture
def scratch(tmp_path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_bundle(DirectoryWriter(tmp_path / "bundle"), tmp_path, signature=b'{"sig": 1}')[0]


@pytest.fixture
def archive(tmp_path) -> Path:
    return write_bundle(ArchiveWriter(tmp_path / "bundle.tar", None, DIGEST, member_plan()), tmp_path)[0]


@pytest.fixture
def volumes(tmp_path) -> list[Path]:
    paths = write_bundle(ArchiveWriter(tmp_path / "vol.tar", 40_000, DIGEST, member_plan()), tmp_path)
    assert len(paths) >= 3
    return paths


def read_everything(source) -> dict[str, bytes]:
    """Every blob's bytes, read from its stream; where a span is given, it holds the same bytes."""
    blobs, spans = {}, 0
    try:
        for sha256, stream, _, span in source.blobs():
            blobs[sha256] = stream.read()
            if span is not None:
                assert os.pread(span.fd, span.length + 1, span.offset)[: span.length] == blobs[sha256]
                assert span.length == len(blobs[sha256])
                spans += 1
    finally:
        source.close()
    # Folders, archives and volumes are all regular files here: the kernel can copy every blob.
    assert spans == len(blobs)
    return blobs


def check_sound(source) -> None:
    assert source.manifest_path.read_bytes() == MANIFEST
    assert source.manifest_digest == DIGEST
    assert read_everything(source) == BLOBS


# -- sound bundles ---------------------------------------------------------


def test_folder(folder, scratch):
    source = open_bundle([folder], scratch)
    assert isinstance(source, DirectorySource)
    assert source.signature == b'{"sig": 1}'
    # The manifest is read from a private copy, not from the media.
    assert source.manifest_path.parent == scratch
    check_sound(source)


def test_archive(archive, scratch):
    source = open_bundle([archive], scratch)
    assert isinstance(source, ArchiveSource)
    assert source.signature is None
    check_sound(source)


def test_folder_holding_an_archive(archive, scratch):
    source = open_bundle([archive.parent], scratch)
    assert isinstance(source, ArchiveSource)


@pytest.mark.parametrize("seed", range(4))
def test_volumes_in_any_order(volumes, scratch, seed):
    shuffled = list(volumes)
    random.Random(seed).shuffle(shuffled)
    source = open_bundle(shuffled, scratch)
    assert source.volumes == volumes
    check_sound(source)


def test_a_folder_of_volumes(volumes, scratch):
    check_sound(open_bundle([volumes[0].parent], scratch))


def test_blob_streams_name_their_volume(volumes, scratch):
    source = open_bundle(volumes, scratch)
    wheres = {where for _, _, where, _ in source.blobs()}
    source.close()
    assert wheres <= {str(path) for path in volumes}
    assert len(wheres) > 1


# -- volumes that do not make a bundle --------------------------------------


def test_a_missing_volume_is_named(volumes, scratch):
    given = [volumes[0], *volumes[2:]]
    with pytest.raises(BundleError, match=f"^volume\\(s\\) 2 of {len(volumes)} missing: give every volume"):
        open_bundle(given, scratch)


def test_a_lone_volume_names_the_others(volumes, scratch):
    others = ", ".join(str(index) for index in range(2, len(volumes) + 1))
    with pytest.raises(BundleError, match=f"volume\\(s\\) {others} of {len(volumes)} missing"):
        open_bundle([volumes[0]], scratch)


def test_volumes_of_two_bundles_are_refused(volumes, tmp_path, scratch):
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other = write_bundle(ArchiveWriter(other_folder / "vol.tar", 40_000, "e" * 64, member_plan()), other_folder)
    with pytest.raises(BundleError, match="the volumes given belong to 2 different bundles"):
        open_bundle([volumes[0], other[1], *volumes[2:]], scratch)


def test_the_same_volume_twice_is_refused(volumes, tmp_path, scratch):
    copy = tmp_path / "copy-of-1"
    copy.write_bytes(volumes[0].read_bytes())
    with pytest.raises(BundleError, match="are both volume 1"):
        open_bundle([*volumes, copy], scratch)


def test_an_archive_among_volumes_is_named(volumes, archive, scratch):
    with pytest.raises(BundleError, match=f"{archive}: not a volume of a bundle"):
        open_bundle([*volumes, archive], scratch)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"not json", "malformed volume.json"),
        (b'{"bundle": "x", "volume": "1", "volumes": 2}', "malformed volume.json"),
        (b'{"bundle": "x", "volume": 3, "volumes": 2}', "malformed volume.json.*out of range"),
        (b'{"bundle": "x", "volume": 0, "volumes": 2}', "malformed volume.json.*out of range"),
        (b'{"volume": 1, "volumes": 1}', "malformed volume.json"),
        (b"[1]", "malformed volume.json"),
        # Found by an audit: a TypeError (a list in a set), a list of a trillion numbers, RecursionError.
        (
            b'{"bundle": [], "volume": 1, "volumes": 2}',
            r"malformed volume.json \(the bundle is not named by a sha256\)",
        ),
        (
            b'{"bundle": "' + b"A" * 64 + b'", "volume": 1, "volumes": 2}',
            "malformed volume.json .the bundle is not named",
        ),
        (
            b'{"bundle": "' + DIGEST.encode() + b'", "volume": 1, "volumes": 1000000000000}',
            "malformed volume.json .more than 1000000 volumes",
        ),
        (
            b'{"bundle": "' + DIGEST.encode() + b'", "volume": true, "volumes": 2}',
            "malformed volume.json .volume numbers are not",
        ),
        (b"[" * 100_000, r"malformed volume.json \(arrays or objects nested more than 16 deep\)"),
        (b'{"bundle": "x", "volume": 1, "volumes": ' + b"9" * 5000 + b"}", r"malformed volume.json \(a number of more"),
    ],
)
def test_a_malformed_volume_header_is_named(tmp_path, scratch, header, message):
    path = write_tar(tmp_path / "v.001", [Member("volume.json", header), Member("manifest.jsonl", MANIFEST)])
    with pytest.raises(BundleError, match=f"^{path}: {message}"):
        open_bundle([path], scratch)


def test_many_missing_volumes_are_counted_and_the_first_named(tmp_path, scratch):
    header = b'{"bundle": "' + DIGEST.encode() + b'", "volume": 2, "volumes": 100000}'
    path = write_tar(tmp_path / "v.002", [Member("volume.json", header)])
    with pytest.raises(BundleError) as caught:
        open_bundle([path], scratch)
    assert str(caught.value) == (
        "volume(s) 1, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 99989 more of 100000 missing: give every volume of the bundle"
    )


def test_volumes_whose_manifest_is_not_the_bundle_they_name_are_refused(tmp_path, scratch):
    """The volume headers name the bundle by its manifest's sha256: a manifest of another bundle is refused."""
    paths = write_bundle(ArchiveWriter(tmp_path / "vol.tar", 40_000, "e" * 64, member_plan()), tmp_path)
    with pytest.raises(BundleError) as caught:
        open_bundle(paths, scratch)
    assert str(caught.value).endswith(
        f"the volumes belong to bundle {'e' * 64}, but manifest.sha256 says {DIGEST}: "
        "volumes of another bundle, or a forged manifest"
    )


def test_a_corrupt_volume_is_named(volumes, scratch):
    data = bytearray(volumes[1].read_bytes())
    # Break the checksum of the first header block.
    data[100:108] = b"\xff" * 8
    volumes[1].write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"{volumes[1]}: unreadable or corrupt archive"):
        read_everything(open_bundle(volumes, scratch))


def test_something_that_is_not_a_tar(tmp_path, scratch):
    path = tmp_path / "bundle.tar"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(BundleError, match=f"{path}: unreadable or corrupt archive"):
        open_bundle([path], scratch)


# -- hostile archives ---------------------------------------------------------

SHA = next(iter(sorted(BLOBS)))


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (Member("../evil", b"x"), r"member '\.\./evil' escapes the bundle"),
        (Member("blobs/../../evil", b"x"), "escapes the bundle"),
        (Member("/etc/cron.d/evil", b"x"), "member '/etc/cron.d/evil' escapes the bundle"),
        (Member("blobs\\..\\evil", b"x"), "escapes the bundle"),
        (Member(f"blobs/{'0' * 64}", kind="symlink", target="/etc/passwd"), "is not a regular file"),
        (Member("manifest.jsonl", kind="symlink", target="/etc/passwd"), "is not a regular file"),
        (Member(f"blobs/{'0' * 64}", kind="hardlink", target="manifest.jsonl"), "is not a regular file"),
        (Member(f"blobs/{'0' * 64}", kind="hardlink", target="/etc/passwd"), "is not a regular file"),
        (Member("blobs/sub", kind="dir"), "is not a regular file"),
        (Member("elsewhere", kind="dir"), "is not a regular file"),
        (Member(f"blobs/{'0' * 64}", kind="fifo"), "is not a regular file"),
        (Member("README", b"hello"), "unexpected member 'README'"),
        (Member("blobs/not-a-digest", b"x"), "unexpected member 'blobs/not-a-digest'"),
        (Member(f"blobs/{'A' * 64}", b"x"), "unexpected member"),
        (Member("./manifest.jsonl", MANIFEST), "unexpected member"),
        (Member(f"blobs/{SHA}\n", b"x"), "unexpected member"),
    ],
)
@pytest.mark.parametrize("position", [0, 2, None], ids=["first", "after-manifest", "last"])
def test_hostile_members_refuse_the_bundle(folder, tmp_path, scratch, member, message, position):
    path = tar_with(folder, tmp_path / "hostile.tar", extra=[member], position=position)
    with pytest.raises(BundleError, match=message) as caught:
        read_everything(open_bundle([path], scratch))
    assert str(caught.value).startswith(str(path))
    # Nothing was extracted anywhere, whatever the member said.
    assert sorted(entry.name for entry in scratch.iterdir()) in ([], ["manifest.jsonl"])
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_a_blobs_directory_member_is_allowed(folder, tmp_path, scratch):
    path = tar_with(folder, tmp_path / "with-dir.tar", extra=[Member("blobs/", kind="dir")], position=3)
    check_sound(open_bundle([path], scratch))


def test_a_manifest_after_the_blobs_is_refused(folder, tmp_path, scratch):
    members = folder_members(folder)
    members.append(Member("manifest.jsonl", MANIFEST))
    path = write_tar(tmp_path / "late.tar", members)
    with pytest.raises(BundleError, match="manifest.jsonl found after the blobs began"):
        read_everything(open_bundle([path], scratch))


def test_an_archive_without_a_manifest_before_the_blobs(folder, tmp_path, scratch):
    members = [member for member in folder_members(folder) if member.name != "manifest.jsonl"]
    path = write_tar(tmp_path / "nomanifest.tar", members)
    with pytest.raises(BundleError, match="no manifest.jsonl before the blobs"):
        open_bundle([path], scratch)


def test_an_archive_without_a_digest(folder, tmp_path, scratch):
    members = [member for member in folder_members(folder) if member.name != "manifest.sha256"]
    path = write_tar(tmp_path / "nodigest.tar", members)
    with pytest.raises(BundleError, match="no manifest.sha256"):
        open_bundle([path], scratch)


@pytest.mark.parametrize("digest", [b"", b"xyz", b"A" * 64, b"0" * 63, b"0" * 65])
def test_a_malformed_digest_member(folder, tmp_path, scratch, digest):
    members = [Member(m.name, digest) if m.name == "manifest.sha256" else m for m in folder_members(folder)]
    path = write_tar(tmp_path / "baddigest.tar", members)
    with pytest.raises(BundleError, match="manifest.sha256 does not hold a sha256 digest"):
        open_bundle([path], scratch)


# -- hostile folders -------------------------------------------------------------


def test_a_symlinked_manifest_in_a_folder_is_refused(folder, tmp_path, scratch):
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(MANIFEST)
    (folder / "manifest.jsonl").unlink()
    (folder / "manifest.jsonl").symlink_to(outside)
    with pytest.raises(BundleError, match="links are not allowed in a bundle"):
        open_bundle([folder], scratch)


def test_a_symlinked_blob_in_a_folder_is_refused(folder, tmp_path, scratch):
    target = folder / "blobs" / SHA
    target.unlink()
    target.symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match=f"{target}: not a regular file"):
        read_everything(open_bundle([folder], scratch))


def test_a_symlinked_blobs_folder_is_refused(folder, tmp_path, scratch):
    real = tmp_path / "real-blobs"
    (folder / "blobs").rename(real)
    (folder / "blobs").symlink_to(real)
    with pytest.raises(BundleError, match="links are not allowed"):
        open_bundle([folder], scratch)


@pytest.mark.parametrize("name", ["notes.txt", ".hidden", "volume.json"])
def test_an_unexpected_entry_in_a_folder_is_refused(folder, scratch, name):
    (folder / name).write_text("x")
    with pytest.raises(BundleError, match=f"{folder / name}: unexpected entry in the bundle"):
        open_bundle([folder], scratch)


def test_an_unexpected_file_among_the_blobs_is_refused(folder, scratch):
    (folder / "blobs" / "README").write_text("x")
    with pytest.raises(BundleError, match="unexpected file among the blobs"):
        read_everything(open_bundle([folder], scratch))


def test_a_subfolder_among_the_blobs_is_refused(folder, scratch):
    (folder / "blobs" / ("0" * 64)).mkdir()
    with pytest.raises(BundleError, match="not a regular file"):
        read_everything(open_bundle([folder], scratch))


def test_a_blobs_entry_that_is_a_file_is_refused(folder, scratch):
    shutil.rmtree(folder / "blobs")
    (folder / "blobs").write_bytes(b"not a folder")
    with pytest.raises(BundleError, match=f"^{folder / 'blobs'}: not a folder$"):
        open_bundle([folder], scratch)


@pytest.mark.parametrize("name", ["manifest.sha256", "manifest.sig"])
def test_a_manifest_member_that_is_a_folder_is_refused(folder, scratch, name):
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(BundleError, match=f"^{folder / name}: not a regular file$"):
        open_bundle([folder], scratch)


def test_a_signature_that_is_a_fifo_is_refused(folder, scratch):
    """Reading a fifo would wait for a writer forever."""
    (folder / "manifest.sig").unlink()
    os.mkfifo(folder / "manifest.sig")
    with pytest.raises(BundleError, match="manifest.sig: not a regular file"):
        open_bundle([folder], scratch)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
@pytest.mark.parametrize("victim", ["manifest.sha256", "blobs"])
def test_an_unreadable_file_in_a_folder_is_named(folder, scratch, victim):
    path = folder / victim
    path.chmod(0)
    try:
        with pytest.raises(BundleError, match=f"^{path}.*: cannot read the bundle \\(Permission denied\\)$"):
            read_everything(open_bundle([folder], scratch))
    finally:
        path.chmod(0o755)


def test_a_folder_without_a_digest(folder, scratch):
    (folder / "manifest.sha256").unlink()
    with pytest.raises(BundleError, match=f"{folder}: no manifest.sha256"):
        open_bundle([folder], scratch)


# -- what is given --------------------------------------------------------------


def test_a_missing_path_is_named(tmp_path, scratch):
    with pytest.raises(BundleError, match=f"{tmp_path / 'absent'}: no such file or folder"):
        open_bundle([tmp_path / "absent"], scratch)


def test_an_empty_folder_is_not_a_bundle(tmp_path, scratch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="neither a bundle folder nor a folder of bundle archives"):
        open_bundle([tmp_path / "empty"], scratch)


def test_a_folder_and_an_archive_together_are_refused(folder, archive, scratch):
    with pytest.raises(BundleError, match="not both"):
        open_bundle([folder, archive], scratch)


def test_a_damaged_member_header_inside_a_volume_names_the_volume(volumes, scratch):
    """tarfile reads a bad header after the first as the end of the archive: the volume must be named all the same."""
    victim = volumes[1]
    data = bytearray(victim.read_bytes())
    # The second member's header follows volume.json (one header block, one data block).
    data[1024 + 5] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=str(victim)):
        read_everything(open_bundle(volumes, scratch))


def test_a_damaged_member_header_inside_an_archive_names_the_archive(archive, scratch):
    data = bytearray(archive.read_bytes())
    # The third member's header: after manifest.jsonl and manifest.sha256 (a header and a block each).
    data[2048 + 5] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=str(archive)):
        read_everything(open_bundle([archive], scratch))


def test_an_archive_cut_at_a_member_boundary_is_truncated(archive, scratch):
    data = archive.read_bytes()
    # manifest.jsonl and manifest.sha256 whole, nothing after them: no end marker.
    archive.write_bytes(data[:2048])
    with pytest.raises(BundleError, match=f"{archive}: the archive ends at byte 2048 without its end marker"):
        read_everything(open_bundle([archive], scratch))


def test_a_span_reads_its_bytes_in_place_and_says_when_the_file_ends_early(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"head" + b"x" * 3_000_000 + b"tail")
    with path.open("rb") as handle:
        assert b"".join(Span(handle.fileno(), 4, 3_000_000).chunks()) == b"x" * 3_000_000
        with pytest.raises(EOFError, match="the file ends at byte 3000008, inside the blob"):
            b"".join(Span(handle.fileno(), 4, 3_000_010).chunks())
