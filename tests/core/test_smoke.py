import pytest

from pythonnest.core.services import add_distribution_path


@pytest.mark.django_db
def test_adding_a_real_wheel(store, data_dir):
    added = add_distribution_path(data_dir / "six-1.16.0-py2.py3-none-any.whl", store=store)
    assert added.serial == 1 and added.new_project
