"""Bad input: one clear line, a non-zero exit, and the catalog as it was."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pythonnest.core.exceptions import ConfigError, InvalidUpstream, UpstreamUnavailable
from pythonnest.core.models import File, JournalEntry, Project, Upstream, UpstreamProject
from pythonnest.sync import client as client_module
from pythonnest.sync.options import resolve_options
from tests.sync.conftest import catalog_state
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.django_db(transaction=True)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
MANAGE = str(Path(sys.executable).parent / "pythonnest-manage")


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_command(*args: str) -> str:
    """Run the command in this process; the CommandError's message is what the user reads."""
    with pytest.raises(CommandError) as raised:
        call_command("update", "--no-progress", "--retry", "1", "--retry-backoff", "0.01", "--timeout", "2", *args)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def assert_untouched() -> None:
    assert not Project.objects.exists() and not File.objects.exists() and not JournalEntry.objects.exists()


def test_an_unreachable_url(store):
    message = run_command("--url", f"http://127.0.0.1:{unused_port()}/")
    assert "cannot connect" in message and "/simple/" in message
    assert_untouched()


def test_a_url_that_is_not_an_index(fake_index, store):
    fake_index.fault("/simple/", "404")
    message = run_command("--url", fake_index.url)
    assert message.endswith("not a package index (HTTP 404)")
    assert_untouched()


def test_a_url_ending_in_pypi_names_both_places_it_looked(fake_index, store):
    fake_index.fault("/simple/", "404")
    message = run_command("--url", fake_index.url + "pypi")
    assert message == (
        f"{fake_index.url}simple/: not a package index (HTTP 404), nor is {fake_index.url}pypi/simple/ (HTTP 404)"
    )
    assert_untouched()
    assert not Upstream.objects.exists()


def test_a_url_that_is_not_http(store):
    assert "not an http:// or https:// URL" in run_command("--url", "ftp://127.0.0.1/simple/")


@pytest.mark.parametrize(
    ("path", "body", "content_type", "reason"),
    [
        ("/simple/", b'{"projects": [', JSON_V1, "malformed JSON"),
        ("/simple/", b'{"meta": {}, "items": []}', JSON_V1, "not a PEP 691 index"),
        ("/simple/", b"\xff\xfe<html>", "text/html", "malformed HTML"),
        ("/simple/", b"PK\x03\x04", "application/zip", "not a package index"),
        (
            "/simple/",
            json.dumps({"projects": [{"name": "../etc", "_last-serial": 1}]}).encode(),
            JSON_V1,
            "'../etc' is not a valid project name",
        ),
        (
            "/simple/",
            json.dumps({"meta": {"api-version": "2.0"}, "projects": []}).encode(),
            JSON_V1,
            "simple API version 2.0",
        ),
        ("/simple/beta/", b"{not json", JSON_V1, "malformed JSON"),
        ("/simple/beta/", b'<html><a href="x.whl">x.whl</a><a>no link</a></html>', "text/html", "has no href"),
        (
            "/simple/beta/",
            json.dumps(
                {"name": "beta", "files": [{"filename": "../../evil-1.0.tar.gz", "url": "x", "hashes": {}}]}
            ).encode(),
            JSON_V1,
            "is not a plain file name",
        ),
        (
            "/simple/beta/",
            json.dumps(
                {"name": "beta", "files": [{"filename": "beta-1.0.tar.gz", "url": "file:///etc/passwd", "hashes": {}}]}
            ).encode(),
            JSON_V1,
            "is not an http(s) URL",
        ),
        (
            "/simple/beta/",
            json.dumps(
                {"name": "beta", "files": [{"filename": "beta-1.0.tar.gz", "url": "b.tgz", "hashes": {"sha256": "zz"}}]}
            ).encode(),
            JSON_V1,
            "is not a hex digest",
        ),
        ("/simple/beta/", json.dumps({"name": "alpha", "files": []}).encode(), JSON_V1, "the page is for 'alpha'"),
        (
            "/simple/beta/",
            json.dumps(
                {"name": "beta", "files": [{"filename": "beta-1.0.tar.gz", "url": "http://[oops/b.tgz", "hashes": {}}]}
            ).encode(),
            JSON_V1,
            "beta-1.0.tar.gz: 'http://[oops/b.tgz' is not a URL",
        ),
        (
            "/simple/beta/",
            json.dumps(
                {"name": "beta", "files": [{"filename": "beta-1.0.tar.gz", "url": "http://h:port/b.tgz", "hashes": {}}]}
            ).encode(),
            JSON_V1,
            "beta-1.0.tar.gz: 'http://h:port/b.tgz' is not a URL",
        ),
        (
            "/simple/beta/",
            b'<html><a href="http://[zz]/beta-1.0.tar.gz">beta-1.0.tar.gz</a></html>',
            "text/html",
            "'http://[zz]/beta-1.0.tar.gz' is not a URL",
        ),
        ("/simple/beta/", b'<html><a href="http://[oops/x.whl">x</a></html>', "text/html", "is not a URL"),
        ("/simple/", b'<html><a href="http://[oops/beta/">beta</a></html>', "text/html", "is not a URL"),
        # A web site's home page, answering for /simple/ as a catch-all server does.
        (
            "/simple/",
            b"<!DOCTYPE html><html><body><h1>Welcome</h1><a href='/'>Home</a> <a href='/about'>About</a></body></html>",
            "text/html",
            "not a package index: the link 'Home' to '/'",
        ),
    ],
)
def test_malformed_or_unsafe_upstream_data_changes_nothing(catalog, update, store, path, body, content_type, reason):
    catalog.fault(path, "body", times=10, body=body, content_type=content_type)
    with pytest.raises(InvalidUpstream, match=re.escape(reason)):
        update(catalog.url)
    assert_untouched()
    assert not UpstreamProject.objects.exists()
    # The command says it in one line.
    catalog.fault(path, "body", times=10, body=body, content_type=content_type)
    assert reason in run_command("--url", catalog.url)


def _xmlrpc_run_changes_nothing(catalog, update, answer, reason: str) -> list[tuple[str, str]]:
    """After a first run, the changelog answers ``answer(recorded serial)``: refused, with the catalog as it was.

    Returns the requests of the refused run.
    """
    catalog.xmlrpc = True
    update(catalog.url)
    before, recorded = catalog_state(), catalog.serial
    # A change upstream, which a sound changelog would name.
    catalog.yank("beta-0.1.tar.gz", "broken")
    body = FakeIndex.xmlrpc_body(answer(recorded))
    catalog.fault("/pypi", "body", times=10, body=body, content_type="text/xml")
    catalog.requests.clear()
    with pytest.raises(InvalidUpstream, match=re.escape(reason)):
        update(catalog.url)
    assert catalog_state() == before and Upstream.objects.get().last_serial == recorded
    # Nothing was planned: no page was read.
    requests = list(catalog.requests)
    assert [request for request in requests if request[0] == "GET"] == []
    # The command says it in one line.
    assert reason in run_command("--url", catalog.url)
    return requests


def _row(name: object, serial: object) -> list:
    return [name, "0.1", 1700000000, "yank release", serial]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (lambda since: {"serial": since + 1}, "changelog_since_serial did not answer a list"),
        (lambda since: "nothing", "changelog_since_serial did not answer a list"),
        (lambda since: [_row("beta", since + 1), "beta"], "malformed changelog entry beta"),
        (lambda since: [_row("beta", since + 1), ["beta", since + 1]], "malformed changelog entry ['beta',"),
        (lambda since: [_row("beta", str(since + 1))], "malformed changelog entry ['beta',"),
        (lambda since: [_row("beta", since + 1.0)], "malformed changelog entry ['beta',"),
        # XML-RPC's boolean is no serial, though Python's bool is an int.
        (lambda since: [_row("beta", since + 1), _row("alpha", True)], "malformed changelog entry ['alpha',"),
        # xmlrpc.client writes no integer past 32 bits, but reads an <i8> of any size.
        (
            lambda since: (
                b"<?xml version='1.0'?><methodResponse><params><param><value><array><data>"
                b"<value><array><data><value><string>beta</string></value><value><string>0.1</string></value>"
                b"<value><int>1700000000</int></value><value><string>yank release</string></value>"
                b"<value><i8>9223372036854775808</i8></value></data></array></value>"
                b"</data></array></value></param></params></methodResponse>"
            ),
            "malformed changelog entry ['beta',",
        ),
        (lambda since: [_row(42, since + 1)], "'42' is not a valid project name"),
        (lambda since: [_row("../etc", since + 1)], "'../etc' is not a valid project name"),
    ],
    ids=[
        "struct",
        "string",
        "row-not-a-list",
        "row-too-short",
        "serial-text",
        "serial-double",
        "serial-bool",
        "serial-beyond-64-bits",
        "name-int",
        "name-unsafe",
    ],
)
def test_a_malformed_xmlrpc_changelog_changes_nothing(catalog, update, store, answer, reason):
    _xmlrpc_run_changes_nothing(catalog, update, answer, reason)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        # An upstream that ignores ``since``: the same rows again, none past the serial asked for.
        (lambda since: [_row("alpha", serial) for serial in range(1, since + 1)], "does not advance past serial"),
        # Rows behind the serial asked for (a stale cache, a rebuilt upstream).
        (lambda since: [_row("beta", since - 3), _row("alpha", since - 1)], "does not advance past serial"),
        # The serial asked for itself, again.
        (lambda since: [_row("beta", since)], "does not advance past serial"),
    ],
    ids=["ignores-since", "behind", "repeats"],
)
def test_an_xmlrpc_changelog_that_does_not_advance_changes_nothing(catalog, update, store, answer, reason):
    _xmlrpc_run_changes_nothing(catalog, update, answer, reason)


def test_an_xmlrpc_changelog_that_advances_once_then_repeats_itself_changes_nothing(catalog, update, store):
    # The answer is the same whatever ``since`` is: the second call, past the serial of the yank
    # the helper makes upstream, gets it again.
    requests = _xmlrpc_run_changes_nothing(
        catalog, update, lambda since: [_row("beta", since + 1)], f"does not advance past serial {catalog.serial + 1}"
    )
    assert requests == [("POST", "/pypi"), ("POST", "/pypi")]


def test_a_filename_escaping_in_html_changes_nothing(fake_index, update):
    fake_index.json_pages = False
    fake_index.add_raw("alpha", "..%2F..%2Fevil-1.0.tar.gz", b"x")
    fake_index.projects["alpha"].files["../evil-1.0.tar.gz"] = fake_index.projects["alpha"].files.pop(
        "..%2F..%2Fevil-1.0.tar.gz"
    )
    fake_index.projects["alpha"].files["../evil-1.0.tar.gz"].filename = "../evil-1.0.tar.gz"
    with pytest.raises(InvalidUpstream, match="not a plain file name"):
        update(fake_index.url)
    assert_untouched()


def test_an_unreachable_upstream_in_process(update):
    with pytest.raises(UpstreamUnavailable):
        update(f"http://127.0.0.1:{unused_port()}/")


@pytest.mark.parametrize(
    ("section", "flags", "message"),
    [
        (
            {"ALLOW_REGEX": "django-(["},
            {},
            "[update] allow_regex = 'django-([' has 'django-([', which is not a regular expression",
        ),
        (
            {},
            {"block_regex": ["(unclosed"]},
            "--block-regex '(unclosed' has '(unclosed', which is not a regular expression",
        ),
        ({"LATEST": "many"}, {}, "[update] latest = 'many' is not a whole number"),
        ({"ALLOW": "ok not/ok"}, {}, "'not/ok', which is not a valid project name"),
        ({"PLATFORM": "manylinux;rm"}, {}, "is not a tag pattern"),
        ({"PACKAGE_TYPES": "eggs"}, {}, "must be sdist, wheel or both"),
        ({"MAX_FILE_SIZE": "big"}, {}, "is not a size"),
        ({"WORKERS": "0"}, {}, "must be at least 1"),
        ({"NO_SUCH_KEY": "1"}, {}, "unknown key no_such_key in [update]"),
        ({"URL": "pypi.org"}, {}, "is not an http:// or https:// URL"),
    ],
)
def test_a_bad_option_names_its_key_and_file(tmp_path, section, flags, message):
    config = tmp_path / "pythonnest.ini"
    with pytest.raises(ConfigError) as raised:
        resolve_options(section, config, flags)
    assert message in str(raised.value)
    if section:
        assert str(raised.value).startswith(f"{config}: ")


def test_a_bad_filter_on_the_command_line(store):
    message = run_command("--url", "http://127.0.0.1:1/", "--allow-regex", "([")
    assert "--allow-regex '([' has '([', which is not a regular expression" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alpha >= 1.0\nbeta[ >= 1.0\n", ":2: 'beta[ >= 1.0' is not a PEP 508 requirement"),
        ("-e ./src\n", "an editable requirement"),
        ("alpha @ https://example.invalid/alpha.whl\n", "names a URL"),
        ("--frobnicate\n", "unknown option '--frobnicate'"),
        ("-r missing.txt\n", "cannot read the requirements file"),
    ],
)
def test_an_unparsable_requirements_file(catalog, update, tmp_path, store, text, message):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(text)
    error = run_command("--url", catalog.url, "--requirements", str(requirements))
    assert message in error
    assert catalog.requests == []
    assert_untouched()


def test_the_console_script_exits_non_zero_with_one_line_on_stderr(tmp_path):
    """What an operator's shell and cron see, through the real ``pythonnest-manage`` in its own instance."""
    config = tmp_path / "pythonnest.ini"
    config.write_text(f"[pythonnest]\nROOT_PATH = {tmp_path / 'data'}\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONNEST_CONFIG=str(config))
    subprocess.run([MANAGE, "syncdb", "--noinput"], env=env, check=True, capture_output=True)
    quick = ["--no-progress", "--retry", "1", "--retry-backoff", "0.01", "--timeout", "2"]
    url = f"http://127.0.0.1:{unused_port()}/"
    cases = [
        # Exit codes as docs/commands.md gives them: 1 for an upstream that fails, 2 for a bad option.
        ([*quick, "--url", url], 1, f"{url}simple/: cannot connect"),
        ([*quick, "--url", url, "--allow-regex", "(["], 2, "--allow-regex '([' has '([', which is not a regular"),
    ]
    for args, code, message in cases:
        result = subprocess.run([MANAGE, "update", *args], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == code, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_an_xmlrpc_answer_larger_than_the_limit_changes_nothing(catalog, update, store, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_XMLRPC_SIZE", 300)
    _xmlrpc_run_changes_nothing(
        catalog,
        update,
        lambda since: [_row("beta", since + 1 + n) for n in range(20)],
        "/pypi: the answer is larger than 300 bytes",
    )
