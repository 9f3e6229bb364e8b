"""The simple repository API (PEP 503, 691, 592, 658, 700, 714)."""

from __future__ import annotations

import re

import pytest
from django.db import transaction

from pythonnest.api.negotiation import HTML_V1, JSON_V1, TEXT_HTML, choose_content_type
from pythonnest.core.journal import Action, record_event
from pythonnest.core.models import Project, Release
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(store, data_dir, tmp_path):
    for name in [
        "six-1.16.0-py2.py3-none-any.whl",
        "six-1.16.0.tar.gz",
        "six-1.17.0-py2.py3-none-any.whl",
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    ]:
        add_distribution_path(data_dir / name, store=store)
    add_distribution_path(build_wheel(tmp_path, "Odd.Name", "0.1", requires_python=">=3.8,<4"), store=store)
    return store


def detail_json(client, name="six", **headers):
    return client.get(f"/simple/{name}/", HTTP_ACCEPT=JSON_V1, **headers)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, TEXT_HTML),
        ("", TEXT_HTML),
        ("*/*", TEXT_HTML),
        ("text/html", TEXT_HTML),
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        (f"{JSON_V1}, {HTML_V1};q=0.1, text/html;q=0.01", JSON_V1),
        (f"{JSON_V1};q=0.2, {HTML_V1};q=0.9", HTML_V1),
        ("text/html;q=0, */*;q=0.5", TEXT_HTML),
        ("application/json", None),
        ("application/vnd.pypi.simple.v2+json", None),
        (f"{JSON_V1};q=0", None),
        ("image/png", None),
    ],
)
def test_content_negotiation(accept, chosen):
    assert choose_content_type(accept) == chosen


def test_format_parameter_overrides_accept():
    assert choose_content_type("text/html", "json") == JSON_V1
    assert choose_content_type(None, JSON_V1) == JSON_V1
    assert choose_content_type(None, "xml") is None


def test_index_html_lists_every_project(client, catalog):
    response = client.get("/simple/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert '<meta name="pypi:repository-version" content="1.1">' in body
    assert re.findall(r'<a href="([^"]+)">([^<]+)</a>', body) == [
        ("odd-name/", "Odd.Name"),
        ("python-dateutil/", "python-dateutil"),
        ("six/", "six"),
    ]
    assert response["X-PyPI-Last-Serial"] == "5"


def test_index_json_has_last_serial_per_project(client, catalog):
    response = client.get("/simple/", HTTP_ACCEPT=JSON_V1)
    assert response["Content-Type"] == JSON_V1
    body = response.json()
    assert body["meta"] == {"api-version": "1.1", "_last-serial": 5}
    assert body["projects"] == [
        {"name": "Odd.Name", "_last-serial": 5},
        {"name": "python-dateutil", "_last-serial": 4},
        {"name": "six", "_last-serial": 3},
    ]


def test_detail_json_has_every_pep_field(client, catalog):
    response = detail_json(client)
    assert response.status_code == 200
    assert response["X-PyPI-Last-Serial"] == "3"
    body = response.json()
    assert body["meta"] == {"api-version": "1.1", "_last-serial": 3}
    assert body["name"] == "six"
    assert body["versions"] == ["1.16.0", "1.17.0"]
    files = {file["filename"]: file for file in body["files"]}
    assert sorted(files) == ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz", "six-1.17.0-py2.py3-none-any.whl"]
    wheel = files["six-1.16.0-py2.py3-none-any.whl"]
    sha256 = wheel["hashes"]["sha256"]
    assert wheel["url"] == f"../../packages/{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/six-1.16.0-py2.py3-none-any.whl"
    assert wheel["requires-python"] == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
    assert wheel["yanked"] is False
    assert wheel["size"] == 11053
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", wheel["upload-time"])
    assert set(wheel["core-metadata"]) == {"sha256"}
    assert wheel["dist-info-metadata"] == wheel["core-metadata"]
    assert files["six-1.16.0.tar.gz"]["core-metadata"] is False


def test_detail_html_has_hashes_metadata_and_requires_python(client, catalog):
    body = client.get("/simple/odd-name/").content.decode()
    anchors = re.findall(r"<a ([^>]+)>([^<]+)</a>", body)
    assert len(anchors) == 1
    attributes, text = anchors[0]
    assert text == "odd_name-0.1-py3-none-any.whl"
    assert re.search(
        r'href="\.\./\.\./packages/[0-9a-f/]+/odd_name-0\.1-py3-none-any\.whl#sha256=[0-9a-f]{64}"', attributes
    )
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in attributes
    assert re.search(r'data-core-metadata="sha256=[0-9a-f]{64}"', attributes)
    assert re.search(r'data-dist-info-metadata="sha256=[0-9a-f]{64}"', attributes)
    assert "data-yanked" not in attributes


def test_yanked_releases_are_marked(client, catalog):
    project = Project.objects.get(normalized_name="six")
    with transaction.atomic():
        Release.objects.filter(project=project, version="1.16.0").update(yanked=True, yanked_reason="broken <build>")
        record_event(project, Action.YANK_RELEASE, source="test", version="1.16.0", data={"reason": "broken"})
    files = {file["filename"]: file for file in detail_json(client).json()["files"]}
    assert files["six-1.16.0.tar.gz"]["yanked"] == "broken <build>"
    assert files["six-1.17.0-py2.py3-none-any.whl"]["yanked"] is False
    html = client.get("/simple/six/").content.decode()
    assert html.count('data-yanked="broken &lt;build&gt;"') == 2


def test_yank_without_reason_is_true(client, catalog):
    project = Project.objects.get(normalized_name="six")
    with transaction.atomic():
        Release.objects.filter(project=project, version="1.17.0").update(yanked=True)
        record_event(project, Action.YANK_RELEASE, source="test", version="1.17.0")
    files = {file["filename"]: file for file in detail_json(client).json()["files"]}
    assert files["six-1.17.0-py2.py3-none-any.whl"]["yanked"] is True
    assert 'data-yanked="">six-1.17.0' in client.get("/simple/six/").content.decode()


@pytest.mark.parametrize("name", ["Six", "SIX", "python_dateutil", "Python.Dateutil", "odd_name", "ODD-NAME"])
def test_non_normalized_names_redirect_permanently(client, catalog, name):
    response = client.get(f"/simple/{name}/")
    assert response.status_code == 301
    assert re.fullmatch(r"/simple/[a-z-]+/", response["Location"])


def test_unknown_project_is_404(client, catalog):
    response = client.get("/simple/no-such-project/")
    assert response.status_code == 404
    assert b"no-such-project" in response.content


@pytest.mark.parametrize("name", ["-leading-dash", "has space", "trailing.", "a" * 300, "caf%C3%A9"])
def test_malformed_names_are_a_clear_404(client, catalog, name):
    response = client.get(f"/simple/{name}/")
    assert response.status_code == 404
    assert b"not a valid project name" in response.content


@pytest.mark.parametrize("url", ["/simple/", "/simple/six/"])
def test_unserved_types_are_406(client, catalog, url):
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 406
    assert JSON_V1.encode() in response.content


@pytest.mark.parametrize(
    ("url", "accept"),
    [("/simple/", JSON_V1), ("/simple/", "text/html"), ("/simple/six/", JSON_V1), ("/simple/six/", HTML_V1)],
)
def test_etag_gives_304(client, catalog, url, accept):
    first = client.get(url, HTTP_ACCEPT=accept)
    etag = first["ETag"]
    again = client.get(url, HTTP_ACCEPT=accept, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["X-PyPI-Last-Serial"] == first["X-PyPI-Last-Serial"]


def test_etag_changes_with_the_catalog_and_the_format(client, catalog, tmp_path):
    html = client.get("/simple/six/")["ETag"]
    json_tag = detail_json(client)["ETag"]
    assert html != json_tag
    add_distribution_path(build_wheel(tmp_path, "six", "2.0"), store=catalog)
    assert client.get("/simple/six/", HTTP_IF_NONE_MATCH=html).status_code == 200
    index = client.get("/simple/")
    assert index["X-PyPI-Last-Serial"] == "6"


def test_a_new_file_appears_at_once_despite_the_cache(client, catalog, tmp_path):
    assert "2.0" not in detail_json(client).json()["versions"]
    add_distribution_path(build_wheel(tmp_path, "six", "2.0"), store=catalog)
    assert detail_json(client).json()["versions"] == ["1.16.0", "1.17.0", "2.0"]


def test_versions_sort_as_pep_440(client, store, tmp_path):
    for version in ["1.10", "1.9", "1.0rc1", "1.0", "1.0.post1", "0.9"]:
        add_distribution_path(build_wheel(tmp_path, "sorted", version), store=store)
    assert detail_json(client, "sorted").json()["versions"] == ["0.9", "1.0rc1", "1.0", "1.0.post1", "1.9", "1.10"]


def test_post_is_not_allowed(client, catalog):
    assert client.post("/simple/six/").status_code == 405


def test_empty_index(client):
    body = client.get("/simple/", HTTP_ACCEPT=JSON_V1).json()
    assert body == {"meta": {"api-version": "1.1", "_last-serial": 0}, "projects": []}
