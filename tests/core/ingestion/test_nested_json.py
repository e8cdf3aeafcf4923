"""Nested JSON by contract: `records:` names the array of rows, `from:` where each value sits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_assets.core.contracts import Contract, load_contract
from credit_assets.core.contracts.json_paths import extract, parse_path
from credit_assets.core.ingestion.stream import ingest_file
from tests.support.plaid import PLAID_CONTRACT

CONTRACT = Contract.model_validate(
    {
        "name": "aggregator",
        "kind": "generic",
        "formats": ["jsonl"],
        "records": "$.transactions[*]",
        "keys": ["transaction_id"],
        "columns": {
            "transaction_id": {"type": "string", "role": "id"},
            "borrower_id": {"type": "string", "role": "borrower_id", "from": "$.account_id"},
            "amount": {"type": "float", "role": "ignore", "from": "$.amount"},
            "category": {
                "type": "string",
                "role": "ignore",
                "from": "$.personal_finance_category.primary",
            },
            "first_tag": {
                "type": "string",
                "role": "ignore",
                "nullable": True,
                "from": "$.tags[0]",
            },
            "merchant": {
                "type": "string",
                "role": "ignore",
                "nullable": True,
                "from": '$["merchant name"]',
            },
        },
    }
)


def _transaction(i: int, **extra) -> dict:
    return {
        "transaction_id": f"t{i}",
        "account_id": "acc-1",
        "amount": 12.5 * i,
        "personal_finance_category": {"primary": "FOOD_AND_DRINK", "detailed": "x"},
        "tags": ["card"],
        "merchant name": "Corner Shop",
        **extra,
    }


def test_paths_parse_and_extract_fields_indices_and_quoted_names() -> None:
    record = {"a": {"b": [{"c": 1}]}, "odd key": 2}
    assert parse_path("$.a.b[0].c") == ("a", "b", 0, "c")
    assert extract(record, parse_path("$.a.b[0].c")) == 1
    assert extract(record, parse_path('$["odd key"]')) == 2
    assert extract(record, parse_path("$.a.missing.c")) is None
    with pytest.raises(ValueError, match="must start with"):
        parse_path("amount")
    with pytest.raises(ValueError, match="cannot read"):
        parse_path("$.a..b")


def test_an_aggregator_response_maps_its_transactions_into_rows(tmp_path: Path) -> None:
    path = tmp_path / "response.jsonl"
    response = {"accounts": [], "transactions": [_transaction(1), _transaction(2, tags=[])]}
    path.write_text(json.dumps(response, indent=2), encoding="utf-8")  # one pretty document
    result = ingest_file(path, CONTRACT)
    assert result.rows_read == 2 and result.rejected.height == 0
    rows = result.accepted.sort("transaction_id").to_dicts()
    assert [r["amount"] for r in rows] == [12.5, 25.0]
    assert {r["category"] for r in rows} == {"FOOD_AND_DRINK"}
    assert [r["first_tag"] for r in rows] == ["card", None]
    assert rows[0]["borrower_id"] == "acc-1" and rows[0]["merchant"] == "Corner Shop"


def test_documents_per_line_and_a_document_without_the_array_loses_nothing(tmp_path) -> None:
    path = tmp_path / "lines.jsonl"
    lines = [
        json.dumps({"transactions": [_transaction(1), _transaction(2)]}),
        json.dumps({"error": "rate limited"}),
        "{not json",
        json.dumps({"transactions": [_transaction(3)]}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_file(path, CONTRACT)
    assert result.accepted.height == 3
    assert result.rejected.height == 2
    assert result.accepted.height + result.rejected.height == result.rows_read
    reasons = " | ".join(result.rejected["reason"].to_list())
    assert "no array of records at $.transactions[*]" in reasons
    assert "not a JSON object" in reasons


def test_a_nested_contract_must_accept_json_and_its_paths_must_parse() -> None:
    with pytest.raises(ValueError, match="formats must include jsonl"):
        Contract.model_validate(
            {**CONTRACT.model_dump(by_alias=True, exclude={"path"}), "formats": ["csv"]}
        )
    columns = CONTRACT.model_dump(by_alias=True)["columns"]
    columns["amount"]["from"] = "amount"
    with pytest.raises(ValueError, match="must start with"):
        Contract.model_validate(
            {**CONTRACT.model_dump(by_alias=True, exclude={"path"}), "columns": columns}
        )


def test_the_landing_preflight_accepts_a_pretty_document_and_refuses_what_is_not_json(
    tmp_path: Path,
) -> None:
    from credit_assets.core.ingestion.files import UnreadableFileError, inspect_landing_file

    contract = load_contract(PLAID_CONTRACT)
    pretty = tmp_path / "response.jsonl"
    pretty.write_text(json.dumps([{"transaction_id": "t1"}], indent=2))
    inspect_landing_file(pretty, contract)  # a pretty-printed array is worth ingesting
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("transaction_id,amount\nt1,12\n")
    with pytest.raises(UnreadableFileError, match="not JSON"):
        inspect_landing_file(garbage, contract)
