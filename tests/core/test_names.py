"""Project names: PEP 508's rule, checked whole."""

from __future__ import annotations

import pytest

from pythonnest.core.exceptions import InvalidName
from pythonnest.core.names import is_valid_name, normalize


@pytest.mark.parametrize("name", ["a", "Zope.Interface", "foo_bar-baz", "0", "x" * 200])
def test_valid_names(name):
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "-a", "a-", ".a", "a b", "a/b", "../etc", "foo\n", "\nfoo", "foo\r", "fo\no", "é", "x" * 201],
)
def test_invalid_names(name):
    assert not is_valid_name(name)
    with pytest.raises(InvalidName):
        normalize(name)


def test_normalize_follows_pep_503():
    assert normalize("Zope.Interface__x") == "zope-interface-x"
