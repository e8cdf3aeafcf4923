"""What a lender's files say reaches the Dagster UI as text: a file name, a category value or a
reason quoting a value is escaped in the markdown metadata the quarantine asset writes, so a
`<script>`, a link or emphasis in the data is shown as written, never rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from credit_assets.defs.common.resources import PlatformResource
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.markdown import HOSTILE, active_markup, rendered, shown_text

HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"
# A file name a lender's system could write: markup characters, no slash.
HOSTILE_NAME = "bills<img src=x>`x`|**y**[z](javascript:1).csv"


def test_the_quarantine_metadata_shows_a_lenders_values_and_file_names_as_text(
    credit_home: Path,
) -> None:
    bills = credit_home / "landing" / "utility_payments"
    bills.mkdir(parents=True)
    rows = "".join(f"b{i},B{i},acme,2024-01-0{1 + i},,50,,\n" for i in range(5))
    (bills / "u1.csv").write_text(HEADER + rows + f"b9,B9,acme,{HOSTILE},,50,,\n")
    rent = credit_home / "landing" / "rent_payments"
    rent.mkdir(parents=True)
    (rent / HOSTILE_NAME).write_text("bill_id,borrower_id\nx,B1\n")  # set aside: columns missing

    defs = load_definitions()
    assets: list[Any] = [*(defs.assets or [])]
    with dg.instance_for_test() as instance:
        ingest_landing_zone(defs, instance, log=lambda _: None)
        result = dg.materialize(
            assets,
            selection=["quarantine"],
            instance=instance,
            resources={"platform": PlatformResource()},
        )
    metadata = {
        name: str(value.value)
        for name, value in result.asset_materializations_for_node("quarantine")[0].metadata.items()
    }
    aside = rendered(metadata["set_aside_files"])
    assert active_markup(aside) == ["<code>"]  # the file's name, in a span it cannot leave
    assert f"rent_payments/{HOSTILE_NAME}" in shown_text(aside)
    for name in ("problems", "columns"):
        page = rendered(metadata[name])
        assert active_markup(page) == [], name
    # Run history keeps no borrower's values (an erasure cannot reach it): a column profile.
    assert HOSTILE not in shown_text(rendered(metadata["columns"]))
    assert "| record |" in metadata["columns"] or "record" in shown_text(
        rendered(metadata["columns"])
    )
