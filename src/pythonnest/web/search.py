"""The web UI's project search: names first, then summaries, filtered by classifiers.

The ranking is done by the database, so that a page costs the same few
queries however many projects match: the exact (PEP 503 normalized) name,
then names starting with the query, then names containing it, then projects
a release of which has every word of the query in its summary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlencode

from django.db.models import Case, Exists, OuterRef, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, Lower
from packaging.utils import canonicalize_name

from pythonnest.core.access import Viewer
from pythonnest.core.models import Project, Release
from pythonnest.core.queries import latest_release

PAGE_SIZE = 20
# Beyond these, a query is not a search any person makes; they only cost SQL.
MAX_WORDS = 10
MAX_CLASSIFIERS = 10
MAX_QUERY_LENGTH = 200

EXACT, PREFIX, CONTAINS, SUMMARY = range(4)


def clean_query(text: str) -> str:
    """The query as searched: trimmed, without NUL (which PostgreSQL refuses), at most MAX_QUERY_LENGTH long."""
    return " ".join(text.replace("\x00", "").split())[:MAX_QUERY_LENGTH]


def clean_classifiers(values: Sequence[str]) -> list[str]:
    """The distinct, non-empty classifiers asked for, in order, at most MAX_CLASSIFIERS."""
    cleaned = []
    for value in values:
        value = value.replace("\x00", "").strip()
        if value and value not in cleaned:
            cleaned.append(value)
    return cleaned[:MAX_CLASSIFIERS]


def filters(query: str, classifiers: Sequence[str]) -> list[dict]:
    """Each classifier filter, with the query string of the same search without it."""
    links = []
    for classifier in classifiers:
        others = [other for other in classifiers if other != classifier]
        parameters = ([("q", query)] if query else []) + [("c", other) for other in others]
        links.append({"classifier": classifier, "without": urlencode(parameters)})
    return links


def _summary_matches(words: list[str]) -> Exists:
    # Lowered on both sides: MySQL's binary collation makes icontains case-sensitive.
    condition = Q(project=OuterRef("pk"))
    for word in words:
        condition &= Q(search_summary__contains=word)
    releases = Release.objects.alias(search_summary=Lower("summary")).filter(condition)
    return Exists(releases)


def _has_classifier(classifier: str) -> Exists:
    # The JSON list is searched as text for the quoted string: JSON "contains"
    # is not available on sqlite. Both spellings of a non-ASCII classifier,
    # since backends store JSON escaped or not.
    quoted = {json.dumps(classifier), json.dumps(classifier, ensure_ascii=False)}
    condition = Q()
    for text in quoted:
        condition |= Q(search_classifiers__contains=text)
    releases = Release.objects.alias(search_classifiers=Cast("classifiers", TextField()))
    return Exists(releases.filter(condition, project=OuterRef("pk")))


def ranked_projects(query: str, classifiers: Sequence[str], viewer: Viewer) -> QuerySet | None:
    """Rows (id, name, normalized_name, private_group_id) of matching projects, best first.

    None when there is nothing to search for. ``query`` and ``classifiers``
    are expected cleaned (``clean_query``, ``clean_classifiers``).
    """
    if not query and not classifiers:
        return None
    projects = Project.objects.filter(viewer.visible())
    for classifier in classifiers:
        projects = projects.filter(_has_classifier(classifier))
    if query:
        fragment = canonicalize_name(query)
        words = query.lower().split()[:MAX_WORDS]
        projects = projects.filter(Q(normalized_name__contains=fragment) | _summary_matches(words))
        rank = Case(
            When(normalized_name=fragment, then=Value(EXACT)),
            When(normalized_name__startswith=fragment, then=Value(PREFIX)),
            When(normalized_name__contains=fragment, then=Value(CONTAINS)),
            default=Value(SUMMARY),
        )
    else:
        rank = Value(SUMMARY)
    projects = projects.annotate(search_rank=rank).order_by("search_rank", "normalized_name")
    return projects.values("id", "name", "normalized_name", "private_group_id")


def describe_hits(rows: Sequence[dict]) -> list[dict]:
    """The rows of one results page, each with the version and summary of its latest release; one query."""
    releases_by_project: dict[int, list[dict]] = {row["id"]: [] for row in rows}
    releases = Release.objects.filter(project_id__in=list(releases_by_project)).values(
        "project_id", "version", "yanked", "summary"
    )
    for release in releases:
        releases_by_project[release["project_id"]].append(release)
    hits = []
    for row in rows:
        latest = latest_release(releases_by_project[row["id"]])
        hits.append(
            {
                "name": row["name"],
                "normalized_name": row["normalized_name"],
                "private": row["private_group_id"] is not None,
                "version": latest["version"] if latest else "",
                "summary": latest["summary"] if latest else "",
            }
        )
    return hits
