"""PyPI's XML-RPC API: each method, and every kind of bad call answered with a fault."""

from __future__ import annotations

import datetime
import hashlib
import time
import xmlrpc.client

import pytest
from django.db import transaction
from django.test import Client

from pythonnest.api.xmlrpc import MAX_REQUEST_SIZE, parse_call, xml_safe
from pythonnest.core import access
from pythonnest.core.exceptions import NotFound
from pythonnest.core.journal import Action, current_serial, record_event
from pythonnest.core.models import Project
from pythonnest.core.services import add_distribution_path, unyank_release, yank_release
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db

SIX_FILES = [
    "six-1.16.0-py2.py3-none-any.whl",
    "six-1.16.0.tar.gz",
    "six-1.17.0-py2.py3-none-any.whl",
    "six-1.17.0.tar.gz",
]
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>list_packages</methodName><params><param><value>&lol9;</value></param></params></methodCall>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE call [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>release_data</methodName><params><param><value>&secret;</value></param></params></methodCall>
"""


def post(client: Client, body: bytes, path: str = "/pypi", content_type: str = "text/xml"):
    response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return response


def call(client: Client, method: str, *params, path: str = "/pypi"):
    """The result of one call, as xmlrpc.client would return it; raises xmlrpc.client.Fault."""
    body = xmlrpc.client.dumps(params, method, allow_none=True).encode()
    (result,), _method = xmlrpc.client.loads(post(client, body, path).content, use_builtin_types=True)
    return result


def fault_of(client: Client, body: bytes) -> xmlrpc.client.Fault:
    with pytest.raises(xmlrpc.client.Fault) as raised:
        xmlrpc.client.loads(post(client, body).content)
    return raised.value


@pytest.fixture
def six(store, data_dir):
    for filename in SIX_FILES:
        add_distribution_path(data_dir / filename, store=store)
    return Project.objects.get(normalized_name="six")


@pytest.fixture
def catalog(six, store, data_dir, tmp_path):
    """six, python-dateutil and a project whose display name is not its normalized name."""
    add_distribution_path(data_dir / "python_dateutil-2.9.0.post0-py2.py3-none-any.whl", store=store)
    add_distribution_path(
        build_wheel(tmp_path, "Zope.Thing", "3.0", summary="A thing for Zope", extra_headers=["Author: Jim"]),
        store=store,
    )
    add_distribution_path(build_wheel(tmp_path, "Zope.Thing", "4.0b1", summary="Next thing"), store=store)


# The methods ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/pypi", "/pypi/"])
def test_list_packages_names_every_project(client, catalog, path):
    assert call(client, "list_packages", path=path) == ["python-dateutil", "six", "Zope.Thing"]


def test_list_packages_with_serial_maps_names_to_last_serials(client, catalog):
    assert call(client, "list_packages_with_serial") == {"six": 4, "python-dateutil": 5, "Zope.Thing": 7}


@pytest.mark.parametrize(
    ("name", "show_hidden", "expected"),
    [
        ("six", None, ["1.17.0"]),
        ("six", False, ["1.17.0"]),
        ("six", True, ["1.17.0", "1.16.0"]),
        ("Six", True, ["1.17.0", "1.16.0"]),
        ("zope.thing", None, ["3.0"]),
        ("zope-thing", True, ["4.0b1", "3.0"]),
        ("unknown", True, []),
        ("-invalid-", False, []),
    ],
)
def test_package_releases_lists_latest_or_all(client, catalog, name, show_hidden, expected):
    params = (name,) if show_hidden is None else (name, show_hidden)
    assert call(client, "package_releases", *params) == expected


def test_package_releases_shows_yanked_only_when_hidden_ones_are_asked_for(client, six):
    yank_release(six, "1.17.0", "bad", source="test")
    assert call(client, "package_releases", "six") == ["1.16.0"]
    assert call(client, "package_releases", "six", True) == ["1.17.0", "1.16.0"]
    yank_release(six, "1.16.0", "bad", source="test")
    assert call(client, "package_releases", "six") == []


def test_package_releases_accepts_an_int_flag_from_old_clients(client, six):
    assert call(client, "package_releases", "six", 1) == ["1.17.0", "1.16.0"]


def test_release_urls_lists_every_file(client, six, data_dir):
    urls = call(client, "release_urls", "six", "1.16.0")
    assert [entry["filename"] for entry in urls] == SIX_FILES[:2]
    for entry in urls:
        data = (data_dir / entry["filename"]).read_bytes()
        sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
        assert entry["digests"] == {"md5": md5, "sha256": sha256}
        assert (entry["md5_digest"], entry["sha256_digest"], entry["size"]) == (md5, sha256, len(data))
        assert entry["path"] == f"{sha256[:2]}/{sha256[2:4]}/{sha256[4:]}/{entry['filename']}"
        assert entry["url"] == f"http://testserver/packages/{entry['path']}"
        assert b"".join(client.get(entry["url"]).streaming_content) == data
        assert (entry["comment_text"], entry["downloads"], entry["has_sig"]) == ("", -1, False)
        assert entry["upload_time"] == entry["upload_time_iso_8601"]
        assert datetime.datetime.strptime(entry["upload_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert [(entry["packagetype"], entry["python_version"]) for entry in urls] == [
        ("bdist_wheel", "py2.py3"),
        ("sdist", "source"),
    ]


@pytest.mark.parametrize(("name", "version"), [("six", "9.9"), ("nothing", "1.0"), ("-bad-", "1.0")])
def test_release_urls_of_an_unknown_release_is_empty(client, six, name, version):
    assert call(client, "release_urls", name, version) == []


def test_release_data_describes_one_release(client, six):
    data = call(client, "release_data", "Six", "1.16.0")
    assert data["name"] == "six"
    assert data["version"] == "1.16.0"
    assert data["summary"] == "Python 2 and 3 compatibility utilities"
    assert data["author"] == "Benjamin Peterson"
    assert data["author_email"] == "benjamin@python.org"
    assert data["license"] == "MIT"
    assert data["home_page"] == "https://github.com/benjaminp/six"
    assert data["requires_python"] == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
    assert "Topic :: Utilities" in data["classifiers"]
    assert data["description"].startswith(".. image::")
    assert data["package_url"] == "http://testserver/project/six/"
    assert data["release_url"] == "http://testserver/project/six/1.16.0/"
    assert data["_pypi_ordering"] == 0
    assert call(client, "release_data", "six", "1.17.0")["_pypi_ordering"] == 1
    assert data["downloads"] == {"last_day": -1, "last_month": -1, "last_week": -1}
    for key in ["requires", "provides", "obsoletes", "requires_dist", "provides_dist", "obsoletes_dist"]:
        assert data[key] == [], key
    for key in ["stable_version", "bugtrack_url", "docs_url", "maintainer", "cheesecake_code_kwalitee_id"]:
        assert data[key] is None, key


def test_release_data_lists_project_urls_and_requirements(client, store, tmp_path):
    wheel = build_wheel(
        tmp_path,
        "linked",
        "1.0",
        requires_dist=["six>=1.0"],
        extra_headers=["Project-URL: Source, https://example.org/src", "Project-URL: Docs, https://example.org/doc"],
    )
    add_distribution_path(wheel, store=store)
    data = call(client, "release_data", "linked", "1.0")
    # Sorted: PostgreSQL's jsonb, where Release.project_urls lives, does not keep key order.
    assert sorted(data["project_url"]) == ["Docs, https://example.org/doc", "Source, https://example.org/src"]
    assert data["requires_dist"] == ["six>=1.0"]


def test_release_data_of_an_unknown_release_is_empty(client, six):
    assert call(client, "release_data", "six", "0.1") == {}
    assert call(client, "release_data", "nothing", "0.1") == {}


def test_roles_are_empty_until_roles_exist(client, six):
    assert call(client, "package_roles", "six") == []
    assert call(client, "package_roles", "-bad-") == []
    assert call(client, "user_packages", "benjamin") == []


def test_roles_are_listed_owners_first(client, catalog, django_user_model):
    benjamin, jason = (django_user_model.objects.create_user(name) for name in ("benjamin", "jason"))
    six, zope = Project.objects.get(normalized_name="six"), Project.objects.get(normalized_name="zope-thing")
    access.set_role(six, jason, "Maintainer")
    access.set_role(six, benjamin, "Owner")
    access.set_role(zope, jason, "Owner")
    assert call(client, "package_roles", "Six") == [["Owner", "benjamin"], ["Maintainer", "jason"]]
    assert call(client, "user_packages", "jason") == [["Owner", "Zope.Thing"], ["Maintainer", "six"]]
    assert call(client, "user_packages", "nobody") == []


def test_changelog_last_serial_is_the_journals(client, catalog):
    assert call(client, "changelog_last_serial") == current_serial() == 7


def test_changelog_last_serial_of_an_empty_catalog_is_zero(client):
    assert call(client, "changelog_last_serial") == 0


def test_changelog_since_serial_lists_each_change_in_order(client, catalog):
    before = int(time.time()) - 5
    rows = call(client, "changelog_since_serial", 3)
    assert [row[4] for row in rows] == [4, 5, 6, 7]
    assert [row[:2] + row[3:] for row in rows] == [
        ["six", "1.17.0", "add source file six-1.17.0.tar.gz", 4],
        ["python-dateutil", "2.9.0.post0", "add py2.py3 file python_dateutil-2.9.0.post0-py2.py3-none-any.whl", 5],
        ["Zope.Thing", "3.0", "add py3 file zope_thing-3.0-py3-none-any.whl", 6],
        ["Zope.Thing", "4.0b1", "add py3 file zope_thing-4.0b1-py3-none-any.whl", 7],
    ]
    assert all(before <= row[2] <= time.time() + 5 for row in rows)
    assert call(client, "changelog_since_serial", 7) == []


def test_changelog_names_a_removed_project_by_its_normalized_name(client, six):
    with transaction.atomic():
        record_event("gone-project", Action.REMOVE_PROJECT, source="test")
    with transaction.atomic():
        record_event(six, Action.YANK_RELEASE, source="test", version="1.16.0", data={"reason": "why"})
    rows = call(client, "changelog_since_serial", 4)
    assert [row[:2] + row[3:] for row in rows] == [
        ["gone-project", None, "remove project", 5],
        ["six", "1.16.0", "yank release: why", 6],
    ]


def test_yanking_and_unyanking_are_journaled_once_per_change(client, six):
    assert yank_release(six, "1.16", "insecure", source="test", submitted_by="admin") is not None
    assert yank_release(six, "1.16.0", "insecure", source="test") is None
    assert yank_release(six, "1.16.0", "really insecure", source="test") is not None
    assert unyank_release(six, "1.16.0", source="test") is not None
    assert unyank_release(six, "1.16.0", source="test") is None
    rows = call(client, "changelog_since_serial", 4)
    assert [row[:2] + row[3:] for row in rows] == [
        ["six", "1.16.0", "yank release: insecure", 5],
        ["six", "1.16.0", "yank release: really insecure", 6],
        ["six", "1.16.0", "unyank release", 7],
    ]
    assert call(client, "list_packages_with_serial") == {"six": 7}


def test_yanking_an_unknown_version_is_refused(six):
    with pytest.raises(NotFound, match="six has no release 9.9"):
        yank_release(six, "9.9", source="test")
    assert current_serial() == 4


def test_changelog_since_a_time_lists_later_changes(client, catalog):
    rows = call(client, "changelog", int(time.time()) - 600)
    assert len(rows) == 7 and all(len(row) == 4 for row in rows)
    assert rows[0] == ["six", "1.16.0", rows[0][2], "add py2.py3 file six-1.16.0-py2.py3-none-any.whl"]
    with_ids = call(client, "changelog", time.time() - 600, True)
    assert [row[4] for row in with_ids] == [1, 2, 3, 4, 5, 6, 7]
    assert [row[:4] for row in with_ids] == rows
    assert call(client, "changelog", int(time.time()) + 600) == []


@pytest.mark.parametrize(
    ("spec", "operator", "expected"),
    [
        ({"name": "six"}, "and", [("six", "1.17.0")]),
        ({"name": "ZOPE"}, "and", [("Zope.Thing", "3.0")]),
        ({"name": ["six", "dateutil"]}, "and", [("python-dateutil", "2.9.0.post0"), ("six", "1.17.0")]),
        ({"summary": "compatibility"}, "and", [("six", "1.17.0")]),
        ({"summary": "thing", "author": "jim"}, "and", [("Zope.Thing", "3.0")]),
        ({"name": "six", "author": "jim"}, "and", []),
        ({"name": "six", "author": "jim"}, "or", [("six", "1.17.0"), ("Zope.Thing", "3.0")]),
        ({"version": "1.16.0"}, "and", [("six", "1.16.0")]),
        ({"name": "zope", "version": ["3.0", "4.0b1"]}, "and", [("Zope.Thing", "3.0"), ("Zope.Thing", "4.0b1")]),
        ({"version": "1.16"}, "and", [("six", "1.16.0")]),
        ({"description": "IMG.SHIELDS.IO/PYPI/V/SIX"}, "and", [("six", "1.17.0")]),
        ({"license": "mit", "home_page": "benjaminp"}, "and", [("six", "1.17.0")]),
        ({"unknown_field": "six"}, "and", []),
        ({"name": ""}, "and", []),
        ({}, "or", []),
    ],
)
def test_search_finds_projects_by_their_metadata(client, catalog, spec, operator, expected):
    results = call(client, "search", spec, operator)
    assert [(result["name"], result["version"]) for result in results] == expected
    for result in results:
        assert set(result) == {"name", "version", "summary", "_pypi_ordering"}
        assert result["_pypi_ordering"] is False


def test_search_operator_defaults_to_and(client, catalog):
    results = call(client, "search", {"name": "zope"})
    assert results == [{"name": "Zope.Thing", "version": "3.0", "summary": "A thing for Zope", "_pypi_ordering": False}]


def test_search_reads_platforms(client, store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "penguin", "1.0", extra_headers=["Platform: Linux"]), store=store)
    assert [result["name"] for result in call(client, "search", {"platform": "linux"})] == ["penguin"]


def test_search_skips_yanked_releases_when_choosing_the_version(client, six):
    yank_release(six, "1.17.0", source="test")
    assert [result["version"] for result in call(client, "search", {"name": "six"})] == ["1.16.0"]


# Bad calls -------------------------------------------------------------------


def test_entity_bomb_is_refused_with_a_fault(client):
    fault = fault_of(client, BILLION_LAUGHS)
    assert fault.faultCode == -32700
    assert "DTD" in fault.faultString


def test_external_entity_is_refused_with_a_fault(client, six):
    response = post(client, EXTERNAL_ENTITY)
    assert b"root:" not in response.content
    with pytest.raises(xmlrpc.client.Fault) as raised:
        xmlrpc.client.loads(response.content)
    assert raised.value.faultCode == -32700
    assert "DTD" in raised.value.faultString


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"   ", -32700, "not well-formed XML"),
        (b"<methodCall><methodName>list_packages</methodName>", -32700, "not well-formed XML"),
        (b"this is not xml", -32700, "not well-formed XML"),
        (b"<methodResponse/>", -32600, "not an XML-RPC <methodCall>"),
        (b"<methodCall><params/></methodCall>", -32600, "has no <methodName>"),
        (b"<methodCall><methodName> </methodName></methodCall>", -32600, "has no <methodName>"),
        (
            b"<methodCall><methodName>changelog_since_serial</methodName><params>"
            b"<param><value><int>twelve</int></value></param></params></methodCall>",
            -32600,
            "<int>twelve</int> is not a valid int",
        ),
        (
            b"<methodCall><methodName>package_releases</methodName><params>"
            b"<param><value><string>six</string></value></param>"
            b"<param><value><boolean>yes</boolean></value></param></params></methodCall>",
            -32600,
            "not a valid boolean",
        ),
        (
            b"<methodCall><methodName>search</methodName><params>"
            b"<param><value><struct><member><name>name</name></member></struct></value></param>"
            b"</params></methodCall>",
            -32600,
            "needs a <name> and a <value>",
        ),
        (
            b"<methodCall><methodName>list_packages</methodName><params>"
            b"<param><value><complex>1+2j</complex></value></param></params></methodCall>",
            -32600,
            "<complex> is not an XML-RPC value type",
        ),
        (
            b"<methodCall><methodName>list_packages</methodName><params><param/></params></methodCall>",
            -32600,
            "exactly one <value>",
        ),
        (
            b"<methodCall><methodName>list_packages</methodName><params><param><value>"
            + b"<array><data><value>" * 40
            + b"x"
            + b"</value></data></array>" * 40
            + b"</value></param></params></methodCall>",
            -32600,
            "nest deeper than",
        ),
    ],
)
def test_malformed_requests_get_a_fault_that_says_why(client, body, code, message):
    fault = fault_of(client, body)
    assert fault.faultCode == code
    assert message in fault.faultString


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("no_such_method", (), "no method 'no_such_method'"),
        ("system.multicall", ([],), "no method 'system.multicall'"),
        ("list_packages", ("extra",), "list_packages() takes 0 argument(s), 1 given"),
        ("release_urls", ("six",), "release_urls(package_name, version) takes 2 argument(s), 1 given"),
        ("package_releases", (), "package_releases(package_name, show_hidden=False) takes 1 to 2 argument(s), 0 given"),
        ("package_releases", ("six", True, 3), "takes 1 to 2 argument(s), 3 given"),
        ("package_releases", (42,), "argument 'package_name' must be string, not int"),
        ("package_releases", ("six", "yes"), "argument 'show_hidden' must be boolean or int, not string"),
        ("release_data", ("six", 1.0), "argument 'version' must be string, not double"),
        ("changelog_since_serial", ("12",), "argument 'since_serial' must be int, not string"),
        ("changelog_since_serial", (True,), "argument 'since_serial' must be int, not boolean"),
        ("changelog_since_serial", (None,), "argument 'since_serial' must be int, not nil"),
        ("changelog", ("yesterday",), "argument 'since' must be int or double, not string"),
        ("changelog", (1e300,), "is not a Unix timestamp this server can read"),
        ("search", ("six",), "argument 'spec' must be struct, not string"),
        ("search", ({"name": 6},), "spec['name'] must be a string or an array of strings"),
        ("search", ({"name": ["six", 6]},), "spec['name'] must be a string or an array of strings"),
        ("search", ({"name": "six"}, "xor"), "operator must be 'and' or 'or', not 'xor'"),
        ("user_packages", ([],), "argument 'user' must be string, not array"),
    ],
)
def test_bad_calls_get_a_fault_that_says_why(client, method, params, message):
    with pytest.raises(xmlrpc.client.Fault) as raised:
        call(client, method, *params)
    assert raised.value.faultCode in (-32601, -32602)
    assert message in raised.value.faultString


def test_a_serial_beyond_64_bits_gets_a_fault(client):
    body = (
        b"<methodCall><methodName>changelog_since_serial</methodName>"
        b"<params><param><value><i8>9223372036854775808</i8></value></param></params></methodCall>"
    )
    fault = fault_of(client, body)
    assert fault.faultCode == -32602
    assert "9223372036854775808 is beyond any serial" in fault.faultString


def test_an_unknown_method_has_the_method_not_found_code(client):
    with pytest.raises(xmlrpc.client.Fault) as raised:
        call(client, "package_hosting_mode", "six")
    assert raised.value.faultCode == -32601
    assert "list_packages" in raised.value.faultString


def test_an_oversized_request_is_refused_with_413(client):
    body = b"<methodCall><methodName>list_packages</methodName>" + b" " * MAX_REQUEST_SIZE + b"</methodCall>"
    response = client.post("/pypi", data=body, content_type="text/xml")
    assert response.status_code == 413
    assert str(MAX_REQUEST_SIZE) in response.content.decode()


@pytest.mark.parametrize("path", ["/pypi", "/pypi/"])
def test_get_is_not_allowed(client, path):
    response = client.get(path)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "XML-RPC" in response.content.decode()


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain"])
def test_other_media_types_are_refused_with_415(client, content_type):
    response = client.post("/pypi", data=b"{}", content_type=content_type)
    assert response.status_code == 415
    assert content_type in response.content.decode()


def test_xml_with_a_charset_parameter_is_accepted(client, six):
    body = xmlrpc.client.dumps(("six",), "package_releases").encode()
    response = post(client, body, content_type="text/xml; charset=utf-8")
    assert xmlrpc.client.loads(response.content)[0] == (["1.17.0"],)


def test_csrf_protection_does_not_apply(six):
    strict = Client(enforce_csrf_checks=True)
    assert call(strict, "list_packages") == ["six"]


# The wire format -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(2**31),
        2**31 - 1,
        True,
        False,
        "",
        "text with <markup> & ünïcode",
        3.25,
        None,
        {"name": "six", "nested": {"list": [1, "two", None]}},
        [],
        [1, [2, [3]]],
    ],
)
def test_values_written_by_xmlrpc_client_read_back_the_same(value):
    body = xmlrpc.client.dumps((value,), "echo", allow_none=True).encode()
    assert parse_call(body) == ("echo", [value])


def test_binary_dates_and_extension_types_are_read():
    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    body = xmlrpc.client.dumps((xmlrpc.client.Binary(b"\x00\xff"), xmlrpc.client.DateTime(when)), "echo").encode()
    assert parse_call(body) == ("echo", [b"\x00\xff", when])
    extended = (
        b'<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><methodName>echo</methodName>'
        b"<params><param><value><ex:i8>9000000000</ex:i8></value></param>"
        b"<param><value><ex:nil/></value></param><param><value>untyped</value></param></params></methodCall>"
    )
    assert parse_call(extended) == ("echo", [9_000_000_000, None, "untyped"])


def test_answers_hold_only_what_xml_and_xmlrpc_can_carry():
    assert xml_safe({"summary": "bell\x07 and\x0b tab\t", "size": 5 * 2**30, "ok": [True, 7]}) == {
        "summary": "bell and tab\t",
        "size": float(5 * 2**30),
        "ok": [True, 7],
    }


def test_control_characters_in_metadata_do_not_break_the_answer(client, store, tmp_path):
    add_distribution_path(build_wheel(tmp_path, "noisy", "1.0", summary="bad\x1bchar"), store=store)
    assert call(client, "release_data", "noisy", "1.0")["summary"] == "badchar"
