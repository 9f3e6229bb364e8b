# Joins the two migrations made side by side on 0002: accounts (issue 3) and
# sync (issue 4). Neither touches the other's tables; the lead may replace
# this file with one of their own when merging.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pythonnest", "0003_accounts"),
        ("pythonnest", "0003_sync"),
    ]

    operations = []
