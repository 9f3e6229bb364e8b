"""Content negotiation for the simple API (PEP 691)."""

from __future__ import annotations

HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
TEXT_HTML = "text/html"

# What each acceptable media type is served as, in our order of preference
# when the client likes several equally.
_SERVED = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
_PREFERENCE = [JSON_V1, HTML_V1, TEXT_HTML]
# The ?format= query parameter PEP 691 suggests, for browsers and curl.
FORMAT_PARAMETER = {
    JSON_V1: JSON_V1,
    HTML_V1: HTML_V1,
    TEXT_HTML: TEXT_HTML,
    "json": JSON_V1,
    "html": HTML_V1,
}


def _parse_accept(header: str) -> list[tuple[str, float]]:
    accepted = []
    for part in header.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        media_type = pieces[0].lower()
        if not media_type:
            continue
        quality = 1.0
        for parameter in pieces[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        accepted.append((media_type, max(0.0, min(quality, 1.0))))
    return accepted


def choose_content_type(accept: str | None, format_parameter: str | None = None) -> str | None:
    """The media type to answer with, or None when nothing acceptable is served.

    No Accept header (or */*) gets text/html, as PyPI does.
    """
    if format_parameter:
        return FORMAT_PARAMETER.get(format_parameter.lower())
    if not accept or not accept.strip():
        return TEXT_HTML
    best: tuple[float, int] | None = None
    chosen = None
    for media_type, quality in _parse_accept(accept):
        if quality <= 0:
            continue
        if media_type in _SERVED:
            candidate = _SERVED[media_type]
        elif media_type in ("*/*", "text/*"):
            candidate = TEXT_HTML
        elif media_type == "application/*":
            candidate = JSON_V1
        else:
            continue
        rank = (quality, -_PREFERENCE.index(candidate))
        if best is None or rank > best:
            best, chosen = rank, candidate
    return chosen
