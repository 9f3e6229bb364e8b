"""``pythonnest-manage add``: files and folders, duplicates, refusals, summary."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pythonnest.core.models import File, JournalEntry
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db


def run_add(*paths):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("add", *map(str, paths), stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_adds_a_folder_recursively(store, data_dir, tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    for name in ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz"]:
        shutil.copy(data_dir / name, nested / name)
    (tmp_path / "a" / "README.txt").write_text("not a distribution")
    code, out, err = run_add(tmp_path / "a")
    assert code == 0, err
    assert "Adding 2 file(s)" in out
    assert "Added 2 file(s) (1 new project(s), 1 new release(s)); skipped 0 duplicate(s); refused 0." in out
    assert File.objects.count() == 2
    assert JournalEntry.objects.count() == 2


def test_duplicates_are_skipped_and_said(store, data_dir):
    path = data_dir / "six-1.16.0.tar.gz"
    assert run_add(path)[0] == 0
    code, out, _ = run_add(path)
    assert code == 0
    assert "skipped: six-1.16.0.tar.gz: already present with the same content, skipped" in out
    assert "skipped 1 duplicate(s)" in out
    assert JournalEntry.objects.count() == 1


def test_bad_files_are_refused_one_line_each_and_the_rest_continue(store, data_dir, tmp_path):
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / "not_a_wheel-1.0-py3-none-any.whl").write_bytes(b"garbage")
    (bad_dir / "invalid name-1.0.tar.gz").write_bytes(b"garbage")
    build_wheel(bad_dir, "liar", "1.0", metadata_name="honest")
    good = data_dir / "six-1.17.0-py2.py3-none-any.whl"
    code, out, err = run_add(bad_dir, good, tmp_path / "missing.whl")
    assert code == 1
    refused = [line for line in err.splitlines() if line.startswith("refused: ")]
    assert len(refused) == 4, err
    assert any("not_a_wheel-1.0-py3-none-any.whl: unreadable zip archive" in line for line in refused)
    assert any("invalid name-1.0.tar.gz: 'invalid name' is not a valid project name" in line for line in refused)
    assert any("liar-1.0-py3-none-any.whl" in line and "Name: honest" in line for line in refused)
    assert any("missing.whl: no such file or folder" in line for line in refused)
    assert "Added 1 file(s)" in out and "refused 4." in out
    assert list(File.objects.values_list("filename", flat=True)) == [good.name]
    assert JournalEntry.objects.count() == 1


def test_verbose_lists_every_added_file(store, data_dir):
    out = io.StringIO()
    call_command("add", str(data_dir / "six-1.16.0.tar.gz"), verbosity=2, stdout=out, stderr=io.StringIO())
    assert "added: six-1.16.0.tar.gz: added as serial 1" in out.getvalue()
