"""Data contracts: the shipped ones load, bad ones fail with the file and field named,
and the pandera schema generated from a contract enforces it."""

from datetime import date

import polars as pl
import pytest

from credit_assets.core.contracts import (
    ContractError,
    Role,
    SourceKind,
    load_contract,
    load_contracts,
)
from credit_assets.core.contracts.pandera_schema import (
    WITHHELD,
    check_against_contract,
    pandera_schema,
    quotable_columns,
)
from tests.support.paths import REPO_ROOT


def test_shipped_contracts_cover_every_source_kind():
    contracts = load_contracts(REPO_ROOT / "contracts")
    kinds = {c.kind for c in contracts.values()}
    assert kinds == set(SourceKind)
    assert contracts["demographics"].protected_columns == ["sex", "age_band", "ethnicity_group"]
    assert contracts["outcomes"].label_column.labels == {"bad": 1, "good": 0}


def test_no_protected_column_is_also_a_feature():
    for contract in load_contracts(REPO_ROOT / "contracts").values():
        features = {c.name for c in contract.columns_with(Role.FEATURE)}
        assert not features & set(contract.protected_columns)


def test_invalid_contract_names_file_and_field(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text(
        "name: loans\nkind: applications\nkeys: [loan_id]\n"
        "columns:\n  amount: {type: money, role: feature}\n"
    )
    with pytest.raises(ContractError) as error:
        load_contract(path)
    message = str(error.value)
    assert "loans.yaml" in message
    assert "columns.amount.type" in message


def test_key_column_must_exist(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text(
        "name: loans\nkind: generic\nkeys: [loan_id]\n"
        "columns:\n  borrower_id: {type: string, role: borrower_id}\n"
    )
    with pytest.raises(ContractError, match="key column 'loan_id' is not among the columns"):
        load_contract(path)


def test_label_column_needs_value_mapping(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text(
        "name: loans\nkind: outcomes\ncolumns:\n"
        "  borrower_id: {type: string, role: borrower_id}\n"
        "  bad: {type: int, role: label}\n"
    )
    with pytest.raises(ContractError, match="needs `labels"):
        load_contract(path)


def test_a_label_mapping_without_its_good_value_is_refused_when_the_contract_loads(tmp_path):
    """Found by a generated lender file: `labels: {bad: 1}` was accepted, ingestion then
    quarantined every good row and the training set failed with KeyError 'good'."""
    path = tmp_path / "loans.yaml"
    path.write_text(
        "name: loans\nkind: outcomes\ncolumns:\n"
        "  borrower_id: {type: string, role: borrower_id}\n"
        "  bad: {type: int, role: label, labels: {bad: 1}}\n"
    )
    with pytest.raises(ContractError, match="`labels` names no good value; declare both"):
        load_contract(path)


def test_contract_name_must_match_file_name(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text("name: loans\nkind: generic\ncolumns:\n  x: {type: int, role: ignore}\n")
    with pytest.raises(ContractError, match="must match the file name"):
        load_contract(path)


def test_pandera_schema_mirrors_contract_types_and_constraints():
    contract = load_contracts(REPO_ROOT / "contracts")["utility_payments"]
    schema = pandera_schema(contract)
    assert set(schema.columns) == set(contract.columns)
    assert schema.columns["bill_id"].unique
    assert not schema.columns["due_date"].nullable
    assert schema.columns["paid_date"].nullable


def test_pandera_schema_reports_each_broken_rule():
    contract = load_contracts(REPO_ROOT / "contracts")["utility_payments"]
    frame = pl.DataFrame(
        {
            "bill_id": ["b1", "b1"],
            "borrower_id": ["B1", "B1"],
            "provider": [None, None],
            "due_date": [date(2024, 1, 1), date(2024, 2, 1)],
            "paid_date": [None, None],
            "amount_due": [50.0, -1.0],
            "amount_paid": [None, None],
            "days_late": [None, 400],
        }
    ).with_columns(
        pl.col("due_date").cast(pl.Date),
        pl.col("paid_date").cast(pl.Date),
        pl.col("provider").cast(pl.String),
        pl.col("amount_paid").cast(pl.Float64),
        pl.col("days_late").cast(pl.Int64),
    )
    report = check_against_contract(frame, contract)
    assert not report.passed
    failed_columns = set(report.failures["column"].to_list())
    assert {"bill_id", "amount_due", "days_late"} <= failed_columns


def test_the_schema_table_quotes_feature_values_and_withholds_identifiers():
    """The check's table goes to run history, which an erasure cannot reach: a duplicated
    bill id (an identifier) is withheld, an out-of-range amount (a feature) is quoted."""
    contract = load_contracts(REPO_ROOT / "contracts")["utility_payments"]
    frame = pl.DataFrame(
        {
            "bill_id": ["BILL-778812", "BILL-778812"],
            "borrower_id": ["B1", "B2"],
            "due_date": [date(2024, 1, 1), date(2024, 2, 1)],
            "amount_due": [50.0, -13.25],
        }
    )
    report = check_against_contract(frame, contract)
    table = report.markdown(limit=50, shown=quotable_columns(contract))
    assert "BILL-778812" not in table and WITHHELD in table
    assert "-13.25" in table
    assert "BILL-778812" in report.markdown(limit=50)  # without `shown`, every case
    assert quotable_columns(contract) >= {"amount_due", "due_date"}
    assert not quotable_columns(contract) & {"bill_id", "borrower_id"}


def test_a_column_key_yaml_reads_as_a_boolean_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "lender.yaml"
    path.write_text(
        "name: lender\nkind: applications\ncolumns:\n  on: {type: int, role: feature}\n"
    )
    with pytest.raises(ContractError, match="column name True was read by YAML as bool: quote it"):
        load_contract(path)


def test_lineage_column_names_are_reserved(tmp_path):
    path = tmp_path / "lender.yaml"
    path.write_text(
        "name: lender\nkind: applications\ncolumns:\n  _row_number: {type: int, role: feature}\n"
    )
    with pytest.raises(ContractError, match="'_row_number' is reserved for lineage"):
        load_contract(path)
