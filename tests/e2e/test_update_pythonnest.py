"""``update`` against a second PythonNest: full sync, changes upstream, incremental sync, same answers.

Both instances are real servers (gunicorn) with databases of their own. The
mirror must then answer exactly as the upstream does on the simple index
(PEP 691 JSON and HTML) and the JSON API. Ignored in the comparison, because
they legitimately differ: serials (``_last-serial``, ``last_serial``; each
instance numbers its own journal) and the host part of absolute URLs in the
JSON API. Upload times are *not* ignored: the mirror keeps the upstream's.
"""

from __future__ import annotations

import json

import pytest
from packaging.utils import canonicalize_name

from tests.support.builders import DATA, build_sdist, build_wheel

pytestmark = pytest.mark.e2e

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def shell(server, code: str) -> None:
    """Run Python in the server's Django, through core.services as an operator would."""
    prelude = (
        "from pythonnest.core import services\n"
        "from pythonnest.core.models import Project\n"
        "from pythonnest.storage import blob_store\n"
        "def project(name): return Project.objects.get(normalized_name=name)\n"
    )
    server.manage("shell", "-c", prelude + code)


def snapshot(server) -> dict:
    """What clients see of every project, serials and host names left out."""
    root = json.loads(server.get("/simple/", headers={"Accept": JSON_V1}).body)
    root["meta"].pop("_last-serial")
    names = [entry.pop("_last-serial") and entry["name"] for entry in root["projects"]]
    pages = {}
    for name in names:
        normalized = canonicalize_name(name)
        detail = json.loads(server.get(f"/simple/{normalized}/", headers={"Accept": JSON_V1}).body)
        detail["meta"].pop("_last-serial")
        html = server.get(f"/simple/{normalized}/", headers={"Accept": "text/html"}).body.decode()
        api_answer = server.get(f"/pypi/{normalized}/json")
        api = json.loads(api_answer.body.decode().replace(server.url, "http://host"))
        api.pop("last_serial")
        pages[normalized] = {"json": detail, "html": html, "api": api}
    return {"root": root, "pages": pages}


def update(mirror, upstream, *flags):
    result = mirror.manage("update", "--url", upstream.url, "--no-progress", "--retry-backoff", "0.05", *flags)
    assert "failure" not in result.stdout, result.stdout
    return result


@pytest.fixture(scope="module")
def extra_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extra")
    return {
        "first": [
            build_wheel(
                folder,
                "Nest_Demo",
                "1.0",
                requires_python=">=3.8",
                requires_dist=["six>=1.16"],
                description="# Demo\n\nA *demo* project.\n",
            ),
            build_sdist(folder, "Nest_Demo", "1.0"),
        ],
        "later": [
            build_wheel(folder / "later", "iniconfig", "2.1.0"),
            build_wheel(folder / "later", "Nest_Demo", "1.1", requires_python=">=3.9"),
            build_wheel(folder / "later", "brand-new", "0.1"),
        ],
    }


def test_a_mirror_of_a_pythonnest_answers_as_it_does(server_factory, extra_files):
    upstream = server_factory("upstream", files=[DATA, *extra_files["first"]])
    shell(upstream, "services.yank_release(project('six'), '1.16.0', 'too old', source='admin')")
    mirror = server_factory("mirror")
    # Another mirror reads the simple index's serials instead of the XML-RPC changelog.
    index_mirror = server_factory("index-mirror")

    result = update(mirror, upstream)
    assert "Added 10 file(s)" in result.stdout, result.stdout
    update(index_mirror, upstream, "--no-xmlrpc")
    expected = snapshot(upstream)
    assert snapshot(mirror) == expected
    assert snapshot(index_mirror) == expected

    # Change the upstream: add, yank, unyank, delete a file, a release, a project.
    upstream.add(extra_files["later"])
    shell(
        upstream,
        "services.yank_release(project('iniconfig'), '2.0.0', 'security', source='admin')\n"
        "services.unyank_release(project('six'), '1.16.0', source='admin')\n"
        "services.remove_file(project('six'), 'six-1.17.0.tar.gz', store=blob_store(), source='admin')\n"
        "services.remove_release(project('nest-demo'), '1.0', store=blob_store(), source='admin')\n"
        "services.remove_project(project('python-dateutil'), store=blob_store(), source='admin')\n",
    )
    mark = upstream.log_mark()
    result = update(mirror, upstream)
    seen = upstream.settled_requests(mark)
    assert "Added 3 file(s)" in result.stdout and "changed in its changelog" in result.stdout, result.stdout
    # The changelog named the changed projects: the simple index was not read,
    # nor any unchanged project, and only the new files were downloaded.
    paths = [request.path for request in seen]
    assert ("POST", "/pypi") in [(request.method, request.path) for request in seen]
    changed = {"iniconfig", "nest-demo", "brand-new", "six", "python-dateutil"}
    assert {path for path in paths if path.startswith("/simple/")} == {f"/simple/{name}/" for name in changed}
    downloads = sorted(request.filename for request in seen if request.path.startswith("/packages/"))
    assert downloads == sorted(path.name for path in extra_files["later"])
    update(index_mirror, upstream, "--no-xmlrpc")
    expected = snapshot(upstream)
    assert snapshot(mirror) == expected
    assert snapshot(index_mirror) == expected
    assert "python-dateutil" not in expected["pages"]

    # Nothing changed since: one XML-RPC call, nothing else.
    mark = upstream.log_mark()
    result = update(mirror, upstream)
    assert "Added 0 file(s)" in result.stdout
    assert [(request.method, request.path) for request in upstream.settled_requests(mark)] == [("POST", "/pypi")]
