"""Fixtures shared by every test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.cache import cache

from pythonnest.storage.local import LocalBlobStore
from tests.support.builders import DATA


def pytest_sessionfinish(session, exitstatus):
    run_root = os.environ.get("PYTHONNEST_TEST_RUN_ROOT")
    if run_root:
        shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache.

    Pages and JSON documents are cached by serial, and every test's serials
    start at 1; accounts remember verified passwords there too.
    """
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def data_dir() -> Path:
    """Real distributions downloaded from PyPI, committed under tests/data."""
    return DATA


@pytest.fixture
def store(tmp_path, settings) -> LocalBlobStore:
    """A blob store of the test's own, also used by the views."""
    root = tmp_path / "blobs"
    settings.PYTHONNEST_BLOB_ROOT = root
    return LocalBlobStore(root)
