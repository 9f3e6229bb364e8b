"""Faults of the upstream, injected by the fake index: retried, reported, never stored."""

from __future__ import annotations

import hashlib
import re
import time
import xmlrpc.client

import pytest

from pythonnest.core.exceptions import UpstreamUnavailable
from pythonnest.core.models import File, Upstream, UpstreamProject
from pythonnest.sync import client as client_module
from pythonnest.sync import plan as plan_module
from pythonnest.sync.client import ClientSettings, UpstreamClient
from tests.support.builders import build_wheel
from tests.sync.conftest import filenames
from tests.sync.fake_index import FakeIndex

pytestmark = pytest.mark.django_db(transaction=True)

WHEEL = "alpha-1.1-py3-none-any.whl"


def blobs(store) -> set[str]:
    return {path.name for path in store.root.rglob("*") if path.is_file() and ".incoming" not in path.parts}


@pytest.mark.parametrize("kind", ["corrupt", "truncate", "500", "503"])
def test_a_fault_once_is_retried(catalog, update, distributions, kind):
    catalog.fault(WHEEL, kind)
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert filenames() == sorted(distributions)
    assert catalog.count(f"/files/{WHEEL}") == 2


@pytest.mark.parametrize("kind", ["corrupt", "truncate", "503"])
def test_a_lasting_fault_is_reported_and_nothing_is_stored(catalog, update, store, kind):
    catalog.fault(WHEEL, kind, times=10)
    summary, events = update(catalog.url)
    assert summary.failed
    assert len(summary.failures) == 1 and WHEEL in summary.failures[0] and "after 3 attempts" in summary.failures[0]
    assert ("failed", summary.failures[0]) in events
    assert WHEEL not in filenames()
    assert blobs(store) == {sha for sha in File.objects.values_list("sha256", flat=True)} | {
        sha for sha in File.objects.values_list("metadata_sha256", flat=True) if sha
    }
    assert catalog.count(f"/files/{WHEEL}") == 3
    # The project's serial is not recorded: the next run fetches what is missing.
    assert not UpstreamProject.objects.filter(normalized_name="alpha").exists()
    assert UpstreamProject.objects.filter(normalized_name="beta").exists()
    catalog.faults.clear()
    catalog.requests.clear()
    summary, _ = update(catalog.url)
    assert not summary.failed and summary.files_added == 1
    assert [path for _, path in catalog.requests if path.startswith("/files/") and not path.endswith(".metadata")] == [
        f"/files/{WHEEL}"
    ]
    # Only the project that failed is looked at again, not every project.
    assert [path for _, path in catalog.requests if path.startswith(("/simple/", "/pypi/"))] == [
        "/simple/",
        "/simple/alpha/",
        "/pypi/alpha/json",
    ]


def test_a_slow_answer_times_out_and_is_retried(catalog, update, distributions):
    catalog.fault(WHEEL, "slow", seconds=2.5)
    started = time.monotonic()
    summary, _ = update(catalog.url, timeout=1.0)
    assert not summary.failed, summary.failures
    assert WHEEL in filenames()
    assert catalog.count(f"/files/{WHEEL}") == 2
    assert time.monotonic() - started < 20


def test_a_missing_file_is_a_failure_and_not_retried(catalog, update):
    catalog.fault(WHEEL, "404")
    summary, _ = update(catalog.url)
    assert summary.failed and "HTTP 404" in summary.failures[0]
    assert catalog.count(f"/files/{WHEEL}") == 1


def test_a_page_listed_but_missing_is_a_failure(catalog, update):
    catalog.fault("/simple/beta/", "404")
    summary, _ = update(catalog.url)
    assert summary.failed and "beta: listed in the index, but its page is missing" in summary.failures[0]
    assert not File.objects.filter(project__normalized_name="beta").exists()
    assert File.objects.filter(project__normalized_name="alpha").exists()


STALE_PAGES = pytest.mark.parametrize("page", ["/simple/beta/", "/pypi/beta/json"], ids=["simple", "json-api"])


@STALE_PAGES
def test_a_page_staler_than_the_index_is_fetched_again(catalog, update, page):
    catalog.fault(page, "stale")
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert catalog.count(page) == 2
    assert UpstreamProject.objects.get(normalized_name="beta").last_serial == catalog.projects["beta"].serial


@STALE_PAGES
def test_a_page_that_stays_stale_is_a_failure(catalog, update, page):
    catalog.fault(page, "stale", times=10)
    summary, _ = update(catalog.url)
    assert summary.failed and f"{page}: stale page" in summary.failures[0]
    assert not File.objects.filter(project__normalized_name="beta").exists()


def test_a_digest_the_bytes_do_not_have_is_never_stored(catalog, update, store):
    catalog.find_file(WHEEL).listed_sha256 = "0" * 64
    summary, _ = update(catalog.url)
    assert summary.failed and "does not match" in summary.failures[0]
    assert WHEEL not in filenames()
    assert not any(path.name.startswith("update-") for path in store.temporary_dir.iterdir())


def test_the_upstreams_md5_and_blake2b_are_taken_as_given(catalog, update):
    """Only sha256 and size are checked by default: an upstream's md5 is its own claim, as on PyPI's JSON API."""
    catalog.find_file(WHEEL).listed_md5 = "0" * 32
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    file = File.objects.get(filename=WHEEL)
    data = catalog.find_file(WHEEL).data
    assert file.md5 == "0" * 32
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert file.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()


def test_verify_all_digests_refuses_an_md5_the_bytes_do_not_have(catalog, update):
    catalog.find_file(WHEEL).listed_md5 = "0" * 32
    summary, _ = update(catalog.url, verify_all_digests=True)
    assert summary.failed and len(summary.failures) == 1
    assert WHEEL in summary.failures[0] and "md5" in summary.failures[0] and "does not match" in summary.failures[0]
    assert WHEEL not in filenames()
    # Every other file is there, each md5 computed from its bytes.
    for file in File.objects.all():
        assert file.md5 == hashlib.md5(catalog.find_file(file.filename).data).hexdigest()


def test_nocontinue_stops_at_the_first_failure(catalog, update, distributions):
    catalog.fault("/simple/alpha/", "503", times=10)
    summary, _ = update(catalog.url, nocontinue=True, workers=1)
    assert summary.failed and len(summary.failures) == 1
    assert File.objects.count() < len(distributions) - 5


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html>\n<html><body>Welcome to the proxy</body></html>\n", "text/html"),
        (xmlrpc.client.dumps(xmlrpc.client.Fault(1, "method not allowed"), methodresponse=True).encode(), "text/xml"),
        (FakeIndex.xmlrpc_body([["alpha", "1.2", 0, "new release", 99]])[:80], "text/xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><methodResponse>&a;</methodResponse>',
            "text/xml",
        ),
    ],
    ids=["not-xml", "fault", "cut-off", "dtd"],
)
def test_an_xmlrpc_answer_that_is_no_changelog_falls_back_to_the_index(catalog, update, tmp_path, body, content_type):
    """As for an upstream without XML-RPC: the simple index's serials say what changed."""
    catalog.xmlrpc = True
    update(catalog.url)
    catalog.add(build_wheel(tmp_path, "alpha", "1.2"))
    catalog.fault("/pypi", "body", times=10, body=body, content_type=content_type)
    catalog.requests.clear()
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert not summary.via_changelog
    assert "alpha-1.2-py3-none-any.whl" in filenames()
    # Asked once, not retried; then the index.
    assert catalog.requests[:2] == [("POST", "/pypi"), ("GET", "/simple/")]
    assert catalog.count("/pypi") == 1
    assert Upstream.objects.get().last_serial == catalog.serial


def test_an_xmlrpc_changelog_that_keeps_failing_falls_back_to_the_index(catalog, update, tmp_path):
    """PyPI sheds XML-RPC first when loaded: after the retries, the simple index says what changed."""
    catalog.xmlrpc = True
    update(catalog.url)
    catalog.add(build_wheel(tmp_path, "alpha", "1.2"))
    catalog.fault("/pypi", "503", times=10)
    catalog.requests.clear()
    summary, _ = update(catalog.url)
    assert not summary.failed, summary.failures
    assert not summary.via_changelog
    assert "alpha-1.2-py3-none-any.whl" in filenames()
    # Retried as any request is (retry=2 in these tests), then the index.
    assert catalog.count("/pypi") == 3
    assert catalog.requests[3] == ("GET", "/simple/")
    assert Upstream.objects.get().last_serial == catalog.serial


def test_a_page_that_breaks_the_reader_fails_that_project_only(catalog, update, distributions, monkeypatch, caplog):
    # A bug met on one page (the reader raises what it never should) is a
    # failure named for its project, with the traceback in the log; not a crash.
    real = plan_module.parse_project

    def parse_project(body, url, name, headers):
        if name == "beta":
            raise ZeroDivisionError("a bug")
        return real(body, url, name, headers)

    monkeypatch.setattr(plan_module, "parse_project", parse_project)
    summary, events = update(catalog.url)
    message = "beta: reading its pages failed unexpectedly (ZeroDivisionError: a bug); please report it"
    assert summary.failures == [message] and ("failed", message) in events
    assert "ZeroDivisionError" in caplog.text
    assert filenames() == sorted(name for name in distributions if not name.startswith("beta-"))
    # The run is not complete: the next one looks at beta again.
    assert Upstream.objects.get().last_serial is None


# -- how long the retries wait ------------------------------------------------------


@pytest.fixture
def waits(catalog, monkeypatch):
    """A client of the fake index, and the delays it sleeps between attempts (recorded, not slept)."""
    delays: list[float] = []
    with UpstreamClient(ClientSettings(timeout=3, retries=4, backoff=1.0)) as upstream:
        monkeypatch.setattr(upstream, "_sleep", delays.append)
        yield upstream, delays


def assert_near(delays: list[float], expected: list[float]) -> None:
    """Each delay is the one expected, give or take the 20% of jitter."""
    assert len(delays) == len(expected), delays
    for delay, wanted in zip(delays, expected, strict=True):
        assert wanted * 0.8 <= delay <= wanted * 1.2, (delays, expected)


def test_retries_back_off_exponentially(catalog, waits):
    upstream, delays = waits
    catalog.fault("/simple/", "500", times=3)
    upstream.get(catalog.url + "simple/")
    assert_near(delays, [1, 2, 4])


def test_the_backoff_is_capped(catalog, waits, monkeypatch):
    upstream, delays = waits
    monkeypatch.setattr(client_module, "MAX_BACKOFF", 3.0)
    catalog.fault("/simple/", "503", times=4)
    upstream.get(catalog.url + "simple/")
    assert_near(delays, [1, 2, 3, 3])


def test_a_429_is_retried_after_what_retry_after_asks(catalog, waits):
    upstream, delays = waits
    catalog.fault("/simple/", "429", retry_after="7")
    catalog.fault("/simple/", "429")
    catalog.fault("/simple/", "429", retry_after="0")
    upstream.get(catalog.url + "simple/")
    # Retry-After lengthens a wait, never shortens it; without it the backoff goes on.
    assert_near(delays, [7, 2, 4])
    assert catalog.count("/simple/") == 4


def test_a_retry_after_beyond_the_cap_waits_the_cap(catalog, waits):
    upstream, delays = waits
    catalog.fault("/simple/", "429", retry_after="86400")
    upstream.get(catalog.url + "simple/")
    assert_near(delays, [client_module.MAX_BACKOFF])


def test_a_429_that_lasts_is_unavailable_after_the_retries(catalog, waits):
    upstream, delays = waits
    catalog.fault("/simple/", "429", times=10, retry_after="2")
    with pytest.raises(UpstreamUnavailable, match=re.escape("simple/: HTTP 429 (after 5 attempts)")):
        upstream.get(catalog.url + "simple/")
    assert_near(delays, [2, 2, 4, 8])
