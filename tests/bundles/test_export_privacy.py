"""``export`` and deleted projects: a private project's name reaches no tag that may not receive it (DESIGN.md invariant 6)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction

from pythonnest.core import replica, services
from pythonnest.core.models import Project
from pythonnest.core.projects import set_project_private
from tests.bundles.test_export import records, with_tag_sections
from tests.support.builders import build_wheel

pytestmark = pytest.mark.django_db(transaction=True)


def bundle_bytes(folder) -> bytes:
    """Every file of a bundle folder, run together: to look for a name anywhere in it."""
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def export_to(tmp_path, name: str, tag: str, capsys) -> tuple[list[dict], bytes]:
    """Export to ``tag`` with the command; returns the records and every byte of the bundle and of the output."""
    call_command("export", "--path", str(tmp_path / name), "--tag", tag, "--no-progress")
    out = capsys.readouterr()
    _, records_, _ = records((tmp_path / name / "manifest.jsonl").read_bytes())
    return records_, bundle_bytes(tmp_path / name) + (out.out + out.err).encode()


@pytest.fixture
def hidden_thing(catalog, tmp_path, store):
    """A project private to group lab, the only tag allowed it being lab."""
    services.add_distribution_path(build_wheel(tmp_path / "built", "hidden-thing", "1.0"), store=store)
    project = Project.objects.get(normalized_name="hidden-thing")
    set_project_private(project, Group.objects.create(name="lab"), source="test")
    return project


def test_a_private_project_deleted_after_being_withheld_is_never_named(hidden_thing, tmp_path, store, settings, capsys):
    with_tag_sections(settings, {"tag:lab": {"PRIVATE_GROUPS": "lab"}})
    _, sent = export_to(tmp_path, "first", "public-side", capsys)
    assert b"hidden" not in sent
    export_to(tmp_path, "lab-first", "lab", capsys)
    services.remove_project(hidden_thing, store=store, source="test")
    # Neither the tag it was withheld from, nor a tag's first export (every serial).
    for name, tag, projects in [
        ("second", "public-side", []),
        ("seed", "new-tag", ["iniconfig", "python-dateutil", "six"]),
    ]:
        records_, sent = export_to(tmp_path, name, tag, capsys)
        assert [record["normalized_name"] for record in records_] == projects
        assert b"hidden" not in sent
    # The tag that received it is told it is gone.
    records_, _ = export_to(tmp_path, "lab-second", "lab", capsys)
    assert records_ == [{"type": "removed_project", "normalized_name": "hidden-thing"}]


def test_a_project_made_private_then_deleted_is_removed_from_the_tag_that_received_it(catalog, tmp_path, capsys):
    export_to(tmp_path, "first", "public-side", capsys)
    six = Project.objects.get(normalized_name="six")
    set_project_private(six, Group.objects.create(name="lab"), source="test")
    services.remove_project(six, store=catalog, source="test")
    records_, _ = export_to(tmp_path, "second", "public-side", capsys)
    assert records_ == [{"type": "removed_project", "normalized_name": "six"}]


def test_a_deleted_public_project_travels_as_a_removal_even_on_a_first_export(catalog, tmp_path, capsys):
    services.remove_project(Project.objects.get(normalized_name="iniconfig"), store=catalog, source="test")
    records_, _ = export_to(tmp_path, "b", "new-tag", capsys)
    assert records_[0] == {"type": "removed_project", "normalized_name": "iniconfig"}
    assert [record["normalized_name"] for record in records_[1:]] == ["python-dateutil", "six"]


def test_a_name_deleted_once_in_public_and_again_in_private_is_not_named_the_second_time(
    catalog, tmp_path, store, capsys
):
    wheel = build_wheel(tmp_path / "built", "hidden-thing", "1.0")
    services.add_distribution_path(wheel, store=store)
    export_to(tmp_path, "first", "public-side", capsys)
    services.remove_project(Project.objects.get(normalized_name="hidden-thing"), store=store, source="test")
    records_, _ = export_to(tmp_path, "second", "public-side", capsys)
    assert records_ == [{"type": "removed_project", "normalized_name": "hidden-thing"}]
    # The peer has had its removal: what comes under the name now is another, private, project.
    services.add_distribution_path(wheel, store=store)
    again = Project.objects.get(normalized_name="hidden-thing")
    set_project_private(again, Group.objects.create(name="lab"), source="test")
    services.remove_project(again, store=store, source="test")
    records_, sent = export_to(tmp_path, "third", "public-side", capsys)
    assert records_ == [] and b"hidden" not in sent


def test_an_imported_private_project_is_not_named_when_it_changes(catalog, tmp_path, capsys):
    # Made private by an import, so with no "set private" entry of its own: its entries say it is private.
    record = {"name": "hidden-thing", "normalized_name": "hidden-thing", "private_group": "lab", "releases": []}
    with transaction.atomic():
        replica.apply_project(record, store=catalog, counts=replica.ReplicaCounts())
    export_to(tmp_path, "first", "public-side", capsys)
    with transaction.atomic():
        replica.apply_project({**record, "name": "Hidden-Thing"}, store=catalog, counts=replica.ReplicaCounts())
    records_, sent = export_to(tmp_path, "second", "public-side", capsys)
    assert records_ == [] and b"hidden" not in sent.lower()
