"""PyPI's JSON API: Warehouse's document shape, key for key, from the catalog."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pythonnest.core.models import Project
from pythonnest.core.services import add_distribution_path, unyank_release, yank_release
from tests.support.builders import build_sdist, build_wheel

pytestmark = pytest.mark.django_db

SIX_FILES = [
    "six-1.16.0-py2.py3-none-any.whl",
    "six-1.16.0.tar.gz",
    "six-1.17.0-py2.py3-none-any.whl",
    "six-1.17.0.tar.gz",
]
INFO_KEYS = [
    "author",
    "author_email",
    "bugtrack_url",
    "classifiers",
    "description",
    "description_content_type",
    "docs_url",
    "download_url",
    "downloads",
    "dynamic",
    "home_page",
    "keywords",
    "license",
    "license_expression",
    "license_files",
    "maintainer",
    "maintainer_email",
    "name",
    "package_url",
    "platform",
    "project_url",
    "project_urls",
    "provides_extra",
    "release_url",
    "requires_dist",
    "requires_python",
    "summary",
    "version",
    "yanked",
    "yanked_reason",
]
FILE_KEYS = [
    "comment_text",
    "core-metadata",
    "digests",
    "downloads",
    "filename",
    "has_sig",
    "md5_digest",
    "packagetype",
    "python_version",
    "requires_python",
    "size",
    "upload_time",
    "upload_time_iso_8601",
    "url",
    "yanked",
    "yanked_reason",
]
SIX_REQUIRES_PYTHON = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"


@pytest.fixture
def six(store, data_dir):
    for filename in SIX_FILES:
        add_distribution_path(data_dir / filename, store=store)
    return Project.objects.get(normalized_name="six")


def add_versions(store, directory, name, versions):
    for version in versions:
        add_distribution_path(build_wheel(directory, name, version), store=store)
    return Project.objects.get(name=name)


def test_project_document_has_pypi_top_level_keys(client, six):
    response = client.get("/pypi/six/json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert list(document) == ["info", "last_serial", "releases", "urls", "vulnerabilities"]
    assert document["vulnerabilities"] == []
    assert document["last_serial"] == 4


def test_release_document_has_no_releases_key(client, six):
    document = client.get("/pypi/six/1.16.0/json").json()
    assert list(document) == ["info", "last_serial", "urls", "vulnerabilities"]
    assert document["info"]["version"] == "1.16.0"
    assert [file["filename"] for file in document["urls"]] == SIX_FILES[:2]


def test_info_has_every_pypi_key_in_sorted_order(client, six):
    info = client.get("/pypi/six/json").json()["info"]
    assert list(info) == INFO_KEYS


def test_info_describes_the_latest_release_of_a_real_project(client, six):
    info = client.get("/pypi/six/json").json()["info"]
    assert info["name"] == "six"
    assert info["version"] == "1.17.0"
    assert info["summary"] == "Python 2 and 3 compatibility utilities"
    assert info["author"] == "Benjamin Peterson"
    assert info["author_email"] == "benjamin@python.org"
    assert info["license"] == "MIT"
    assert info["home_page"] == "https://github.com/benjaminp/six"
    assert info["project_urls"] == {"Homepage": "https://github.com/benjaminp/six"}
    assert info["requires_python"] == SIX_REQUIRES_PYTHON
    assert "Topic :: Utilities" in info["classifiers"]
    assert info["description"].startswith(".. image:: https://img.shields.io/pypi/v/six.svg")
    assert info["downloads"] == {"last_day": -1, "last_month": -1, "last_week": -1}
    assert info["package_url"] == info["project_url"] == "http://testserver/project/six/"
    assert info["release_url"] == "http://testserver/project/six/1.17.0/"
    assert info["bugtrack_url"] is None and info["docs_url"] is None
    assert info["yanked"] is False and info["yanked_reason"] is None


def test_absent_metadata_is_null_as_on_pypi(client, store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "bare", "1.0"), store=store)
    info = client.get("/pypi/bare/json").json()["info"]
    for key in [
        "author",
        "author_email",
        "description_content_type",
        "download_url",
        "dynamic",
        "home_page",
        "keywords",
        "license",
        "license_expression",
        "license_files",
        "maintainer",
        "maintainer_email",
        "platform",
        "project_urls",
        "provides_extra",
        "requires_dist",
        "requires_python",
    ]:
        assert info[key] is None, key
    assert info["classifiers"] == []
    assert info["description"] == ""


def test_info_carries_every_metadata_field(client, store, tmp_path):
    headers = [
        "Author: Ada",
        "Author-email: ada@example.org",
        "Maintainer: Bob",
        "Maintainer-email: bob@example.org",
        "License: Some licence text",
        "License-Expression: MIT OR Apache-2.0",
        "License-File: LICENSE",
        "Keywords: alpha,beta",
        "Home-page: https://example.org/home",
        "Download-URL: https://example.org/download",
        "Project-URL: Homepage, https://example.org/home",
        "Project-URL: Source, https://example.org/src",
        "Platform: linux",
        "Classifier: Topic :: Utilities",
        "Provides-Extra: fast",
        "Dynamic: Requires-Dist",
    ]
    wheel = build_wheel(
        tmp_path,
        "Rich.Meta",
        "2.0",
        requires_dist=["six>=1.0", "cython ; extra == 'fast'"],
        requires_python=">=3.9",
        summary="Has everything",
        extra_headers=headers,
        description="# Title\n",
    )
    add_distribution_path(wheel, store=store)
    info = client.get("/pypi/rich-meta/json").json()["info"]
    assert info["name"] == "Rich.Meta"
    assert (info["author"], info["author_email"]) == ("Ada", "ada@example.org")
    assert (info["maintainer"], info["maintainer_email"]) == ("Bob", "bob@example.org")
    assert info["license"] == "Some licence text"
    assert info["license_expression"] == "MIT OR Apache-2.0"
    assert info["license_files"] == ["LICENSE"]
    assert info["keywords"] == "alpha,beta"
    assert info["home_page"] == "https://example.org/home"
    assert info["download_url"] == "https://example.org/download"
    # Home-page first; the Project-URL repeating it is shown once.
    assert list(info["project_urls"].items()) == [
        ("Homepage", "https://example.org/home"),
        ("Download", "https://example.org/download"),
        ("Source", "https://example.org/src"),
    ]
    assert info["platform"] == "linux"
    assert info["classifiers"] == ["Topic :: Utilities"]
    assert info["provides_extra"] == ["fast"]
    assert info["requires_dist"] == ["six>=1.0", "cython ; extra == 'fast'"]
    assert info["requires_python"] == ">=3.9"
    assert info["dynamic"] == ["Requires-Dist"]
    assert info["summary"] == "Has everything"
    assert info["description"] == "# Title\n"
    assert info["description_content_type"] == "text/markdown"
    assert info["release_url"] == "http://testserver/project/Rich.Meta/2.0/"


def test_file_entries_match_the_bytes_served(client, six, data_dir):
    document = client.get("/pypi/six/json").json()
    entries = [entry for files in document["releases"].values() for entry in files]
    assert [entry["filename"] for entry in entries] == SIX_FILES
    for entry in entries:
        assert list(entry) == FILE_KEYS
        data = (data_dir / entry["filename"]).read_bytes()
        assert entry["digests"] == {
            "blake2b_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        assert entry["md5_digest"] == entry["digests"]["md5"]
        assert entry["size"] == len(data)
        assert entry["url"].startswith("http://testserver/packages/")
        assert b"".join(client.get(entry["url"]).streaming_content) == data
        assert (entry["comment_text"], entry["downloads"], entry["has_sig"]) == ("", -1, False)
        assert entry["requires_python"] == SIX_REQUIRES_PYTHON
        assert (entry["yanked"], entry["yanked_reason"]) == (False, None)


def test_file_entries_say_what_kind_of_file_they_are(client, six):
    wheel, sdist = client.get("/pypi/six/json").json()["urls"]
    assert (wheel["packagetype"], wheel["python_version"]) == ("bdist_wheel", "py2.py3")
    assert (sdist["packagetype"], sdist["python_version"]) == ("sdist", "source")
    # PEP 658 metadata is offered for wheels only.
    assert re.fullmatch(r"[0-9a-f]{64}", wheel["core-metadata"]["sha256"])
    assert sdist["core-metadata"] is False


def test_upload_times_use_pypi_formats(client, six):
    entry = client.get("/pypi/six/json").json()["urls"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", entry["upload_time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["upload_time_iso_8601"])
    assert entry["upload_time_iso_8601"].startswith(entry["upload_time"])


def test_urls_are_the_files_of_the_latest_release(client, six):
    document = client.get("/pypi/six/json").json()
    assert document["urls"] == document["releases"]["1.17.0"]


def test_releases_are_in_version_order(client, store, tmp_path):
    add_versions(store, tmp_path, "ordered", ["1.10", "1.2", "1.9", "1.0rc1"])
    releases = client.get("/pypi/ordered/json").json()["releases"]
    assert list(releases) == ["1.0rc1", "1.2", "1.9", "1.10"]


@pytest.mark.parametrize(
    ("versions", "yanked", "latest"),
    [
        (["1.0", "2.0"], [], "2.0"),
        (["1.0", "2.0b1"], [], "1.0"),
        (["1.0", "2.0.dev1"], [], "1.0"),
        (["2.0b1", "2.0b2"], [], "2.0b2"),
        (["1.0", "2.0"], ["2.0"], "1.0"),
        (["1.0", "2.0b1"], ["1.0"], "2.0b1"),
        (["1.0", "2.0"], ["1.0", "2.0"], "2.0"),
        (["1.0", "2.0b1"], ["1.0", "2.0b1"], "1.0"),
    ],
)
def test_latest_release_is_chosen_as_warehouse_does(client, store, tmp_path, versions, yanked, latest):
    project = add_versions(store, tmp_path, "choice", versions)
    for version in yanked:
        yank_release(project, version, source="test")
    document = client.get("/pypi/choice/json").json()
    assert document["info"]["version"] == latest
    assert document["urls"] == document["releases"][latest]


def test_a_yanked_release_says_so_everywhere(client, six):
    yank_release(six, "1.17.0", "broken on Python 2", source="test", submitted_by="admin")
    project_document = client.get("/pypi/six/json").json()
    assert project_document["info"]["version"] == "1.16.0"
    for entry in project_document["releases"]["1.17.0"]:
        assert (entry["yanked"], entry["yanked_reason"]) == (True, "broken on Python 2")
    for entry in project_document["releases"]["1.16.0"]:
        assert (entry["yanked"], entry["yanked_reason"]) == (False, None)
    info = client.get("/pypi/six/1.17.0/json").json()["info"]
    assert (info["yanked"], info["yanked_reason"]) == (True, "broken on Python 2")


def test_unyanking_restores_the_latest_release(client, six):
    yank_release(six, "1.17.0", source="test")
    unyank_release(six, "1.17.0", source="test")
    document = client.get("/pypi/six/json").json()
    assert document["info"]["version"] == "1.17.0"
    assert document["info"]["yanked"] is False


def test_yank_without_a_reason_has_a_null_reason(client, six):
    yank_release(six, "1.16.0", source="test")
    info = client.get("/pypi/six/1.16.0/json").json()["info"]
    assert (info["yanked"], info["yanked_reason"]) == (True, None)


@pytest.mark.parametrize(
    "path", ["/pypi/six/json", "/pypi/six/json/", "/pypi/six/1.16.0/json", "/pypi/six/1.16.0/json/"]
)
def test_last_serial_header_follows_the_journal(client, six, path):
    response = client.get(path)
    assert response["X-PyPI-Last-Serial"] == "4"
    assert response.json()["last_serial"] == 4
    yank_release(six, "1.16.0", source="test")
    response = client.get(path)
    assert response["X-PyPI-Last-Serial"] == "5"
    assert response.json()["last_serial"] == 5


def test_a_version_is_found_by_its_canonical_form(client, six):
    assert client.get("/pypi/six/1.16/json").json()["info"]["version"] == "1.16.0"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/pypi/Six/json", "/pypi/six/json"),
        ("/pypi/SIX/json/", "/pypi/six/json/"),
        ("/pypi/Six/1.16.0/json", "/pypi/six/1.16.0/json"),
        ("/pypi/Zope.Interface/1.0/json/", "/pypi/zope-interface/1.0/json/"),
    ],
)
def test_a_non_normalized_name_redirects_permanently(client, six, path, location):
    response = client.get(path)
    assert response.status_code == 301
    assert response["Location"] == location


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/pypi/-invalid-/json", "not a valid project name"),
        ("/pypi/nothing-here/json", "No project named 'nothing-here'"),
        ("/pypi/nothing-here/1.0/json", "No project named 'nothing-here'"),
        ("/pypi/six/9.9/json", "six has no release '9.9'"),
        ("/pypi/six/not-a-version/json", "six has no release 'not-a-version'"),
    ],
)
def test_unknown_names_and_versions_are_404_with_a_reason(client, six, path, reason):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert reason in response.content.decode()


def test_only_get_and_head_are_allowed(client, six):
    assert client.head("/pypi/six/json").status_code == 200
    assert client.post("/pypi/six/json").status_code == 405


def test_cors_lets_browser_scripts_read_it(client, six):
    response = client.get("/pypi/six/json")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "X-PyPI-Last-Serial" in response["Access-Control-Expose-Headers"]


def test_urls_follow_the_host_the_client_used(client, six):
    document = client.get("/pypi/six/json", HTTP_HOST="mirror.example.org").json()
    assert document["info"]["package_url"] == "http://mirror.example.org/project/six/"
    assert document["urls"][0]["url"].startswith("http://mirror.example.org/packages/")


def count_queries(client, path):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_releases_and_files(client, store, tmp_path):
    add_versions(store, tmp_path / "small", "small", ["1.0"])
    for version in ["1.0", "1.1", "1.2", "2.0", "2.1", "3.0b1"]:
        add_distribution_path(build_wheel(tmp_path / "big", "big", version), store=store)
        add_distribution_path(build_sdist(tmp_path / "big", "big", version), store=store)
    assert count_queries(client, "/pypi/big/json") == count_queries(client, "/pypi/small/json")
    assert count_queries(client, "/pypi/big/2.0/json") == count_queries(client, "/pypi/small/1.0/json")
    cache.clear()
    # The project, its releases, the latest release in full, and the files.
    assert count_queries(client, "/pypi/big/json") == 4
    assert count_queries(client, "/pypi/big/2.0/json") == 3
    # Then from the cache: the project's row only.
    assert count_queries(client, "/pypi/big/json") == 1
    assert count_queries(client, "/pypi/big/2.0/json") == 1


def test_a_cached_document_follows_every_change_and_each_host(client, store, tmp_path):
    add_versions(store, tmp_path / "a", "alpha", ["1.0"])
    assert client.get("/pypi/alpha/json").json()["info"]["version"] == "1.0"
    add_distribution_path(build_wheel(tmp_path / "b", "alpha", "2.0"), store=store)
    assert client.get("/pypi/alpha/json").json()["info"]["version"] == "2.0"
    yank_release(Project.objects.get(normalized_name="alpha"), "2.0", "broken", source="test")
    document = client.get("/pypi/alpha/json").json()
    assert document["info"]["version"] == "1.0" and document["releases"]["2.0"][0]["yanked_reason"] == "broken"
    other_host = client.get("/pypi/alpha/2.0/json", HTTP_HOST="mirror.example.org").json()
    assert other_host["urls"][0]["url"].startswith("http://mirror.example.org/packages/")
    assert client.get("/pypi/alpha/2.0/json").json()["urls"][0]["url"].startswith("http://testserver/packages/")
    assert client.get("/pypi/alpha/9.0/json").status_code == 404
