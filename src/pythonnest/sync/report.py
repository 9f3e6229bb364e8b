"""What a run tells its user: events as they happen, progress, and the summary at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class RunSummary:
    """The counts and messages of one run; ``failed`` decides the exit code."""

    url: str = ""
    has_serials: bool = False
    via_changelog: bool = False
    # The projects were named (``--package``), not listed by the upstream's index.
    via_names: bool = False
    upstream_serial: int | None = None
    projects_upstream: int = 0
    projects_examined: int = 0
    projects_changed: int = 0
    projects_protected: int = 0
    projects_removed: int = 0
    files_added: int = 0
    files_reused: int = 0
    bytes_downloaded: int = 0
    files_removed: int = 0
    releases_removed: int = 0
    yanked: int = 0
    unyanked: int = 0
    skipped: Counter = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    limit_reached: bool = False
    interrupted: bool = False
    dry_run: bool = False
    planned_projects: list[tuple[str, int, int, int]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.refused or self.interrupted)

    def lines(self) -> list[str]:
        """The summary, a few lines of plain text."""
        serial = f" at serial {self.upstream_serial}" if self.upstream_serial is not None else ""
        kind = "with serials" if self.has_serials else "without serials"
        listed = "changed in its changelog" if self.via_changelog else "named" if self.via_names else "listed"
        lines = [
            f"Upstream {self.url} ({kind}){serial}: {self.projects_upstream} project(s) {listed}, "
            f"{self.projects_examined} examined, {self.projects_changed} changed, "
            f"{self.projects_protected} local name(s) left alone."
        ]
        if self.dry_run:
            files = sum(plan[1] for plan in self.planned_projects)
            size = sum(plan[2] for plan in self.planned_projects)
            removals = sum(plan[3] for plan in self.planned_projects)
            lines.append(
                f"Dry run: would fetch {files} file(s), {format_bytes(size)}, "
                f"and remove {removals} file(s), in {len(self.planned_projects)} project(s); nothing was changed."
            )
        else:
            lines.append(
                f"Added {self.files_added} file(s) ({format_bytes(self.bytes_downloaded)} downloaded, "
                f"{self.files_reused} already in the blob store); removed {self.files_removed} file(s), "
                f"{self.releases_removed} release(s), {self.projects_removed} project(s); "
                f"yanked {self.yanked}, unyanked {self.unyanked}."
            )
        if self.skipped:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            lines.append(f"Not mirrored by choice: {reasons}.")
        if self.limit_reached:
            lines.append("Stopped at --limit; the next run goes on from here.")
        if self.interrupted:
            lines.append("Interrupted; the next run goes on from here.")
        if self.refused:
            lines.append(f"Refused {len(self.refused)} upstream file(s) this index cannot hold.")
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s); the next run tries them again.")
        return lines


def format_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class Reporter(Protocol):
    """Where a run sends what happens; the command picks a terminal or a plain one."""

    def event(self, kind: str, message: str) -> None:
        """One thing done: kind is added, removed, yanked, unyanked, refused, failed or info."""

    def phase(self, name: str, projects: int, files: int = 0, size: int = 0) -> None:
        """A new phase starts (examining projects, then downloading), with its totals."""

    def advance(self, projects: int = 0, files: int = 0, size: int = 0) -> None:
        """Progress within the phase."""

    def close(self) -> None:
        """The run is over: stop any progress display."""


class SilentReporter:
    """A reporter that keeps the events, for tests and for callers that only want the summary."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(self, kind: str, message: str) -> None:
        self.events.append((kind, message))

    def phase(self, name: str, projects: int, files: int = 0, size: int = 0) -> None:
        pass

    def advance(self, projects: int = 0, files: int = 0, size: int = 0) -> None:
        pass

    def close(self) -> None:
        pass
