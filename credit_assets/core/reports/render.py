"""Self-contained report documents: one structure, rendered as HTML or markdown.

A compliance document (model card, explainability report) is a list of sections,
each a stable `id`, a title and blocks: paragraphs, key-value lists, tables,
bullet lists and PNG images. `render_html` writes one HTML file with inline CSS
and every image as a `data:image/png;base64,` URI, so it opens offline, can be
archived as one file and never fetches anything. `render_markdown` renders the
same sections for the Dagster UI. Both treat every text as text: HTML escapes it, Markdown
backslashes what would be markup (`text.md_escape`), so a lender's category value or group
name is shown as written, never rendered; only `text.Markdown` passes as markup. Figures are
built on matplotlib's Agg canvas without pyplot state, so rendering is safe in threads and
subprocesses.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credit_assets.core.reports.text import Markdown, md_escape

if TYPE_CHECKING:  # tables and text need no matplotlib (the scoring API imports them)
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class KeyValues:
    items: Mapping[str, Any]


@dataclass(frozen=True)
class Table:
    rows: Sequence[Mapping[str, Any]]
    columns: Sequence[str] | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Image:
    png: bytes
    alt: str


Block = Paragraph | KeyValues | Table | Bullets | Image


@dataclass(frozen=True)
class Section:
    """One section of a report; `id` is the HTML element id tests and links rely on."""

    id: str
    title: str
    blocks: Sequence[Block] = field(default_factory=tuple)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure created with `Figure(...)` (no pyplot)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def format_value(value: Any) -> str:
    """A cell as a person reads it: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _table_columns(table: Table) -> list[str]:
    if table.columns is not None:
        return list(table.columns)
    columns: list[str] = []
    for row in table.rows:
        columns += [c for c in row if c not in columns]
    return columns


# --- HTML -------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.7rem;margin:0 0 4px}
h2{font-size:1.25rem;border-bottom:2px solid #e3e6eb;padding-bottom:4px;margin-top:32px}
.subtitle{color:#5b6474;margin:0 0 16px}
nav ol{columns:2;color:#3b5bdb;padding-left:20px}
nav a{color:#3b5bdb;text-decoration:none}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.88rem;width:auto}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}
tr:nth-child(even) td{background:#fafbfc}
caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 16px}
dl.kv dt{font-weight:600;color:#3d4553}
dl.kv dd{margin:0;word-break:break-word}
img{max-width:100%;height:auto;margin:8px 8px 8px 0;border:1px solid #eceef2}
.figures{display:flex;flex-wrap:wrap;align-items:flex-start}
"""


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, KeyValues):
        items = "".join(
            f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(format_value(v))}</dd>"
            for k, v in block.items.items()
        )
        return f'<dl class="kv">{items}</dl>'
    if isinstance(block, Bullets):
        items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
        return f"<ul>{items}</ul>"
    if isinstance(block, Image):
        return f'<img src="{data_uri(block.png)}" alt="{html.escape(block.alt, quote=True)}">'
    if not block.rows:
        return "<p><em>(no rows)</em></p>"
    columns = _table_columns(block)
    caption = f"<caption>{html.escape(block.caption)}</caption>" if block.caption else ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(format_value(row.get(c)))}</td>" for c in columns)
        + "</tr>"
        for row in block.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_blocks(blocks: Sequence[Block]) -> str:
    """Consecutive images share a flex row so plots sit side by side."""
    parts: list[str] = []
    images: list[str] = []
    for block in blocks:
        if isinstance(block, Image):
            images.append(_html_block(block))
            continue
        if images:
            parts.append(f'<div class="figures">{"".join(images)}</div>')
            images = []
        parts.append(_html_block(block))
    if images:
        parts.append(f'<div class="figures">{"".join(images)}</div>')
    return "\n".join(parts)


def render_html(title: str, sections: Sequence[Section], *, subtitle: str | None = None) -> str:
    """One self-contained HTML page: inline CSS, images as data URIs, no scripts, no links out."""
    toc = "".join(
        f'<li><a href="#{html.escape(s.id, quote=True)}">{html.escape(s.title)}</a></li>'
        for s in sections
    )
    body = "\n".join(
        f'<section id="{html.escape(s.id, quote=True)}">\n<h2>{html.escape(s.title)}</h2>\n'
        f"{_html_blocks(s.blocks)}\n</section>"
        for s in sections
    )
    sub = f'<p class="subtitle">{html.escape(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{html.escape(title)}</h1>\n{sub}\n"
        f"<nav><ol>{toc}</ol></nav>\n{body}\n</main>\n</body>\n</html>\n"
    )


# --- Markdown ---------------------------------------------------------------------------


def _md_cell(value: Any) -> str:
    """A cell as literal text; a number as it is formatted (nothing in it is markup)."""
    if value is None or isinstance(value, bool | int | float):
        return format_value(value)
    if isinstance(value, Markdown):
        return value.replace("|", "\\|").replace("\n", " ")
    return md_escape(format_value(value))


def markdown_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of dict rows (every key of any row, unless given);
    headers and cells are escaped (`md_escape`) unless they are `Markdown`."""
    rows = list(rows)
    if not rows:
        return "_(no rows)_"
    cols = _table_columns(Table(rows, columns))
    lines = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _md_block(block: Block, embed_images: bool) -> str:
    if isinstance(block, Paragraph):
        return md_escape(block.text)
    if isinstance(block, KeyValues):
        return "\n".join(f"- **{md_escape(k)}**: {_md_cell(v)}" for k, v in block.items.items())
    if isinstance(block, Bullets):
        return "\n".join(f"- {md_escape(item)}" for item in block.items)
    if isinstance(block, Image):
        alt = md_escape(block.alt)
        return f"![{alt}]({data_uri(block.png)})" if embed_images else f"_\\[figure: {alt}\\]_"
    caption = f"**{md_escape(block.caption)}**\n\n" if block.caption else ""
    return caption + markdown_table(block.rows, block.columns)


def render_markdown(
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str | None = None,
    embed_images: bool = True,
) -> str:
    """The same sections as markdown; images as data URIs (the Dagster UI shows them inline).
    Every title and text is escaped (`md_escape`)."""
    parts = [f"# {md_escape(title)}"]
    if subtitle:
        parts.append(f"_{md_escape(subtitle)}_")
    for section in sections:
        parts.append(f"## {md_escape(section.title)}")
        parts += [_md_block(b, embed_images) for b in section.blocks]
    return "\n\n".join(parts) + "\n"
