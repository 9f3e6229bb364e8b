"""The web UI's search: ranking, summaries, classifier filters, pages, visibility and bad input."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pythonnest.core.models import Project
from pythonnest.core.projects import set_project_private
from pythonnest.core.services import add_distribution_path
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db

RESULT = re.compile(r'<li>\s*<a class="result-name" href="/project/([^/]+)/">([^<]+)</a>')


@pytest.fixture
def add(store, tmp_path):
    def add_release(name: str, version: str = "1.0", *, classifiers=(), **options) -> None:
        headers = [f"Classifier: {classifier}" for classifier in classifiers]
        add_distribution_path(build_wheel(tmp_path, name, version, extra_headers=headers, **options), store=store)

    return add_release


def _search(client, **parameters):
    response = client.get("/search/?" + urlencode(parameters, doseq=True))
    assert response.status_code == 200
    return response.content.decode()


def _names(body: str) -> list[str]:
    return [normalized for normalized, _ in RESULT.findall(body)]


def test_exact_name_then_prefix_then_contains_then_summary(client, add):
    add("other", summary="Works with ALPHA channels")
    add("my-alpha", summary="unrelated")
    add("alphabet", summary="letters")
    add("Alpha_Tools", summary="tools")
    add("alpha", summary="the one")
    add("beta", summary="nothing to see")
    body = _search(client, q="Alpha")
    assert _names(body) == ["alpha", "alpha-tools", "alphabet", "my-alpha", "other"]
    assert '<a class="result-name" href="/project/alpha-tools/">Alpha_Tools</a>' in body
    assert "5 projects found" in body
    assert "<title>Search results for “Alpha” · PythonNest</title>" in body
    assert 'id="header-q" type="search" name="q" value="Alpha"' in body


def test_the_query_is_normalized_for_names(client, add):
    add("foo-bar")
    add("foo-barista")
    assert _names(_search(client, q="Foo_Bar"))[0] == "foo-bar"
    assert _names(_search(client, q="foo.bar")) == ["foo-bar", "foo-barista"]


def test_a_summary_matches_when_it_has_every_word_in_any_case(client, add):
    add("parser-one", summary="A FAST Json PARSER")
    add("parser-two", summary="A fast thing")
    add("parser-three", summary="Slow parser")
    assert _names(_search(client, q="fast parser")) == ["parser-one"]
    assert _names(_search(client, q="PARSER")) == ["parser-one", "parser-three", "parser-two"]


def test_each_result_shows_the_latest_version_and_its_summary(client, add):
    add("demo", "1.0", summary="old words")
    add("demo", "2.0", summary="new words")
    add("demo", "3.0a1", summary="prerelease words")
    body = _search(client, q="demo")
    assert re.search(
        r'class="result-name" href="/project/demo/">demo</a>\s*<span class="result-version">2\.0</span>', body
    )
    assert '<p class="result-summary">new words</p>' in body
    assert "old words" not in body and "prerelease words" not in body


def test_results_are_paginated_keeping_the_ranking(client, add):
    add("other-project", summary="Zeta support")
    add("my-zeta")
    for number in range(21):
        add(f"zeta-{number:02d}")
    add("zeta")
    first = _search(client, q="zeta")
    assert "24 projects found" in first
    assert _names(first) == ["zeta"] + [f"zeta-{number:02d}" for number in range(19)]
    assert "Page 1 of 2" in first
    assert '<a rel="next" href="?q=zeta&amp;page=2">' in first
    assert 'rel="prev"' not in first
    second = _search(client, q="zeta", page=2)
    assert _names(second) == ["zeta-19", "zeta-20", "my-zeta", "other-project"]
    assert "Page 2 of 2" in second
    assert '<a rel="prev" href="?q=zeta&amp;page=1">' in second
    assert 'rel="next"' not in second


def test_a_single_page_has_no_pagination(client, add):
    add("solo")
    body = _search(client, q="solo")
    assert "1 project found" in body
    assert 'class="pagination"' not in body


def test_no_results(client, add):
    add("demo")
    body = _search(client, q="nothing-like-it")
    assert "0 projects found" in body
    assert '<p class="no-results">' in body
    assert '<ul class="results">' not in body


def test_an_empty_search_asks_for_a_query(client, add):
    add("demo")
    body = _search(client, q="  ")
    assert "Type a project name" in body
    assert _names(body) == []


# -- classifiers -------------------------------------------------------------------


@pytest.fixture
def classified(add):
    add("django-thing", classifiers=["Framework :: Django", "Programming Language :: Python :: 3"])
    add("flask-thing", classifiers=["Framework :: Flask", "Programming Language :: Python :: 3"])
    add("old-thing", "1.0", classifiers=["Programming Language :: Python :: 2"])
    add("old-thing", "2.0", classifiers=["Programming Language :: Python :: 3"])


def test_a_classifier_filters_without_a_query(client, classified):
    body = _search(client, c="Programming Language :: Python :: 3")
    assert _names(body) == ["django-thing", "flask-thing", "old-thing"]
    assert "<title>Projects by classifier · PythonNest</title>" in body
    assert '<input type="hidden" name="c" value="Programming Language :: Python :: 3">' in body


def test_classifiers_combine_with_and(client, classified):
    body = _search(client, c=["Programming Language :: Python :: 3", "Framework :: Django"])
    assert _names(body) == ["django-thing"]
    # Each filter can be taken off alone.
    assert 'href="/search/?c=Framework+%3A%3A+Django"' in body
    assert 'href="/search/?c=Programming+Language+%3A%3A+Python+%3A%3A+3"' in body


def test_a_classifier_combines_with_a_query(client, classified):
    assert _names(_search(client, q="thing", c="Framework :: Flask")) == ["flask-thing"]
    assert _names(_search(client, q="django", c="Framework :: Flask")) == []


def test_a_classifier_must_match_whole(client, classified):
    assert _names(_search(client, c="Framework")) == []
    assert _names(_search(client, c="Programming Language :: Python")) == []


@pytest.mark.parametrize("classifier", ["Natural Language :: Français", 'Private :: Say "hi" \\ now'])
def test_a_classifier_with_unusual_characters_is_found(client, add, classifier):
    add("unusual", classifiers=[classifier])
    add("usual", classifiers=["Natural Language :: French"])
    assert _names(_search(client, c=classifier)) == ["unusual"]


def test_the_classifiers_page_links_give_the_same_projects(client, classified):
    page = client.get("/classifiers/").content.decode()
    link = re.search(r'<a href="(/search/\?c=Framework%20%3A%3A%20Django)">', page).group(1)
    assert _names(client.get(link).content.decode()) == ["django-thing"]


# -- visibility ----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "sees"), [("anonymous", False), ("outsider", False), ("member", True)])
def test_private_projects_are_found_only_by_their_group(client, add, django_user_model, who, sees):
    add("pn-secret", summary="hidden", classifiers=["Topic :: Secret"])
    add("pn-public", summary="hidden too", classifiers=["Topic :: Secret"])
    team = Group.objects.create(name="team")
    set_project_private(Project.objects.get(normalized_name="pn-secret"), team, source="test")
    if who != "anonymous":
        user = django_user_model.objects.create_user(who, password="a-long-test-password")
        if who == "member":
            user.groups.add(team)
        client.force_login(user)
    expected = ["pn-public", "pn-secret"] if sees else ["pn-public"]
    assert sorted(_names(_search(client, q="pn"))) == expected
    assert sorted(_names(_search(client, q="hidden"))) == expected
    assert sorted(_names(_search(client, c="Topic :: Secret"))) == expected
    assert _names(_search(client, q="pn-secret")) == (["pn-secret"] if sees else [])
    assert ('<span class="badge private">' in _search(client, q="pn-secret")) is sees


# -- cost and bad input -----------------------------------------------------------------


def _queries(client, **parameters) -> int:
    with CaptureQueriesContext(connection) as context:
        _search(client, **parameters)
    return len(context.captured_queries)


def test_queries_do_not_grow_with_the_results(client, add):
    for number in range(3):
        add(f"grow-{number}", "1.0")
        add(f"grow-{number}", "2.0")
    few = _queries(client, q="grow")
    for number in range(3, 25):
        add(f"grow-{number}", "1.0")
        add(f"grow-{number}", "2.0")
    assert _queries(client, q="grow") == few
    assert _queries(client, q="grow", page=2) == few


@pytest.mark.parametrize("page", ["abc", "", "1.5", "1e3", "one"])
def test_a_page_that_is_not_a_number_is_the_first(client, add, page):
    add("demo")
    assert _names(_search(client, q="demo", page=page)) == ["demo"]


@pytest.mark.parametrize("page", ["0", "-1", "2", "99999", "9" * 40])
def test_a_page_beyond_the_results_is_404(client, add, page):
    add("demo")
    response = client.get("/search/?" + urlencode({"q": "demo", "page": page}))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "parameters",
    [
        {"q": "x" * 1000},
        {"q": "word " * 300},
        {"q": "a\x00b"},
        {"q": "%_\\'\"<script>"},
        {"q": "ünïcödé 漢字"},
        {"c": ["Framework :: Django"] * 50 + [f"Topic :: {number}" for number in range(50)]},
        {"c": "\x00"},
        {"c": 'He said "hi" \\ :: ünï'},
    ],
)
def test_odd_input_is_answered(client, add, parameters):
    add("demo")
    body = _search(client, **parameters)
    assert "<script>" not in body.split("<main", 1)[1]
