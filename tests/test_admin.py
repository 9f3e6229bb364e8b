"""The Django admin: staff browse the catalog read-only, and revoke tokens."""

from __future__ import annotations

import pytest

from pythonnest.core import tokens
from pythonnest.core.models import ApiToken, Project
from pythonnest.core.services import add_distribution_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model, store, data_dir):
    add_distribution_path(data_dir / "six-1.17.0-py2.py3-none-any.whl", store=store)
    admin = django_user_model.objects.create_superuser("root", password="a-long-test-password")
    client.force_login(admin)
    return admin


@pytest.mark.parametrize("model", ["project", "release", "file", "journalentry", "role", "apitoken", "failedlogin"])
def test_every_model_has_a_page(client, staff, model):
    assert client.get(f"/admin/pythonnest/{model}/").status_code == 200


def test_the_catalog_cannot_be_changed_here(client, staff):
    project = Project.objects.get()
    assert client.get("/admin/pythonnest/project/add/").status_code == 403
    page = client.get(f"/admin/pythonnest/project/{project.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(f"/admin/pythonnest/project/{project.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Project.objects.exists()


def test_staff_revoke_tokens(client, staff):
    new = tokens.create_token(staff)
    response = client.post(
        "/admin/pythonnest/apitoken/", {"action": "revoke_tokens", "_selected_action": [new.token.pk]}
    )
    assert response.status_code == 302
    assert ApiToken.objects.get().revoked is not None
