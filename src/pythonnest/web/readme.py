"""A release's README as safe HTML, rendered the way PyPI renders it (readme_renderer).

readme_renderer sanitizes what it renders (nh3), so its output may be marked
safe. Rendering a long reStructuredText document takes a while, hence the
cache, keyed by the release and a digest of what is rendered.
"""

from __future__ import annotations

import hashlib
import logging
import re
from html import escape, unescape

import readme_renderer.markdown
import readme_renderer.rst
import readme_renderer.txt
from django.conf import settings
from django.core.cache import cache
from django.utils.http import parse_header_parameters
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext
from readme_renderer.clean import clean

logger = logging.getLogger(__name__)

# Bump when the HTML made from the same text changes.
RENDER_FORMAT = 1
CACHE_TIMEOUT = 7 * 24 * 3600
# What old setuptools wrote when a project had no description.
NO_DESCRIPTION = {"", "UNKNOWN"}
# A tag whose quoted attribute values may hold ">".
_IMAGE = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>', re.IGNORECASE)
_ATTRIBUTE = re.compile(r'([A-Za-z_:][-A-Za-z0-9_:.]*)="([^"]*)"')


def _markdown(text: str, variant: str) -> str | None:
    # readme_renderer renders Markdown only with its "md" extra (comrak); without
    # it, markdown-it-py (which rich brings) renders CommonMark, cleaned the same way.
    if readme_renderer.markdown.variants:
        return readme_renderer.markdown.render(text, variant=variant)
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    parser = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])
    return clean(parser.render(text))


def render_description(text: str, content_type: str) -> str | None:
    """The sanitized HTML of a description; None when there is nothing to show.

    The content type says the markup (PEP 566): Markdown, reStructuredText (also
    for no content type, as PyPI assumes) or plain text. Text that does not
    render is shown as escaped plain text.
    """
    if text.strip() in NO_DESCRIPTION:
        return None
    kind, parameters = parse_header_parameters(content_type or "")
    kind = kind.lower()
    try:
        if kind == "text/markdown":
            variant = parameters.get("variant", "GFM")
            rendered = _markdown(text, "CommonMark" if variant.lower() == "commonmark" else "GFM")
        elif kind in ("", "text/x-rst"):
            rendered = readme_renderer.rst.render(text)
        else:
            rendered = readme_renderer.txt.render(text)
    except Exception:  # A renderer bug must not take the project page down with it.
        logger.warning("rendering a %s description failed", kind or "reStructuredText", exc_info=True)
        rendered = None
    if rendered is None:
        return f'<pre class="readme-plain">{escape(text)}</pre>'
    return rendered


def _is_remote(src: str) -> bool:
    return src.lower().startswith(("http://", "https://", "//"))


def _text_for_image(match: re.Match) -> str:
    attributes = {name.lower(): unescape(value) for name, value in _ATTRIBUTE.findall(match.group(0))}
    src = attributes.get("src", "").strip()
    if not _is_remote(src):
        return match.group(0)
    text = attributes.get("alt", "").strip() or gettext("image")
    return f'<span class="readme-remote-image" title="{escape(src)}">{escape(text)}</span>'


def hide_remote_images(rendered: str) -> str:
    """Each image loaded from another site, replaced by its alternative text (README_REMOTE_IMAGES = hide).

    ``rendered`` is sanitized HTML, whose serializer quotes every attribute
    with double quotes; ``img`` is the only element it lets load anything.
    """
    return _IMAGE.sub(_text_for_image, rendered)


def release_readme(release_id: int, text: str, content_type: str) -> SafeString | None:
    """``render_description``, cached for the release and the exact text rendered."""
    digest = hashlib.sha256(f"{content_type}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:20]
    hide = settings.PYTHONNEST.hide_remote_images
    # Only hidden images put words of the language in the HTML ("image" for one without text).
    variant = f"hide-{get_language()}" if hide else "show"
    key = f"web-readme:{RENDER_FORMAT}:{variant}:{release_id}:{digest}"
    cached = cache.get(key)
    if cached is None:
        # Cache "nothing to show" as an empty string, so that it is not looked at again.
        cached = render_description(text, content_type) or ""
        if hide:
            cached = hide_remote_images(cached)
        cache.set(key, cached, timeout=CACHE_TIMEOUT)
    # Safe: readme_renderer sanitized it (or it is escaped plain text).
    return mark_safe(cached) if cached else None
