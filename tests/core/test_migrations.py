"""The migrations describe the models exactly: a model change without its migration fails here."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    try:
        call_command("makemigrations", "pythonnest", "--check", "--dry-run", verbosity=0)
    except SystemExit as exc:
        pytest.fail(f"a model change has no migration (makemigrations --check exited with {exc.code})")
