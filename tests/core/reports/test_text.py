"""Lender-supplied text is shown as written wherever a person reads it: Markdown renders it
as text (no script, link, emphasis, code or table cell it did not have), the code span of a
file name cannot be left, and a terminal shows escape codes instead of running them."""

from __future__ import annotations

import pytest

from credit_assets.core.reports.render import (
    Bullets,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    markdown_table,
    render_markdown,
)
from credit_assets.core.reports.text import Markdown, md_code, md_escape, printable
from tests.support.markdown import HOSTILE, active_markup, rendered, shown_text


def test_a_hostile_value_renders_as_exactly_the_text_it_is() -> None:
    page = rendered(md_escape(HOSTILE))
    assert active_markup(page) == []
    assert shown_text(page).strip() == HOSTILE


def test_a_table_cell_and_header_hold_the_value_without_breaking_the_table() -> None:
    page = rendered(markdown_table([{HOSTILE: HOSTILE, "n": 3}, {HOSTILE: "ok", "n": 4}]))
    assert active_markup(page) == []
    assert page.count("<tr>") == 3 and page.count("<td>") == 4  # `|` split no cell
    assert (
        f"<th>{HOSTILE.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</th>"
        in page
    )


def test_every_block_of_a_report_escapes_what_it_shows() -> None:
    markdown = render_markdown(
        HOSTILE,
        [
            Section(
                "s",
                HOSTILE,
                [
                    Paragraph(HOSTILE),
                    KeyValues({HOSTILE: HOSTILE}),
                    Bullets([HOSTILE, "# not a heading", "1. not a list"]),
                    Table([{"group": HOSTILE}], caption=HOSTILE),
                    Image(b"\x89PNG", HOSTILE),
                ],
            )
        ],
        subtitle=HOSTILE,
        embed_images=False,
    )
    page = rendered(markdown)
    # Only the report's own markup: its headings, the key in bold, the caption, the figure note.
    assert set(active_markup(page)) == {"<strong>", "<em>"}
    assert shown_text(page).count(HOSTILE) == 10  # title to figure, each shown once
    assert "<h1>" not in page.split("</h1>", 1)[1] and "<ol>" not in page


@pytest.mark.parametrize(
    "plain",
    [
        "utility_on_time_ratio_12m",
        "Held back: at least one gate said no.",
        "four_fifths_rule: sex=B AIR 0.700 [0.61, 0.80]",
        "-0.3",
        "1.5 years",
    ],
)
def test_ordinary_text_is_left_as_it_reads(plain: str) -> None:
    assert md_escape(plain) == plain.replace("[", "\\[").replace("]", "\\]")


def test_markup_on_purpose_passes_through() -> None:
    assert md_escape(Markdown("**FAIL**")) == "**FAIL**"
    assert "<strong>" in rendered(markdown_table([{"AIR": Markdown("0.612 **\\<**")}]))


def test_a_file_name_in_a_code_span_cannot_leave_it() -> None:
    name = "r``1<script>.csv"
    page = rendered(f"- {md_code(name)}: set aside")
    assert active_markup(page) == ["<code>"]
    assert f"<code>{name.replace('<', '&lt;').replace('>', '&gt;')}</code>" in page


def test_a_terminal_is_shown_escape_codes_not_sent_them() -> None:
    assert printable("acme\x1b[31m bank\x00\r") == "acme\\x1b[31m bank\\x00\\r"
    assert printable("Café 北京") == "Café 北京"
