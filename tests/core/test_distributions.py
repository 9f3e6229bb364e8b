"""Reading names and core metadata from wheels and sdists."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from packaging.version import Version

from pythonnest.core.distributions import inspect_distribution, parse_filename
from pythonnest.core.exceptions import InvalidDistribution
from tests.support.builders import build_sdist, build_wheel


@pytest.mark.parametrize(
    ("filename", "name", "version", "packagetype", "python_version"),
    [
        ("six-1.16.0-py2.py3-none-any.whl", "six", "1.16.0", "bdist_wheel", "py2.py3"),
        ("six-1.16.0.tar.gz", "six", "1.16.0", "sdist", "source"),
        ("python-dateutil-2.9.0.post0.tar.gz", "python-dateutil", "2.9.0.post0", "sdist", "source"),
        ("Foo_Bar-1.0rc1-cp311-cp311-manylinux_2_17_x86_64.whl", "foo-bar", "1.0rc1", "bdist_wheel", "cp311"),
        ("legacy-0.1.zip", "legacy", "0.1", "sdist", "source"),
    ],
)
def test_parse_filename(filename, name, version, packagetype, python_version):
    parsed = parse_filename(filename)
    assert parsed.normalized_name == name
    assert parsed.version == Version(version)
    assert parsed.packagetype == packagetype
    assert parsed.python_version == python_version


@pytest.mark.parametrize(
    "filename",
    [
        "../six-1.16.0-py2.py3-none-any.whl",
        "dir/six-1.16.0.tar.gz",
        "..\\six-1.16.0.tar.gz",
        ".hidden-1.0.tar.gz",
        "six-1.16.0.egg",
        "six-1.16.0.tar.bz2",
        "six.whl",
        "six-notaversion-py3-none-any.whl",
        "six-1.0-py3-none.whl",
        "nodash.tar.gz",
        "",
        "six-1.0\n.tar.gz",
        "invalid name-1.0.tar.gz",
        "café-1.0.tar.gz",
        "foo_-1.0.tar.gz",
        "-foo-1.0.zip",
    ],
)
def test_parse_filename_refuses_bad_names(filename):
    with pytest.raises(InvalidDistribution):
        parse_filename(filename)


def test_reads_a_real_wheel(data_dir):
    info = inspect_distribution(
        data_dir / "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    )
    assert info.name == "python-dateutil"
    assert info.version == "2.9.0.post0"
    assert info.fields["summary"] == "Extensions to the standard Python datetime module"
    assert info.fields["requires_dist"] == ["six >=1.5"]
    assert info.fields["requires_python"].startswith("!=3.0.*")
    assert "License :: OSI Approved :: BSD License" in info.fields["classifiers"]
    assert info.fields["project_urls"]["Documentation"].startswith("https://dateutil.readthedocs.io")
    assert info.metadata_bytes.startswith(b"Metadata-Version:")
    assert info.offers_core_metadata


def test_reads_a_real_sdist(data_dir):
    info = inspect_distribution(data_dir / "six-1.16.0.tar.gz", "six-1.16.0.tar.gz")
    assert info.name == "six"
    assert info.fields["author"] == "Benjamin Peterson"
    assert info.fields["license"] == "MIT"
    assert not info.offers_core_metadata


def test_reads_markdown_description(tmp_path):
    wheel = build_wheel(tmp_path, "described", "1.0", description="# Hello\n\nWorld\n")
    info = inspect_distribution(wheel, wheel.name)
    assert info.fields["description"].startswith("# Hello")
    assert info.fields["description_content_type"] == "text/markdown"


def test_metadata_with_license_expression_and_keywords(tmp_path):
    wheel = build_wheel(
        tmp_path,
        "modern",
        "2.0",
        extra_headers=[
            "License-Expression: MIT OR Apache-2.0",
            "Keywords: a,b,c",
            "Project-URL: Home, https://example.org",
        ],
    )
    fields = inspect_distribution(wheel, wheel.name).fields
    assert fields["license_expression"] == "MIT OR Apache-2.0"
    assert fields["keywords"] == "a,b,c"
    assert fields["project_urls"] == {"Home": "https://example.org"}


def test_refuses_a_wheel_whose_metadata_names_another_project(tmp_path):
    wheel = build_wheel(tmp_path, "alpha", "1.0", metadata_name="beta")
    with pytest.raises(InvalidDistribution, match="metadata says Name: beta"):
        inspect_distribution(wheel, wheel.name)


def test_refuses_a_wheel_whose_metadata_has_another_version(tmp_path):
    wheel = build_wheel(tmp_path, "alpha", "1.0", metadata_version="2.0")
    with pytest.raises(InvalidDistribution, match="version 1.0 but its metadata says Version: 2.0"):
        inspect_distribution(wheel, wheel.name)


def test_refuses_an_sdist_whose_metadata_names_another_project(tmp_path):
    sdist = build_sdist(tmp_path, "alpha", "1.0", metadata_name="beta")
    with pytest.raises(InvalidDistribution, match="Name: beta"):
        inspect_distribution(sdist, sdist.name)


def test_refuses_a_renamed_wheel(tmp_path, data_dir):
    renamed = tmp_path / "six-9.9-py2.py3-none-any.whl"
    renamed.write_bytes((data_dir / "six-1.16.0-py2.py3-none-any.whl").read_bytes())
    with pytest.raises(InvalidDistribution, match="metadata says Version: 1.16.0"):
        inspect_distribution(renamed, renamed.name)


@pytest.mark.parametrize("suffix", ["-1.0-py3-none-any.whl", "-1.0.tar.gz", "-1.0.zip"])
def test_refuses_garbage_archives(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"this is not an archive at all")
    with pytest.raises(InvalidDistribution, match="unreadable"):
        inspect_distribution(path, path.name)


def test_refuses_a_truncated_wheel(tmp_path):
    wheel = build_wheel(tmp_path, "cut", "1.0")
    data = wheel.read_bytes()
    wheel.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidDistribution, match="unreadable"):
        inspect_distribution(wheel, wheel.name)


def test_refuses_a_truncated_sdist(tmp_path, data_dir):
    path = tmp_path / "six-1.16.0.tar.gz"
    data = (data_dir / "six-1.16.0.tar.gz").read_bytes()
    path.write_bytes(data[: len(data) - 2000])
    with pytest.raises(InvalidDistribution, match="unreadable"):
        inspect_distribution(path, path.name)


def test_refuses_a_wheel_with_a_corrupt_member(tmp_path):
    wheel = build_wheel(tmp_path, "flipped", "1.0", module_source="X = 1\n" * 200)
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        member = archive.getinfo("flipped.py")
    # Flip a byte inside the compressed data of the module.
    offset = member.header_offset + 30 + len(member.filename) + 5
    data[offset] ^= 0xFF
    wheel.write_bytes(bytes(data))
    with pytest.raises(InvalidDistribution):
        inspect_distribution(wheel, wheel.name)


def test_refuses_a_wheel_without_metadata(tmp_path):
    path = tmp_path / "empty-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("empty.py", "")
    with pytest.raises(InvalidDistribution, match="dist-info/METADATA"):
        inspect_distribution(path, path.name)


def test_refuses_an_sdist_without_pkg_info(tmp_path):
    path = tmp_path / "bare-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"print()\n"
        info = tarfile.TarInfo("bare-1.0/setup.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidDistribution, match="no PKG-INFO"):
        inspect_distribution(path, path.name)


def test_refuses_metadata_without_a_name(tmp_path):
    path = tmp_path / "nameless-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = b"Metadata-Version: 2.1\nVersion: 1.0\n"
        info = tarfile.TarInfo("nameless-1.0/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidDistribution, match="no Name or Version"):
        inspect_distribution(path, path.name)
