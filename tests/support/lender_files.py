"""Lender application files of every shape, each with its data contract and its truth.

The platform promises that a lender onboards its own labelled application file by
writing a contract and nothing else. These helpers make such files: `make_lender_file`
draws one (data plus contract), `write_lender_workspace` puts it where the platform
looks for it, and `lender_file_specs` is the hypothesis strategy over their shapes.

How a row is made. A hidden risk factor r ~ N(disparity * disadvantaged, 1) drives the
first few features of the file (the signal columns) together with their own noise; the
other features are pure noise. The true probability of default is a logistic function
of the signal columns as written to the file (a null counts as the column average),
scaled to the spec's signal strength and shifted so its mean is the spec's bad rate;
the label is one Bernoulli draw from it. The truth rides along in columns whose names
start with `_` (`TRUTH_COLUMNS`), which are never written. A planted disparity reaches
the label only through the features, as it would in a lender's book, so a model that
never sees the protected column still approves the disadvantaged group less often.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import yaml
from hypothesis import strategies as st
from scipy.special import expit, ndtr

from credit_assets.core.tools.synthetic.names import CENSUS_GROUP, names_frame

LabelCoding = Literal["int01_bad1", "int01_bad0", "good_bad", "y_n"]
ProtectedColumns = Literal["none", "sex", "age", "both"]
Signal = Literal["normal", "low"]
NameStyle = Literal["snake", "capitalised"]

LABEL_CODINGS: tuple[LabelCoding, ...] = ("int01_bad1", "int01_bad0", "good_bad", "y_n")
PROTECTED_OPTIONS: tuple[ProtectedColumns, ...] = ("none", "sex", "age", "both")
SIGNALS: tuple[Signal, ...] = ("normal", "low")
NAME_STYLES: tuple[NameStyle, ...] = ("snake", "capitalised")

MIN_ROWS, MAX_ROWS = 200, 5000
MIN_BAD_RATE, MAX_BAD_RATE = 0.03, 0.5
MAX_NULL_SHARE = 0.2
MAX_DISPARITY = 2.0
# Standard deviation of the true log-odds: a Bayes AUC near 0.8 and near 0.58 respectively.
SIGNAL_LOG_ODDS_SD: dict[Signal, float] = {"normal": 1.5, "low": 0.3}
SIGNAL_NUMERIC, SIGNAL_CATEGORICAL = 3, 2  # how many of each kind carry risk
RISK_LOADING = 0.6  # correlation of a signal column's latent with the hidden risk factor
YOUNG_AGE = 25  # below it an applicant is in the disadvantaged group when only age is on file
# A dated file's applications fall in the twelve months up to this day, one borrower each.
DATED_MONTHS, DATED_LAST_DAY = 12, date(2026, 6, 30)

PROXY_GROUP_SHARES = (0.62, 0.17, 0.13, 0.08)  # white, black, hispanic, api
TRUE_PD, IS_BAD, DISADVANTAGED = "_true_pd", "_is_bad", "_disadvantaged"
TRUTH_COLUMNS = (TRUE_PD, IS_BAD, DISADVANTAGED)


@dataclass(frozen=True)
class LenderFileSpec:
    """The shape of one lender file.

    `protected`: which protected columns the file carries (`sex` categorical, `age`
    numeric). `null_share`: the share of nulls in about half the feature columns.
    `label_coding`: `int01_bad1` (1 is bad), `int01_bad0` (0 is bad, as in German
    Credit), `good_bad` (strings) or `y_n` (`Y` is bad). `name_style`: `snake` or
    `capitalised` (`CreditAmount`, `Home Ownership`, `Charged Off`). `disparity`: how far
    (in standard deviations of the hidden risk) the disadvantaged group (women when
    `sex` is on file, else applicants under 25, else with `proxies` and no protected
    column the Black applicants) is shifted towards risk; 0 plants none. `proxies`: the
    file carries `last_name`, `first_name` and `zip` (BISG inputs) drawn from the Census
    tables given a hidden race/ethnicity (white, black, hispanic, api by population share).
    `dated`: the file also carries a borrower id (one borrower per row) and an application
    date (the contract's timestamp) spread over the `DATED_MONTHS` months up to
    `DATED_LAST_DAY`, so it is split out of time and gives a borrower snapshot.
    """

    n_rows: int = 1000
    bad_rate: float = 0.2
    n_numeric: int = 4
    n_categorical: int = 2
    protected: ProtectedColumns = "both"
    null_share: float = 0.0
    label_coding: LabelCoding = "int01_bad1"
    name_style: NameStyle = "snake"
    signal: Signal = "normal"
    disparity: float = 0.0
    proxies: bool = False
    dated: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not MIN_ROWS <= self.n_rows <= MAX_ROWS:
            problems.append(f"n_rows {self.n_rows} outside [{MIN_ROWS}, {MAX_ROWS}]")
        if not MIN_BAD_RATE <= self.bad_rate <= MAX_BAD_RATE:
            problems.append(f"bad_rate {self.bad_rate} outside [{MIN_BAD_RATE}, {MAX_BAD_RATE}]")
        if not 0 <= self.n_numeric <= len(NUMERIC):
            problems.append(f"n_numeric {self.n_numeric} outside [0, {len(NUMERIC)}]")
        if not 0 <= self.n_categorical <= len(CATEGORICAL):
            problems.append(f"n_categorical {self.n_categorical} outside [0, {len(CATEGORICAL)}]")
        if self.n_numeric + self.n_categorical == 0:
            problems.append("a file needs at least one feature column")
        if not 0 <= self.null_share <= MAX_NULL_SHARE:
            problems.append(f"null_share {self.null_share} outside [0, {MAX_NULL_SHARE}]")
        if not 0 <= self.disparity <= MAX_DISPARITY:
            problems.append(f"disparity {self.disparity} outside [0, {MAX_DISPARITY}]")
        if self.disparity and self.protected == "none" and not self.proxies:
            problems.append("a planted disparity needs a protected column or proxies")
        if self.seed < 0:
            problems.append(f"seed {self.seed} is negative")
        if self.protected not in PROTECTED_OPTIONS or self.label_coding not in LABEL_CODINGS:
            problems.append(f"unknown protected {self.protected!r} or coding {self.label_coding!r}")
        if self.signal not in SIGNALS or self.name_style not in NAME_STYLES:
            problems.append(f"unknown signal {self.signal!r} or name style {self.name_style!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def name(self) -> str:
        """The source name: it names the contract file and the landing folder."""
        return f"lender_{self.seed}"


@dataclass(frozen=True)
class _Numeric:
    """A numeric attribute; `draw` maps a standard normal latent to values, rising with it."""

    snake: str
    capitalised: str
    type: Literal["int", "float"]
    risk: Literal[1, -1]  # 1: a higher value is riskier
    low: float
    high: float
    draw: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    log_scale: bool
    reason_text: str
    description: str


@dataclass(frozen=True)
class _Categorical:
    """A categorical attribute; levels run from the safest to the riskiest."""

    snake: str
    capitalised: str
    levels: tuple[tuple[str, float, float], ...]  # value, share, log-odds before scaling
    reason_text: str
    description: str

    @property
    def values(self) -> list[str]:
        return [value for value, _, _ in self.levels]


NUMERIC: tuple[_Numeric, ...] = (
    _Numeric(
        snake="credit_amount",
        capitalised="CreditAmount",
        type="float",
        risk=1,
        low=0,
        high=10_000_000,
        draw=lambda u, rng: np.round(np.exp(8.2 + 0.9 * u), 2),
        log_scale=True,
        reason_text="Amount of credit requested is high",
        description="Amount of credit requested.",
    ),
    _Numeric(
        snake="duration_months",
        capitalised="DurationMonths",
        type="int",
        risk=1,
        low=1,
        high=120,
        draw=lambda u, rng: np.clip(6 * np.round((24 + 12 * u) / 6), 6, 72),
        log_scale=False,
        reason_text="Term of the credit requested is long",
        description="Duration of the credit in months.",
    ),
    _Numeric(
        snake="annual_income",
        capitalised="Annual Income",
        type="int",
        risk=-1,
        low=0,
        high=10_000_000,
        draw=lambda u, rng: 100 * np.round(np.exp(10.6 + 0.55 * u) / 100),
        log_scale=True,
        reason_text="Declared income is low",
        description="Declared annual income, whole currency units.",
    ),
    _Numeric(
        snake="late_payments_12m",
        capitalised="LatePayments12M",
        type="int",
        risk=1,
        low=0,
        high=36,
        draw=lambda u, rng: np.clip(rng.poisson(np.exp(-1.2 + 0.9 * u)), 0, 36),
        log_scale=True,
        reason_text="Recent late payments",
        description="Payments more than 30 days late in the last 12 months.",
    ),
    _Numeric(
        snake="credit_utilisation",
        capitalised="CreditUtilisation",
        type="float",
        risk=1,
        low=0,
        high=1.5,
        draw=lambda u, rng: np.round(1.3 * expit(1.3 * u - 0.6), 3),
        log_scale=False,
        reason_text="Revolving credit utilisation is high",
        description="Revolving balance over credit limit.",
    ),
    _Numeric(
        snake="years_at_address",
        capitalised="YearsAtAddress",
        type="int",
        risk=-1,
        low=0,
        high=60,
        draw=lambda u, rng: np.clip(np.floor(np.exp(1.6 + 0.7 * u)), 0, 60),
        log_scale=True,
        reason_text="Time at current address is short",
        description="Whole years at the current address.",
    ),
    _Numeric(
        snake="open_accounts",
        capitalised="NumOpenAccounts",
        type="int",
        risk=1,
        low=0,
        high=60,
        draw=lambda u, rng: np.clip(rng.poisson(np.exp(1.1 + 0.4 * u)), 0, 60),
        log_scale=True,
        reason_text="Number of open credit accounts",
        description="Open credit accounts at application.",
    ),
    _Numeric(
        snake="debt_to_income",
        capitalised="DebtToIncome",
        type="float",
        risk=1,
        low=0,
        high=10,
        draw=lambda u, rng: np.clip(np.round(np.exp(-1.2 + 0.5 * u), 3), 0, 10),
        log_scale=True,
        reason_text="Debt is high relative to income",
        description="Monthly debt payments over monthly income.",
    ),
)

# Levels as (value, share, log-odds effect), from the safest to the riskiest.
CATEGORICAL: tuple[_Categorical, ...] = (
    _Categorical(
        snake="home_ownership",
        capitalised="Home Ownership",
        levels=(
            ("own", 0.30, -0.5),
            ("mortgage", 0.40, -0.2),
            ("rent", 0.28, 0.4),
            ("other", 0.02, 0.7),
        ),
        reason_text="Housing status",
        description="Whether the applicant owns, mortgages or rents the home.",
    ),
    _Categorical(
        snake="loan_purpose",
        capitalised="LoanPurpose",
        levels=(
            ("home improvement", 0.12, -0.5),
            ("car (new)", 0.14, -0.35),
            ("car (used)", 0.16, -0.25),
            ("education", 0.04, -0.2),
            ("retraining", 0.01, -0.15),
            ("furniture/equipment", 0.15, -0.05),
            ("radio/TV", 0.18, 0.0),
            ("domestic appliances", 0.015, 0.05),
            ("repairs", 0.02, 0.15),
            ("medical", 0.005, 0.3),
            ("vacation/others", 0.09, 0.35),
            ("business", 0.07, 0.5),
        ),
        reason_text="Purpose of the credit",
        description="What the credit is for; several purposes are rare.",
    ),
    _Categorical(
        snake="employment_type",
        capitalised="EmploymentType",
        levels=(
            ("salaried", 0.58, -0.3),
            ("retired", 0.10, -0.2),
            ("self-employed", 0.15, 0.2),
            ("student", 0.05, 0.5),
            ("unemployed", 0.12, 0.9),
        ),
        reason_text="Type of employment",
        description="Employment status at application.",
    ),
    _Categorical(
        snake="existing_customer",
        capitalised="ExistingCustomer",
        levels=(("yes", 0.45, -0.5), ("no", 0.55, 0.4)),
        reason_text="No established relationship with the lender",
        description="Whether the applicant already banks with the lender.",
    ),
    _Categorical(
        snake="region",
        capitalised="Region",
        levels=(
            ("north", 0.20, -0.15),
            ("east", 0.15, -0.05),
            ("central", 0.25, 0.0),
            ("west", 0.15, 0.05),
            ("south", 0.20, 0.1),
            ("islands", 0.05, 0.2),
        ),
        reason_text="Region of residence",
        description="Sales region of the branch that took the application.",
    ),
    _Categorical(
        snake="job_level",
        capitalised="JobLevel",
        levels=(("3", 0.15, -0.4), ("2", 0.60, -0.1), ("1", 0.20, 0.2), ("0", 0.05, 0.5)),
        reason_text="Job skill level",
        description="Job skill level, 0 unskilled to 3 highly skilled.",
    ),
)

# Label column name per coding, then the (bad, good) values written to the file.
_LABELS: dict[LabelCoding, tuple[str, str, tuple[int | str, int | str]]] = {
    "int01_bad1": ("defaulted", "Defaulted", (1, 0)),
    "int01_bad0": ("good_standing", "GoodStanding", (0, 1)),
    "good_bad": ("risk", "Risk", ("bad", "good")),
    "y_n": ("charged_off", "Charged Off", ("Y", "N")),
}


@dataclass(frozen=True)
class WrittenLender:
    """A lender file and its contract on disk, with the truth the file was drawn from."""

    name: str
    csv_path: Path
    contract_path: Path
    contract: dict[str, Any]
    label_column: str
    protected_columns: list[str]
    expected_rows: int
    true_pd: np.ndarray
    is_bad: np.ndarray
    disadvantaged: np.ndarray


def _name(spec: LenderFileSpec, snake: str, capitalised: str) -> str:
    return capitalised if spec.name_style == "capitalised" else snake


def _standardised(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Z-scores over the present values; an absent value scores 0, the column average."""
    out = np.zeros(values.shape[0])
    if present.sum() > 1 and values[present].std() > 0:
        out[present] = (values[present] - values[present].mean()) / values[present].std()
    return out


def _null_masks(
    spec: LenderFileSpec, names: list[str], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Nulls in about half the feature columns, at least one null in each such column."""
    if spec.null_share == 0:
        return {}
    chosen = rng.choice(len(names), size=math.ceil(len(names) / 2), replace=False)
    masks = {}
    for index in sorted(chosen):
        mask = rng.random(spec.n_rows) < spec.null_share
        mask[rng.integers(spec.n_rows)] = True
        masks[names[index]] = mask
    return masks


def _intercept(log_odds: np.ndarray, bad_rate: float) -> float:
    """The shift that makes the mean probability of default equal `bad_rate`."""
    low, high = -30.0, 30.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if expit(mid + log_odds).mean() < bad_rate else (low, mid)
    return (low + high) / 2


def _protected_columns(
    spec: LenderFileSpec, rng: np.random.Generator
) -> tuple[dict[str, pl.Series], dict[str, dict[str, Any]], np.ndarray]:
    """The protected columns (values, contract entries) and who is disadvantaged."""
    n = spec.n_rows
    series: dict[str, pl.Series] = {}
    columns: dict[str, dict[str, Any]] = {}
    disadvantaged = np.zeros(n, dtype=bool)
    if spec.protected in ("age", "both"):
        name = _name(spec, "age", "Age")
        age = np.clip(18 + np.round(rng.gamma(4.0, 5.0, n)), 18, 90).astype(np.int64)
        series[name] = pl.Series(name, age, dtype=pl.Int64)
        columns[name] = {
            "type": "int",
            "role": "protected",
            "nullable": False,
            "min": 18,
            "max": 100,
            "description": "Age in whole years; fairness testing only.",
        }
        disadvantaged = age < YOUNG_AGE
    if spec.protected in ("sex", "both"):
        name = _name(spec, "sex", "Sex")
        sex = np.where(rng.random(n) < 0.48, "female", "male")
        series[name] = pl.Series(name, sex, dtype=pl.String)
        columns[name] = {
            "type": "category",
            "role": "protected",
            "nullable": False,
            "allowed": ["female", "male"],
            "description": "Sex; fairness testing only.",
        }
        disadvantaged = sex == "female"
    if spec.proxies:
        group = rng.choice(len(CENSUS_GROUP), n, p=PROXY_GROUP_SHARES)
        drawn = names_frame(np.arange(n), group, spec.seed, PROXY_GROUP_SHARES)
        for column, role, snake, capitalised in (
            ("surname", "proxy_surname", "last_name", "LastName"),
            ("first_name", "proxy_first_name", "first_name", "FirstName"),
            ("zip_code", "proxy_zip", "zip", "Zip"),
        ):
            name = _name(spec, snake, capitalised)
            series[name] = drawn[column].alias(name)
            columns[name] = {
                "type": "string",
                "role": role,
                "nullable": True,
                "description": "BISG input; fairness testing only.",
            }
        if spec.protected == "none":
            disadvantaged = group == CENSUS_GROUP.index("black")
    return series, columns, disadvantaged


def _label_column(
    spec: LenderFileSpec, is_bad: np.ndarray
) -> tuple[str, pl.Series, dict[str, Any]]:
    """The label column coded as the spec says: its name, values and contract entry."""
    snake, capitalised, (bad, good) = _LABELS[spec.label_coding]
    name = _name(spec, snake, capitalised)
    coded = np.where(is_bad, bad, good)
    values = coded.astype(np.int64) if isinstance(bad, int) else coded.astype(str)
    column = {
        "type": "int" if isinstance(bad, int) else "category",
        "role": "label",
        "nullable": False,
        "allowed": sorted([bad, good], key=str),
        "labels": {"bad": bad, "good": good},
        "description": f"Observed outcome: {bad!r} is bad, {good!r} is good.",
    }
    return name, pl.Series(name, values), column


def _numeric_feature(
    t: _Numeric,
    name: str,
    code: str,
    u: np.ndarray,
    is_signal: bool,
    nulls: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.Series, dict[str, Any], np.ndarray]:
    """Values, contract entry and log-odds contribution of one numeric feature."""
    values = t.draw(t.risk * u, rng)
    series = pl.Series(name, values).cast(pl.Int64 if t.type == "int" else pl.Float64)
    if nulls.any():
        series = series.scatter(np.flatnonzero(nulls), None)
    contribution = np.zeros(values.shape[0])
    if is_signal:
        scaled = np.log1p(values) if t.log_scale else values
        contribution = t.risk * rng.uniform(0.6, 1.0) * _standardised(scaled, ~nulls)
    column = {
        "type": t.type,
        "role": "feature",
        "nullable": bool(nulls.any()),
        "min": t.low,
        "max": t.high,
        "monotone": ("increasing" if t.risk == 1 else "decreasing") if is_signal else "none",
        "reason_code": code,
        "reason_text": t.reason_text,
        "description": t.description,
    }
    return series, column, contribution


def _categorical_feature(
    c: _Categorical,
    name: str,
    code: str,
    u: np.ndarray,
    is_signal: bool,
    nulls: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pl.Series, dict[str, Any], np.ndarray]:
    """Values, contract entry and log-odds contribution of one categorical feature.

    The latent picks the level through the levels' cumulative shares, so a riskier
    latent means a riskier level and each level keeps its share when nobody is shifted.
    """
    cut = np.cumsum([share for _, share, _ in c.levels])[:-1]
    level = np.searchsorted(cut, ndtr(u), side="right")
    text = np.asarray(c.values, dtype=object)[level]
    text[nulls] = None
    contribution = np.zeros(level.shape[0])
    if is_signal:
        effect = np.asarray([e for _, _, e in c.levels])[level] * rng.uniform(0.7, 1.3)
        contribution = np.where(nulls, 0.0, effect - effect[~nulls].mean())
    column = {
        "type": "category",
        "role": "feature",
        "nullable": bool(nulls.any()),
        "allowed": c.values,
        "reason_code": code,
        "reason_text": c.reason_text,
        "description": c.description,
    }
    return pl.Series(name, text.tolist(), dtype=pl.String), column, contribution


def make_lender_file(spec: LenderFileSpec) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One lender file and its contract; the frame also carries `TRUTH_COLUMNS`.

    The file's columns come in a seeded order, not the contract's, as a lender's would.
    """
    rng = np.random.default_rng(spec.seed)
    n = spec.n_rows
    numeric = [NUMERIC[i] for i in rng.permutation(len(NUMERIC))[: spec.n_numeric]]
    categorical = [CATEGORICAL[i] for i in rng.permutation(len(CATEGORICAL))[: spec.n_categorical]]
    templates = [*numeric, *categorical]
    names = [_name(spec, t.snake, t.capitalised) for t in templates]
    is_signal = [i < SIGNAL_NUMERIC for i in range(len(numeric))] + [
        i < SIGNAL_CATEGORICAL for i in range(len(categorical))
    ]

    series, protected, disadvantaged = _protected_columns(spec, rng)
    hidden_risk = rng.normal(spec.disparity * disadvantaged, 1.0)
    loading = np.where(is_signal, RISK_LOADING, 0.0)
    latents = [w * hidden_risk + math.sqrt(1 - w**2) * rng.normal(size=n) for w in loading]
    nulls = _null_masks(spec, names, rng)

    features: dict[str, dict[str, Any]] = {}
    log_odds = np.zeros(n)
    for i, (t, name) in enumerate(zip(templates, names, strict=True)):
        column_nulls = nulls.get(name, np.zeros(n, dtype=bool))
        args = (name, f"L{i + 1:02d}", latents[i], is_signal[i], column_nulls, rng)
        if isinstance(t, _Numeric):
            series[name], features[name], contribution = _numeric_feature(t, *args)
        else:
            series[name], features[name], contribution = _categorical_feature(t, *args)
        log_odds += contribution

    spread = log_odds.std()
    log_odds = (log_odds - log_odds.mean()) / spread if spread > 0 else log_odds * 0
    log_odds *= SIGNAL_LOG_ODDS_SD[spec.signal]
    true_pd = expit(_intercept(log_odds, spec.bad_rate) + log_odds)
    is_bad = rng.random(n) < true_pd
    label, series[label], label_column = _label_column(spec, is_bad)

    order = [list(series)[i] for i in rng.permutation(len(series))]
    dated_columns: dict[str, dict[str, Any]] = {}
    timestamp = None
    if spec.dated:  # drawn last, so an undated file of the same seed is the same file
        series, dated_columns, timestamp = _dated_columns(spec, series, rng)
        order = [*dated_columns, *order]
    frame = pl.DataFrame([series[c] for c in order]).with_columns(
        pl.Series(TRUE_PD, true_pd),
        pl.Series(IS_BAD, is_bad.astype(np.int8)),
        pl.Series(DISADVANTAGED, disadvantaged),
    )
    contract = {
        "name": spec.name,
        "kind": "applications",
        "description": f"Synthetic lender file drawn from {spec}.",
        "formats": ["csv"],
        "keys": [],
        **({"timestamp": timestamp} if timestamp else {}),
        "columns": {**dated_columns, label: label_column, **protected, **features},
    }
    return frame, contract


def _dated_columns(
    spec: LenderFileSpec, series: dict[str, pl.Series], rng: np.random.Generator
) -> tuple[dict[str, pl.Series], dict[str, dict[str, Any]], str]:
    """`series` with a borrower id and an application date added, their contract entries
    and the name of the date column (the contract's timestamp)."""
    n = spec.n_rows
    borrower = _name(spec, "borrower_id", "BorrowerId")
    applied = _name(spec, "application_date", "ApplicationDate")
    months_back = DATED_LAST_DAY.year * 12 + DATED_LAST_DAY.month - DATED_MONTHS
    first = np.datetime64(date(months_back // 12, months_back % 12 + 1, 1), "D")
    days = (np.datetime64(DATED_LAST_DAY, "D") - first).astype(int) + 1
    added = {
        borrower: pl.Series(borrower, [f"B{spec.seed}-{i:05d}" for i in range(n)]),
        applied: pl.Series(applied, first + np.sort(rng.integers(0, days, n)), dtype=pl.Date),
    }
    columns = {
        borrower: {
            "type": "string",
            "role": "borrower_id",
            "nullable": False,
            "description": "Borrower identifier.",
        },
        applied: {
            "type": "date",
            "role": "timestamp",
            "nullable": False,
            "description": "Date the application was submitted.",
        },
    }
    return {**series, **added}, columns, applied


def write_lender_workspace(
    spec: LenderFileSpec, credit_home: Path, contracts_dir: Path
) -> WrittenLender:
    """Write the file to `credit_home/landing/<name>/<name>.csv` and its contract beside the others."""
    frame, contract = make_lender_file(spec)
    csv_path = credit_home / "landing" / spec.name / f"{spec.name}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame.drop(TRUTH_COLUMNS).write_csv(csv_path)
    contract_path = contracts_dir / f"{spec.name}.yaml"
    contract_path.parent.mkdir(parents=True, exist_ok=True)
    contract_path.write_text(
        yaml.safe_dump(contract, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    roles = {name: column["role"] for name, column in contract["columns"].items()}
    return WrittenLender(
        name=spec.name,
        csv_path=csv_path,
        contract_path=contract_path,
        contract=contract,
        label_column=next(name for name, role in roles.items() if role == "label"),
        protected_columns=[name for name, role in roles.items() if role == "protected"],
        expected_rows=frame.height,
        true_pd=frame[TRUE_PD].to_numpy(),
        is_bad=frame[IS_BAD].to_numpy(),
        disadvantaged=frame[DISADVANTAGED].to_numpy(),
    )


def expected_bayes_auc(true_pd: Sequence[float] | np.ndarray) -> float:
    """The AUC the true PD itself reaches, in expectation over labels drawn from it.

    It bounds what any model of these rows can reach and, unlike the AUC against one
    draw of labels, does not wobble when a small file holds only a handful of bads.
    """
    p = np.asarray(true_pd, dtype=float)
    _, group = np.unique(p, return_inverse=True)
    bads, goods = np.bincount(group, weights=p), np.bincount(group, weights=1 - p)
    self_pairs = (p * (1 - p)).sum()  # a row is never paired with itself
    concordant = (bads * (np.cumsum(goods) - goods)).sum() + 0.5 * (
        (bads * goods).sum() - self_pairs
    )
    return float(concordant / (bads.sum() * goods.sum() - self_pairs))


@st.composite
def lender_file_specs(
    draw: st.DrawFn,
    max_rows: int = MAX_ROWS,
    signals: Sequence[Signal] = SIGNALS,
) -> LenderFileSpec:
    """Every shape of lender file, up to `max_rows` rows and with one of `signals`."""
    n_numeric = draw(st.integers(0, len(NUMERIC)))
    protected = draw(st.sampled_from(PROTECTED_OPTIONS))
    no_disparity = st.just(0.0)
    return LenderFileSpec(
        n_rows=draw(st.integers(MIN_ROWS, max(MIN_ROWS, max_rows))),
        bad_rate=draw(st.floats(MIN_BAD_RATE, MAX_BAD_RATE)),
        n_numeric=n_numeric,
        n_categorical=draw(st.integers(0 if n_numeric else 1, len(CATEGORICAL))),
        protected=protected,
        null_share=draw(st.one_of(st.just(0.0), st.floats(0.005, MAX_NULL_SHARE))),
        label_coding=draw(st.sampled_from(LABEL_CODINGS)),
        name_style=draw(st.sampled_from(NAME_STYLES)),
        signal=draw(st.sampled_from(list(signals))),
        disparity=draw(
            no_disparity
            if protected == "none"
            else st.one_of(no_disparity, st.floats(0.25, MAX_DISPARITY))
        ),
        seed=draw(st.integers(0, 2**32 - 1)),
    )
