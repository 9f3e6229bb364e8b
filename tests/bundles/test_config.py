"""Bundle settings in pythonnest.ini, and sizes such as --volume-size 4G."""

from __future__ import annotations

from pathlib import Path

import pytest

from pythonnest import conf
from pythonnest.bundles import signing
from pythonnest.bundles.config import bundle_settings, parse_size
from pythonnest.core.exceptions import ConfigError


def load(tmp_path: Path, extra: str) -> tuple[Path, conf.Config]:
    path = tmp_path / "pythonnest.ini"
    path.write_text(f"[pythonnest]\nROOT_PATH = {tmp_path / 'root'}\n{extra}", encoding="utf-8")
    return path, conf.load_config(path)


def test_no_sections_mean_no_keys_no_requirement(tmp_path):
    _, config = load(tmp_path, "")
    settings = bundle_settings(config)
    assert settings.trusted_keys == {}
    assert settings.require_signature is False
    assert settings.sign_key is None
    assert settings.private_groups("anything") == frozenset()


def test_every_section_is_read(tmp_path):
    _, public_path, key_id = signing.generate_key_pair(tmp_path / "connected")
    _, second_public, second_id = signing.generate_key_pair(tmp_path / "spare")
    inline = second_public.read_text().strip()
    _, config = load(
        tmp_path,
        f"""
[import]
trusted_keys = {public_path}, {inline}
require_signature = Yes

[export]
SIGN_KEY = ~/bundle.key

[tag:offline-lab]
PRIVATE_GROUPS = lab-team, shared ,

[tag:everything]
PRIVATE_GROUPS = *
""",
    )
    settings = bundle_settings(config)
    assert set(settings.trusted_keys) == {key_id, second_id}
    assert settings.require_signature is True
    assert settings.sign_key == Path("~/bundle.key").expanduser()
    assert settings.private_groups("offline-lab") == {"lab-team", "shared"}
    assert settings.private_groups("everything") == {"*"}
    assert settings.private_groups("other") == frozenset()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[import]\nTRUSTED_KEY = x\n", "unknown key TRUSTED_KEY in [import]"),
        ("[export]\nSIGNING_KEY = x\n", "unknown key SIGNING_KEY in [export]"),
        ("[tag:lab]\nPRIVATE_GROUP = a\n", "unknown key PRIVATE_GROUP in [tag:lab]"),
        ("[import]\nREQUIRE_SIGNATURE = maybe\n", "REQUIRE_SIGNATURE = 'maybe' is not a boolean"),
        ("[import]\nTRUSTED_KEYS = ed25519 AAAA\n", "TRUSTED_KEYS: not an Ed25519 public key"),
        (
            "[import]\nTRUSTED_KEYS = /nonexistent/k.pub\n",
            "TRUSTED_KEYS: cannot read trusted key file /nonexistent/k.pub",
        ),
    ],
)
def test_bad_settings_name_the_key_and_the_file(tmp_path, extra, message):
    path, config = load(tmp_path, extra)
    with pytest.raises(ConfigError) as caught:
        bundle_settings(config)
    text = str(caught.value)
    assert text.startswith(f"{path}: "), text
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("1", 1),
        ("1K", 1024),
        ("1k", 1024),
        ("700M", 700 * 1024**2),
        ("4G", 4 * 1024**3),
        ("4g", 4 * 1024**3),
        ("4GB", 4 * 1024**3),
        ("4GiB", 4 * 1024**3),
        ("4.7GB", int(4.7 * 1024**3)),
        ("1T", 1024**4),
        (" 2 M ", 2 * 1024**2),
        ("10b", 10),
    ],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "4X", "-1M", "0", "0.0001K", "4 G B", "1e3", "four"])
def test_parse_size_refuses_what_is_not_a_positive_size(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)
