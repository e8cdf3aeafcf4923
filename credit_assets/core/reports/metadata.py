"""Small renderers for Dagster metadata: a frame's first rows, and PNG plots shown inline."""

from __future__ import annotations

import base64

import polars as pl

from credit_assets.core.reports.render import markdown_table
from credit_assets.core.reports.text import Markdown, md_code, md_escape

__all__ = ["Markdown", "frame_markdown", "markdown_table", "md_code", "md_escape", "png_markdown"]


def frame_markdown(frame: pl.DataFrame, limit: int = 10) -> str:
    """The first rows of a frame as markdown, lineage columns left out."""
    visible = [c for c in frame.columns if not c.startswith("_")]
    return markdown_table(frame.select(visible).head(limit).to_dicts(), visible)


def column_profile(frame: pl.DataFrame) -> str:
    """Per column: type, rows filled and distinct values, as markdown. What the Dagster UI
    shows of a frame of borrowers' rows instead of the rows themselves: run history is kept
    indefinitely and an erasure cannot reach into it, so it holds no borrower's values."""
    visible = [c for c in frame.columns if not c.startswith("_")]
    rows = [
        {
            "column": name,
            "type": str(frame[name].dtype),
            "filled": frame.height - frame[name].null_count(),
            "distinct": frame[name].n_unique(),
        }
        for name in visible
    ]
    return markdown_table(rows, ["column", "type", "filled", "distinct"])


def png_markdown(png: bytes, alt: str) -> str:
    """A PNG embedded in markdown so the Dagster UI shows it inline."""
    return f"![{md_escape(alt)}](data:image/png;base64,{base64.b64encode(png).decode()})"
