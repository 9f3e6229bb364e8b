"""Reading upstream pages and URLs: the formats, pinned."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from pythonnest.core.exceptions import InvalidUpstream
from pythonnest.sync.pages import parse_json_api, parse_project, parse_root
from pythonnest.sync.plan import index_urls, redact

JSON = {"content-type": "application/vnd.pypi.simple.v1+json"}
HTML = {"content-type": "text/html; charset=utf-8"}
SHA = "a" * 64


@pytest.mark.parametrize(
    ("url", "simple", "base", "xmlrpc"),
    [
        ("https://pypi.org", "https://pypi.org/simple/", "https://pypi.org/", "https://pypi.org/pypi"),
        ("https://pypi.org/simple/", "https://pypi.org/simple/", "https://pypi.org/", "https://pypi.org/pypi"),
        ("https://pypi.org/simple", "https://pypi.org/simple/", "https://pypi.org/", "https://pypi.org/pypi"),
        (
            "https://pypi.python.org/pypi",
            "https://pypi.python.org/simple/",
            "https://pypi.python.org/",
            "https://pypi.python.org/pypi",
        ),
        (
            "http://nest:8000/mirror/",
            "http://nest:8000/mirror/simple/",
            "http://nest:8000/mirror/",
            "http://nest:8000/mirror/pypi",
        ),
        (
            "http://devpi/root/pypi/+simple/",
            "http://devpi/root/pypi/+simple/",
            "http://devpi/root/pypi/",
            "http://devpi/root/pypi/pypi",
        ),
    ],
)
def test_the_url_forms_update_accepts(url, simple, base, xmlrpc):
    urls = index_urls(url)
    assert (urls.simple, urls.base, urls.xmlrpc) == (simple, base, xmlrpc)
    assert urls.project("six") == simple + "six/"


def test_a_url_ending_in_pypi_may_also_be_a_base_url():
    # Artifactory's repository named "pypi": …/api/pypi/pypi is its base URL, not an XML-RPC one.
    urls = index_urls("https://u:p@art.example/artifactory/api/pypi/pypi/")
    assert urls.simple == "https://art.example/artifactory/api/pypi/simple/"
    other = urls.as_base
    assert (other.simple, other.base, other.xmlrpc) == (
        "https://art.example/artifactory/api/pypi/pypi/simple/",
        "https://art.example/artifactory/api/pypi/pypi/",
        "https://art.example/artifactory/api/pypi/pypi/pypi",
    )
    assert other.credentials == urls.credentials == ("u", "p") and other.as_base is None
    assert index_urls("https://pypi.org/").as_base is None and index_urls("https://pypi.org/simple/").as_base is None


def test_credentials_are_taken_out_of_the_url():
    urls = index_urls("https://mirror%20bot:s%40cret:x@artifactory.example:8443/api/pypi/pypi/simple/")
    assert urls.credentials == ("mirror bot", "s@cret:x")
    assert urls.simple == "https://artifactory.example:8443/api/pypi/pypi/simple/"
    assert "cret" not in urls.base + urls.xmlrpc
    assert index_urls("https://token@host/simple/").credentials == ("token", "")
    assert index_urls("https://host/simple/").credentials is None


def test_a_password_is_never_shown():
    assert redact("https://bot:s3cret@host/simple/") == "https://bot:***@host/simple/"
    assert redact("https://host/simple/") == "https://host/simple/"
    with pytest.raises(InvalidUpstream) as error:
        index_urls("ftp://bot:s3cret@host/simple/")
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize("url", ["ftp://host/simple/", "pypi.org/simple/", "https:///simple", "https://h/simple/?x=1"])
def test_urls_that_are_not_an_index(url):
    with pytest.raises(InvalidUpstream):
        index_urls(url)


@pytest.mark.parametrize("url", ["http://[::1/", "http://host:port/simple/", "https://u:p@[::1/simple/"])
def test_urls_that_do_not_parse_are_one_clear_error(url):
    # A ValueError traceback from urllib before.
    with pytest.raises(InvalidUpstream, match="not a URL") as caught:
        index_urls(url)
    assert "u:p" not in str(caught.value)


def test_a_json_root_with_serials():
    body = json.dumps(
        {
            "meta": {"api-version": "1.1", "_last-serial": 9},
            "projects": [{"name": "Six", "_last-serial": 4}, {"name": "zope.interface", "_last-serial": 9}],
        }
    )
    root = parse_root(body.encode(), "https://i/simple/", JSON)
    assert root.serial == 9 and root.has_serials
    assert root.projects == {"six": ("Six", 4), "zope-interface": ("zope.interface", 9)}


def test_an_html_root_without_serials():
    body = b'<html><body><a href="/simple/six/">six</a><a href="Foo_Bar/">Foo_Bar</a></body></html>'
    root = parse_root(body, "http://i/simple/", HTML)
    assert not root.has_serials and root.projects == {"six": ("six", None), "foo-bar": ("Foo_Bar", None)}


@pytest.mark.parametrize(
    "body",
    [
        b'<a href="/simple/six/">six</a><a>no link</a>',
        b'<a href="">six</a>',
        b'<a href="/simple/six/">six</a><a name="x">x</a>',
    ],
)
def test_an_html_root_link_without_href_is_refused(body):
    with pytest.raises(InvalidUpstream, match="has no href"):
        parse_root(body, "http://i/simple/", HTML)


def test_an_html_root_keeps_the_text_of_each_link_with_entities_and_inner_tags():
    body = (
        b'<a href="a-b-c/"> A&amp;B_c </a><a href="zope-interface/"><b>Zope</b>.Interface</a>'
        b'<meta name="x" content="y">'
    )
    with pytest.raises(InvalidUpstream, match=re.escape("not a package index: the link 'A&B_c' to 'a-b-c/'")):
        parse_root(body, "http://i/simple/", HTML)
    root = parse_root(body.replace(b"&amp;", b"-"), "http://i/simple/", HTML)
    assert root.projects == {"a-b-c": ("A-B_c", None), "zope-interface": ("Zope.Interface", None)}


@pytest.mark.parametrize(
    "links",
    [
        # PyPI, and PythonNest: the normalized name under the root, the text as uploaded.
        '<a href="/simple/zope-interface/">Zope.Interface</a><a href="/simple/six/">six</a>',
        # pypiserver: relative, the name as the files give it.
        '<a href="Zope.Interface/">Zope.Interface</a><br><a href="six/">six</a><br>',
        # devpi: under +simple; absolute URLs, and a link without its final slash.
        '<a href="http://i/root/pypi/+simple/zope-interface/">Zope.Interface</a><a href="six">six</a>',
        # A static host's index.html, and a name quoted in the URL.
        '<a href="zope_interface/index.html">Zope.Interface</a><a href="%73ix/">six</a>',
    ],
)
def test_the_root_links_real_indexes_write(links):
    body = f"<!DOCTYPE html><html><body><h1>Simple index</h1>{links}</body></html>".encode()
    root = parse_root(body, "http://i/simple/", HTML)
    assert dict(root.projects) == {"zope-interface": ("Zope.Interface", None), "six": ("six", None)}


@pytest.mark.parametrize(
    ("body", "link"),
    [
        # pypiserver's welcome page, as a catch-all server might answer /simple/ with it.
        (
            b"<html><body><h1>Welcome to pypiserver!</h1><p>The complete list of all packages can be found "
            b'<a href="/packages/">here</a> or via the <a href="/simple/">simple</a> index.</p></body></html>',
            "'here' to '/packages/'",
        ),
        (b'<a href="/simple/six/">six</a><a href="/login/">Log in</a>', "'Log in' to '/login/'"),
        (b'<a href="/simple/six/">six</a><a href="/">Home</a>', "'Home' to '/'"),
        (b'<a href="/simple/six/">six</a><a href="#top">top</a>', "'top' to '#top'"),
        (b'<a href="/simple/six/">six</a><a href="/simple/seven/">six</a>', "'six' to '/simple/seven/'"),
    ],
)
def test_a_root_whose_links_are_not_projects_is_not_an_index(body, link):
    with pytest.raises(InvalidUpstream, match=re.escape(f"http://i/simple/: not a package index: the link {link}")):
        parse_root(body, "http://i/simple/", HTML)


def test_a_root_without_links_is_an_empty_index():
    # A new index holds no projects yet: not an error (a mirror that had some refuses it, see test_runner).
    root = parse_root(b"<!DOCTYPE html><html><body><h1>Simple index</h1></body></html>", "http://i/simple/", HTML)
    assert len(root.projects) == 0


def test_a_json_root_is_read_entry_by_entry_with_the_same_result():
    entries = [{"name": f"Project_{number}", "_last-serial": number} for number in range(1000)]
    body = json.dumps({"meta": {"api-version": "1.0"}, "projects": entries}).encode()
    root = parse_root(body, "https://i/simple/", JSON)
    # Kept on disk, and listed by name.
    assert list(root.projects) == sorted(f"project-{number}" for number in range(1000))
    assert len(root.projects) == 1000 and "project-999" in root.projects and "project-1000" not in root.projects
    assert root.projects["project-7"] == ("Project_7", 7) and root.has_serials


def test_a_json_project_page():
    body = json.dumps(
        {
            "meta": {"api-version": "1.1", "_last-serial": 7},
            "name": "six",
            "versions": ["1.0"],
            "files": [
                {
                    "filename": "six-1.0.tar.gz",
                    "url": "../../packages/aa/six-1.0.tar.gz",
                    "hashes": {"sha256": SHA.upper(), "whatever": "x"},
                    "requires-python": ">=3",
                    "yanked": "bad",
                    "size": 10,
                    "upload-time": "2024-01-02T03:04:05.000006Z",
                    "core-metadata": {"sha256": SHA},
                }
            ],
        }
    )
    page = parse_project(body.encode(), "https://i/simple/six/", "six", {**JSON, "x-pypi-last-serial": "8"})
    file = page.files[0]
    assert page.serial == 8 and page.versions == ("1.0",)
    assert file.url == "https://i/packages/aa/six-1.0.tar.gz" and file.sha256 == SHA
    assert (file.yanked, file.yanked_reason, file.size, file.requires_python) == (True, "bad", 10, ">=3")
    assert file.upload_time == datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)
    assert file.metadata_sha256 == SHA


def test_a_json_project_page_whose_serial_is_text():
    # As pypi.org's project pages send it: {"meta": {"_last-serial": "41170495"}}.
    body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": "41170495"}, "name": "idna", "files": []})
    page = parse_project(body.encode(), "https://i/simple/idna/", "idna", JSON)
    assert page.serial == 41170495


@pytest.mark.parametrize("serial", ["", "-1", "12a", " 12", "٣", True, -1, 1.5, [1]])
def test_a_serial_that_is_no_serial_is_refused(serial):
    body = json.dumps({"meta": {"api-version": "1.1", "_last-serial": serial}, "name": "idna", "files": []})
    with pytest.raises(InvalidUpstream, match="is not a serial"):
        parse_project(body.encode(), "https://i/simple/idna/", "idna", JSON)


def test_an_html_project_page():
    body = (
        f'<a href="../../p/six-1.0-py3-none-any.whl#sha256={SHA}" data-requires-python="&gt;=3"'
        f' data-dist-info-metadata="sha256={SHA}" data-yanked="">six-1.0-py3-none-any.whl</a>'
        '<a href="https://files/six-1.0.tar.gz#md5=' + "b" * 32 + '">six-1.0.tar.gz</a>'
    ).encode()
    page = parse_project(body, "https://i/simple/six/", "six", HTML)
    wheel, sdist = page.files
    assert wheel.url == "https://i/p/six-1.0-py3-none-any.whl" and wheel.sha256 == SHA
    assert wheel.requires_python == ">=3" and wheel.yanked and wheel.yanked_reason == ""
    assert wheel.metadata_sha256 == SHA
    assert sdist.hashes == {"md5": "b" * 32} and sdist.sha256 is None and not sdist.yanked


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"name": "six", "files": [{"filename": "a/b.whl", "url": "x"}]}, "not a plain file name"),
        ({"name": "six", "files": [{"filename": ".hidden.whl", "url": "x"}]}, "not a plain file name"),
        ({"name": "six", "files": [{"filename": "six.whl", "url": "javascript:alert(1)"}]}, "not an http(s) URL"),
        ({"name": "six", "files": [{"filename": "six.whl", "url": "x", "size": -1}]}, "not a number of bytes"),
        ({"name": "six", "files": [{"filename": "six.whl", "url": "x", "yanked": 3}]}, "yanked must be"),
        ({"name": "six", "files": [{"filename": "six.whl", "url": "x", "upload-time": "soon"}]}, "not an ISO 8601"),
        ({"name": "six", "files": "none"}, "no list of files"),
        ({"name": "six", "files": [], "versions": "1.0"}, "versions must be a list"),
    ],
)
def test_bad_project_pages(body, reason):
    with pytest.raises(InvalidUpstream, match=re.escape(reason)):
        parse_project(json.dumps(body).encode(), "https://i/simple/six/", "six", JSON)


def test_the_json_api_gives_digests_and_times():
    body = json.dumps(
        {
            "info": {"name": "Six"},
            "last_serial": 3,
            "releases": {
                "1.0": [
                    {
                        "filename": "six-1.0.tar.gz",
                        "digests": {"md5": "c" * 32, "sha256": SHA},
                        "upload_time_iso_8601": "2024-01-01T00:00:00Z",
                    }
                ]
            },
        }
    )
    document = parse_json_api(body.encode(), "https://i/pypi/six/json", "six", {})
    assert document.display_name == "Six" and document.serial == 3
    assert document.files["six-1.0.tar.gz"]["hashes"] == {"md5": "c" * 32, "sha256": SHA}
