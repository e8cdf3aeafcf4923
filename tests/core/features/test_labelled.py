"""No labelled rows, said plainly: what the ingested rows of the labelled sources lack."""

from __future__ import annotations

import polars as pl

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.features import build_training_set
from credit_assets.core.features.labelled import diagnose_unlabelled, no_labelled_rows_message
from tests.support.paths import REPO_ROOT

LENDER = Contract.model_validate(
    {
        "name": "lender",
        "kind": "applications",
        "columns": {
            "defaulted": {
                "type": "int",
                "role": "label",
                "nullable": True,
                "labels": {"bad": 1, "good": 0},
            },
            "income": {"type": "float", "role": "feature", "reason_code": "L01",
                       "reason_text": "Income is low"},
        },
    }
)  # fmt: skip


def lender_rows(labels: list[int | None]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "defaulted": pl.Series(labels, dtype=pl.Int64),
            "income": [1000.0 + i for i in range(len(labels))],
            "_source_file": ["lender.csv"] * len(labels),
            "_row_number": list(range(1, len(labels) + 1)),
        }
    )


def test_a_label_column_without_a_good_or_bad_value_is_named_with_its_values() -> None:
    sources = {"lender": lender_rows([None, None, 7])}
    contracts = {"lender": LENDER}
    assert build_training_set(sources, contracts).height == 0
    unlabelled = diagnose_unlabelled(sources, contracts)
    assert unlabelled.sources == ("lender",)
    assert unlabelled.applications == 3
    assert unlabelled.reasons == (
        "lender: 3 rows ingested, none with an outcome in 'defaulted' (bad is 1, good is 0)",
    )


def test_outcomes_that_match_no_application_are_named() -> None:
    contracts = load_contracts(REPO_ROOT / "contracts")
    sources = {
        "applications": pl.LazyFrame({"application_id": ["a1", "a2"]}),
        "outcomes": pl.LazyFrame({"application_id": ["x1"], "default_12m": [1]}),
    }
    unlabelled = diagnose_unlabelled(sources, contracts)
    assert unlabelled.sources == ("applications", "outcomes")
    assert unlabelled.reasons == (
        "outcomes: 1 labelled rows, none matching one of the 2 applications of applications "
        "by 'application_id'",
    )


def test_sources_without_rows_leave_the_reasons_to_the_ingestion_ledger() -> None:
    unlabelled = diagnose_unlabelled({"lender": lender_rows([])}, {"lender": LENDER})
    assert unlabelled.reasons == ()
    assert unlabelled.applications == 0


def test_the_message_names_every_reason_after_no_labelled_rows() -> None:
    reasons = ["applications/2026-11.csv set aside: required column(s) missing: label", "b"]
    assert no_labelled_rows_message(reasons) == (
        "no labelled rows: applications/2026-11.csv set aside: required column(s) missing: label; b"
    )
