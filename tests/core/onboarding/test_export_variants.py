"""Files as lenders export them: every variant of a clean public file onboards through
`contract infer` -> `contract check` -> ingestion with no hand edit, and reads back to
exactly the clean file's rows; a contract that does not say how a file is written refuses
it naming the fix, or quarantines the values, never reads them wrong."""

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from credit_assets.cli import main
from credit_assets.core.contracts import Contract, load_contract
from credit_assets.core.ingestion.files import UnreadableFileError
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.onboarding.check import WARNING, check_contract
from credit_assets.core.onboarding.inference import infer_contract
from tests.support.export_files import ExportVariant
from tests.support.export_variants import (
    VARIANTS,
    german_credit_frame,
    variant_combinations,
    with_application_dates,
    write_variant,
)
from tests.support.paths import LENDING_CLUB_CSV

CLEAN = with_application_dates(german_credit_frame())


def bad_value(variant: ExportVariant) -> str:
    labels = variant.reading["columns"].get("risk", {}).get("labels")
    return str(labels["bad"] if labels else variant.export.bad_value)


def onboard(variant: ExportVariant, folder: Path) -> tuple[Contract, list[str]]:
    """`contract infer` written to YAML and loaded back, and what `contract check` says."""
    draft = infer_contract(variant.path, "lender", label="risk", bad=bad_value(variant))
    contract_path = folder / "lender.yaml"
    contract_path.write_text(draft.to_yaml(), encoding="utf-8")
    problems = check_contract(contract_path, variant.path)
    return load_contract(contract_path), problems


def assert_reads_back_clean(variant: ExportVariant, contract: Contract) -> None:
    result = ingest_file(variant.path, contract)
    assert result.rejected["reason"].to_list() == []
    assert result.rows_read == CLEAN.height
    got = result.accepted.select(variant.expected.columns)
    # Typed as drafted (an integer column may be drafted int or float): compared as values.
    assert_frame_equal(got, variant.expected, check_dtypes=False)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_export_variant_onboards_with_no_hand_edit(name, tmp_path):
    variant = write_variant(CLEAN, tmp_path, name)
    contract, problems = onboard(variant, tmp_path)
    assert [p for p in problems if not p.startswith(WARNING)] == []
    assert_reads_back_clean(variant, contract)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=variant_combinations())
def test_combined_variants_onboard_with_no_hand_edit(names, tmp_path_factory):
    folder = tmp_path_factory.mktemp("combined")
    variant = write_variant(CLEAN, folder, *names)
    contract, problems = onboard(variant, folder)
    assert [p for p in problems if not p.startswith(WARNING)] == []
    assert_reads_back_clean(variant, contract)


def test_infer_writes_what_it_detected_into_the_contract(tmp_path):
    variant = write_variant(
        CLEAN, tmp_path, "semicolon_thousands_dot", "cp1252", "banner_2", "dates_dmy"
    )
    contract, _ = onboard(variant, tmp_path)
    assert contract.csv.delimiter == ";"
    assert (contract.csv.decimal, contract.csv.thousands) == (",", ".")
    assert contract.csv.encoding == "cp1252" and contract.csv.skip_rows == 2
    assert contract.columns["application_date"].format == "%d/%m/%Y"
    assert contract.timestamp == "application_date"


def test_a_latin1_file_reads_with_its_accents(tmp_path):
    variant = write_variant(CLEAN, tmp_path, "latin1")
    contract, _ = onboard(variant, tmp_path)
    # Latin-1 and Windows-1252 write these letters alike: either reads them right.
    assert contract.csv.encoding in ("cp1252", "latin-1")
    purposes = set(ingest_file(variant.path, contract).accepted["purpose"].to_list())
    assert {"Möbel/Einrichtung", "Haushaltsgeräte"} <= purposes


def test_the_workbook_sheet_holding_the_rows_is_chosen(tmp_path):
    variant = write_variant(CLEAN, tmp_path, "xlsx")
    contract, _ = onboard(variant, tmp_path)
    assert contract.formats == ["excel"]
    assert contract.excel.sheet == variant.reading["excel"]["sheet"]


def test_the_cli_onboards_a_european_export(tmp_path, capsys):
    variant = write_variant(CLEAN, tmp_path, "semicolon_decimal_comma", "cp1252", "banner_1")
    out = tmp_path / "lender.yaml"
    args = ["--label", "risk", "--bad", "0", "--output", str(out)]
    assert main(["contract", "infer", str(variant.path), "--name", "lender", *args]) == 0
    assert main(["contract", "check", str(out), "--sample", str(variant.path)]) == 0
    assert "ok:" in capsys.readouterr().out


# --- a contract that does not say how the file is written ---------------------------------


def clean_contract(tmp_path: Path) -> Contract:
    """The contract drafted from the clean comma-separated UTF-8 file."""
    variant = write_variant(CLEAN, tmp_path / "clean", "comma")
    contract, _ = onboard(variant, tmp_path / "clean")
    return contract


@pytest.mark.parametrize(
    ("names", "fix"),
    [
        (("semicolon",), "1 column found; the header contains ';': set csv.delimiter: ';'"),
        (("tab",), "1 column found; the header contains a tab: set csv.delimiter: '\\t'"),
        (("banner_2",), "the header is on line 3: set csv.skip_rows: 2"),
        (("cp1252",), "not valid utf-8 (byte"),
    ],
)
def test_an_undeclared_dialect_is_refused_naming_the_fix(names, fix, tmp_path):
    contract = clean_contract(tmp_path)
    variant = write_variant(CLEAN, tmp_path, *names)
    with pytest.raises(UnreadableFileError) as refused:
        ingest_file(variant.path, contract)
    assert fix in refused.value.reason
    assert variant.path.name in str(refused.value)
    if "cp1252" in names:
        assert "set csv.encoding: cp1252" in refused.value.reason


def test_undeclared_decimal_commas_are_quarantined_never_read_as_text(tmp_path):
    contract = clean_contract(tmp_path)
    variant = write_variant(CLEAN, tmp_path, "decimal_comma")
    result = ingest_file(variant.path, contract)
    amounts = [r for r in result.rejected["reason"].to_list() if "credit_amount" in r]
    assert result.rejected.height == CLEAN.height == len(amounts)
    declared = contract.columns["credit_amount"].type  # whole amounts in the clean file
    assert amounts[0].startswith(f"credit_amount: not a valid {declared}: '")
    assert "," in amounts[0]


def test_undeclared_day_first_dates_are_quarantined_naming_the_column(tmp_path):
    contract = clean_contract(tmp_path)
    variant = write_variant(CLEAN, tmp_path, "dates_dmy")
    result = ingest_file(variant.path, contract)
    reasons = result.rejected["reason"].to_list()
    # A day above 12 cannot be an ISO date's month: those rows are refused, never guessed.
    assert reasons and all(r.startswith("application_date: not a valid date") for r in reasons)
    assert result.accepted.height + result.rejected.height == CLEAN.height


def test_a_label_spelled_many_ways_is_folded_and_reported(tmp_path):
    variant = write_variant(CLEAN, tmp_path, "label_spellings")
    draft = infer_contract(variant.path, "lender", label="risk", bad="bad")
    assert draft.contract.columns["risk"].labels == {"bad": "bad", "good": "good"}
    folded = [g for g in draft.guesses if g.startswith("label risk:")]
    assert folded and all("case and spaces are ignored" in g for g in folded)
    accepted = ingest_file(variant.path, draft.contract).accepted
    assert accepted["risk"].value_counts().sort("risk").rows() == [("bad", 300), ("good", 700)]


def test_a_misspelled_label_value_gets_a_proposed_map(tmp_path):
    frame = CLEAN.with_columns(
        pl.when(pl.int_range(pl.len()) < 7)
        .then(pl.lit("godo"))
        .otherwise(pl.when(pl.col("risk") == 1).then(pl.lit("good")).otherwise(pl.lit("bad")))
        .alias("risk")
    )
    path = tmp_path / "typo.csv"
    frame.write_csv(path)
    draft = infer_contract(path, "lender", label="risk", bad="bad")
    assert draft.contract.columns["risk"].value_map == {"godo": "good"}
    assert any("'godo' looks like a misspelling of 'good'" in g for g in draft.guesses)
    assert ingest_file(path, draft.contract).rejected.height == 0


LENDING_CLUB = with_application_dates(pl.read_csv(LENDING_CLUB_CSV).head(2000))


@pytest.mark.parametrize(
    "names",
    [
        ("pipe", "thousands_dot", "blank_header"),
        ("semicolon_decimal_comma", "cp1252", "banner_2"),
        ("xlsx",),
        ("tab", "dates_dmy", "gzip"),
        ("utf16", "label_spellings", "crlf"),
    ],
)
def test_lending_club_exports_onboard_with_no_hand_edit(names, tmp_path):
    # A file nobody here wrote, with whole amounts (16.100 beside 13,99) that once made the
    # number detection call a decimal point and read 16 100 as 16.1.
    variant = write_variant(LENDING_CLUB, tmp_path, *names, label_column="Class", bad_value="bad")
    labels = variant.reading["columns"].get("Class", {}).get("labels") or {"bad": "bad"}
    draft = infer_contract(variant.path, "lender", label="Class", bad=str(labels["bad"]))
    result = ingest_file(variant.path, draft.contract)
    assert result.rejected["reason"].to_list() == []
    assert_frame_equal(
        result.accepted.select(variant.expected.columns), variant.expected, check_dtypes=False
    )
