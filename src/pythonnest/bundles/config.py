"""Bundle settings from pythonnest.ini: signing, trusted keys, private projects per tag.

[import]
TRUSTED_KEYS = /etc/pythonnest/connected.pub, ed25519 AAAA...
REQUIRE_SIGNATURE = true

[export]
SIGN_KEY = /etc/pythonnest/bundle.key

[tag:offline-lab]
PRIVATE_GROUPS = lab-team, shared
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pythonnest.bundles import signing
from pythonnest.conf import FALSE_WORDS, TRUE_WORDS, Config
from pythonnest.core.exceptions import BundleError, ConfigError

KNOWN = {"import": {"TRUSTED_KEYS", "REQUIRE_SIGNATURE"}, "export": {"SIGN_KEY"}}
TAG_KEYS = {"PRIVATE_GROUPS"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class BundleSettings:
    trusted_keys: dict
    require_signature: bool
    sign_key: Path | None
    private_groups_by_tag: dict[str, frozenset[str]]

    def private_groups(self, tag: str) -> frozenset[str]:
        return self.private_groups_by_tag.get(tag, frozenset())


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def bundle_settings(config: Config) -> BundleSettings:
    """Read the [import], [export] and [tag:NAME] sections; raises ConfigError."""
    path = config.path
    for section, keys in KNOWN.items():
        for key in config.sections.get(section, {}):
            if key not in keys:
                raise ConfigError(f"{path}: unknown key {key} in [{section}]")
    imports = config.sections.get("import", {})
    require = imports.get("REQUIRE_SIGNATURE", "false").strip().lower()
    if require not in TRUE_WORDS | FALSE_WORDS:
        raise ConfigError(f"{path}: REQUIRE_SIGNATURE = {require!r} is not a boolean (use true or false)")
    try:
        trusted = signing.load_trusted_keys(_split(imports.get("TRUSTED_KEYS", "")), f"{path}: TRUSTED_KEYS")
    except BundleError as exc:
        raise ConfigError(str(exc)) from exc
    sign_key = config.sections.get("export", {}).get("SIGN_KEY", "").strip()
    by_tag = {}
    for section, values in config.sections.items():
        if section.startswith("tag:"):
            for key in values:
                if key not in TAG_KEYS:
                    raise ConfigError(f"{path}: unknown key {key} in [{section}]")
            by_tag[section[4:]] = frozenset(_split(values.get("PRIVATE_GROUPS", "")))
    return BundleSettings(
        trusted_keys=trusted,
        require_signature=require in TRUE_WORDS,
        sign_key=Path(sign_key).expanduser() if sign_key else None,
        private_groups_by_tag=by_tag,
    )


def parse_size(text: str) -> int:
    """``4G``, ``700M``, ``4.7GB``, ``1024`` as bytes (K, M, G, T are powers of 1024)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 700M or 4G")
    number, unit = float(match.group(1)), match.group(2).lower()
    size = int(number * 1024 ** " kmgt".index(unit or " "))
    if size <= 0:
        raise ValueError(f"{text!r} is not a positive size")
    return size
