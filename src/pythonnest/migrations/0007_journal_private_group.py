"""JournalEntry.private_group_id: the history of a private project stays private, even once it is deleted."""

from django.db import migrations, models

# A group that no longer exists: nobody is in it.
GONE_GROUP = -1


def mark_private_history(apps, schema_editor):
    """Replay each project's "set private" entries, and mark the projects private today."""
    JournalEntry = apps.get_model("pythonnest", "JournalEntry")
    Project = apps.get_model("pythonnest", "Project")
    Group = apps.get_model("auth", "Group")
    group_ids = dict(Group.objects.values_list("name", "id"))
    names = JournalEntry.objects.filter(action="set_private").values_list("project_name", flat=True).distinct()
    for name in names.iterator():
        current = None
        for serial, action, data in (
            JournalEntry.objects.filter(project_name=name).order_by("serial").values_list("serial", "action", "data")
        ):
            if action == "set_private":
                group = (data or {}).get("group") or ""
                current = group_ids.get(group, GONE_GROUP) if group else None
            if current is not None:
                JournalEntry.objects.filter(serial=serial).update(private_group_id=current)
    for name, group_id in Project.objects.filter(private_group__isnull=False).values_list(
        "normalized_name", "private_group_id"
    ):
        JournalEntry.objects.filter(project_name=name, private_group_id__isnull=True).update(private_group_id=group_id)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("pythonnest", "0006_pending_blobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="journalentry",
            name="private_group_id",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.RunPython(mark_private_history, migrations.RunPython.noop),
    ]
