"""The options of ``update``: the ``[update]`` section of pythonnest.ini and the flags.

Every flag has a key of the same name in ``[update]`` (``--init-all`` is
``init_all``), so that a timer can run a bare ``update``. A flag given on the
command line wins over the file. Values are checked here, once; a bad one
raises ConfigError naming the key and the file, or the flag.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from pythonnest.core.exceptions import ConfigError
from pythonnest.core.names import is_valid_name

SECTION = "update"
DEFAULT_URL = "https://pypi.org/simple/"
DEFAULT_WORKERS = 6
PACKAGE_TYPES = {"sdist": "sdist", "wheel": "bdist_wheel", "bdist_wheel": "bdist_wheel"}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
SIZE_SUFFIXES = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


@dataclass(frozen=True)
class FilterOptions:
    """What part of the upstream to mirror; empty means everything."""

    packages: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    allow_regex: tuple[re.Pattern, ...] = ()
    block_regex: tuple[re.Pattern, ...] = ()
    requirements: tuple[Path, ...] = ()
    with_dependencies: bool = False
    latest: int | None = None
    exclude_prereleases: bool = False
    package_types: frozenset[str] = frozenset({"sdist", "bdist_wheel"})
    platform: tuple[str, ...] = ()
    exclude_platform: tuple[str, ...] = ()
    python_tag: tuple[str, ...] = ()
    exclude_python_tag: tuple[str, ...] = ()
    max_file_size: int | None = None


@dataclass(frozen=True)
class UpdateOptions:
    """Everything one run of ``update`` needs to know, checked."""

    url: str = DEFAULT_URL
    init_all: bool = False
    serial: int | None = None
    limit: int | None = None
    retry: int = 5
    timeout: float = 10.0
    nocontinue: bool = False
    workers: int = DEFAULT_WORKERS
    dry_run: bool = False
    keep_deleted: bool = False
    verify_all_digests: bool = False
    ca_bundle: Path | None = None
    # The upstream's password, read from this file; the user is the one the URL names.
    password_file: Path | None = None
    xmlrpc: bool = True
    json_api: bool = True
    retry_backoff: float = 1.0
    # A progress bar when standard error is a terminal; plain lines otherwise, whatever this says.
    progress: bool = True
    filters: FilterOptions = field(default_factory=FilterOptions)


# -- converters: raw text in, a value out, or ValueError saying what is wrong --


def _text(value: str, base: Path) -> str:
    return value.strip()


def _boolean(value: str, base: Path) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError("is not a boolean (use true or false)")


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str, Path], int]:
    def convert(value: str, base: Path) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError("is not a whole number") from None
        if number < minimum:
            raise ValueError(f"must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}")
        return number

    return convert


def _seconds(value: str, base: Path) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not number > 0 or number > 86400:
        raise ValueError("must be more than 0 and at most 86400 seconds")
    return number


def _size(value: str, base: Path) -> int:
    text = value.strip().upper().removesuffix("IB").removesuffix("B").strip()
    suffix = text[-1:] if text[-1:] in SIZE_SUFFIXES and text[-1:] else ""
    number = text[: len(text) - len(suffix)].strip()
    if not number.isdigit() or int(number) == 0:
        raise ValueError("is not a size (use bytes, or a number with K, M or G)")
    return int(number) * SIZE_SUFFIXES[suffix]


def _words(value: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", value.strip()) if word]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _names(value: str, base: Path) -> tuple[str, ...]:
    names = []
    for word in _words(value):
        if not is_valid_name(word):
            raise ValueError(f"has {word!r}, which is not a valid project name")
        names.append(canonicalize_name(word))
    return tuple(dict.fromkeys(names))


def _regexes(value: str, base: Path) -> tuple[re.Pattern, ...]:
    patterns = []
    for line in _lines(value):
        try:
            patterns.append(re.compile(line))
        except re.error as exc:
            raise ValueError(f"has {line!r}, which is not a regular expression ({exc})") from None
    return tuple(patterns)


def _patterns(value: str, base: Path) -> tuple[str, ...]:
    words = _words(value)
    for word in words:
        if not re.fullmatch(r"[A-Za-z0-9_.*?\[\]!-]+", word):
            raise ValueError(f"has {word!r}, which is not a tag pattern (letters, digits, _ . - and * ? [ ])")
    return tuple(words)


def _paths(value: str, base: Path) -> tuple[Path, ...]:
    # One per line, never split on spaces or commas: "/srv/my builds/req.txt" is one path.
    paths = []
    for line in _lines(value):
        path = Path(line).expanduser()
        paths.append(path if path.is_absolute() else base / path)
    return tuple(paths)


def _path(value: str, base: Path) -> Path | None:
    if not value.strip():
        return None
    path = Path(value.strip()).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ValueError("is not a file")
    return path


def _package_types(value: str, base: Path) -> frozenset[str]:
    words = [word.lower() for word in _words(value)]
    if words == ["both"] or words == ["all"]:
        return frozenset({"sdist", "bdist_wheel"})
    unknown = [word for word in words if word not in PACKAGE_TYPES]
    if unknown or not words:
        raise ValueError("must be sdist, wheel or both")
    return frozenset(PACKAGE_TYPES[word] for word in words)


def _url(value: str, base: Path) -> str:
    text = value.strip()
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("is not an http:// or https:// URL")
    return text


# key -> (converter, where it goes: "run" or "filters")
KEYS: dict[str, tuple[Callable[[str, Path], object], str]] = {
    "url": (_url, "run"),
    "init_all": (_boolean, "run"),
    "serial": (_integer(0), "run"),
    "limit": (_integer(1), "run"),
    "retry": (_integer(0), "run"),
    "timeout": (_seconds, "run"),
    "nocontinue": (_boolean, "run"),
    "workers": (_integer(1, 64), "run"),
    "dry_run": (_boolean, "run"),
    "keep_deleted": (_boolean, "run"),
    "verify_all_digests": (_boolean, "run"),
    "ca_bundle": (_path, "run"),
    "password_file": (_path, "run"),
    "xmlrpc": (_boolean, "run"),
    "json_api": (_boolean, "run"),
    "retry_backoff": (_seconds, "run"),
    "progress": (_boolean, "run"),
    "package": (_names, "filters"),
    "allow": (_names, "filters"),
    "block": (_names, "filters"),
    "allow_regex": (_regexes, "filters"),
    "block_regex": (_regexes, "filters"),
    "requirements": (_paths, "filters"),
    "with_dependencies": (_boolean, "filters"),
    "latest": (_integer(1), "filters"),
    "exclude_prereleases": (_boolean, "filters"),
    "package_types": (_package_types, "filters"),
    "platform": (_patterns, "filters"),
    "exclude_platform": (_patterns, "filters"),
    "python_tag": (_patterns, "filters"),
    "exclude_python_tag": (_patterns, "filters"),
    "max_file_size": (_size, "filters"),
}
# Spellings also accepted in the file.
ALIASES = {
    "packages": "package",
    "platforms": "platform",
    "exclude_platforms": "exclude_platform",
    "python_tags": "python_tag",
    "exclude_python_tags": "exclude_python_tag",
}
# The FilterOptions field a key fills, where the names differ.
FILTER_FIELDS = {"package": "packages"}


def _key(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ALIASES.get(key, key)


def resolve_options(section: Mapping[str, str], config_path: Path, flags: Mapping[str, object]) -> UpdateOptions:
    """Merge the ``[update]`` section with the flags given; the flags win.

    ``flags`` maps key names to raw text (or a list of texts for a repeated
    flag, or a bool for a switch), and holds only the flags that were given.
    Raises ConfigError naming the key and the file, or the flag.
    """
    values: dict[str, object] = {}
    base = config_path.parent
    for name, raw in section.items():
        key = _key(name)
        if key not in KEYS:
            raise ConfigError(f"{config_path}: unknown key {name.lower()} in [{SECTION}]")
        try:
            values[key] = KEYS[key][0](raw, base)
        except ValueError as exc:
            raise ConfigError(f"{config_path}: [{SECTION}] {name.lower()} = {raw.strip()!r} {exc}") from None
    for key, raw in flags.items():
        converter = KEYS[key][0]
        flag = "--" + key.replace("_", "-")
        if isinstance(raw, bool):
            values[key] = raw
            continue
        texts = raw if isinstance(raw, list) else [raw]
        try:
            if converter in (_names, _regexes, _patterns, _paths):
                joined = "\n".join(str(text) for text in texts)
                values[key] = converter(joined, Path.cwd())
            else:
                values[key] = converter(str(texts[-1]), Path.cwd())
        except ValueError as exc:
            raise ConfigError(f"{flag} {' '.join(map(str, texts))!r} {exc}") from None
    run = {key: value for key, value in values.items() if KEYS[key][1] == "run"}
    filters = {FILTER_FIELDS.get(key, key): value for key, value in values.items() if KEYS[key][1] == "filters"}
    return UpdateOptions(**run, filters=FilterOptions(**filters))
