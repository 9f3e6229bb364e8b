"""The manifest's header and canonical lines (docs/bundle-format.md)."""

from __future__ import annotations

import json

import pytest

from pythonnest.bundles import format
from pythonnest.bundles.format import Header, check_tag, dumps, loads
from pythonnest.core.exceptions import BundleError

SOURCE = "a1214ab9-18ff-486c-8c89-34f2c36cf63b"


def header(**changes) -> dict:
    value = Header(SOURCE, "offline", 120, 245, "2026-11-27T03:58:43.817525+00:00", None).to_json()
    value.update(changes)
    return value


def test_header_round_trips():
    original = Header(SOURCE, "lab.2", 3, 9, "2026-11-27T03:58:43+00:00", {"projects": ["six"], "requirements": []})
    assert Header.from_json(json.loads(dumps(original.to_json()))) == original


def test_header_line_is_the_one_the_specification_shows():
    line = dumps(header())
    assert line == (
        b'{"created":"2026-11-27T03:58:43.817525+00:00","format":"pythonnest-bundle","format_version":1,'
        b'"selection":null,"serial_from":120,"serial_to":245,"source_instance":"' + SOURCE.encode() + b'",'
        b'"tag":"offline","type":"header"}\n'
    )


def test_dumps_is_canonical_whatever_the_key_order():
    assert dumps({"b": 1, "a": [2, {"d": 3, "c": "é"}]}) == dumps({"a": [2, {"c": "é", "d": 3}], "b": 1})
    assert dumps({"a": "é"}) == '{"a":"é"}\n'.encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "project"}, "not a PythonNest bundle header"),
        ({"format": "bandersnatch-diff"}, "not a PythonNest bundle header"),
        ({"format_version": 2}, "format version 2 is not supported (this PythonNest reads 1)"),
        ({"format_version": "1"}, "format version '1' is not supported"),
        ({"format_version": None}, "format version None is not supported"),
        ({"serial_from": "3"}, "malformed header"),
        ({"serial_to": 2.5}, "malformed header"),
        ({"serial_to": True}, "malformed header"),
        ({"serial_from": 10, "serial_to": 9}, "bad serial range (10, 9]"),
        ({"serial_from": -1}, "bad serial range (-1, 245]"),
        ({"tag": "../etc"}, "bad tag '../etc'"),
        ({"tag": ""}, "bad tag ''"),
        ({"tag": "x" * 101}, "bad tag"),
        ({"tag": "offline\n"}, "bad tag"),
        # SyncState.peer_instance holds the source's UUID in 36 characters.
        ({"source_instance": "lab"}, "source_instance 'lab' is not a UUID in canonical form"),
        ({"source_instance": SOURCE.upper()}, "is not a UUID in canonical form"),
        ({"source_instance": SOURCE.replace("-", "")}, "is not a UUID in canonical form"),
        ({"source_instance": f"urn:uuid:{SOURCE}"}, "is not a UUID in canonical form"),
        ({"source_instance": ["a list"]}, "source_instance list is not a UUID"),
        ({"created": "yesterday"}, "'yesterday' is not an ISO 8601 time"),
        ({"created": 1700000000}, "the time is int, not text"),
        ({"created": "2026-11-27T03:58:43"}, "has no UTC offset"),
        ({"created": "9999-12-31T23:59:59-01:00"}, "is out of range in UTC"),
    ],
)
def test_bad_headers_are_refused_with_a_reason(changes, message):
    with pytest.raises(BundleError, match="^manifest: ") as caught:
        Header.from_json(header(**changes))
    assert message in str(caught.value)


@pytest.mark.parametrize("missing", ["source_instance", "tag", "serial_from", "serial_to", "created"])
def test_a_header_without_a_field_is_malformed(missing):
    value = header()
    del value[missing]
    with pytest.raises(BundleError, match=f"malformed header.*{missing}"):
        Header.from_json(value)


def test_an_empty_range_is_a_valid_header():
    assert Header.from_json(header(serial_from=7, serial_to=7)).serial_to == 7


@pytest.mark.parametrize("tag", ["default", "offline-lab", "a", "A.b_c-9", "x" * 100])
def test_good_tags(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-lead", ".hidden", "a/b", "a b", "é", "x" * 101, "../x", "a\nb", "offline\n"])
def test_bad_tags_name_the_rule(tag):
    with pytest.raises(BundleError, match="must be letters, digits"):
        check_tag(tag)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "a JSON object was expected"),
        # json.loads raises ValueError and RecursionError for these, not JSONDecodeError.
        (b'{"serial_to":' + b"7" * 5000 + b"}", r"not valid JSON \(a number of more than 4300 digits\)"),
        (b"[" * 100_000, r"not valid JSON \(arrays or objects nested more than 16 deep\)"),
        (b'{"a":' + b"[" * 16 + b"]" * 16 + b"}", r"not valid JSON \(arrays or objects nested more than 16 deep\)"),
    ],
)
def test_loads_names_the_line(line, message):
    with pytest.raises(BundleError, match=f"^manifest line 4: {message}"):
        loads(line, "manifest line 4")


def test_a_manifest_line_as_deep_as_allowed_is_read():
    assert loads(b'{"a":' + b"[" * 15 + b"]" * 15 + b"}", "manifest line 4") == {"a": json.loads(b"[" * 15 + b"]" * 15)}


def test_a_time_is_read_with_its_offset():
    moment = format.check_time("0001-01-01T00:30:00-01:00")
    assert moment.year == 1 and moment.utcoffset().total_seconds() == -3600


def test_signed_message_names_the_format_and_the_digest():
    assert format.signed_message("ab" * 32) == b"pythonnest-bundle-v1 manifest sha256=" + b"ab" * 32
