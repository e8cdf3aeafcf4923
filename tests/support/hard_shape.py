"""A lender file of the hard shape: heavy tails, sentinel codes and many missing incomes.

Modelled on the public "Give Me Some Credit" bureau file (150 000 borrowers, 6.7 % bad),
the shape on which the WoE scorecard once cross-validated far below CatBoost:

- `revolving_utilisation`: mostly in [0, 1] (7 % exactly 0), 2.7 % over 1 (the riskiest
  borrowers, 37 % bad) and 0.5 % absurd values from 10 to 50 000 (data errors, 5 % bad),
  so the risk rises to 1, peaks just above it and falls back in the far tail;
- `past_due_30_59`, `past_due_60_89`, `past_due_90`: counts, mostly 0, with the bureau's
  sentinel codes 96 and 98 (in all three at once) on 0.2 % of the rows, a third of which
  go bad;
- `monthly_income`: missing for about a fifth of the rows, which go bad less often
  (4.9 % against 6.7 %); declared incomes are round; a few zeros and some millions;
- `debt_ratio`: monthly debt over income where income is known, but the monthly debt
  itself (hundreds to tens of thousands) where it is missing, so its right tail is the
  missing-income population: its risk rises to about 10 and falls after;
- `open_credit_lines` (U-shaped risk: no line is a thin file, many an overextended one),
  `real_estate_loans` (risk falls as mortgages rise), `age`;
- `dependents`: 0 to 7, missing for 2.3 % of the rows (only where income is missing).

The label follows a latent distress the features only partly reveal, luck no file shows,
and two interactions an additive card cannot express (lateness with maxed-out lines, a
large debt with no declared income): CatBoost cross-validates about 0.87 AUC on it.
`HARD_SHAPE_SPECS` declare a direction only where the risk is monotone.

`write_as_delivered` writes the file as such a lender sends it, with `NA` for a missing
value; `contract infer` then drafts income as text and dependents as a category
(`AS_DELIVERED_SPECS`, and `as_delivered` for the frame ingestion reads).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from credit_assets.core.features.specs import FeatureSpec

LABEL = "default_flag"
SENTINEL_CODES = (96, 98)
"""Bureau codes in the past-due counts meaning "not a count": 98 unknown, 96 refused."""

HARD_SHAPE_SPECS: list[FeatureSpec] = [
    FeatureSpec(
        "revolving_utilisation",
        "Balance over limit of revolving lines",
        "bureau",
        "float",
        reason_code="H01",
        reason_text="Revolving balances are high relative to limits",
    ),
    FeatureSpec(
        "age",
        "Age in years",
        "bureau",
        "int",
        "decreasing",
        reason_code="H02",
        reason_text="Length of credit history",
    ),
    FeatureSpec(
        "past_due_30_59",
        "Times 30-59 days past due in 2 years (96, 98: bureau codes)",
        "bureau",
        "int",
        "increasing",
        reason_code="H03",
        reason_text="Recent late payments",
    ),
    FeatureSpec(
        "debt_ratio",
        "Monthly debt over monthly income (the debt itself when income is missing)",
        "bureau",
        "float",
        reason_code="H04",
        reason_text="Debt is high relative to income",
    ),
    FeatureSpec(
        "monthly_income",
        "Declared monthly income",
        "application",
        "float",
        reason_code="H05",
        reason_text="Income insufficient or not declared",
    ),
    FeatureSpec(
        "open_credit_lines",
        "Open loans and lines of credit",
        "bureau",
        "int",
        reason_code="H06",
        reason_text="Number of open credit lines",
    ),
    FeatureSpec(
        "past_due_90",
        "Times 90 or more days past due (96, 98: bureau codes)",
        "bureau",
        "int",
        "increasing",
        reason_code="H07",
        reason_text="Serious delinquency",
    ),
    FeatureSpec(
        "real_estate_loans",
        "Mortgage and real estate loans",
        "bureau",
        "int",
        reason_code="H08",
        reason_text="Number of real estate loans",
    ),
    FeatureSpec(
        "past_due_60_89",
        "Times 60-89 days past due in 2 years (96, 98: bureau codes)",
        "bureau",
        "int",
        "increasing",
        reason_code="H09",
        reason_text="Recent late payments",
    ),
    FeatureSpec(
        "dependents",
        "Dependents in the household",
        "application",
        "int",
        reason_code="H10",
        reason_text="Number of dependents",
    ),
]

# Intercept of the label's log-odds, set so the bad rate is about 6.7 % (checked in tests).
_INTERCEPT = -5.53


def _correlated_uniform(rng: np.random.Generator, latent: np.ndarray, rho: float) -> np.ndarray:
    """Uniforms whose normal scores correlate `rho` with `latent` (a Gaussian copula)."""
    noise = rng.standard_normal(latent.size)
    return np.asarray(stats.norm.cdf(rho * latent + np.sqrt(1.0 - rho**2) * noise))


def _lateness(
    rng: np.random.Generator, latent: np.ndarray, share: float, mean: float
) -> np.ndarray:
    """Counts that are 0 for about `1 - share` of rows, more often non-zero as `latent` rises."""
    u = _correlated_uniform(rng, latent, 0.75)
    late = u > 1.0 - share
    extra = rng.geometric(1.0 / mean, latent.size) - 1
    return np.where(late, 1 + extra, 0)


def hard_shape_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    """`rows` borrowers of the hard shape with a `default_flag` label (1: bad).

    Every row is in the `train` split; cross-validation makes its own folds.
    """
    rng = np.random.default_rng(seed)
    distress = rng.standard_normal(rows)

    age = np.clip(np.round(52 - 6.0 * distress + 13.5 * rng.standard_normal(rows)), 21, 103)

    # Revolving utilisation: a beta body, a maxed-out shoulder, an over-limit band, absurd tail.
    u = _correlated_uniform(rng, distress, 0.6)
    kind = rng.uniform(size=rows)
    body = stats.beta.ppf(u, 0.55, 1.7)
    utilisation = np.where(u < 0.07, 0.0, body)
    maxed = (u > 0.88) & (kind < 0.55)
    utilisation = np.where(maxed, rng.uniform(0.9, 1.0, rows), utilisation)
    over = (u > 0.93) & (kind > 0.62)
    utilisation = np.where(over, 1.0 + rng.exponential(0.35, rows), utilisation)
    absurd = rng.uniform(size=rows) < 0.005
    utilisation = np.where(absurd, 10.0 ** rng.uniform(1.0, 4.7, rows), utilisation)

    # Lateness: three correlated counts; the bureau's sentinel rows carry 98 (or 96) in all three.
    past_due_30_59 = _lateness(rng, distress, 0.16, 1.45)
    past_due_60_89 = np.where(
        rng.uniform(size=rows) < 0.4 + 0.25 * (past_due_30_59 > 0),
        _lateness(rng, distress + 0.8, 0.035, 1.3),
        0,
    )
    past_due_90 = _lateness(rng, 1.1 * distress + 0.3 * rng.standard_normal(rows), 0.045, 1.6)
    sentinel = rng.uniform(size=rows) < 0.002
    code = np.where(rng.uniform(size=rows) < 0.03, 96, 98)
    past_due_30_59, past_due_60_89, past_due_90 = (
        np.where(sentinel, code, c) for c in (past_due_30_59, past_due_60_89, past_due_90)
    )

    # Income: missing for ~20 %, a few zeros and a far tail of millions.
    income_missing = rng.uniform(size=rows) < 0.17 + 0.05 * (age > 60)
    income = np.exp(np.log(5400) - 0.12 * distress + 0.62 * rng.standard_normal(rows))
    income = np.where(rng.uniform(size=rows) < 0.001, income * 10 ** rng.uniform(1, 2.7), income)
    # Declared incomes are round: to the thousand, the five hundred, the hundred, or exact.
    step = rng.choice([1000.0, 500.0, 100.0, 1.0], rows, p=[0.3, 0.15, 0.25, 0.3])
    income = np.where(rng.uniform(size=rows) < 0.012, 0.0, np.round(income / step) * step)

    # Debt ratio: a ratio where income is known, the monthly debt itself where it is missing.
    monthly_debt = np.exp(np.log(1500) + 0.25 * distress + 0.75 * rng.standard_normal(rows))
    monthly_debt = np.where(rng.uniform(size=rows) < 0.1, 0.0, monthly_debt)
    ratio = monthly_debt / np.maximum(income, 1.0)
    debt_ratio = np.where(income_missing, np.round(monthly_debt), ratio)

    open_lines = rng.negative_binomial(4, 4 / (4 + 8.5), rows)
    real_estate = np.minimum(rng.poisson(np.exp(0.1 - 0.15 * distress + 0.6 * (income > 8000))), 54)
    dependents = np.minimum(rng.poisson(0.75 + 0.012 * np.clip(50 - age, 0, None)), 20)
    dependents_missing = income_missing & (rng.uniform(size=rows) < 0.13)

    log_odds = (
        _INTERCEPT
        + 0.75 * distress
        + 1.15 * rng.standard_normal(rows)  # what no file shows: the borrower's luck
        + _utilisation_risk(utilisation)
        + 0.55 * np.log1p(np.where(sentinel, 0, past_due_30_59))
        + 0.75 * np.log1p(np.where(sentinel, 0, past_due_60_89))
        + 1.05 * np.log1p(np.where(sentinel, 0, past_due_90))
        + 3.6 * sentinel
        - 0.022 * (age - 52)
        - 0.28 * np.log(np.clip(np.where(income_missing, 5400, income), 500, 50_000) / 5400)
        - 0.35 * income_missing
        + np.where(
            income_missing, 0.12 * np.log1p(monthly_debt / 1000), 0.55 * np.clip(ratio, 0, 2)
        )
        + np.select([open_lines == 0, open_lines <= 2, open_lines > 15], [0.9, 0.3, 0.25], 0.0)
        + np.select([real_estate == 0, real_estate >= 4], [0.25, 0.6], 0.0)
        + 0.06 * dependents
        # What an additive card cannot express: lateness hurts more when lines are maxed out,
        # and a large debt with no declared income more than either alone.
        + 0.5 * ((utilisation > 0.8) & (utilisation < 5) & (past_due_30_59 > 0) & ~sentinel)
        + 0.45 * (income_missing & (monthly_debt > 3000))
    )
    default = rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-log_odds))

    return pl.DataFrame(
        {
            "revolving_utilisation": np.round(utilisation, 6),
            "age": age.astype(np.int64),
            "past_due_30_59": past_due_30_59.astype(np.int64),
            "debt_ratio": np.round(debt_ratio, 6),
            "monthly_income": np.where(income_missing, np.nan, income),
            "open_credit_lines": open_lines.astype(np.int64),
            "past_due_90": past_due_90.astype(np.int64),
            "real_estate_loans": real_estate.astype(np.int64),
            "past_due_60_89": past_due_60_89.astype(np.int64),
            "dependents": np.where(dependents_missing, np.nan, dependents),
            LABEL: default.astype(np.int8),
            "split": ["train"] * rows,
        }
    ).with_columns(
        pl.col("monthly_income").fill_nan(None),
        pl.col("dependents").fill_nan(None).cast(pl.Int64),
    )


def _utilisation_risk(utilisation: np.ndarray) -> np.ndarray:
    """Rises to a limit of 1, peaks just over it and falls back for absurd values."""
    within = 2.1 * np.clip(utilisation, 0, 1) ** 0.8
    over = 2.1 + 0.6 * np.clip(utilisation - 1.0, 0, 1)
    return np.where(utilisation <= 1.0, within, np.where(utilisation < 5.0, over, 0.4))


DELIVERED_AS_TEXT = ("monthly_income", "dependents")
"""Columns with `NA` in the delivered file, which `contract infer` drafts as text."""

AS_DELIVERED_SPECS: list[FeatureSpec] = [
    replace(spec, dtype="category") if spec.name in DELIVERED_AS_TEXT else spec
    for spec in HARD_SHAPE_SPECS
    if spec.name != "age"  # drafted as protected by its name: never a model input
]
"""The inputs as a contract that declares income and dependents as text (what `contract infer`
drafted before `missing:` existed, or a lender's own contract): the scorecard must still bin
them as numbers."""


def as_delivered(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` as ingestion reads the delivered CSV under its drafted contract: income and
    dependents are text, and their missing values the text `NA` (see `write_as_delivered`)."""
    return frame.with_columns(
        pl.col(name).cast(pl.Float64).cast(pl.String).fill_null("NA")
        if name == "monthly_income"
        else pl.col(name).cast(pl.String).fill_null("NA")
        for name in DELIVERED_AS_TEXT
    )


def write_as_delivered(frame: pl.DataFrame, path: Path) -> Path:
    """The file as such a lender sends it: a CSV whose missing values are the text `NA`.

    Ingestion reads only an empty value as missing, so `contract infer` drafts income as
    `string` and dependents as `category`: the inputs of `AS_DELIVERED_SPECS`."""
    frame.drop("split").write_csv(path, null_value="NA")
    return path
