"""Lender files of every shape, with the contract a new user would write for them.

A lender's own application file is a table: numeric and categorical attributes,
an outcome label coded however the lender codes it, sometimes protected
attributes, sometimes nulls, sometimes tiny or very imbalanced. `make_lender_file`
draws one from a known generative process (so the true probability of default of
every row is known), `write_lender_workspace` puts it in a landing zone with its
contract, and `lender_file_specs` is the hypothesis strategy over all the shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import yaml
from hypothesis import strategies as st

LabelCoding = Literal["int_bad1", "int_bad0", "good_bad", "Y_N"]
Protected = Literal["none", "sex", "age", "both"]

# (name, capitalised name, kind, effect on risk); kinds draw the values below.
NUMERIC = (
    ("credit_amount", "CreditAmount", "amount", 0.5),
    ("late_payments_12m", "LatePayments12m", "count", 0.9),
    ("monthly_income", "Monthly Income", "income", -0.8),
    ("utilisation", "Utilisation", "share", 0.6),
    ("months_at_address", "MonthsAtAddress", "months", -0.3),
    ("open_accounts", "OpenAccounts", "count", 0.2),
)
CATEGORICAL = (
    ("housing", "Home Ownership", ("own", "rent", "family"), (-0.4, 0.3, 0.1)),
    (
        "purpose",
        "LoanPurpose",
        ("car", "furniture", "education", "business", "holiday", "repairs", "medical", "other"),
        (-0.2, 0.0, 0.2, 0.5, 0.3, 0.1, 0.4, 0.0),
    ),
    (
        "employment",
        "EmploymentType",
        ("salaried", "self_employed", "gig", "unemployed", "retired"),
        (-0.3, 0.2, 0.5, 1.0, -0.1),
    ),
    ("channel", "Channel", ("branch", "online"), (0.0, 0.2)),
    (
        "region",
        "Region",
        tuple(f"r{i:02d}" for i in range(12)),
        tuple((i % 4) * 0.1 for i in range(12)),
    ),
)
RARE_PURPOSE_SHARE = 0.01  # "medical" is a rare level


@dataclass(frozen=True)
class LenderFileSpec:
    """The shape of one lender file."""

    n_rows: int = 1000
    bad_rate: float = 0.2
    n_numeric: int = 3
    n_categorical: int = 2
    protected: Protected = "sex"
    null_share: float = 0.0
    label_coding: LabelCoding = "int_bad1"
    capitalised: bool = False
    signal: float = 1.0  # scale of the latent risk; 0.3 is a low-signal file
    disparity: float = 0.0  # how much worse group F's attributes are (0: none planted)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_numeric + self.n_categorical == 0:
            raise ValueError("a lender file needs at least one attribute")
        if not 0 < self.bad_rate < 1:
            raise ValueError("bad_rate must be in (0, 1)")

    @property
    def name(self) -> str:
        return f"lender_{self.seed}"


@dataclass(frozen=True)
class LenderFile:
    spec: LenderFileSpec
    frame: pl.DataFrame  # as written to the CSV
    contract: dict[str, Any]
    true_pd: np.ndarray
    protected_columns: list[str]

    @property
    def realised_bad_rate(self) -> float:
        label = self.contract["columns"][self.label_column]["labels"]["bad"]
        return float((self.frame[self.label_column].cast(pl.String) == str(label)).mean())

    @property
    def label_column(self) -> str:
        return "Default" if self.spec.capitalised else "default"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _intercept(latent: np.ndarray, bad_rate: float) -> float:
    """The intercept that makes the mean PD equal `bad_rate` (bisection; mean PD is monotone)."""
    low, high = -30.0, 30.0
    for _ in range(80):
        mid = (low + high) / 2
        if _sigmoid(latent + mid).mean() < bad_rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _numeric(
    kind: str, n: int, worse: np.ndarray, disparity: float, rng: np.random.Generator
) -> np.ndarray:
    shift = disparity * worse
    match kind:
        case "amount":
            return np.round(np.exp(rng.normal(8.5 + 0.3 * shift, 0.7, n)), 2)
        case "count":
            return rng.poisson(np.exp(0.1 + 0.6 * shift) * 0.8, n).astype(float)
        case "income":
            return np.round(np.exp(rng.normal(7.8 - 0.35 * shift, 0.5, n)), 0)
        case "share":
            return np.round(np.clip(rng.beta(2, 3, n) + 0.15 * shift, 0, 1.2), 3)
        case _:  # months
            return rng.integers(0, 240, n).astype(float)


def make_lender_file(spec: LenderFileSpec) -> LenderFile:
    rng = np.random.default_rng(spec.seed)
    n = spec.n_rows
    sex = rng.choice(["F", "M"], n)
    age = rng.integers(18, 80, n)
    worse = (sex == "F").astype(float) if spec.disparity else np.zeros(n)
    columns: dict[str, Any] = {}
    values: dict[str, Any] = {}
    latent = np.zeros(n)
    for i, (name, capital, kind, effect) in enumerate(NUMERIC[: spec.n_numeric]):
        column = capital if spec.capitalised else name
        x = _numeric(kind, n, worse, spec.disparity, rng)
        z = (np.log1p(x) - np.log1p(x).mean()) / (np.log1p(x).std() or 1.0)
        latent += effect * z
        values[column] = x.astype(int) if kind in ("count", "months") else x
        columns[column] = {
            "type": "int" if kind in ("count", "months") else "float",
            "role": "feature",
            "min": 0,
            "reason_code": f"N{i + 1:02d}",
            "reason_text": f"{capital.replace('_', ' ')} on the application",
        }
    for i, (name, capital, levels, effects) in enumerate(CATEGORICAL[: spec.n_categorical]):
        column = capital if spec.capitalised else name
        if name == "purpose":
            share = np.full(len(levels), (1 - RARE_PURPOSE_SHARE) / (len(levels) - 1))
            share[levels.index("medical")] = RARE_PURPOSE_SHARE
        else:
            share = np.full(len(levels), 1 / len(levels))
        if name == "employment" and spec.disparity:
            chosen = np.where(
                worse.astype(bool) & (rng.random(n) < min(0.6, 0.3 * spec.disparity)),
                "gig",
                rng.choice(levels, n, p=share),
            )
        else:
            chosen = rng.choice(levels, n, p=share)
        latent += np.array([effects[levels.index(v)] for v in chosen]) * 1.5
        values[column] = chosen
        columns[column] = {
            "type": "category",
            "role": "feature",
            "allowed": sorted(levels),
            "reason_code": f"C{i + 1:02d}",
            "reason_text": f"{capital.replace('_', ' ')} on the application",
        }
    latent = spec.signal * latent / max(latent.std(), 1e-9)
    true_pd = _sigmoid(latent + _intercept(latent, spec.bad_rate))
    bad = rng.random(n) < true_pd

    protected: list[str] = []
    if spec.protected in ("sex", "both"):
        column = "Sex" if spec.capitalised else "sex"
        values[column] = sex
        columns[column] = {"type": "category", "role": "protected", "allowed": ["F", "M"]}
        protected.append(column)
    if spec.protected in ("age", "both"):
        column = "Age" if spec.capitalised else "age"
        values[column] = age
        columns[column] = {"type": "int", "role": "protected", "min": 18, "max": 100}
        protected.append(column)

    frame = pl.DataFrame(values)
    if spec.null_share > 0:
        nullable = [c for c, s in columns.items() if s["role"] == "feature"][::2]
        frame = frame.with_columns(
            pl.when(pl.Series(rng.random(n) < spec.null_share))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in nullable
        )
        for c in nullable:
            columns[c]["nullable"] = True

    label = "Default" if spec.capitalised else "default"
    coding = {
        "int_bad1": (1, 0),
        "int_bad0": (0, 1),
        "good_bad": ("bad", "good"),
        "Y_N": ("Y", "N"),
    }[spec.label_coding]
    label_values = np.where(bad, coding[0], coding[1])
    frame = frame.with_columns(
        pl.Series(label, label_values.astype(int) if isinstance(coding[0], int) else label_values)
    )
    columns[label] = {
        "type": "int" if isinstance(coding[0], int) else "category",
        "role": "label",
        "labels": {"bad": coding[0], "good": coding[1]},
    }
    contract = {
        "name": spec.name,
        "kind": "applications",
        "formats": ["csv"],
        "keys": [],
        "description": f"Generated lender file ({spec})",
        "columns": columns,
    }
    return LenderFile(spec, frame, contract, true_pd, protected)


@dataclass(frozen=True)
class WrittenLender:
    lender: LenderFile
    csv: Path
    contract: Path


def write_lender_workspace(
    spec: LenderFileSpec, credit_home: Path, contracts_dir: Path
) -> WrittenLender:
    """The CSV in `credit_home/landing/<name>/` and its contract in `contracts_dir/<name>.yaml`."""
    lender = make_lender_file(spec)
    folder = credit_home / "landing" / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{spec.name}.csv"
    lender.frame.write_csv(csv)
    contracts_dir.mkdir(parents=True, exist_ok=True)
    contract = contracts_dir / f"{spec.name}.yaml"
    contract.write_text(yaml.safe_dump(lender.contract, sort_keys=False), encoding="utf-8")
    return WrittenLender(lender, csv, contract)


@st.composite
def lender_file_specs(draw: st.DrawFn, max_rows: int = 5000) -> LenderFileSpec:
    """Every shape: numeric-only, categorical-only, mixed; with or without protected columns;
    nulls; labels as strings or integers in either coding; 200 to `max_rows` rows; bad rates
    from 3 % to 50 %; capitalised column names; low signal; a planted disparity."""
    n_numeric = draw(st.integers(0, len(NUMERIC)))
    n_categorical = draw(st.integers(0 if n_numeric else 1, len(CATEGORICAL)))
    n_rows = draw(st.integers(200, max_rows))
    # At least 8 bads, so a split can hold a bad in each of train, validation and test.
    bad_rate = draw(st.floats(max(0.03, 8 / n_rows), 0.5))
    return LenderFileSpec(
        n_rows=n_rows,
        bad_rate=round(bad_rate, 3),
        n_numeric=n_numeric,
        n_categorical=n_categorical,
        protected=draw(st.sampled_from(["none", "sex", "age", "both"])),
        null_share=draw(st.sampled_from([0.0, 0.05, 0.2])),
        label_coding=draw(st.sampled_from(["int_bad1", "int_bad0", "good_bad", "Y_N"])),
        capitalised=draw(st.booleans()),
        signal=draw(st.sampled_from([0.3, 1.0, 2.0])),
        disparity=draw(st.sampled_from([0.0, 0.0, 1.5])),
        seed=draw(st.integers(0, 10_000)),
    )


def binomial_tolerance(p: float, n: int, z: float = 4.0) -> float:
    return z * math.sqrt(p * (1 - p) / n)
