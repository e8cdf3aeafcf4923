"""Markdown as a person's browser would show it: rendered to HTML by a CommonMark renderer
with raw HTML on (as a careless viewer has it), tables and strikethrough as GitHub has them.
Imported by the escaping tests; holds none."""

from __future__ import annotations

import html
import re

import pytest

HOSTILE = "<script>alert(1)</script> | **x** [a](javascript:1) `c` ~~s~~ _e_ &amp;"


def rendered(markdown: str) -> str:
    """The HTML a viewer makes of `markdown`."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def active_markup(page: str) -> list[str]:
    """Every tag in `page` a lender's text could have produced: scripts, links, images,
    emphasis, code, struck text. Empty when every text was shown as text."""
    return re.findall(r"<(?:script|a|img|strong|em|code|s|del)\b[^>]*>", page)


def shown_text(page: str) -> str:
    """The text of `page` as read on screen (tags dropped, entities resolved)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))
