"""``pythonnest-manage`` itself: the garbage collector around start-up, and its one-line errors."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys

import pytest

from pythonnest import manage
from tests.support.databases import _admin_connection, backend, ini_text
from tests.support.server import MANAGE, clean_environment, run_manage


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "pythonnest.ini"
    path.write_text(f"[pythonnest]\nROOT_PATH = {tmp_path / 'data'}\n", encoding="utf-8")
    return path


def test_a_command_runs_with_the_collector_on_and_start_up_frozen(config):
    run_manage(config, "syncdb", "--noinput")
    shown = run_manage(
        config, "shell", "-c", "import gc; print('collector', gc.isenabled(), gc.get_freeze_count())"
    ).stdout
    line = next(line for line in shown.splitlines() if line.startswith("collector "))
    _, enabled, frozen = line.split()
    assert enabled == "True"
    # Django's modules, classes and models: tens of thousands of objects.
    assert int(frozen) > 10_000


@pytest.mark.parametrize("outcome", [SystemExit(2), RuntimeError("boom")])
def test_main_gives_the_collector_back_however_the_command_ends(monkeypatch, outcome):
    seen = []

    def run(argv, collect):
        seen.append((gc.isenabled(), collect))
        raise outcome

    monkeypatch.setattr(manage, "_run", run)
    assert gc.isenabled()
    with pytest.raises(type(outcome)):
        manage.main(["pythonnest-manage", "help"])
    assert seen == [(False, True)]
    assert gc.isenabled()


def test_main_leaves_off_a_collector_that_was_off(monkeypatch):
    seen = []
    monkeypatch.setattr(manage, "_run", lambda argv, collect: seen.append(collect))
    gc.disable()
    try:
        manage.main(["pythonnest-manage", "help"])
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False]


@pytest.mark.parametrize("collect", [True, False])
def test_loading_the_command_freezes_start_up_and_turns_the_collector_on_only_if_asked(collect):
    gc.disable()
    frozen = gc.get_freeze_count()
    try:
        manage._utility(["pythonnest-manage", "sync-status"], collect).fetch_command("sync-status")
        assert gc.isenabled() is collect
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.parametrize(
    ("command", "loaded"),
    [
        ("import", {"pythonnest.management.progress", "pythonnest.bundles.signing"}),
        ("export", {"pythonnest.management.progress", "pythonnest.bundles.signing"}),
        ("verify-bundle", {"pythonnest.management.progress", "pythonnest.bundles.signing"}),
        ("add", {"pythonnest.management.progress"}),
        ("update", {"pythonnest.sync.progress", "pythonnest.sync.runner"}),
    ],
)
def test_a_command_loads_neither_rich_nor_cryptography_before_it_needs_them(config, command, loaded):
    # Off a terminal no bar is drawn, and no key is handled before a signed
    # bundle or --sign-key comes: together they were a quarter of the start.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pythonnest.manage", command, "--help"],
        env=clean_environment(PYTHONNEST_CONFIG=str(config)),
        capture_output=True,
        text=True,
        check=True,
    )
    imported = set(re.findall(r"^import time:.*\| +(\S+)$", result.stderr, flags=re.MULTILINE))
    assert "usage:" in result.stdout
    # The modules that would bring them in were loaded, with the command.
    assert loaded <= imported
    assert not {name.split(".")[0] for name in imported} & {"rich", "cryptography"}


def test_a_malformed_configuration_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "pythonnest.ini"
    config.write_text("[pythonnest\nROOT_PATH = data\n", encoding="utf-8")
    result = run_manage(config, "sync-status", check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("pythonnest-manage: error: ")
    assert "malformed configuration file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_database_without_tables_is_one_line_and_exit_1(config):
    result = run_manage(config, "sync-status", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("pythonnest-manage: database error: ")
    assert "syncdb" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_output_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status(config):
    # As in ``pythonnest-manage sync-status | head -0``: the reader is gone before the first line.
    run_manage(config, "syncdb", "--noinput")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [str(MANAGE), "sync-status"],
            env=clean_environment(PYTHONNEST_CONFIG=str(config)),
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert result.returncode == manage.EXIT_BROKEN_PIPE == 141
    # No traceback, and no "Exception ignored" from the interpreter's last flush.
    assert result.stderr == ""


class _BrokenPipeInside:
    """A command that fails with a broken pipe of its own (a socket, a child's stdin)."""

    def execute(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_of_the_command_s_own_is_not_taken_for_a_closed_output(monkeypatch):
    monkeypatch.setattr(manage, "_utility", lambda argv, collect: _BrokenPipeInside())
    reader, writer = os.pipe()
    with os.fdopen(writer, "w") as output:
        monkeypatch.setattr(sys, "stdout", output)
        # The output is still read: the error is the command's, and it is not hidden.
        assert not manage._reader_gone(output)
        with pytest.raises(BrokenPipeError):
            manage._run(["pythonnest-manage", "sync-status"], collect=True)
        os.close(reader)
        assert manage._reader_gone(output)


@pytest.mark.skipif(backend() != "mysql", reason="a MySQL or MariaDB database's collation")
def test_syncdb_refuses_a_mariadb_database_that_ignores_case(tmp_path):
    name = f"pythonnest_ci_{os.getpid()}"
    admin = _admin_connection("mysql")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        config = tmp_path / "pythonnest.ini"
        config.write_text(ini_text(str(tmp_path / "data"), name), encoding="utf-8")
        result = run_manage(config, "syncdb", "--noinput", check=False)
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert f"the database {name} uses utf8mb4 with the collation utf8mb4_general_ci" in lines[0]
        assert f"ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" in lines[0]
        with admin.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (name,))
            assert cursor.fetchone()[0] == 0
            # As the message says: then syncdb makes the tables.
            cursor.execute(f"ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        run_manage(config, "syncdb", "--noinput")
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (name,)
            )
            assert {row[0] for row in cursor.fetchall()} == {"utf8mb4_bin"}
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
