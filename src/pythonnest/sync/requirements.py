"""Requirements files (pip's format, PEP 508 lines) as a selection of projects and versions.

Lines may carry pip's options: ``-r``/``--requirement`` includes another
file, ``--hash`` and index options are ignored, and ``-c`` constraint files
add no project (pip installs nothing from them either). An editable or a
plain path or URL cannot be mirrored and is refused, as is any line that is
not PEP 508.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from pythonnest.core.exceptions import ConfigError

# pip options that take a value and say nothing about which projects to mirror.
_IGNORED_WITH_VALUE = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--hash",
    "--config-settings",
    "--global-option",
    "-C",
}
_IGNORED_FLAGS = {"--pre", "--prefer-binary", "--require-hashes", "--no-index", "--use-feature"}
_INCLUDES = {"-r", "--requirement"}
_CONSTRAINTS = {"-c", "--constraint"}
MAX_INCLUDE_DEPTH = 20
_EXTRA_IN_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


@dataclass
class Wanted:
    """A project a requirement names: the versions it accepts and the extras it asks for.

    Several requirements on one project accept the union of their versions;
    an empty ``specifiers`` list accepts every version.
    """

    name: str
    specifiers: list[SpecifierSet] = field(default_factory=list)
    any_version: bool = False
    extras: set[str] = field(default_factory=set)

    def accepts(self, version: Version) -> bool:
        if self.any_version or not self.specifiers:
            return True
        return any(specifier.contains(version, prereleases=True) for specifier in self.specifiers)

    def merge(self, requirement: Requirement) -> bool:
        """Add one requirement on this project; True when it widens what is wanted."""
        changed = False
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        if not extras <= self.extras:
            self.extras |= extras
            changed = True
        if not requirement.specifier:
            if not self.any_version:
                self.any_version = changed = True
        elif not self.any_version and requirement.specifier not in self.specifiers:
            self.specifiers.append(requirement.specifier)
            changed = True
        return changed


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with continuations joined and comments removed, with their first line number."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def _parse_options(tokens: list[str], where: str) -> tuple[list[str], list[str]]:
    """Split a line's option tokens into the files it includes and the rest; refuse what cannot be mirrored."""
    includes, index = [], 0
    while index < len(tokens):
        token = tokens[index]
        name, _, inline = token.partition("=")
        if name in ("-e", "--editable"):
            raise ConfigError(f"{where}: an editable requirement ({' '.join(tokens)}) cannot be mirrored")
        if name in _INCLUDES or name in _CONSTRAINTS or name in _IGNORED_WITH_VALUE:
            value = inline if inline else (tokens[index + 1] if index + 1 < len(tokens) else None)
            if value is None:
                raise ConfigError(f"{where}: {name} needs a value")
            if name in _INCLUDES:
                includes.append(value)
            index += 1 if inline else 2
            continue
        if name in _IGNORED_FLAGS:
            index += 1
            continue
        raise ConfigError(f"{where}: unknown option {token!r} in a requirements file")
    return includes, []


def read_requirements(paths: Iterable[Path], _depth: int = 0) -> list[Requirement]:
    """Every requirement in the files, includes followed; raises ConfigError for a line that is not PEP 508."""
    requirements: list[Requirement] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"{path}: cannot read the requirements file ({reason})") from None
        for number, line in _logical_lines(text):
            where = f"{path}:{number}"
            if line.startswith("-"):
                try:
                    tokens = shlex.split(line)
                except ValueError as exc:
                    raise ConfigError(f"{where}: {line!r} cannot be read ({exc})") from None
                includes, _ = _parse_options(tokens, where)
                if includes and _depth >= MAX_INCLUDE_DEPTH:
                    raise ConfigError(f"{where}: requirements files include each other too deeply")
                requirements += read_requirements([path.parent / include for include in includes], _depth + 1)
                continue
            # A requirement may be followed by per-requirement options (--hash=...).
            requirement_text, _, options = line.partition(" --")
            if options:
                _parse_options(shlex.split("--" + options), where)
            try:
                requirement = Requirement(requirement_text.strip())
            except InvalidRequirement as exc:
                reason = str(exc).splitlines()[0]
                raise ConfigError(
                    f"{where}: {requirement_text.strip()!r} is not a PEP 508 requirement ({reason})"
                ) from None
            if requirement.url:
                raise ConfigError(f"{where}: {requirement_text.strip()!r} names a URL, which cannot be mirrored")
            requirements.append(requirement)
    return requirements


def wanted_projects(requirements: Iterable[Requirement]) -> dict[str, Wanted]:
    """The projects the requirements name, with the union of the versions each accepts."""
    wanted: dict[str, Wanted] = {}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        wanted.setdefault(name, Wanted(name)).merge(requirement)
    return wanted


def dependency_applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether a Requires-Dist entry is needed by a project asked for with ``extras``.

    The mirror serves every platform and Python, so only the ``extra``
    clauses of a marker count.
    """
    if requirement.marker is None:
        return True
    named = {canonicalize_name(extra) for extra in _EXTRA_IN_MARKER.findall(str(requirement.marker))}
    return not named or bool(named & extras)
