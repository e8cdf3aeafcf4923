"""Rendering the reports every layer writes: Markdown, self-contained HTML, PNG plots.

- `render`: document blocks (`Section`, `Table`, `KeyValues`, ...), `render_html`,
  `render_markdown`, `markdown_table`, `jsonable`, `figure_png`.
- `metadata`: small Markdown helpers for Dagster metadata (`frame_markdown`, `png_markdown`).
- `text`: lender-supplied text made safe to read: `md_escape`, `md_code`, `Markdown` (markup
  on purpose) and, for a terminal, `printable`.
"""
