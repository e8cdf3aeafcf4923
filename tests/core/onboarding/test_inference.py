"""`contract infer` drafts a contract that ingestion accepts for the file it was drafted from;
`contract check` lists every problem of a contract at once."""

import json
from pathlib import Path

import polars as pl
import pytest

from credit_assets.cli import main
from credit_assets.core.contracts import Role, load_contract
from credit_assets.core.contracts.pandera_schema import check_against_contract
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.onboarding.check import WARNING, check_contract
from credit_assets.core.onboarding.inference import (
    counted,
    infer_contract,
    looks_protected,
    reason_text_from_name,
    widened_bounds,
)
from tests.support.paths import GERMAN_CREDIT_CSV, LENDING_CLUB_CSV, REPO_ROOT

GERMAN_FEATURES = [
    "job",
    "housing",
    "saving_accounts",
    "checking_account",
    "credit_amount",
    "duration",
    "purpose",
]


@pytest.fixture(scope="module")
def german():
    return infer_contract(GERMAN_CREDIT_CSV, "german_credit", label="risk", bad="0")


@pytest.fixture(scope="module")
def lending_club():
    return infer_contract(LENDING_CLUB_CSV, "lending_club")


def _written(draft, folder: Path) -> Path:
    path = folder / f"{draft.contract.name}.yaml"
    path.write_text(draft.to_yaml(), encoding="utf-8")
    return path


def _lender_rows(n: int = 60) -> list[dict]:
    """A lender's file as delivered: capitalised and spaced names, ids, dates and gaps."""
    return [
        {
            "LoanID": f"L{i:04d}",
            "Customer ID": f"C{i % 25:03d}",
            "Application Date": f"2024-{1 + i % 9:02d}-{10 + i % 10}",
            "Credit Amount": None if i % 7 == 0 else 1000 + 37 * i,
            "MonthlyIncome": None if i % 5 == 0 else 2500.5 + i,
            "Gender": ["F", "M"][i % 2],
            "HasCar": i % 4 == 0,
            "Region": ["N", "S", "E"][i % 3],
            "Defaulted": "yes" if i % 6 == 0 else "no",
        }
        for i in range(n)
    ]


def _lender_file(folder: Path, fmt: str) -> Path:
    rows = _lender_rows()
    path = folder / f"acme.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        frame = pl.DataFrame(rows)
        if fmt == "csv":
            frame.write_csv(path)
        else:
            frame.with_columns(pl.col("Application Date").str.to_date()).write_parquet(path)
    return path


# --- german credit: the file the README onboards -----------------------------------------


def test_german_credit_label_is_risk_with_bad_0_as_given(german):
    label = german.contract.label_column
    assert label.name == "risk"
    assert label.type == "int"
    assert label.labels == {"bad": 0, "good": 1}


def test_german_credit_sex_and_age_are_protected_and_the_rest_features(german):
    contract = german.contract
    assert contract.protected_columns == ["sex", "age"]
    assert [c.name for c in contract.feature_columns] == GERMAN_FEATURES


def test_every_drafted_feature_has_its_own_reason_code_and_a_text_from_its_name(german):
    features = german.contract.feature_columns
    assert [c.reason_code for c in features] == [f"GC0{i}" for i in range(1, 8)]
    assert german.contract.columns["credit_amount"].reason_text == "Credit amount"


def test_low_cardinality_text_is_a_category_with_the_values_seen(german):
    housing = german.contract.columns["housing"]
    assert housing.type == "category"
    assert housing.allowed == ["free", "own", "rent"]


def test_bounds_are_widened_beyond_the_sample(german):
    amount = german.contract.columns["credit_amount"]  # 250 … 18 424 in the file
    assert (amount.min, amount.max) == (0, 50_000)


def test_drafted_german_contract_round_trips_through_load_contract(german, tmp_path):
    loaded = load_contract(_written(german, tmp_path))
    assert loaded.model_dump() == german.contract.model_dump()


def test_yaml_header_says_what_to_review_and_from_how_many_rows(german):
    header = german.to_yaml().split("\nname:")[0]
    assert "1 000 rows of german_credit.csv" in header
    assert "Review every role and every reason_text" in header
    assert "protected, by name: sex, age" in header


def test_drafted_german_contract_ingests_the_whole_file_with_nothing_quarantined(german, tmp_path):
    contract = load_contract(_written(german, tmp_path))
    result = ingest_file(GERMAN_CREDIT_CSV, contract)
    assert (result.rows_read, result.accepted.height, result.rejected.height) == (1000, 1000, 0)
    assert check_against_contract(result.accepted, contract).passed


def test_without_flags_the_german_label_and_its_minority_bad_value_are_guessed():
    draft = infer_contract(GERMAN_CREDIT_CSV, "german_credit")
    assert draft.contract.label_column.labels == {"bad": 0, "good": 1}  # 300 of 1 000
    assert "guessed as the minority class, 30.0% of the sample" in draft.to_yaml()


def test_a_long_file_is_drafted_from_a_random_sample_and_the_header_says_so():
    draft = infer_contract(GERMAN_CREDIT_CSV, "german_credit", sample_rows=200)
    assert draft.rows_sampled == 200
    assert "from a random sample of 200 rows (of 1 000) of german_credit.csv" in draft.to_yaml()


# --- lending club: a guessed label ----------------------------------------------------------


def test_lending_club_class_is_guessed_as_the_label_with_the_5_percent_minority_bad(
    lending_club,
):
    label = lending_club.contract.label_column
    assert label.name == "Class"
    assert label.labels == {"bad": "bad", "good": "good"}
    assert "5.2% of the sample" in lending_club.column_comments["Class"]


def test_lending_club_addr_state_is_text_and_nothing_is_protected(lending_club):
    state = lending_club.contract.columns["addr_state"]
    assert state.type == "string" or len(state.allowed or []) == 50
    assert lending_club.contract.protected_columns == []


def test_drafted_lending_club_contract_ingests_every_row(lending_club, tmp_path):
    result = ingest_file(LENDING_CLUB_CSV, load_contract(_written(lending_club, tmp_path)))
    assert (result.accepted.height, result.rejected.height) == (9857, 0)


# --- a lender's own file: names kept as written, every format -----------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_lender_file_is_drafted_with_its_names_types_and_roles(fmt, tmp_path):
    contract = infer_contract(_lender_file(tmp_path, fmt), "acme").contract
    types = {name: (c.type, c.role) for name, c in contract.columns.items()}
    assert types == {
        "LoanID": ("string", Role.ID),
        "Customer ID": ("string", Role.BORROWER_ID),
        "Application Date": ("date", Role.TIMESTAMP),
        "Credit Amount": ("int", Role.FEATURE),
        "MonthlyIncome": ("float", Role.FEATURE),
        "Gender": ("category", Role.PROTECTED),
        "HasCar": ("bool", Role.FEATURE),
        "Region": ("category", Role.FEATURE),
        "Defaulted": ("category", Role.LABEL),
    }
    assert (contract.keys, contract.timestamp, contract.formats) == (
        ["LoanID"],
        "Application Date",
        [fmt],
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_lender_file_ingests_with_nothing_quarantined(fmt, tmp_path):
    path = _lender_file(tmp_path, fmt)
    contract = load_contract(_written(infer_contract(path, "acme"), tmp_path))
    result = ingest_file(path, contract)
    assert (result.accepted.height, result.rejected.height) == (60, 0)


def test_columns_with_gaps_are_nullable_and_reason_texts_read_as_words(tmp_path):
    contract = infer_contract(_lender_file(tmp_path, "csv"), "acme").contract
    amount, income = contract.columns["Credit Amount"], contract.columns["MonthlyIncome"]
    assert (amount.nullable, income.nullable) == (True, True)
    assert (amount.reason_text, income.reason_text) == ("Credit amount", "Monthly income")
    assert contract.columns["Gender"].nullable is None


def test_a_string_label_keeps_its_text_values(tmp_path):
    label = infer_contract(_lender_file(tmp_path, "jsonl"), "acme").contract.label_column
    assert label.labels == {"bad": "yes", "good": "no"}  # 10 of 60 rows say yes


def test_counts_come_most_frequent_first_and_ties_by_value_every_run():
    values = pl.Series("count", ["b", "a", "b", None, "a", "c", "BAD"])
    assert list(counted(values).items()) == [("a", 2), ("b", 2), ("BAD", 1), ("c", 1), (None, 1)]


def test_spellings_folded_into_a_label_are_named_in_one_order(tmp_path):
    """The guess that names the folded spellings reads the same on every draft of the file
    (it did not: polars' value counts come in a different order from run to run)."""
    rows = ["bad"] * 30 + ["BAD"] * 5 + ["Bad"] * 5 + ["good"] * 60
    path = tmp_path / "loans.csv"
    pl.DataFrame({"loan_id": [f"L{i}" for i in range(len(rows))], "outcome": rows}).write_csv(path)
    drafts = {infer_contract(path, "loans", label="outcome", bad="bad").guesses for _ in range(5)}
    [guesses] = drafts
    assert "label outcome: 'BAD', 'Bad' read as 'bad' (case and spaces are ignored)" in guesses


def test_numbers_with_na_markers_keep_their_type_and_ingest_na_as_missing(tmp_path):
    # The shape of the Give Me Some Credit file: income missing as NA, debt ratio numeric.
    path = tmp_path / "na.csv"
    path.write_text(
        "id,income,ratio,defaulted\n"
        + "".join(
            f"{i},{'NA' if i % 4 == 0 else 1000 + 10 * i},{0.1 * i:.1f},{i % 3 == 0:d}\n"
            for i in range(40)
        ),
        encoding="utf-8",
    )
    draft = infer_contract(path, "na_file")
    income = draft.contract.columns["income"]
    assert (income.type, income.missing, income.nullable) == ("int", ["NA"], True)
    assert "'NA' ×10 read as missing (`missing:`)" in draft.column_comments["income"]
    assert draft.contract.columns["ratio"].missing is None
    contract = load_contract(_written(draft, tmp_path))
    result = ingest_file(path, contract)
    assert (result.accepted.height, result.rejected.height) == (40, 0)
    incomes = result.accepted.sort("id").get_column("income")
    assert incomes.dtype == pl.Int64 and incomes.null_count() == 10
    assert incomes.to_list()[:3] == [None, 1010, 1020]


def test_without_missing_na_in_a_number_column_is_quarantined_with_the_fix_named(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("id,amount,defaulted\n1,100,0\n2,NA,1\n3,250,0\n", encoding="utf-8")
    draft = infer_contract(path, "na_file")
    spec = draft.contract.columns["amount"].model_dump(by_alias=True, exclude_none=True)
    strict = draft.contract.model_copy(
        update={
            "columns": {
                **draft.contract.columns,
                "amount": type(draft.contract.columns["amount"])(
                    **{k: v for k, v in spec.items() if k != "missing"}
                ),
            }
        }
    )
    result = ingest_file(path, strict)
    assert (result.accepted.height, result.rejected.height) == (2, 1)
    [reason] = result.rejected.get_column("reason").to_list()
    assert reason.startswith("amount: not a valid int")


def test_codes_with_leading_zeros_stay_text(tmp_path):
    path = tmp_path / "zips.csv"
    path.write_text("account_no,n\n" + "".join(f"00{i},{i}\n" for i in range(30)))
    assert infer_contract(path, "zips").contract.columns["account_no"].type == "string"


def test_a_source_name_that_cannot_be_an_asset_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'Acme-Loans' must match \^\[a-z\]"):
        infer_contract(_lender_file(tmp_path, "csv"), "Acme-Loans")


def test_a_bad_value_the_label_does_not_hold_is_refused():
    with pytest.raises(ValueError, match=r"--bad '2' is not a value of label column 'risk'"):
        infer_contract(GERMAN_CREDIT_CSV, "german_credit", label="risk", bad="2")


def test_a_label_with_more_than_two_values_is_refused():
    with pytest.raises(ValueError, match="label column 'housing' has 3 distinct values"):
        infer_contract(GERMAN_CREDIT_CSV, "german_credit", label="housing")


# --- the rules, one by one -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "declared"),
    [
        ((250, 18_424), (0, 50_000)),
        ((4, 72), (0, 200)),
        ((-5, 54), (-10, 200)),
        ((0, 0.93), (0, 2)),
    ],
)
def test_widened_bounds(observed, declared):
    assert widened_bounds(*observed) == declared


@pytest.mark.parametrize(
    "name", ["age", "AgeYears", "applicant_gender", "MaritalStatus", "national_origin", "Sex"]
)
def test_names_of_protected_characteristics_are_recognised(name):
    assert looks_protected(name)


@pytest.mark.parametrize("name", ["mortgage_amount", "usage", "average_balance", "sextant"])
def test_words_that_merely_contain_a_protected_word_are_not(name):
    assert not looks_protected(name)


@pytest.mark.parametrize("name", ["credit_amount", "CreditAmount", "Credit Amount"])
def test_reason_text_from_snake_camel_and_spaced_names(name):
    assert reason_text_from_name(name) == "Credit amount"


# --- check ------------------------------------------------------------------------------------


BROKEN = """\
name: lenders_loans
kind: applications
columns:
  amount: {type: money, role: feature, reason_code: L01, reason_text: Amount}
  term: {type: int, role: feature, reason_code: L01, reason_text: Term of the loan}
  income: {type: float, role: feature, min: 0}
  gender: {type: category, role: feature, reason_code: L02, reason_text: Gender}
  outcome: {type: int, role: label}
  outcome: {type: int, role: label, allowed: [0, 1], labels: {bad: 2, good: 0}}
"""


def test_check_lists_every_problem_of_a_broken_contract_at_once(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    problems = check_contract(path)
    expected = [
        "line 9: 'outcome' is declared twice",
        "columns.amount.type: Input should be 'string'",
        "name: 'lenders_loans' must match the file name (loans.yaml)",
        "columns.income: a feature needs reason_code and reason_text",
        "columns.gender: named like a protected characteristic but its role is feature",
        "columns.outcome.labels.bad: 2 is not among allowed [0, 1]",
        "reason_code L01 has 2 different texts",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)


def test_check_names_the_line_of_a_yaml_error(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text("name: loans\ncolumns: {a: [1, 2}\n", encoding="utf-8")
    assert check_contract(path) == [
        "not valid YAML at line 2, column 19: expected ',' or ']', but got '}'"
    ]


def test_check_reports_contract_level_errors_beside_column_errors(tmp_path):
    path = tmp_path / "loans.yaml"
    path.write_text(
        "name: loans\nkind: applications\nkeys: [loan_id]\ncolumns:\n"
        "  amount: {type: money, role: feature}\n",
        encoding="utf-8",
    )
    problems = check_contract(path)
    assert any(p.startswith("columns.amount.type:") for p in problems)
    assert "<contract>: key column 'loan_id' is not among the columns" in problems


def test_every_shipped_contract_checks_clean():
    paths = sorted((REPO_ROOT / "contracts").glob("*.yaml"))
    paths.append(REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml")
    assert {p.name: check_contract(p) for p in paths} == {p.name: [] for p in paths}


def test_the_shipped_german_contract_checks_clean_against_the_file():
    path = REPO_ROOT / "contracts/examples/german_credit/german_credit.yaml"
    assert check_contract(path, GERMAN_CREDIT_CSV) == []


def test_an_applications_source_with_no_label_anywhere_is_a_warning(tmp_path):
    path = tmp_path / "apps.yaml"
    path.write_text(
        "name: apps\nkind: applications\ncolumns:\n"
        "  amount: {type: float, role: feature, reason_code: P01, reason_text: Amount}\n",
        encoding="utf-8",
    )
    [problem] = check_contract(path)
    assert problem.startswith(WARNING + "no label column")


def test_check_with_a_sample_counts_what_ingestion_would_quarantine(german, tmp_path):
    path = _written(german, tmp_path)
    frame = pl.read_csv(GERMAN_CREDIT_CSV, infer_schema=False).drop("purpose")
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([4, 9]))
        .then(pl.lit("abc"))
        .otherwise(pl.col("duration"))
        .alias("duration"),
        pl.lit("x").alias("branch"),
    )
    sample = tmp_path / "next_month.csv"
    frame.write_csv(sample)
    assert check_contract(path, sample) == [
        "sample next_month.csv: column 'purpose' is missing (the file would be refused)",
        "sample next_month.csv: column 'branch' is not in the contract (ingestion drops it)",
        "sample next_month.csv: 2 row(s) would be quarantined for column 'duration'; "
        "first, row 5: duration: not a valid int: 'abc'",
    ]


# --- the command line --------------------------------------------------------------------------


def test_cli_infer_then_check_round_trip(tmp_path, capsys):
    out = tmp_path / "contracts" / "german_credit.yaml"  # a folder not made yet: made
    args = ["--label", "risk", "--bad", "0", "--output", str(out)]
    assert (
        main(["contract", "infer", str(GERMAN_CREDIT_CSV), "--name", "german_credit", *args]) == 0
    )
    assert main(["contract", "check", str(out), "--sample", str(GERMAN_CREDIT_CSV)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"wrote {out}")
    assert printed[-1] == f"ok: {out} (10 columns, 1 label, 7 feature, 2 protected)"


def test_cli_infer_prints_the_draft_without_output(capsys):
    assert main(["contract", "infer", str(GERMAN_CREDIT_CSV), "--name", "german_credit"]) == 0
    assert "  risk: {type: int, role: label" in capsys.readouterr().out


def test_cli_infer_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    out = tmp_path / "german_credit.yaml"
    out.write_text("keep me")
    infer = ["contract", "infer", str(GERMAN_CREDIT_CSV), "--name", "german_credit"]
    assert main([*infer, "--output", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert "--force" in capsys.readouterr().err
    assert main([*infer, "--output", str(out), "--force"]) == 0
    assert load_contract(out).name == "german_credit"


def test_cli_check_of_a_broken_contract_prints_each_problem_and_exits_1(tmp_path, capsys):
    path = tmp_path / "loans.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["contract", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_cli_check_of_a_missing_file_exits_2(tmp_path, capsys):
    assert main(["contract", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_surname_first_name_and_zip_are_proposed_as_bisg_inputs_with_leading_zeros_kept(
    tmp_path,
):
    path = tmp_path / "names.csv"
    pl.DataFrame(
        {
            "LoanID": [f"L{i}" for i in range(40)],
            "Last Name": ["Garcia", "Smith"] * 20,
            "FirstName": ["Maria", "John"] * 20,
            "Zip": ["02139", "60623"] * 20,
            "home_city": ["Boston", "Chicago"] * 20,
            "Income": [1000.0 + i for i in range(40)],
            "Defaulted": ["yes", "no", "no", "no"] * 10,
        }
    ).write_csv(path)
    draft = infer_contract(path, "names")
    columns = draft.contract.columns
    assert columns["Last Name"].role is Role.PROXY_SURNAME
    assert columns["FirstName"].role is Role.PROXY_FIRST_NAME
    assert columns["Zip"].role is Role.PROXY_ZIP and columns["Zip"].type == "string"
    # Geography BISG cannot read is drafted as a feature and flagged: the proxy screen
    # judges it at training time; it is never silently dropped.
    assert columns["home_city"].role is Role.FEATURE
    assert "possible proxy" in draft.column_comments["home_city"]
    assert columns["Income"].role is Role.FEATURE


def test_number_style_is_told_from_unambiguous_values_only():
    from credit_assets.core.onboarding.dialect import detect_numbers

    # `16.100` alone could be either; `13,99` and `35.000,43` decide: decimal comma, dot groups.
    assert detect_numbers([["16.100", "13,99", "35.000,43", "1.099"]]) == (",", ".")
    assert detect_numbers([["16.100", "13,99"]]) == (",", ".")
    assert detect_numbers([["1.234.567"]]) == (",", ".")
    assert detect_numbers([["1,169.94", "2.5"]]) == (".", ",")
    assert detect_numbers([["0.5", "1.234"]]) == (".", None)
    assert detect_numbers([["1 169,94"]]) == (",", " ")
    assert detect_numbers([["16100", "13.99"]]) == (".", None)
