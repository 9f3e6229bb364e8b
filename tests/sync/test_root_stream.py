"""The simple index's root, read a piece at a time into a scratch database.

PyPI's root lists about 930,000 projects. These tests pin that reading it in
pieces gives what reading it whole gave (whatever falls on a piece's edge),
that what is malformed is still refused, and that the memory Python holds
while reading does not grow with the number of projects.
"""

from __future__ import annotations

import gc
import io
import json
import tracemalloc

import pytest

from pythonnest.core.exceptions import InvalidUpstream
from pythonnest.sync import pages
from pythonnest.sync.pages import parse_root
from pythonnest.sync.scratch import ScratchIndex

JSON = {"content-type": "application/vnd.pypi.simple.v1+json"}
HTML = {"content-type": "text/html"}


def _entries(count: int) -> list[dict]:
    # Serials of every length, so that numbers fall on the pieces' edges; names with
    # escapes and characters of several UTF-8 bytes (refused as names, so in "meta").
    return [{"name": f"Project_{number}", "_last-serial": number * 7919} for number in range(count)]


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 4096])
def test_a_json_root_read_in_pieces_of_any_size_gives_the_same_projects(monkeypatch, piece):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", piece)
    document = {
        "meta": {"api-version": "1.1", "_last-serial": 991, "note": 'caf\u00e9 \u2603 \\ " \U0001f40d'},
        "projects": _entries(150) + [{"name": "zope.interface", "_last-serial": 12345678901234}],
    }
    for body in (json.dumps(document), json.dumps(document, indent=3), json.dumps(document, ensure_ascii=False)):
        root = parse_root(body.encode(), "https://i/simple/", JSON)
        assert root.serial == 991 and root.has_serials
        expected = {f"project-{n}": (f"Project_{n}", n * 7919) for n in range(150)}
        expected["zope-interface"] = ("zope.interface", 12345678901234)
        assert dict(root.projects.sorted_items()) == expected
        assert root.projects.max_serial() == 12345678901234


def test_a_json_root_with_the_projects_before_meta_and_keys_unknown(monkeypatch):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", 5)
    body = b'{"projects": [{"name": "Six", "_last-serial": 4}], "x-extra": [1, {"a": null}], "meta": {"api-version": "1.0"}}'
    root = parse_root(body, "https://i/simple/", {**JSON, "x-pypi-last-serial": "40"})
    assert root.serial == 40 and root.projects == {"six": ("Six", 4)}
    # The api-version is checked wherever meta comes.
    with pytest.raises(InvalidUpstream, match="not one this mirror reads"):
        parse_root(body.replace(b'"1.0"', b'"2.0"'), "https://i/simple/", JSON)


def test_an_empty_json_root_and_one_without_serials():
    root = parse_root(b'{"meta": {"api-version": "1.0"}, "projects": []}', "https://i/simple/", JSON)
    assert len(root.projects) == 0 and not root.has_serials and root.projects.max_serial() == 0
    root = parse_root(b'{"projects": [{"name": "a"}, {"name": "b", "_last-serial": 2}]}', "https://i/simple/", JSON)
    assert not root.has_serials and root.projects == {"a": ("a", None), "b": ("b", 2)}


def test_the_last_entry_of_a_name_counts_as_when_the_root_was_a_dictionary():
    body = json.dumps({"projects": [{"name": "Six", "_last-serial": 1}, {"name": "six", "_last-serial": 2}]})
    assert parse_root(body.encode(), "https://i/simple/", JSON).projects == {"six": ("six", 2)}


@pytest.mark.parametrize("piece", [1, 5, 29, 4096, 1 << 20])
def test_the_common_entry_shape_and_every_other_one_read_alike(monkeypatch, piece):
    """Entries of the common shape are read by one pattern; the others, and those cut by a piece, by the scanner."""
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", piece)
    body = (
        '{"projects": [{"name": "A.b_c", "_last-serial": 0}, {"_last-serial":7,"name":"z"},\n'
        ' {  "name" : "Six" ,\t"_last-serial" : 12345678901234567 } ,'
        '{"name": "Si\\u0078", "_last-serial": 8}, {"name": "nul", "_last-serial": null},'
        '{"name": "extra", "_last-serial": 3, "x": 1}, {"name": "A-B-C", "_last-serial": 9},'
        '{"name": "big", "_last-serial": 9223372036854775807}, {"name": "z", "_last-serial": "99"}]}'
    )
    expected = {}
    for entry in json.loads(body)["projects"]:
        serial = entry["_last-serial"]
        expected[pages.canonicalize_name(entry["name"])] = (entry["name"], None if serial is None else int(serial))
    root = parse_root(body.encode(), "https://i/simple/", JSON)
    assert dict(root.projects.sorted_items()) == expected
    # The last entry of a name counts, whichever way each was read: "A-B-C" replaced "A.b_c", "Six" replaced "Six".
    assert expected["a-b-c"] == ("A-B-C", 9) and expected["six"] == ("Six", 8)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"projects": [{"name": "a", "_last-serial": 012}]}', "malformed JSON"),
        ('{"projects": [{"name": "a", "_last-serial": \u0661}]}'.encode(), "malformed JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1},]}', "malformed JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1} {"name": "b", "_last-serial": 2}]}', "malformed JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1}}', "malformed JSON"),
        (b'{"projects": [{"name": "' + b"x" * 201 + b'", "_last-serial": 1}]}', "not a valid project name"),
        (b'{"projects": [{"name": "a-", "_last-serial": 1}]}', "not a valid project name"),
        (b'{"projects": [{"name": "a", "_last-serial": 9223372036854775808}]}', "not a serial"),
        (b'{"projects": [{"name": "a", "_last-serial": "99999999999999999999"}]}', "not a serial"),
        (b'{"projects": [{"name": "a", "_last-serial": 1e3}]}', "not a serial"),
    ],
)
@pytest.mark.parametrize("piece", [3, 4096])
def test_a_malformed_entry_of_nearly_the_common_shape_is_refused(monkeypatch, body, reason, piece):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", piece)
    with pytest.raises(InvalidUpstream, match=reason):
        parse_root(body, "https://i/simple/", JSON)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no list of projects"),
        (b"[]", "no list of projects"),
        (b"{}", "no list of projects"),
        (b'{"meta": {}}', "no list of projects"),
        (b'{"projects": {}}', "no list of projects"),
        (b'{"projects": [{"name": "a"}]', "malformed JSON"),
        (b'{"projects": [{"name": "a"}', "malformed JSON"),
        (b'{"projects": [{"name": "a"} {"name": "b"}]}', "malformed JSON"),
        (b'{"projects": [{"name": "a"}]} {}', "extra data"),
        (b'{"projects": [], "projects": []}', "two lists of projects"),
        (b'{"projects": ["six"]}', "not an object"),
        (b'{"projects": [{"name": "../x"}]}', "not a valid project name"),
        (b'{"projects": [{"name": "a", "_last-serial": -1}]}', "not a serial"),
        (b'{"projects": [{"name": "caf\xc3"}]}', "not UTF-8"),
        (b'{1: 2, "projects": []}', "malformed JSON"),
        (b'{"projects": [{"name": "a"},]}', "malformed JSON"),
    ],
)
def test_a_malformed_json_root_is_refused(monkeypatch, body, reason):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", 4)
    with pytest.raises(InvalidUpstream, match=reason):
        parse_root(body, "https://i/simple/", JSON)


@pytest.mark.parametrize("piece", [1, 3, 16, 4096])
def test_an_html_root_read_in_pieces_gives_the_same_projects(monkeypatch, piece):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", piece)
    links = "".join(f'<a href="project-{n}/">Project_{n}</a>\n' for n in range(60))
    body = f'<html><head><meta name="pypi:repository-version" content="1.0"></head><body>{links}</body></html>'
    root = parse_root(body.encode(), "http://i/simple/", HTML)
    assert not root.has_serials
    assert root.projects == {f"project-{n}": (f"Project_{n}", None) for n in range(60)}


def test_an_html_root_that_is_not_utf8_or_holds_nul_is_refused(monkeypatch):
    monkeypatch.setattr(pages, "ROOT_READ_SIZE", 3)
    with pytest.raises(InvalidUpstream, match="not UTF-8"):
        parse_root(b'<a href="a/">a</a><a href="b/">caf\xe9</a>', "http://i/simple/", HTML)
    with pytest.raises(InvalidUpstream, match="binary data"):
        parse_root(b'<a href="a/">a</a>\x00', "http://i/simple/", HTML)


def test_the_recorded_serials_and_the_candidates_live_beside_the_projects():
    with ScratchIndex() as scratch:
        body = json.dumps({"projects": [{"name": n, "_last-serial": s} for n, s in (("a", 1), ("b", 5), ("c", 9))]})
        parse_root(body.encode(), "https://i/simple/", JSON, scratch)
        scratch.add_recorded(iter([("b", 5), ("c", None), ("gone", 3), ("older", 2)]))
        assert list(scratch.projects_with_recorded()) == [("a", "a", 1, None), ("b", "b", 5, 5), ("c", "c", 9, None)]
        assert list(scratch.recorded_not_listed()) == ["gone", "older"]
        assert scratch.recorded.get("b") == 5 and scratch.recorded.get("a", "no") == "no" and "c" in scratch.recorded
        rows = scratch.set_candidates(iter([("c", "C", 9), ("a", "A", None)]))
        assert len(rows) == 2 and list(rows) == [("c", "C", 9), ("a", "A", None)]


def _traced_peak(projects: int) -> int:
    """The peak of memory Python allocates while reading a JSON root of ``projects`` entries from a file."""
    body = json.dumps({"meta": {"api-version": "1.1"}, "projects": _entries(projects)}).encode()
    stream = io.BytesIO(body)
    del body
    gc.collect()
    with ScratchIndex() as scratch:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            root = parse_root(stream, "https://i/simple/", JSON, scratch)
            peak = tracemalloc.get_traced_memory()[1] - start
        finally:
            tracemalloc.stop()
        assert len(root.projects) == projects
    return peak


def test_reading_a_root_takes_memory_that_does_not_grow_with_its_projects():
    # Both roots are several pieces long (2.3 and 9.4 MB).
    small, large = _traced_peak(50_000), _traced_peak(200_000)
    # Read whole, 200,000 entries took over 80 MB of Python objects; in pieces
    # the peak is a piece or two and a batch of rows, whatever the root's length.
    assert large < 1.25 * small + 1024 * 1024, (small, large)
    assert large < 12 * 1024 * 1024, large


@pytest.mark.parametrize("value", ["9223372036854775808", "\u0661\u0662", "-1", "1e3"])
def test_a_serial_header_out_of_range_or_not_ascii_digits_is_refused(value):
    with pytest.raises(InvalidUpstream, match="X-PyPI-Last-Serial .* is not a serial"):
        parse_root(b'{"projects": []}', "https://i/simple/", {**JSON, "x-pypi-last-serial": value})
