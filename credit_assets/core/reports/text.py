"""Lender-supplied text made safe where a person reads it: Markdown (the Dagster UI, `.md`
reports) and a terminal (the CLI).

A lender's category values, group names, column and file names and reason texts are data,
not markup: `md_escape` makes them literal Markdown (a `<script>` tag, a
`[link](javascript:...)` or `**` is shown, never rendered), `md_code` puts one in a code
span it cannot leave, and `printable` shows a terminal's control characters (escape codes)
instead of running them. Text that is markup on purpose (a report's own bold verdict) is
`Markdown`, which the renderers pass through as it is.
"""

from __future__ import annotations

import re

# Characters that start inline Markdown anywhere in a line: escapes, code, emphasis,
# strikethrough, links and images, HTML tags and entities, table cells. An underscore only
# between two letters or digits cannot start emphasis (`utility_on_time_ratio_12m` stays).
_INLINE = re.compile(r"[\\`*~\[\]<>&|]|(?<![^\W_])_|_(?![^\W_])")
# What starts a block at a line's start: a heading, a quote, a list item, an underline.
_BLOCK_START = re.compile(r"^(?:#{1,6}(?=\s|$)|>|[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|[=-]+$)")
# Bare URLs GitHub-flavoured Markdown would turn into links.
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp)(://)|\b(www)(\.)")


class Markdown(str):
    """Text that is Markdown on purpose (the platform's own emphasis, a table cell's marker):
    the renderers and `md_escape` leave it as it is."""


def md_escape(text: object) -> str:
    """`text` as literal Markdown on one line: every character that would start Markdown
    backslashed, so it reads exactly as written. `Markdown` is returned unchanged."""
    if isinstance(text, Markdown):
        return text
    line = " ".join(str(text).split())
    escaped = _INLINE.sub(r"\\\g<0>", line)
    escaped = _AUTOLINK.sub(lambda m: f"{m[1]}\\:{m[2][1:]}" if m[1] else f"{m[3]}\\.", escaped)
    match = _BLOCK_START.match(escaped)
    if match is None:
        return escaped
    if escaped[0].isdigit():  # "1. " starts an ordered list: escape its dot or parenthesis
        return f"{match[0]}\\{escaped[match.end() :]}"
    return "\\" + escaped


def md_code(text: object) -> str:
    """`text` in a code span it cannot leave: fenced by more backticks than it holds in a row
    (backslashes do not escape inside a code span), on one line."""
    line = " ".join(str(text).split())
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {line} " if line.startswith("`") or line.endswith("`") else line
    return f"{fence}{padded}{fence}"


def printable(text: object) -> str:
    """Lender-supplied text for a terminal: control characters (escape codes, carriage
    returns, NUL) shown as escapes, not run. A line break is kept only by callers that
    print line by line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def too_few(bads: int, rows: int, minimum: int, where: str) -> str:
    """Why `rows` with `bads` among them are too few to judge a model on ("2 bads and 10 goods
    in the 12 test rows (minimum 30)"), or "" when both classes reach `minimum`."""
    short = [f"{n} {name}" for n, name in ((bads, "bads"), (rows - bads, "goods")) if n < minimum]
    return f"{' and '.join(short)} in the {where} (minimum {minimum})" if short else ""
