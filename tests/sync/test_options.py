"""The [update] section and the flags: every flag has a key, the flags win."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management.base import BaseCommand

from pythonnest.sync.options import KEYS, UpdateOptions, resolve_options
from pythonnest.sync.requirements import read_requirements, wanted_projects


def test_defaults():
    options = resolve_options({}, Path("/etc/pythonnest.ini"), {})
    assert options == UpdateOptions()
    assert options.url == "https://pypi.org/simple/" and options.retry == 5 and options.timeout == 10.0


def test_the_section_sets_everything_and_flags_win(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    (tmp_path / "password").write_text("s3cret\n")
    section = {
        "URL": "http://nest/simple/",
        "INIT_ALL": "yes",
        "LATEST": "2",
        "PACKAGES": "Six zope.interface",
        "LIMIT": "10",
        "RETRY": "0",
        "TIMEOUT": "2.5",
        "NOCONTINUE": "on",
        "WORKERS": "4",
        "KEEP_DELETED": "true",
        "VERIFY_ALL_DIGESTS": "yes",
        "ALLOW": "a, b\nc",
        "BLOCK_REGEX": "bad-.*\n.*-evil",
        "REQUIREMENTS": "reqs/a.txt\nmy builds/other, older.txt",
        "WITH_DEPENDENCIES": "1",
        "EXCLUDE_PRERELEASES": "1",
        "PACKAGE_TYPES": "wheel",
        "PLATFORMS": "manylinux*_x86_64 any",
        "PYTHON_TAGS": "cp312 py3",
        "MAX_FILE_SIZE": "100M",
        "CA_BUNDLE": "ca.pem",
        "PASSWORD_FILE": "password",
        "XMLRPC": "false",
        "JSON_API": "no",
    }
    options = resolve_options(section, tmp_path / "pythonnest.ini", {"latest": "1", "allow": ["d"], "init_all": False})
    filters = options.filters
    assert options.url == "http://nest/simple/" and not options.init_all and options.limit == 10
    assert (options.retry, options.timeout, options.nocontinue, options.workers) == (0, 2.5, True, 4)
    assert (
        options.keep_deleted
        and options.verify_all_digests
        and not options.xmlrpc
        and not options.json_api
        and options.ca_bundle == ca
        and options.password_file == tmp_path / "password"
    )
    assert filters.latest == 1 and filters.allow == ("d",) and filters.packages == ("six", "zope-interface")
    assert [pattern.pattern for pattern in filters.block_regex] == ["bad-.*", ".*-evil"]
    assert filters.requirements == (tmp_path / "reqs/a.txt", tmp_path / "my builds/other, older.txt")
    assert filters.with_dependencies and filters.exclude_prereleases
    assert filters.package_types == {"bdist_wheel"} and filters.platform == ("manylinux*_x86_64", "any")
    assert filters.python_tag == ("cp312", "py3") and filters.max_file_size == 100 * 1024**2


def test_every_flag_of_the_command_has_a_key():
    from pythonnest.management.commands.update import Command

    parser = Command().create_parser("pythonnest-manage", "update")
    destinations = {action.dest for action in parser._actions}
    # Django's own options (--verbosity, --settings, ...) are not the command's.
    django = {action.dest for action in BaseCommand().create_parser("pythonnest-manage", "base")._actions}
    # Both ways: a key without a flag, or a flag handle() would never read.
    assert set(KEYS) == destinations - django


def test_a_requirements_path_is_never_split(tmp_path):
    # A flag given once, with a space and a comma in its path.
    options = resolve_options({}, tmp_path / "pythonnest.ini", {"requirements": ["/srv/my builds/req, 2.txt"]})
    assert options.filters.requirements == (Path("/srv/my builds/req, 2.txt"),)
    # Given twice, two paths.
    options = resolve_options({}, tmp_path / "pythonnest.ini", {"requirements": ["a b.txt", "c.txt"]})
    assert options.filters.requirements == (Path.cwd() / "a b.txt", Path.cwd() / "c.txt")


def test_requirements_files_with_pip_syntax(tmp_path):
    (tmp_path / "base.txt").write_text("Alpha[Fast]>=1.0 \\\n  ,<2 ; python_version >= '3'\n")
    (tmp_path / "main.txt").write_text(
        "# comment\n-r base.txt\nbeta==1.0 --hash=sha256:" + "a" * 64 + "\nalpha>=3\n-c constraints.txt\n--pre\n"
    )
    wanted = wanted_projects(read_requirements([tmp_path / "main.txt"]))
    assert set(wanted) == {"alpha", "beta"}
    assert wanted["alpha"].extras == {"fast"}
    from packaging.version import Version

    assert wanted["alpha"].accepts(Version("1.5")) and wanted["alpha"].accepts(Version("3.1"))
    assert not wanted["alpha"].accepts(Version("2.5"))
    assert wanted["beta"].accepts(Version("1.0")) and not wanted["beta"].accepts(Version("1.1"))


@pytest.mark.parametrize("value", ["100", "100K", "2M", "1 GB", "3GiB"])
def test_sizes(value, tmp_path):
    assert resolve_options({"MAX_FILE_SIZE": value}, tmp_path / "p.ini", {}).filters.max_file_size > 0


def test_progress_can_be_turned_off_in_the_file_and_a_flag_wins(tmp_path):
    config = tmp_path / "pythonnest.ini"
    assert resolve_options({}, config, {}).progress
    assert not resolve_options({"PROGRESS": "no"}, config, {}).progress
    assert resolve_options({"PROGRESS": "no"}, config, {"progress": True}).progress


@pytest.mark.parametrize(("flag", "key"), [("--no-dry-run", "dry_run"), ("--no-nocontinue", "nocontinue")])
def test_every_boolean_flag_has_a_no_form_that_overrides_the_file(flag, key):
    from pythonnest.management.commands.update import Command

    parser = Command().create_parser("pythonnest-manage", "update")
    assert getattr(parser.parse_args([flag]), key) is False
    assert getattr(parser.parse_args([flag.replace("--no-", "--")]), key) is True
    assert getattr(parser.parse_args([]), key) is None
