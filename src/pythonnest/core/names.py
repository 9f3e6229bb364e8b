"""Project names, normalized through one door (PEP 503 and PEP 508)."""

from __future__ import annotations

import re
from typing import NewType

from packaging.utils import canonicalize_name

from pythonnest.core.exceptions import InvalidName

NormalizedName = NewType("NormalizedName", str)

# PEP 508's rule for a valid name, as core metadata requires it.
_VALID_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
MAX_NAME_LENGTH = 200


def is_valid_name(name: str) -> bool:
    # fullmatch: "$" would also match before a final newline, and let "name\n" through.
    return len(name) <= MAX_NAME_LENGTH and bool(_VALID_NAME.fullmatch(name))


def normalize(name: str) -> NormalizedName:
    """The PEP 503 normalized form of a valid name.

    Raises InvalidName when the name breaks PEP 508's rules.
    """
    if not is_valid_name(name):
        raise InvalidName(f"{name[:100]!r} is not a valid project name")
    return NormalizedName(canonicalize_name(name))
