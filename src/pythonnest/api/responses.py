"""Plain-text error answers that say why, for pip, twine and curl to print."""

from __future__ import annotations

from django.http import HttpResponse

from pythonnest.api.negotiation import HTML_V1, JSON_V1, TEXT_HTML


def error(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(f"{status} {reason}\n", status=status, content_type="text/plain; charset=utf-8")
    # Django would otherwise fill in only the generic phrase.
    # The status line is latin-1 on the wire; keep it printable ASCII.
    phrase = reason.splitlines()[0][:200].encode("ascii", "replace").decode() if reason else ""
    response.reason_phrase = "".join(char if " " <= char <= "~" else "?" for char in phrase) or None
    return response


def not_found(reason: str = "Not Found") -> HttpResponse:
    return error(404, reason)


def not_acceptable() -> HttpResponse:
    return error(406, f"Not Acceptable: this index serves {JSON_V1}, {HTML_V1} and {TEXT_HTML}")
