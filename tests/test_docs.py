"""The docs keep up with the code: every command, every flag and every configuration key is described.

The guide says so ("every command and every configuration key is documented
under docs/"); these tests fail the day a flag or a key is added without a
word about it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import load_command_class

from pythonnest import conf
from pythonnest.bundles import config as bundle_config
from pythonnest.sync import options as update_options

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMMANDS_DIR = Path(conf.__file__).resolve().parent / "management" / "commands"
COMMANDS = sorted(path.stem for path in COMMANDS_DIR.glob("*.py") if not path.stem.startswith("_"))
# Every command of Django's takes these; Django documents them.
DJANGO_FLAGS = {
    "--help",
    "--version",
    "--verbosity",
    "--settings",
    "--pythonpath",
    "--traceback",
    "--no-color",
    "--force-color",
    "--skip-checks",
}


def _text(*names: str) -> str:
    return "\n".join((DOCS / name).read_text(encoding="utf-8") for name in names)


def _flags(command: str) -> list[tuple[str, ...]]:
    """The long flags of ``command``, one tuple per option: its aliases, or its ``--x``/``--no-x`` pair."""
    parser = load_command_class("pythonnest", command).create_parser("pythonnest-manage", command)
    options = []
    for action in parser._actions:
        names = tuple(option for option in action.option_strings if option.startswith("--"))
        if names and not set(names) & DJANGO_FLAGS:
            options.append(names)
    return options


def test_there_are_commands_to_check():
    assert {"update", "export", "import", "serve", "add"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_heading_in_the_command_reference(command):
    headings = re.findall(r"^##+ (.+)$", _text("commands.md"), flags=re.MULTILINE)
    assert any(f"`{command}`" in heading for heading in headings), f"docs/commands.md has no heading for {command}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_of_every_command_is_documented(command):
    # The reference, and the two guides that own their commands' flags.
    text = _text("commands.md", "mirroring.md", "offline-workflow.md")
    # One name of each option is enough: commands.md says that every switch has a ``--no-`` form.
    missing = [
        names for names in _flags(command) if not any(re.search(re.escape(name) + r"(?![\w-])", text) for name in names)
    ]
    assert not missing, f"{command}: flags not described under docs/: {missing}"


@pytest.mark.parametrize("key", [key for key, _default, _help in conf.DEFAULTS])
def test_every_key_of_the_pythonnest_section_is_in_the_configuration_page(key):
    assert f"`{key}`" in _text("configuration.md")


@pytest.mark.parametrize("key", sorted(update_options.KEYS))
def test_every_key_of_the_update_section_is_documented(key):
    assert re.search(rf"`{re.escape(key)}\b", _text("configuration.md", "mirroring.md")), key


@pytest.mark.parametrize(
    "section, key", sorted((section, key) for section, keys in bundle_config.KNOWN.items() for key in keys)
)
def test_every_key_of_the_bundle_sections_is_documented(section, key):
    assert f"`{key}`" in _text("configuration.md", "offline-workflow.md"), f"[{section}] {key}"
