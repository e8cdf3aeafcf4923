"""The synthetic alternative-data generator: contracts, determinism, figures, dirt and streaming."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn.metrics import roc_auc_score

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.tools.synthetic import (
    SOURCE_FORMATS,
    GenerationSummary,
    generate,
    generate_frames,
)
from tests.support.paths import REPO_ROOT

CONTRACTS = load_contracts(REPO_ROOT / "contracts")
SOURCES = tuple(SOURCE_FORMATS)
END = date(2026, 9, 30)
POLARS_TYPE = {
    "string": pl.String,
    "category": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "date": pl.Date,
}
PAYMENT_SOURCES = ("utility_payments", "telecom_payments", "rent_payments")


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    return generate_frames(12_000, seed=42, end_date=END)


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("dirty")
    summary = generate(
        3_000,
        root / "landing",
        root / "truth",
        seed=7,
        dirty_rate=0.05,
        bad_files=True,
        chunk_borrowers=1_000,
    )
    return root / "landing", root / "truth", summary


def contract_problems(frame: pl.DataFrame, contract: Contract) -> pl.Series:
    """Per row, whether any value breaks the contract (typed or all-string frames alike)."""
    bad = pl.repeat(False, frame.height, eager=True)
    for name, spec in contract.columns.items():
        raw = frame[name]
        if raw.dtype == pl.String:  # an empty CSV field is a missing value
            raw = pl.select(pl.when(raw == "").then(None).otherwise(raw)).to_series()
        missing = raw.is_null()
        if spec.type in ("int", "float"):
            value = raw.cast(pl.Float64, strict=False)
        elif spec.type == "date":
            value = raw.str.to_date("%Y-%m-%d", strict=False) if raw.dtype == pl.String else raw
        else:
            value = raw
        problem = missing if not spec.is_nullable else pl.repeat(False, frame.height, eager=True)
        problem = problem | (~missing & value.is_null())  # does not parse
        if spec.type == "int":
            problem = problem | (value.is_not_null() & (value != value.round(0)))
        if spec.min is not None:
            problem = problem | (value < spec.min).fill_null(False)
        if spec.max is not None:
            problem = problem | (value > spec.max).fill_null(False)
        if spec.allowed is not None:
            allowed = (
                pl.Series([float(a) for a in spec.allowed])
                if spec.type in ("int", "float")
                else pl.Series([str(a) for a in spec.allowed])
            )
            problem = problem | (~value.is_in(allowed.implode()) & value.is_not_null())
        bad = bad | problem
    return bad


def read_landing(landing: Path, source: str, pattern: str = "-part-") -> pl.DataFrame:
    """All part files of a source; CSV and JSON lines as strings, so nothing is coerced away."""
    parts = sorted((landing / source).glob(f"{source}{pattern}*.{SOURCE_FORMATS[source]}"))
    fmt = SOURCE_FORMATS[source]
    if fmt == "parquet":
        return pl.concat([pl.read_parquet(p) for p in parts])
    if fmt == "csv":
        return pl.concat(
            [pl.read_csv(p, infer_schema=False, empty_string_is_null=False) for p in parts]
        )
    rows = [json.loads(line) for p in parts for line in p.read_text("utf-8").splitlines()]
    return pl.DataFrame(
        [{k: None if v is None else str(v) for k, v in r.items()} for r in rows],
        schema=dict.fromkeys(rows[0], pl.String),
    )


def test_frames_have_the_contract_columns_and_dtypes(frames: dict[str, pl.DataFrame]) -> None:
    assert set(frames) == {*SOURCES, "ground_truth"} == {*CONTRACTS, "ground_truth"}
    for source, contract in CONTRACTS.items():
        expected = {name: POLARS_TYPE[spec.type] for name, spec in contract.columns.items()}
        assert dict(frames[source].schema) == expected, source
    assert dict(frames["ground_truth"].schema) == {
        "application_id": pl.String, "borrower_id": pl.String, "true_pd": pl.Float64, "creditworthiness": pl.Float64,
        "true_ethnicity_group": pl.String, "true_census_group": pl.String,
    }  # fmt: skip


def test_clean_frames_satisfy_every_contract_constraint_and_key(
    frames: dict[str, pl.DataFrame],
) -> None:
    for source, contract in CONTRACTS.items():
        assert contract_problems(frames[source], contract).sum() == 0, source
        assert frames[source].select(contract.keys).is_duplicated().sum() == 0, source


def test_same_seed_gives_identical_frames_and_another_seed_differs() -> None:
    first, again, other = (generate_frames(1_500, seed=s) for s in (3, 3, 4))
    for name in first:
        assert_frame_equal(first[name], again[name])
    assert not first["bank_transactions"].equals(other["bank_transactions"])
    assert not first["ground_truth"].equals(other["ground_truth"])


def test_borrowers_generated_in_chunks_equal_those_generated_at_once() -> None:
    whole = generate_frames(2_000, seed=5)
    parts = [
        generate_frames(n, seed=5, first_borrower=first)
        for first, n in ((0, 777), (777, 1_000), (1_777, 223))
    ]
    for name in whole:
        assert_frame_equal(whole[name], pl.concat([p[name] for p in parts]))


def test_identifiers_are_unique_across_chunks() -> None:
    a, b = generate_frames(500, first_borrower=0), generate_frames(500, first_borrower=500)
    for source, contract in CONTRACTS.items():
        key = contract.keys
        both = pl.concat([a[source].select(key), b[source].select(key)])
        assert both.is_duplicated().sum() == 0, source
    assert (
        a["applications"]["borrower_id"][0] == "B00000000"
        and b["applications"]["application_id"][0] == "A00000500"
    )


def test_matured_default_rate_is_between_5_and_15_percent(frames: dict[str, pl.DataFrame]) -> None:
    assert 0.05 <= frames["outcomes"]["default_12m"].mean() <= 0.15


def test_at_least_40_percent_of_borrowers_have_no_bureau_record(
    frames: dict[str, pl.DataFrame],
) -> None:
    thin = 1 - frames["bureau"]["borrower_id"].n_unique() / frames["applications"].height
    assert thin >= 0.40


def test_true_pd_ranks_realised_defaults_with_a_bayes_auc_between_075_and_088(
    frames: dict[str, pl.DataFrame],
) -> None:
    matured = frames["outcomes"].join(frames["ground_truth"], on="application_id")
    assert 0.75 <= roc_auc_score(matured["default_12m"], matured["true_pd"]) <= 0.88


def test_outcomes_exist_exactly_for_applications_matured_12_months_before_the_end(
    frames: dict[str, pl.DataFrame],
) -> None:
    apps = frames["applications"].with_columns(due=pl.col("application_date").dt.offset_by("12mo"))
    matured = apps.filter(pl.col("due") <= END)
    outcomes = frames["outcomes"].join(apps, on="application_id")
    assert outcomes.height == matured.height == frames["outcomes"].height
    assert (outcomes["outcome_date"] == outcomes["due"]).all()
    assert 0.55 < matured.height / apps.height < 0.72  # 21 of 33 months


def test_applications_span_33_months_up_to_the_end_date(frames: dict[str, pl.DataFrame]) -> None:
    dates = frames["applications"]["application_date"]
    assert date(2023, 12, 30) < dates.min() < date(2024, 1, 10)
    assert date(2026, 9, 20) < dates.max() <= END


def test_every_borrower_has_an_alternative_source_at_the_requested_coverage(
    frames: dict[str, pl.DataFrame],
) -> None:
    n = frames["applications"].height
    holders = {
        s: set(frames[s]["borrower_id"].unique()) for s in (*PAYMENT_SOURCES, "bank_transactions")
    }
    assert len(set.union(*holders.values())) == n
    share = {s: len(h) / n for s, h in holders.items()}
    assert 0.80 <= share["utility_payments"] <= 0.90
    assert 0.87 <= share["telecom_payments"] <= 0.95
    assert 0.52 <= share["rent_payments"] <= 0.65
    assert 0.65 <= share["bank_transactions"] <= 0.75


def test_records_span_6_to_24_months_before_and_continue_after_the_application(
    frames: dict[str, pl.DataFrame],
) -> None:
    apps = frames["applications"].select("borrower_id", "application_date")
    for source, ts in (
        *((s, "due_date") for s in PAYMENT_SOURCES),
        ("bank_transactions", "booked_date"),
    ):
        span = (
            frames[source]
            .join(apps, on="borrower_id")
            .group_by("borrower_id")
            .agg(
                before=(pl.col("application_date").first() - pl.col(ts).min()).dt.total_days(),
                after=(pl.col(ts) > pl.col("application_date")).sum(),
            )
        )
        assert span["before"].quantile(0.01) >= 5 * 30 and span["before"].max() <= 25 * 31, source
        assert (span["after"] > 0).mean() > 0.9, source


def test_bank_balance_runs_with_the_amounts(frames: dict[str, pl.DataFrame]) -> None:
    bank = frames["bank_transactions"].with_columns(
        previous=pl.col("balance").shift(1).over("borrower_id")
    )
    gap = (
        bank.filter(pl.col("previous").is_not_null())
        .select((pl.col("previous") + pl.col("amount") - pl.col("balance")).abs().max())
        .item()
    )
    assert gap < 1e-6
    per_borrower = bank.height / frames["applications"].height
    assert 40 <= per_borrower <= 60
    assert set(bank["category"].unique()) == set(
        CONTRACTS["bank_transactions"].columns["category"].allowed
    )


def test_weaker_borrowers_pay_later_and_overdraw_more(frames: dict[str, pl.DataFrame]) -> None:
    z = frames["ground_truth"].select("borrower_id", "creditworthiness")
    late = (
        frames["utility_payments"]
        .group_by("borrower_id")
        .agg(late=(pl.col("days_late") > 0).mean())
        .join(z, on="borrower_id")
    )
    fees = (
        frames["bank_transactions"]
        .group_by("borrower_id")
        .agg(fees=(pl.col("category") == "overdraft_fee").sum())
        .join(z, on="borrower_id")
    )
    assert late.select(pl.corr("late", "creditworthiness")).item() < -0.4
    assert fees.select(pl.corr("fees", "creditworthiness")).item() < -0.3


def test_protected_groups_differ_in_income_and_bureau_coverage_but_not_in_creditworthiness(
    frames: dict[str, pl.DataFrame],
) -> None:
    people = (
        frames["demographics"]
        .join(frames["applications"], on="borrower_id")
        .join(frames["ground_truth"], on="borrower_id")
        .with_columns(bureau=pl.col("borrower_id").is_in(frames["bureau"]["borrower_id"].implode()))
    )
    by_group = (
        people.group_by("ethnicity_group")
        .agg(
            pl.col("declared_monthly_income").median(),
            pl.col("bureau").mean(),
            pl.col("creditworthiness").mean(),
        )
        .drop_nulls("ethnicity_group")
        .sort("ethnicity_group")
    )
    a, c = by_group.row(0, named=True), by_group.row(2, named=True)
    assert c["declared_monthly_income"] < 0.85 * a["declared_monthly_income"]
    assert c["bureau"] < a["bureau"] - 0.08
    assert abs(c["creditworthiness"] - a["creditworthiness"]) < 0.1


def test_declared_income_and_employment_length_are_sometimes_missing(
    frames: dict[str, pl.DataFrame],
) -> None:
    apps = frames["applications"]
    assert 0.05 < apps["declared_monthly_income"].null_count() / apps.height < 0.15
    assert 0.05 < apps["employment_length_years"].null_count() / apps.height < 0.40


def test_clean_generation_writes_one_part_per_chunk_in_the_declared_formats(tmp_path: Path) -> None:
    done: list[int] = []
    summary = generate(
        1_500, tmp_path / "landing", tmp_path / "truth", chunk_borrowers=600, progress=done.append
    )
    assert done == [600, 600, 300]
    for source, ext in SOURCE_FORMATS.items():
        names = sorted(p.name for p in (tmp_path / "landing" / source).iterdir())
        assert names == [f"{source}-part-{k:05d}.{ext}" for k in range(3)]
    assert sum(summary.dirty_rows.values()) == 0 and summary.bad_files == []
    at_once = generate_frames(1_500)
    for source in SOURCES:
        written = read_landing(tmp_path / "landing", source)
        assert written.height == summary.rows[source] == at_once[source].height, source
    assert_frame_equal(
        read_landing(tmp_path / "landing", "bank_transactions"), at_once["bank_transactions"]
    )
    applications = pl.read_csv(
        tmp_path / "landing" / "applications" / "applications-part-00001.csv",
        try_parse_dates=True,
        schema_overrides={"zip_code": pl.String},  # ZIP codes keep their leading zeros
    )
    assert_frame_equal(applications, at_once["applications"].slice(600, 600), check_dtypes=False)


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    runs = [
        generate(
            600,
            tmp_path / r / "landing",
            tmp_path / r / "truth",
            dirty_rate=0.1,
            bad_files=True,
            chunk_borrowers=400,
        )
        for r in ("a", "b")
    ]
    for a, b in zip(
        runs[0].files + runs[0].bad_files, runs[1].files + runs[1].bad_files, strict=True
    ):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = generate(
        600, tmp_path / "c" / "landing", tmp_path / "c" / "truth", seed=43, chunk_borrowers=400
    )
    assert other.files[0].read_bytes() != runs[0].files[0].read_bytes()


def test_dirty_rate_makes_that_share_of_rows_break_the_contract(dirty_run) -> None:
    landing, _, summary = dirty_run
    for source, contract in CONTRACTS.items():
        written = read_landing(landing, source)
        broken = contract_problems(written, contract)
        intact = written.filter(~broken)  # damaged rows may coincide; duplicates are of intact rows
        duplicates = intact.height - intact.unique().height
        assert broken.sum() + duplicates == summary.dirty_rows[source], source
        assert written.height == summary.rows[source]
        assert summary.dirty_rows[source] == pytest.approx(0.05 * written.height, abs=3 * 3), source
        if SOURCE_FORMATS[source] != "parquet":
            assert duplicates > 0, source


def test_dirty_values_include_malformed_numbers_and_dates_and_empty_borrower_ids(dirty_run) -> None:
    landing, _, _ = dirty_run
    bills = read_landing(landing, "utility_payments")
    assert bills.filter(pl.col("due_date").str.contains(r"^\d{4}-\d{2}-\d{2}$").not_()).height > 0
    assert bills.filter(pl.col("amount_due").cast(pl.Float64, strict=False).is_null()).height > 0
    assert bills.filter(pl.col("days_late") == "9999").height > 0
    assert bills.filter(pl.col("borrower_id") == "").height > 0
    bank = read_landing(landing, "bank_transactions")
    assert dict(bank.schema) == {
        n: POLARS_TYPE[s.type] for n, s in CONTRACTS["bank_transactions"].columns.items()
    }
    assert bank["borrower_id"].null_count() > 0


def test_bad_files_have_a_missing_required_column_and_a_wrong_encoding(dirty_run) -> None:
    landing, _, summary = dirty_run
    missing, encoded = summary.bad_files
    assert missing == landing / "utility_payments" / "utility_payments-missing-column.csv"
    header = missing.read_text("utf-8").splitlines()[0].split(",")
    assert "due_date" not in header and CONTRACTS["utility_payments"].columns["due_date"].required
    assert encoded.parent == landing / "rent_payments"
    with pytest.raises(UnicodeDecodeError):
        encoded.read_bytes().decode("utf-8")


def test_ground_truth_is_written_apart_from_the_landing_zone(dirty_run, tmp_path: Path) -> None:
    landing, truth, summary = dirty_run
    truth_files = sorted(truth.glob("true_pd-part-*.parquet"))
    assert len(truth_files) == 3
    assert pl.concat([pl.read_parquet(p) for p in truth_files]).height == summary.n_borrowers
    for path in summary.files[: -len(truth_files)]:
        assert path.is_relative_to(landing)
        columns = (
            pl.read_parquet_schema(path) if path.suffix == ".parquet" else path.open().readline()
        )
        assert "true_pd" not in columns and "creditworthiness" not in columns
    with pytest.raises(ValueError, match="ground_truth_dir"):
        generate(10, tmp_path / "landing", tmp_path / "landing" / "truth")


def test_summary_reports_the_population_figures(dirty_run) -> None:
    _, _, summary = dirty_run
    assert summary.n_borrowers == 3_000
    assert 0.05 <= summary.default_rate <= 0.15
    assert summary.thin_file_share >= 0.40
    assert 0.72 <= summary.bayes_auc <= 0.90
    assert 0.55 < summary.matured_applications / summary.n_borrowers < 0.72
    assert json.dumps(summary.as_dict())
