"""Which projects, releases and files of the upstream to mirror.

Names are selected first (allow and block lists, regular expressions,
requirements files, ``--package``), then each project's files: by type,
wheel tags, size, pre-release, the versions the requirements accept, and
last the N latest releases among those left. Files already mirrored that a
filter no longer selects are kept: a filter says what to fetch. The one
exception is ``latest``, which says what to keep: releases older than the N
latest are removed from the mirror (see ``FileChoice.oldest_kept``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from pythonnest.core.distributions import WHEEL, ParsedFilename, canonical_version, parse_filename
from pythonnest.core.exceptions import InvalidDistribution
from pythonnest.sync.options import FilterOptions
from pythonnest.sync.pages import UpstreamFile
from pythonnest.sync.requirements import Wanted, dependency_applies, read_requirements, wanted_projects


@dataclass
class FileChoice:
    """The files of one project to mirror, and why the others were left out."""

    wanted: list[tuple[UpstreamFile, ParsedFilename]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    # With ``latest`` N, the oldest of the N latest releases: older ones are pruned.
    # None when there is no such filter, or fewer than N releases to count.
    oldest_kept: Version | None = None


def _matches(value: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


class Filters:
    """The selection one run applies; ``wanted`` grows with the dependency closure."""

    def __init__(self, options: FilterOptions, requirements: Iterable[Requirement] = ()) -> None:
        self.options = options
        self.requirements = list(requirements)
        self.wanted: dict[str, Wanted] = wanted_projects(self.requirements)
        for name in (*options.allow, *options.packages):
            self.wanted.setdefault(name, Wanted(name)).any_version = True
        # Projects brought in by the closure, beyond the names asked for.
        self.dependencies: set[str] = set()

    @classmethod
    def from_options(cls, options: FilterOptions) -> Filters:
        """Read the requirements files too; raises ConfigError for one that cannot be parsed."""
        return cls(options, read_requirements(options.requirements))

    # -- names ----------------------------------------------------------------

    @property
    def selects_names(self) -> bool:
        """Whether only some names are mirrored (else every name not blocked)."""
        options = self.options
        return bool(options.packages or options.allow or options.allow_regex or self.requirements)

    def blocked(self, name: str) -> bool:
        return name in self.options.block or any(pattern.fullmatch(name) for pattern in self.options.block_regex)

    def wants_project(self, name: str) -> bool:
        if self.blocked(name):
            return False
        if self.options.packages:
            return name in self.options.packages or name in self.dependencies
        if not self.selects_names:
            return True
        return name in self.wanted or any(pattern.fullmatch(name) for pattern in self.options.allow_regex)

    def _accepts_version(self, name: str, version: Version) -> bool:
        if any(pattern.fullmatch(name) for pattern in self.options.allow_regex):
            return True
        wanted = self.wanted.get(name)
        return wanted is None or wanted.accepts(version)

    # -- files ----------------------------------------------------------------

    def _wheel_passes(self, filename: str) -> bool:
        options = self.options
        if not (options.platform or options.exclude_platform or options.python_tag or options.exclude_python_tag):
            return True
        _name, _version, _build, tags = parse_wheel_filename(filename)
        # A wheel is kept when one of the tags it carries is wanted.
        return any(
            (not options.platform or _matches(tag.platform, options.platform))
            and not _matches(tag.platform, options.exclude_platform)
            and (not options.python_tag or _matches(tag.interpreter, options.python_tag))
            and not _matches(tag.interpreter, options.exclude_python_tag)
            for tag in tags
        )

    def choose_files(self, name: str, files: Sequence[UpstreamFile]) -> FileChoice:
        """The files of project ``name`` to mirror, with a count of the others by reason."""
        choice = FileChoice()
        options = self.options
        candidates: list[tuple[UpstreamFile, ParsedFilename]] = []
        yanked_by_version: dict[str, bool] = {}
        for file in files:
            try:
                parsed = parse_filename(file.filename)
            except InvalidDistribution:
                choice.skipped["not a wheel or sdist this index can hold"] += 1
                continue
            if parsed.normalized_name != name:
                choice.skipped["named for another project"] += 1
                continue
            version = canonical_version(parsed.version)
            yanked_by_version[version] = yanked_by_version.get(version, True) and file.yanked
            if parsed.packagetype not in options.package_types:
                choice.skipped["package type"] += 1
            elif parsed.packagetype == WHEEL and not self._wheel_passes(file.filename):
                choice.skipped["wheel tags"] += 1
            elif options.max_file_size is not None and file.size is not None and file.size > options.max_file_size:
                choice.skipped["larger than max_file_size"] += 1
            elif options.exclude_prereleases and parsed.version.is_prerelease:
                choice.skipped["pre-release"] += 1
            elif not self._accepts_version(name, parsed.version):
                choice.skipped["version not required"] += 1
            else:
                candidates.append((file, parsed))
        if options.latest is not None:
            versions = sorted(
                {
                    parsed.version
                    for _, parsed in candidates
                    if not yanked_by_version[canonical_version(parsed.version)]
                },
                reverse=True,
            )
            kept = set(versions[: options.latest])
            if len(versions) >= options.latest:
                choice.oldest_kept = versions[options.latest - 1]
            for file, parsed in candidates:
                if parsed.version in kept:
                    choice.wanted.append((file, parsed))
                else:
                    choice.skipped["older than the latest releases"] += 1
        else:
            choice.wanted = candidates
        return choice

    # -- the dependency closure ---------------------------------------------

    def add_dependencies(self, mirrored_requirements: Callable[[str], Iterable[tuple[str, Sequence[str]]]]) -> set[str]:
        """Widen ``wanted`` with the dependencies of what is mirrored; the names to look at again.

        ``mirrored_requirements(name)`` gives (version, Requires-Dist) of each
        release of a project the catalog holds. A project whose accepted
        versions widened is returned too, to fetch the versions now wanted.
        """
        if not self.options.with_dependencies:
            return set()
        changed: set[str] = set()
        for name, wanted in list(self.wanted.items()):
            if self.blocked(name):
                continue
            for version, requires_dist in mirrored_requirements(name):
                try:
                    if not wanted.accepts(Version(version)):
                        continue
                except ValueError:
                    continue
                for text in requires_dist:
                    try:
                        requirement = Requirement(text)
                    except InvalidRequirement:
                        continue
                    if requirement.url or not dependency_applies(requirement, wanted.extras):
                        continue
                    dependency = canonicalize_name(requirement.name)
                    if dependency == name or self.blocked(dependency):
                        continue
                    known = dependency in self.wanted
                    if self.wanted.setdefault(dependency, Wanted(dependency)).merge(requirement) or not known:
                        changed.add(dependency)
                        if dependency not in self.options.packages:
                            self.dependencies.add(dependency)
        return changed

    def digest(self) -> str:
        """A fingerprint of the selection; when it changes, every project is looked at again."""
        options = self.options
        # --package narrows one run and is left out: such a run records no progress of its own.
        description = {
            "allow": sorted(options.allow),
            "block": sorted(options.block),
            "allow_regex": [pattern.pattern for pattern in options.allow_regex],
            "block_regex": [pattern.pattern for pattern in options.block_regex],
            "requirements": sorted(str(requirement) for requirement in self.requirements),
            "with_dependencies": options.with_dependencies,
            "latest": options.latest,
            "exclude_prereleases": options.exclude_prereleases,
            "package_types": sorted(options.package_types),
            "platform": list(options.platform),
            "exclude_platform": list(options.exclude_platform),
            "python_tag": list(options.python_tag),
            "exclude_python_tag": list(options.exclude_python_tag),
            "max_file_size": options.max_file_size,
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
