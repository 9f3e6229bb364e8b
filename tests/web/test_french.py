"""The French translation of the web UI: complete, compiled, and served by the real pages."""

from __future__ import annotations

import ast
import gettext as python_gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation

import pythonnest
from pythonnest.core import access
from pythonnest.core.models import Project
from pythonnest.core.services import add_distribution_path, yank_release
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db

PACKAGE = Path(pythonnest.__file__).resolve().parent
PO = PACKAGE / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PASSWORD = "a-long-test-password"
NBSP = "\u00a0"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
HTML_LANG = re.compile(r'<html lang="([^"]+)">')

# Text of each page in each language, as the browser receives it.
HOME = {"en": "Find, install and publish Python packages", "fr": "Trouvez, installez et publiez des paquets Python"}
SEARCH = {"en": "1 project found", "fr": "1 projet trouvé"}
LOGIN = {"en": "Accounts on this index are made by its administrators.", "fr": "Les comptes de cet index sont créés"}


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def _parse_po(path: Path) -> list[Entry]:
    """Every entry of a .po file, the header included (its msgid is empty)."""
    entries, entry, keyword = [], Entry(), None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if keyword is not None:
                entries.append(entry)
            entry, keyword = Entry(), None
        elif line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(entry, keyword, ast.literal_eval(line))
        else:
            keyword, _, text = line.partition(" ")
            _append(entry, keyword, ast.literal_eval(text))
    return entries


def _append(entry: Entry, keyword: str, text: str) -> None:
    if keyword == "msgid":
        entry.msgid += text
    elif keyword == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif keyword == "msgstr":
        entry.msgstr[0] = entry.msgstr.get(0, "") + text
    else:
        index = int(re.fullmatch(r"msgstr\[(\d)\]", keyword).group(1))
        entry.msgstr[index] = entry.msgstr.get(index, "") + text


@pytest.fixture(scope="module")
def po_entries() -> list[Entry]:
    return [entry for entry in _parse_po(PO) if entry.msgid]


def _translated(entry: Entry, gettext, ngettext) -> dict[int, str]:
    """What a catalog answers for ``entry``: 1 picks French form 0, 2 picks form 1."""
    if entry.msgid_plural is None:
        return {0: gettext(entry.msgid)}
    return {0: ngettext(entry.msgid, entry.msgid_plural, 1), 1: ngettext(entry.msgid, entry.msgid_plural, 2)}


@pytest.fixture
def catalog(store, tmp_path, django_user_model) -> Project:
    """pn-demo 1.0 (yanked) and 2.0, owned by alice."""
    for version in ("1.0", "2.0"):
        add_distribution_path(build_wheel(tmp_path / "dist", "pn-demo", version, summary="A demo"), store=store)
    project = Project.objects.get(normalized_name="pn-demo")
    yank_release(project, "1.0", "broken", source="test")
    alice = django_user_model.objects.create_user("alice", password=PASSWORD)
    access.set_role(project, alice, access.OWNER)
    return project


def _page(client: Client, url: str, **headers) -> tuple[str, str]:
    """The language of the page (``<html lang>``) and its text."""
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    body = response.content.decode()
    return HTML_LANG.search(body).group(1), body


# -- the catalog ----------------------------------------------------------------


def test_the_catalog_is_for_french_plurals():
    header = next(entry for entry in _parse_po(PO) if not entry.msgid)
    assert "fuzzy" not in header.flags
    assert "Language: fr\n" in header.msgstr[0]
    assert "Plural-Forms: nplurals=2; plural=(n > 1);\n" in header.msgstr[0]


def test_every_entry_is_translated_and_not_fuzzy(po_entries):
    assert len(po_entries) > 150
    untranslated = [entry.msgid for entry in po_entries if not all(entry.msgstr.values())]
    fuzzy = [entry.msgid for entry in po_entries if "fuzzy" in entry.flags]
    assert (untranslated, fuzzy) == ([], [])
    plurals = [entry for entry in po_entries if entry.msgid_plural is not None]
    assert plurals and all(sorted(entry.msgstr) == [0, 1] for entry in plurals)


def test_every_translation_keeps_the_placeholders(po_entries):
    wrong = []
    for entry in po_entries:
        expected = sorted(PLACEHOLDER.findall(entry.msgid_plural or entry.msgid))
        for text in entry.msgstr.values():
            if sorted(PLACEHOLDER.findall(text)) != expected:
                wrong.append((entry.msgid, text))
    assert wrong == []


def test_the_compiled_catalog_is_in_step_with_the_po(po_entries):
    with MO.open("rb") as handle:
        compiled = python_gettext.GNUTranslations(handle)
    stale = [
        entry.msgid for entry in po_entries if _translated(entry, compiled.gettext, compiled.ngettext) != entry.msgstr
    ]
    assert stale == [], "run django-admin compilemessages in src/pythonnest"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="makemessages needs GNU gettext's xgettext")
def test_the_catalog_has_every_marked_string_of_the_code(po_entries, tmp_path, monkeypatch, settings):
    copy = tmp_path / "pythonnest"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "static"))
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)
    settings.LOCALE_PATHS = []
    call_command(
        "makemessages",
        locale=["fr"],
        extensions=["html", "py"],
        ignore_patterns=["management/*", "migrations/*"],
        verbosity=0,
    )
    marked = {entry.msgid for entry in _parse_po(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po")}
    assert marked - {""} == {entry.msgid for entry in po_entries}


def test_django_serves_every_entry_of_the_catalog(po_entries):
    # LOCALE_PATHS puts our catalog before django.contrib.admin's, which says "Modification" for "Change".
    with translation.override("fr"):
        served = {entry.msgid: _translated(entry, translation.gettext, translation.ngettext) for entry in po_entries}
    assert {entry.msgid: served[entry.msgid] for entry in po_entries if served[entry.msgid] != entry.msgstr} == {}


# -- the pages ------------------------------------------------------------------


@pytest.mark.parametrize("accept_language", ["fr", "fr-FR,fr;q=0.9,en;q=0.8", "fr-CA", "de, fr;q=0.5"])
def test_a_french_browser_gets_french_pages(client, catalog, accept_language):
    for url, text in [("/", HOME["fr"]), ("/search/?q=demo", SEARCH["fr"]), ("/account/login/", LOGIN["fr"])]:
        language, body = _page(client, url, accept_language=accept_language)
        assert (language, text in body) == ("fr", True), url
    assert HOME["en"] not in _page(client, "/", accept_language=accept_language)[1]


def test_a_french_page_says_so_to_caches(client, catalog):
    response = client.get("/", headers={"accept-language": "fr"})
    assert response["Content-Language"] == "fr"
    assert "accept-language" in response["Vary"].lower()


def test_an_english_browser_gets_english_pages(client, catalog):
    for url, text in [("/", HOME["en"]), ("/search/?q=demo", SEARCH["en"]), ("/account/login/", LOGIN["en"])]:
        language, body = _page(client, url, accept_language="en-US,en;q=0.9,fr;q=0.8")
        assert (language, text in body) == ("en", True), url


def test_french_pages_use_french_words_and_plurals(client, catalog):
    home = _page(client, "/", accept_language="fr")[1]
    # French puts 0 and 1 in the singular.
    assert re.search(r"<strong>1</strong> projet\b", home) and re.search(r"<strong>2</strong> versions\b", home)
    assert "Rechercher des projets" in home and ">Nouveautés</a>" in home and ">Connexion</a>" in home
    search = _page(client, "/search/?q=demo", accept_language="fr")[1]
    assert f"Résultats de la recherche «{NBSP}demo{NBSP}»" in search
    release = _page(client, "/project/pn-demo/1.0/", accept_language="fr")[1]
    assert "Cette version a été retirée (yanked)." in release and "Historique des versions" in release
    assert "Propriétaires" in release and "Fichiers de la version 1.0" in release


def test_messages_of_the_views_are_french(client, catalog):
    response = client.get("/project/no-such-project/", headers={"accept-language": "fr"})
    assert response.status_code == 404
    assert f"Il n’existe aucun projet nommé «{NBSP}no-such-project{NBSP}»." in response.content.decode()
    response = client.post(
        "/account/login/", {"username": "alice", "password": "wrong"}, headers={"accept-language": "fr"}
    )
    assert "Nom d’utilisateur ou mot de passe incorrect." in response.content.decode()


def test_the_account_area_is_french(client, catalog):
    client.login(username="alice", password=PASSWORD)
    page = _page(client, "/manage/project/pn-demo/", accept_language="fr")[1]
    assert "<h1>Gérer pn-demo</h1>" in page and "<td>Propriétaire</td>" in page
    assert '<option value="Maintainer">Mainteneur</option>' in page and "Supprimer le projet" in page
    response = client.post(
        "/manage/project/pn-demo/release/2.0/",
        {"action": "yank", "reason": ""},
        headers={"accept-language": "fr"},
        follow=True,
    )
    assert "pn-demo 2.0 est retirée." in response.content.decode()


@pytest.mark.parametrize(("language_code", "expected"), [("fr", "fr"), ("fr-fr", "fr"), ("en", "en"), ("en-us", "en")])
def test_language_code_picks_the_default_language(client, catalog, settings, language_code, expected):
    settings.LANGUAGE_CODE = language_code
    for url in ("/", "/search/?q=demo", "/account/login/"):
        assert _page(client, url)[0] == expected, url
    assert HOME[expected] in _page(client, "/")[1]
    assert SEARCH[expected] in _page(client, "/search/?q=demo")[1]
    # A browser's own preference still wins over the default.
    other = "en" if expected == "fr" else "fr"
    assert _page(client, "/", accept_language=other)[0] == other


def test_the_footer_switches_the_language(catalog):
    client = Client(enforce_csrf_checks=True)
    language, page = _page(client, "/recent/", accept_language="en")
    assert language == "en"
    forms = re.findall(r'<form [^>]*action="([^"]+)" method="post">(.*?)</form>', page, re.S)
    form = next(form for form in forms if 'name="language"' in form[1])
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form[1]))
    assert set(fields) == {"csrfmiddlewaretoken", "next"}
    assert re.findall(r'<option value="(\w+)"', form[1]) == ["en", "fr"]
    response = client.post(form[0], {**fields, "language": "fr"}, headers={"accept-language": "en"})
    assert (response.status_code, response["Location"]) == (302, "/recent/")
    assert response.cookies["django_language"].value == "fr"
    # The choice outlives the browser's preference, on every page.
    language, page = _page(client, "/recent/", accept_language="en")
    assert (language, "Versions récentes" in page) == ("fr", True)
    assert '<option value="fr" lang="fr" selected>Français</option>' in page
    assert _page(client, "/account/login/", accept_language="en")[0] == "fr"
    client.post(form[0], {**fields, "language": "en"})
    assert _page(client, "/recent/", accept_language="fr")[0] == "en"
