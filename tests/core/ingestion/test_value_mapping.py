"""`map:` and `scale:` on contract columns, and the Plaid example contract built on them.

A source's conventions (Plaid's outflow-positive amounts, its personal finance categories)
are declared in YAML; ingestion and inline scoring apply them with one rule, so a record
pushed as a file and the same record scored inline give the same features.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from credit_assets.core.contracts import ColumnSpec, Contract, load_contract, load_contracts
from credit_assets.core.features import compute_features, feature_catalogue, features_for_payload
from credit_assets.core.features.bank import BALANCE_FEATURES, BANK_FEATURES
from credit_assets.core.features.payload import coerce_value
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.tools.synthetic import generate_frames
from tests.support.paths import REPO_ROOT
from tests.support.plaid import PLAID_CONTRACT, plaid_transactions

DEMO = load_contracts(REPO_ROOT / "contracts")
PLAID = {**DEMO, "bank_transactions": load_contract(PLAID_CONTRACT)}
AS_OF = date(2026, 9, 1)


def _category(**extra: object) -> ColumnSpec:
    spec: dict[str, object] = {
        "name": "category",
        "type": "category",
        "role": "feature",
        "map": {"INCOME_WAGES": "payroll", "INCOME_*": "other_income", "*": "shopping"},
        **extra,
    }
    return ColumnSpec.model_validate(spec)


def _ingested(tmp_path: Path, column: ColumnSpec, values: list[object]) -> pl.DataFrame:
    contract = Contract.model_validate(
        {
            "name": "src",
            "kind": "generic",
            "keys": ["id"],
            "columns": {
                "id": {"type": "string", "role": "borrower_id"},
                column.name: column.model_dump(by_alias=True, exclude={"name"}),
            },
        }
    )
    path = tmp_path / "src.jsonl"
    path.write_text(
        "".join(json.dumps({"id": str(i), column.name: v}) + "\n" for i, v in enumerate(values))
    )
    result = ingest_file(path, contract)
    assert result.rejected.height == 0, result.rejected["reason"].to_list()
    return result.accepted.sort(pl.col("id").cast(pl.Int64))


def test_map_takes_the_exact_key_then_the_longest_prefix_in_ingestion_and_inline(tmp_path):
    column = _category()
    values = ["INCOME_WAGES", "INCOME_DIVIDENDS", "RENT_AND_UTILITIES_RENT", " INCOME_WAGES "]
    expected = ["payroll", "other_income", "shopping", "payroll"]
    assert _ingested(tmp_path, column, values)["category"].to_list() == expected
    assert [coerce_value(v, column, "x") for v in values] == expected


def test_an_unmatched_value_is_kept_and_checked_as_delivered(tmp_path):
    column = _category(map={"INCOME_WAGES": "payroll"}, allowed=["payroll", "shopping"])
    contract = Contract.model_validate(
        {
            "name": "src",
            "kind": "generic",
            "columns": {
                "b": {"type": "string", "role": "borrower_id", "required": False, "nullable": True},
                "category": column.model_dump(by_alias=True, exclude={"name"}),
            },
        }
    )
    path = tmp_path / "src.csv"
    path.write_text("category\nINCOME_WAGES\nFOOD_AND_DRINK\n")
    result = ingest_file(path, contract)
    assert result.accepted["category"].to_list() == ["payroll"]
    assert result.rejected["reason"].to_list() == ["category: value not allowed: 'FOOD_AND_DRINK'"]
    with pytest.raises(ValueError, match="FOOD_AND_DRINK"):
        coerce_value("FOOD_AND_DRINK", column, "records[0].category")


def test_scale_applies_after_typing_and_before_the_limits(tmp_path):
    amount = ColumnSpec.model_validate(
        {"name": "amount", "type": "float", "role": "feature", "scale": -1, "min": -100, "max": 100}
    )
    assert _ingested(tmp_path, amount, [12.5, "-3", 0])["amount"].to_list() == [-12.5, 3.0, 0.0]
    assert coerce_value(12.5, amount, "x") == -12.5
    with pytest.raises(ValueError, match="below the minimum"):
        coerce_value(150, amount, "x")
    count = ColumnSpec.model_validate({"name": "n", "type": "int", "role": "feature", "scale": 100})
    assert _ingested(tmp_path, count, [2, "3"])["n"].to_list() == [200, 300]
    assert coerce_value("3", count, "x") == 300


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"map": {"IN*COME": "x"}}, "'\\*' may only end a key"),
        ({"map": {}}, "`map:` is empty"),
        ({"scale": -1}, "scale applies to int or float columns"),
    ],
)
def test_bad_mappings_are_refused_naming_the_column(extra, message):
    with pytest.raises(ValueError, match=message):
        ColumnSpec.model_validate({"name": "c", "type": "string", "role": "feature", **extra})


@pytest.fixture(scope="module")
def bank_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    frames = generate_frames(40, seed=11)
    return frames["bank_transactions"], frames["applications"]


def test_plaid_transactions_give_the_bank_features_of_the_same_rows(tmp_path, bank_frames):
    """The Plaid example contract: Plaid-shaped objects (a JSON array, outflow-positive
    amounts, detailed categories, no balance) ingest into the rows the demo's own contract
    reads, and give the same bank features but the balance ones, which are not computed."""
    original, _ = bank_frames
    path = tmp_path / "plaid.jsonl"
    path.write_text(json.dumps(plaid_transactions(original), indent=2))
    result = ingest_file(path, PLAID["bank_transactions"])
    assert result.rejected.height == 0
    assert result.accepted.height == original.height
    columns = ["transaction_id", "borrower_id", "booked_date", "amount", "category"]
    assert result.accepted.select(columns).equals(original.select(columns))

    catalogue = feature_catalogue(PLAID).names
    assert not set(BALANCE_FEATURES) & set(catalogue)
    expected = [f for f in BANK_FEATURES if f not in BALANCE_FEATURES]
    assert [
        f for f in catalogue if f.startswith(("bank_", "has_bank", "months_of_data_bank"))
    ] == expected

    spine = (
        original.select(pl.col("borrower_id").unique().sort())
        .with_columns(pl.lit(AS_OF).alias("as_of_date"))
        .lazy()
    )
    ours = compute_features(spine, {"bank_transactions": original.lazy()}, DEMO).collect()
    theirs = compute_features(spine, {"bank_transactions": result.accepted.lazy()}, PLAID).collect()
    assert ours.height == theirs.height > 15
    assert ours.select(expected).equals(theirs.select(expected))
    assert theirs["has_bank"].sum() == ours.height


def test_an_inline_plaid_record_scores_like_the_ingested_one(bank_frames):
    original, applications = bank_frames
    borrower = original["borrower_id"][0]
    application = applications.filter(pl.col("borrower_id") == borrower).row(0, named=True)
    mine = original.filter(pl.col("borrower_id") == borrower)
    inline = features_for_payload(
        application, {"bank_transactions": plaid_transactions(mine)}, AS_OF, PLAID
    )
    batch = features_for_payload(application, {"bank_transactions": mine.to_dicts()}, AS_OF, DEMO)
    shared = [f for f in inline if f in batch]
    assert len(shared) == len(inline) > 10
    assert {f: inline[f] for f in shared} == {f: batch[f] for f in shared}
    assert inline["bank_inflow_mean_12m"] and inline["bank_inflow_mean_12m"] > 0
