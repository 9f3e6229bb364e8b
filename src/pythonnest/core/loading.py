"""Loading distribution files from disk, one journaled change per file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pythonnest.core.exceptions import DuplicateFile, IntegrityFailure, InvalidDistribution
from pythonnest.core.services import AddedFile, add_distribution_path
from pythonnest.storage.local import LocalBlobStore

DISTRIBUTION_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass
class LoadSummary:
    added: list[AddedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def new_projects(self) -> int:
        return sum(1 for added in self.added if added.new_project)

    @property
    def new_releases(self) -> int:
        return sum(1 for added in self.added if added.new_release)


def find_distributions(paths: list[Path]) -> Iterator[Path | str]:
    """Files named on the command line, and distributions under folders.

    A path that does not exist is yielded as a message, to be refused.
    """
    for path in paths:
        if path.is_dir():
            yield from sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.is_file() and candidate.name.endswith(DISTRIBUTION_SUFFIXES)
            )
        elif path.exists():
            yield path
        else:
            yield f"{path}: no such file or folder"


def load_paths(
    candidates: list[Path | str],
    *,
    store: LocalBlobStore,
    on_result: Callable[[str, str], None] = lambda kind, message: None,
) -> LoadSummary:
    """Add each file; report every result as (kind, message) and carry on.

    ``kind`` is "added", "skipped" or "refused".
    """
    summary = LoadSummary()
    for candidate in candidates:
        if isinstance(candidate, str):
            summary.refused.append(candidate)
            on_result("refused", candidate)
            continue
        try:
            added = add_distribution_path(candidate, store=store, source="add")
        except DuplicateFile as exc:
            message = str(exc)
            if "same content" in message:
                summary.skipped.append(message)
                on_result("skipped", message)
            else:
                summary.refused.append(message)
                on_result("refused", message)
        except (InvalidDistribution, IntegrityFailure) as exc:
            summary.refused.append(str(exc))
            on_result("refused", str(exc))
        else:
            summary.added.append(added)
            on_result("added", f"{added.file.filename}: added as serial {added.serial}")
    return summary
