"""File and PEP 658 metadata downloads."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pythonnest.core.models import File
from pythonnest.core.services import add_distribution_path

pytestmark = pytest.mark.django_db


def file_url(file: File, suffix: str = "") -> str:
    return f"/packages/{file.sha256[:2]}/{file.sha256[2:4]}/{file.sha256[4:]}/{file.filename}{suffix}"


@pytest.fixture
def wheel(store, data_dir):
    add_distribution_path(data_dir / "six-1.16.0-py2.py3-none-any.whl", store=store)
    return File.objects.get()


def read(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_download_streams_the_exact_bytes(client, wheel, data_dir):
    response = client.get(file_url(wheel))
    assert response.status_code == 200
    assert read(response) == (data_dir / wheel.filename).read_bytes()
    assert response["Content-Length"] == str(wheel.size)
    assert response["ETag"] == f'"{wheel.sha256}"'
    assert "immutable" in response["Cache-Control"]


def test_a_download_reads_its_file_in_one_query(client, wheel, store, data_dir):
    add_distribution_path(data_dir / "six-1.16.0.tar.gz", store=store)
    for url in (file_url(wheel), file_url(wheel, ".metadata"), file_url(File.objects.get(filename__endswith=".gz"))):
        with CaptureQueriesContext(connection) as context:
            response = client.get(url)
        assert response.status_code == 200
        assert len(context.captured_queries) == 1, [query["sql"] for query in context.captured_queries]
        read(response)


def test_core_metadata_file_is_served(client, wheel):
    response = client.get(file_url(wheel, ".metadata"))
    assert response.status_code == 200
    body = read(response)
    assert hashlib.sha256(body).hexdigest() == wheel.metadata_sha256
    assert body.startswith(b"Metadata-Version: 2.1\nName: six\n")


def test_sdist_has_no_metadata_file(client, store, data_dir):
    add_distribution_path(data_dir / "six-1.16.0.tar.gz", store=store)
    sdist = File.objects.get()
    response = client.get(file_url(sdist, ".metadata"))
    assert response.status_code == 404
    assert b"no core metadata" in response.content


def test_a_wrong_digest_in_the_url_is_404(client, wheel):
    url = f"/packages/00/00/{'0' * 60}/{wheel.filename}"
    assert client.get(url).status_code == 404


def test_a_missing_blob_is_a_clear_404(client, wheel, store):
    store.delete(wheel.sha256)
    response = client.get(file_url(wheel))
    assert response.status_code == 404
    assert b"content is not on this server" in response.content
    # The index still lists it: the database holds the metadata.
    assert wheel.filename in client.get("/simple/six/").content.decode()


def test_a_missing_blob_with_a_known_upstream_redirects(client, wheel, store):
    File.objects.filter(pk=wheel.pk).update(upstream_url="https://files.example.org/six.whl")
    store.delete(wheel.sha256)
    response = client.get(file_url(wheel))
    assert response.status_code == 302
    assert response["Location"] == "https://files.example.org/six.whl"


@pytest.mark.parametrize(("mode", "header"), [("apache", "X-Sendfile"), ("nginx", "X-Accel-Redirect")])
def test_xsendfile_hands_the_file_to_the_front_server(client, wheel, store, settings, mode, header):
    settings.PYTHONNEST = type(settings.PYTHONNEST)(**{**settings.PYTHONNEST.__dict__, "xsendfile": mode})
    response = client.get(file_url(wheel))
    assert response.status_code == 200
    assert response.content == b""
    if mode == "nginx":
        assert response[header] == f"/_pythonnest_blobs/{store.relative_path(wheel.sha256)}"
    else:
        assert response[header] == str(store.path_for(wheel.sha256))
