"""Small renderers for what people read: markdown tables and embedded PNG plots."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

import polars as pl


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")[:80]


def markdown_table(rows: Iterable[Mapping[str, object]], columns: list[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of dict rows (columns from the first row by default)."""
    rows = list(rows)
    if not rows:
        return "_(no rows)_"
    columns = columns or list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def frame_markdown(frame: pl.DataFrame, limit: int = 10) -> str:
    """The first rows of a frame as markdown, lineage columns left out."""
    visible = [c for c in frame.columns if not c.startswith("_")]
    return markdown_table(frame.select(visible).head(limit).to_dicts(), visible)


def png_markdown(png: bytes, alt: str) -> str:
    """A PNG embedded in markdown so the Dagster UI shows it inline."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
