"""Debian's chromium, driven by Playwright, for the web UI's end-to-end tests.

Playwright never downloads a browser here (no ``playwright install``): it
drives the chromium package of the machine, at ``/usr/bin/chromium``. When
that is missing, the browser tests are skipped with the reason on a
developer's machine, and fail under CI (``CI=true``) or with
``PYTHONNEST_TEST_REQUIRE_ALL=1``, as an unreachable database server does.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, LocatorAssertions, Page, PageAssertions

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    "install Debian's chromium: `apt-get install --no-install-recommends chromium` "
    "(Playwright is only the driver here: never run `playwright install`)"
)
# Playwright's default is 30 s per action; a page of this site that takes
# longer than this on 127.0.0.1 is a failure worth seeing early.
ACTION_TIMEOUT_MS = 15_000


def strict() -> bool:
    """True under CI or PYTHONNEST_TEST_REQUIRE_ALL=1, where a missing component fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("PYTHONNEST_TEST_REQUIRE_ALL") == "1"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed: `.venv/bin/pip install -e '.[test]'`"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: {INSTALL_HINT}"
    return None


def require_browser() -> None:
    """Skip the calling test when the browser is missing, or fail under CI.

    Raises pytest's Skipped or Failed exception.
    """
    reason = missing_browser()
    if reason is None:
        return
    if strict():
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests not run: {reason}")


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """A headless chromium from /usr/bin/chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def expect(actual: Locator | Page) -> LocatorAssertions | PageAssertions:
    """Playwright's retrying ``expect``, imported only when used, so that a machine without
    playwright collects the browser tests and skips them with the reason."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(actual)
