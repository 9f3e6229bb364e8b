"""What ``update`` prints off a terminal: each problem once, then the summary."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db(transaction=True)

WHEEL = "alpha-1.1-py3-none-any.whl"


def test_a_failure_prints_once_in_plain_output(catalog, store):
    catalog.fault(WHEEL, "503", times=10)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "update",
            "--url",
            catalog.url,
            "--retry",
            "1",
            "--retry-backoff",
            "0.01",
            "--timeout",
            "3",
            stdout=stdout,
            stderr=stderr,
        )
    assert str(raised.value) == "1 problem(s); see above"
    lines = stderr.getvalue().splitlines()
    # The failure is one line, as it happened; a log needs it once, not again under the summary.
    assert len(lines) == 1 and lines[0].startswith("failed: ") and WHEEL in lines[0]
    assert stdout.getvalue().splitlines()[-1] == "1 failure(s); the next run tries them again."
