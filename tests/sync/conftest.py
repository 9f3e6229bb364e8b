"""Fixtures for ``update``'s tests: a fake index in a thread, and a run of ``update`` in this process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pythonnest.core.models import File, Project, Release
from pythonnest.sync.options import FilterOptions, UpdateOptions
from pythonnest.sync.report import RunSummary, SilentReporter
from pythonnest.sync.runner import run_update
from tests.support.builders import build_sdist, build_wheel
from tests.sync.fake_index import FakeIndex


@pytest.fixture(scope="session")
def distributions(tmp_path_factory) -> dict[str, Path]:
    """A small catalog of real distributions, by filename."""
    folder = tmp_path_factory.mktemp("distributions")
    paths = [
        build_wheel(folder, "alpha", "1.0"),
        build_sdist(folder, "alpha", "1.0"),
        build_wheel(folder, "alpha", "1.1"),
        build_sdist(folder, "alpha", "1.1"),
        build_wheel(folder, "alpha", "2.0rc1"),
        build_wheel(folder, "beta", "0.1", tag="cp311-cp311-manylinux_2_17_x86_64"),
        build_wheel(folder, "beta", "0.1", tag="cp312-cp312-win_amd64"),
        build_wheel(folder, "beta", "0.1", tag="py3-none-any"),
        build_sdist(folder, "beta", "0.1"),
        build_wheel(folder, "gamma", "1.0", requires_dist=["alpha>=1.1", "delta[fast]; python_version>='3'"]),
        build_wheel(folder, "delta", "3.0", requires_dist=["epsilon; extra == 'fast'", "zeta; extra == 'slow'"]),
        build_wheel(folder, "epsilon", "1.0"),
        build_wheel(folder, "zeta", "1.0"),
    ]
    return {path.name: path for path in paths}


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    index = FakeIndex().start()
    yield index
    index.stop()


@pytest.fixture
def catalog(fake_index, distributions) -> FakeIndex:
    """The fake index holding every file of ``distributions``."""
    for path in distributions.values():
        fake_index.add(path)
    return fake_index


def make_options(url: str, **changes) -> UpdateOptions:
    filters = changes.pop("filters", FilterOptions())
    base = UpdateOptions(url=url, retry=2, retry_backoff=0.01, timeout=3, workers=3, filters=filters)
    return replace(base, **changes)


@pytest.fixture
def update(store):
    """Run ``update`` in this process: ``update(url, **option changes)`` returns (summary, events)."""

    def run(url: str, **changes) -> tuple[RunSummary, list[tuple[str, str]]]:
        reporter = SilentReporter()
        summary = run_update(make_options(url, **changes), store=store, reporter=reporter)
        return summary, reporter.events

    return run


def catalog_state() -> dict:
    """The catalog as comparable data: projects, releases with yanks, files with digests."""
    return {
        "projects": sorted(Project.objects.values_list("normalized_name", "name", "origin")),
        "releases": sorted(
            Release.objects.values_list("project__normalized_name", "version", "yanked", "yanked_reason")
        ),
        "files": sorted(
            File.objects.values_list("filename", "sha256", "size", "metadata_sha256", "upload_time", "requires_python")
        ),
    }


def filenames() -> list[str]:
    return sorted(File.objects.values_list("filename", flat=True))
