"""What the `credit-platform` command echoes of a lender's or an operator's text reaches the
terminal shown, not run: an escape code in a lender's name or a file's name prints as
`\\x1b[31m`, never as a colour change (or a cleared screen, a moved cursor)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.platform.db import api_keys, migrated_engine
from credit_assets.core.platform.settings import Settings

RED, RESET = "\x1b[31m", "\x1b[0m"


def test_apikey_list_shows_a_lenders_escape_codes_instead_of_running_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A name stored before names were checked, or written to the database by another tool.
    engine = migrated_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(api_keys).values(
                key_id="e" * 16,
                lender=f"acme{RED}bank{RESET}",
                key_hash="00$00",
                scopes="models:read",
                created_at=datetime(2026, 1, 1),
            )
        )
    assert main(["apikey", "list"]) == 0
    table = capsys.readouterr().out
    assert "\x1b" not in table
    assert "acme\\x1b[31mbank\\x1b[0m" in table
    assert main(["apikey", "list", "--json"]) == 0
    assert "\x1b" not in capsys.readouterr().out  # JSON escapes it as \u001b


def test_a_file_name_echoed_in_an_error_is_shown_not_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = tmp_path / "bills\x1bc.csv"  # ESC c resets a terminal (a `[` reads as a glob)
    sample.write_text("bill_id,borrower_id\n")  # a header and no rows: nothing to draft
    assert main(["contract", "infer", str(sample), "--name", "bills"]) == 2
    error = capsys.readouterr().err
    assert "\x1b" not in error and "bills\\x1bc.csv" in error
