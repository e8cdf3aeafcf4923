"""Borrowers, their applications, the true probability of default and the outcomes.

Every borrower gets a latent creditworthiness `z ~ N(0, 1)`. Protected
attributes shift income and data coverage (the historic disparities a fairness
test should find) but not `z`; default risk comes from `z` and the loan. The
formulas are documented in docs/DATA.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from credit_assets.core.tools.synthetic._calendar import DAY, add_months, to_day
from credit_assets.core.tools.synthetic._random import KeyedRandom, sigmoid
from credit_assets.core.tools.synthetic.names import CENSUS_GROUP, names_frame

APPLICATION_WINDOW_MONTHS = 33
OUTCOME_HORIZON_MONTHS = 12

SEXES = ("female", "male")
SEX_SHARES = (0.50, 0.50)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_SHARES = (0.17, 0.30, 0.22, 0.15, 0.10, 0.06)
AGE_LIMITS = ((18, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, 80))
ETHNICITIES = ("group_a", "group_b", "group_c", "group_d")
ETHNICITY_SHARES = (0.62, 0.17, 0.13, 0.08)
REGIONS = ("north", "south", "east", "west", "central")
# Geography follows ethnicity: region is a proxy, which is why the contract keeps it out of models.
REGION_BY_ETHNICITY = (
    (0.22, 0.20, 0.20, 0.22, 0.16),
    (0.10, 0.42, 0.10, 0.08, 0.30),
    (0.08, 0.12, 0.42, 0.10, 0.28),
    (0.35, 0.10, 0.10, 0.35, 0.10),
)
EMPLOYMENT_TYPES = ("salaried", "self_employed", "gig", "unemployed", "retired", "student")
EMPLOYMENT_BY_AGE = (
    (0.38, 0.04, 0.18, 0.08, 0.00, 0.32),
    (0.66, 0.10, 0.13, 0.06, 0.00, 0.05),
    (0.68, 0.15, 0.10, 0.06, 0.00, 0.01),
    (0.68, 0.17, 0.08, 0.06, 0.01, 0.00),
    (0.58, 0.16, 0.06, 0.07, 0.13, 0.00),
    (0.15, 0.08, 0.03, 0.02, 0.72, 0.00),
)
# Median gross monthly income and log-spread per employment type.
INCOME_MEDIAN = (3200.0, 3400.0, 1900.0, 900.0, 1900.0, 1000.0)
INCOME_SIGMA = (0.45, 0.70, 0.50, 0.30, 0.40, 0.40)
INCOME_LOG_SHIFT_AGE = (-0.35, -0.08, 0.05, 0.10, 0.05, -0.10)
INCOME_LOG_SHIFT_SEX = (-0.13, 0.0)
INCOME_LOG_SHIFT_ETHNICITY = (0.0, -0.16, -0.22, -0.06)
HOUSING = ("rent", "own", "family")
HOUSING_BY_AGE = (
    (0.56, 0.04, 0.40),
    (0.72, 0.18, 0.10),
    (0.62, 0.35, 0.03),
    (0.52, 0.46, 0.02),
    (0.44, 0.54, 0.02),
    (0.36, 0.61, 0.03),
)
PRODUCTS = ("personal_loan", "auto_loan", "credit_card", "bnpl", "small_business")
PRODUCT_SHARES = (0.40, 0.13, 0.22, 0.17, 0.08)
LOAN_MEDIAN = (6000.0, 16000.0, 2500.0, 450.0, 20000.0)
LOAN_SIGMA = (0.70, 0.50, 0.60, 0.60, 0.80)
LOAN_ROUNDING = (50.0, 100.0, 50.0, 10.0, 100.0)
TERMS = (6, 12, 18, 24, 36, 48, 60)
TERM_BY_PRODUCT = (
    (0.00, 0.10, 0.10, 0.25, 0.30, 0.10, 0.15),
    (0.00, 0.00, 0.00, 0.10, 0.30, 0.30, 0.30),
    (0.00, 1.00, 0.00, 0.00, 0.00, 0.00, 0.00),
    (0.70, 0.30, 0.00, 0.00, 0.00, 0.00, 0.00),
    (0.00, 0.15, 0.00, 0.25, 0.30, 0.15, 0.15),
)

# True PD: logit = INTERCEPT - Z_WEIGHT * z + BURDEN_WEIGHT * log(installment / income / 0.08) + effects
PD_INTERCEPT = -3.1
PD_Z_WEIGHT = 1.1
PD_BURDEN_WEIGHT = 0.45
PD_PRODUCT_EFFECT = (0.0, -0.20, 0.10, 0.20, 0.30)
PD_EMPLOYMENT_EFFECT = (0.0, 0.10, 0.25, 0.40, -0.10, 0.15)

# Correlation of each source's behavioural trait with z: sources agree, but not perfectly.
TRAIT_CORRELATION = {"utility": 0.98, "telecom": 0.98, "rent": 0.98, "bank": 0.98, "bureau": 0.9}


@dataclass(frozen=True)
class Population:
    """One row per borrower (and per application: each borrower applies once)."""

    index: np.ndarray  # global borrower number, the key of every random draw
    z: np.ndarray
    sex: np.ndarray  # codes into SEXES, -1 when not disclosed
    age_band: np.ndarray  # true band; the reported one may be withheld
    age_band_reported: np.ndarray
    age_years: np.ndarray
    ethnicity: np.ndarray  # reported: -1 when not disclosed
    ethnicity_true: np.ndarray
    region: np.ndarray
    employment: np.ndarray
    true_income: np.ndarray
    housing: np.ndarray
    application_date: np.ndarray  # datetime64[D]
    product: np.ndarray
    loan_amount: np.ndarray
    term_months: np.ndarray
    true_pd: np.ndarray
    defaulted: np.ndarray  # latent 12-month default, drawn for every application
    default_date: np.ndarray  # NaT when not defaulted
    matured: np.ndarray
    coverage: dict[str, np.ndarray]  # source -> has records
    history_months: dict[str, np.ndarray]  # source -> months of records before the application
    trait: dict[str, np.ndarray]  # source -> behaviour trait (correlated with z)

    def __len__(self) -> int:
        return self.index.size


def borrower_ids(index: np.ndarray) -> pl.Series:
    return prefixed_ids("B", index, 8)


def prefixed_ids(prefix: str, number: np.ndarray, width: int) -> pl.Series:
    """Identifiers like "B00000042": a prefix and the zero-padded number."""
    # Casting number + 10**width and swapping its leading "1" is several times faster than zfill.
    padded = pl.Series(np.asarray(number, dtype=np.int64) + 10**width).cast(pl.String)
    return padded.str.replace("1", prefix, literal=True, n=1)


def labels_of(
    codes: np.ndarray, labels: tuple[str, ...], missing: np.ndarray | None = None
) -> pl.Series:
    """Category codes to their labels; negative codes (and `missing` rows) are null."""
    codes = np.asarray(codes, dtype=np.int64)
    null = codes < 0 if missing is None else (codes < 0) | missing
    values = pl.Series(labels, dtype=pl.String).gather(np.maximum(codes, 0))
    if not null.any():
        return values
    return pl.select(pl.when(pl.Series(null)).then(None).otherwise(values)).to_series()


@dataclass(frozen=True)
class PlantedDisparity:
    """A known disparity: borrowers of `group` are `shift` standard deviations less
    creditworthy (their latent z is lowered), so every source shows it, their true PD is
    higher and a model trained on the data approves them less often."""

    group: str
    shift: float

    def __post_init__(self) -> None:
        if self.group not in ETHNICITIES:
            raise ValueError(f"planted disparity: group must be one of {ETHNICITIES}")
        if not 0.0 < self.shift <= 3.0:
            raise ValueError("planted disparity: shift must be in (0, 3] standard deviations")

    @classmethod
    def parse(cls, text: str) -> PlantedDisparity:
        """`group_b:1.0` -> PlantedDisparity("group_b", 1.0)."""
        group, _, shift = text.partition(":")
        try:
            return cls(group.strip(), float(shift or "1.0"))
        except ValueError as exc:
            raise ValueError(f"planted disparity {text!r}: {exc}") from None


def draw_population(
    first: int,
    n: int,
    seed: int,
    end_date: date,
    planted_disparity: PlantedDisparity | None = None,
) -> Population:
    """Borrowers [first, first + n): who they are, what they borrow and whether they default."""
    rng = KeyedRandom(seed)
    idx = np.arange(first, first + n, dtype=np.int64)
    z, sex, age_band, ethnicity = _protected_attributes(rng, idx, planted_disparity)
    low, high = np.asarray(AGE_LIMITS).T
    age_years = low[age_band] + rng.uniform("age", idx) * (high - low)[age_band]
    region = rng.choice("region", idx, 5, np.asarray(REGION_BY_ETHNICITY)[ethnicity])
    employment = _employment(rng, idx, z, age_band)
    true_income = _monthly_income(rng, idx, z, employment, age_band, sex, ethnicity)
    housing = rng.choice("housing", idx, 3, np.asarray(HOUSING_BY_AGE)[age_band])
    application_date, matured = _application_dates(rng, idx, end_date)
    product, loan_amount, term_months = _loans(rng, idx, employment, true_income)
    true_pd = _true_pd(z, employment, true_income, product, loan_amount, term_months)
    defaulted, default_date = _defaults(rng, idx, true_pd, application_date)

    coverage, history = _coverage(rng, idx, z, age_band, ethnicity, housing)
    trait = {
        source: rho * z + np.sqrt(1.0 - rho**2) * rng.normal(f"trait_{source}", idx)
        for source, rho in TRAIT_CORRELATION.items()
    }
    # Protected attributes are sometimes not disclosed; the truth still drives the data.
    sex_reported = np.where(rng.bernoulli("sex_missing", idx, 0.02), -1, sex)
    age_reported = np.where(rng.bernoulli("age_missing", idx, 0.01), -1, age_band)
    eth_reported = np.where(rng.bernoulli("ethnicity_missing", idx, 0.03), -1, ethnicity)
    return Population(
        index=idx, z=z, sex=sex_reported, age_band=age_band, age_band_reported=age_reported,
        age_years=age_years, ethnicity=eth_reported, ethnicity_true=ethnicity, region=region, employment=employment,
        true_income=true_income, housing=housing, application_date=application_date,
        product=product, loan_amount=loan_amount, term_months=term_months, true_pd=true_pd,
        defaulted=defaulted, default_date=default_date, matured=matured, coverage=coverage,
        history_months=history, trait=trait,
    )  # fmt: skip


def _protected_attributes(
    rng: KeyedRandom, idx: np.ndarray, planted_disparity: PlantedDisparity | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Creditworthiness z, sex, age band and ethnicity; a planted disparity lowers one group's z."""
    z = rng.normal("z", idx)
    sex = rng.choice("sex", idx, 2, SEX_SHARES)
    age_band = rng.choice("age_band", idx, 6, AGE_SHARES)
    ethnicity = rng.choice("ethnicity", idx, 4, ETHNICITY_SHARES)
    if planted_disparity is not None:
        planted = ethnicity == ETHNICITIES.index(planted_disparity.group)
        z = np.where(planted, z - planted_disparity.shift, z)
    return z, sex, age_band, ethnicity


def _employment(
    rng: KeyedRandom, idx: np.ndarray, z: np.ndarray, age_band: np.ndarray
) -> np.ndarray:
    """Employment type by age; weaker borrowers are more often out of work or in gig jobs."""
    emp_p = np.asarray(EMPLOYMENT_BY_AGE)[age_band].copy()
    emp_p[:, 3] *= np.exp(-0.5 * z)
    emp_p[:, 2] *= np.exp(-0.2 * z)
    return rng.choice("employment", idx, 6, emp_p)


def _monthly_income(
    rng: KeyedRandom,
    idx: np.ndarray,
    z: np.ndarray,
    employment: np.ndarray,
    age_band: np.ndarray,
    sex: np.ndarray,
    ethnicity: np.ndarray,
) -> np.ndarray:
    """True gross monthly income: lognormal by employment, shifted by age, sex, ethnicity and z."""
    log_income = (
        np.log(np.asarray(INCOME_MEDIAN))[employment]
        + np.asarray(INCOME_LOG_SHIFT_AGE)[age_band]
        + np.asarray(INCOME_LOG_SHIFT_SEX)[sex]
        + np.asarray(INCOME_LOG_SHIFT_ETHNICITY)[ethnicity]
        + 0.12 * z
        + np.asarray(INCOME_SIGMA)[employment] * rng.normal("income", idx)
    )
    return np.clip(np.exp(log_income), 300.0, 60000.0)


def _application_dates(
    rng: KeyedRandom, idx: np.ndarray, end_date: date
) -> tuple[np.ndarray, np.ndarray]:
    """Application dates over the window before the end date, and whether each has matured."""
    end = to_day(end_date)
    window_start = add_months(np.array([end]), -APPLICATION_WINDOW_MONTHS)[0]
    window_days = int((end - window_start) / DAY)
    application_date = window_start + rng.integers("application_date", idx, 1, window_days) * DAY
    matured = add_months(application_date, OUTCOME_HORIZON_MONTHS) <= end
    return application_date, matured


def _loans(
    rng: KeyedRandom, idx: np.ndarray, employment: np.ndarray, true_income: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The product applied for, its rounded amount (rising with income) and its term."""
    prod_p = np.tile(np.asarray(PRODUCT_SHARES), (idx.size, 1))
    prod_p[employment == 1, 4] = 0.35
    prod_p[employment == 5, 1] = 0.02
    product = rng.choice("product", idx, 5, prod_p)
    loan = np.exp(
        np.log(np.asarray(LOAN_MEDIAN))[product]
        + 0.35 * np.log(true_income / 3000.0)
        + np.asarray(LOAN_SIGMA)[product] * rng.normal("loan_amount", idx)
    )
    rounding = np.asarray(LOAN_ROUNDING)[product]
    loan_amount = np.clip(np.round(loan / rounding) * rounding, 100.0, 100000.0)
    term_months = np.asarray(TERMS)[
        rng.choice("term", idx, 7, np.asarray(TERM_BY_PRODUCT)[product])
    ]
    return product, loan_amount, term_months


def _true_pd(
    z: np.ndarray,
    employment: np.ndarray,
    true_income: np.ndarray,
    product: np.ndarray,
    loan_amount: np.ndarray,
    term_months: np.ndarray,
) -> np.ndarray:
    """The true 12-month PD from z, the repayment burden, the product and the employment type."""
    burden = np.clip(loan_amount / term_months / true_income, 0.005, 3.0)
    logit = (
        PD_INTERCEPT
        - PD_Z_WEIGHT * z
        + PD_BURDEN_WEIGHT * np.log(burden / 0.08)
        + np.asarray(PD_PRODUCT_EFFECT)[product]
        + np.asarray(PD_EMPLOYMENT_EFFECT)[employment]
    )
    return sigmoid(logit)


def _defaults(
    rng: KeyedRandom, idx: np.ndarray, true_pd: np.ndarray, application_date: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each application defaults (drawn at its true PD) and when (NaT when it does not)."""
    defaulted = rng.uniform("default", idx) < true_pd
    default_date = np.where(
        defaulted,
        application_date + rng.integers("default_day", idx, 30, 365) * DAY,
        np.datetime64("NaT", "D"),
    )
    return defaulted, default_date


def _coverage(
    rng: KeyedRandom,
    idx: np.ndarray,
    z: np.ndarray,
    age_band: np.ndarray,
    ethnicity: np.ndarray,
    housing: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Which alternative sources and bureau file each borrower has, and how far back."""
    utility = rng.bernoulli("has_utility", idx, np.where(housing == 2, 0.55, 0.91))
    telecom = rng.bernoulli("has_telecom", idx, np.where(age_band == 5, 0.82, 0.91))
    rent = (housing == 0) & rng.bernoulli("has_rent", idx, 0.98)
    bank_logit = (
        1.05
        + np.array([0.0, -0.55, -0.65, -0.25])[ethnicity]
        + np.array([0.35, 0.2, 0.0, -0.2, -0.5, -1.0])[age_band]
    )
    bank = rng.bernoulli("has_bank", idx, sigmoid(bank_logit))
    none = ~(utility | telecom | rent | bank)
    telecom = telecom | none
    bureau_logit = (
        0.25
        + np.array([0.0, -0.55, -0.65, -0.30])[ethnicity]
        + np.array([-1.4, -0.4, 0.2, 0.45, 0.5, 0.3])[age_band]
        + 0.15 * z
    )
    bureau = rng.bernoulli("has_bureau", idx, sigmoid(bureau_logit))
    coverage = {
        "utility": utility,
        "telecom": telecom,
        "rent": rent,
        "bank": bank,
        "bureau": bureau,
    }
    history = {
        "utility": rng.integers("history_utility", idx, 6, 24),
        "telecom": rng.integers("history_telecom", idx, 6, 24),
        "rent": rng.integers("history_rent", idx, 6, 24),
        "bank": rng.integers("history_bank", idx, 6, 12),
    }
    return coverage, history


def applications_frame(pop: Population, seed: int) -> pl.DataFrame:
    rng = KeyedRandom(seed)
    idx = pop.index
    declared = pop.true_income * np.exp(0.04 + 0.15 * rng.normal("declared_income", idx))
    declared = np.round(declared / 10.0) * 10.0
    irregular = np.isin(pop.employment, (1, 2))
    declared_missing = rng.bernoulli("declared_missing", idx, np.where(irregular, 0.13, 0.07))

    employed = np.isin(pop.employment, (0, 1, 2))
    tenure = np.exp(
        np.log(3.0) + 0.15 * pop.z + 0.02 * (pop.age_years - 30) + 0.9 * rng.normal("tenure", idx)
    )
    tenure = np.round(np.clip(np.minimum(tenure, pop.age_years - 16), 0.0, 60.0), 1)
    student_job = (pop.employment == 5) & rng.bernoulli("student_job", idx, 0.4)
    tenure = np.where(student_job, np.round(np.minimum(tenure, 3.0) / 2, 1), tenure)
    tenure_missing = ~(employed | student_job) | rng.bernoulli("tenure_missing", idx, 0.08)
    employment_reported = np.where(
        rng.bernoulli("employment_missing", idx, 0.02), -1, pop.employment
    )

    return (
        pl.DataFrame(
            {
                "application_id": prefixed_ids("A", idx, 8),
                "borrower_id": borrower_ids(idx),
                "application_date": pl.Series(pop.application_date, dtype=pl.Date),
                "loan_amount": pop.loan_amount,
                "term_months": pop.term_months.astype(np.int64),
                "product": labels_of(pop.product, PRODUCTS),
                "declared_monthly_income": np.where(declared_missing, np.nan, declared),
                "employment_length_years": np.where(tenure_missing, np.nan, tenure),
                "employment_type": labels_of(employment_reported, EMPLOYMENT_TYPES),
                "housing_status": labels_of(pop.housing, HOUSING),
                "region": labels_of(pop.region, REGIONS),
            }
        )
        .hstack(names_frame(idx, pop.ethnicity_true, seed, ETHNICITY_SHARES))
        .with_columns(pl.col("declared_monthly_income", "employment_length_years").fill_nan(None))
    )


def outcomes_frame(pop: Population) -> pl.DataFrame:
    m = pop.matured
    return pl.DataFrame(
        {
            "application_id": prefixed_ids("A", pop.index[m], 8),
            "borrower_id": borrower_ids(pop.index[m]),
            "outcome_date": pl.Series(
                add_months(pop.application_date[m], OUTCOME_HORIZON_MONTHS), dtype=pl.Date
            ),
            "default_12m": pop.defaulted[m].astype(np.int64),
        }
    )


def demographics_frame(pop: Population) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "borrower_id": borrower_ids(pop.index),
            "sex": labels_of(pop.sex, SEXES),
            "age_band": labels_of(pop.age_band_reported, AGE_BANDS),
            "ethnicity_group": labels_of(pop.ethnicity, ETHNICITIES),
        }
    )


def ground_truth_frame(pop: Population) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "application_id": prefixed_ids("A", pop.index, 8),
            "borrower_id": borrower_ids(pop.index),
            "true_pd": pop.true_pd,
            "creditworthiness": pop.z,
            "true_ethnicity_group": labels_of(pop.ethnicity_true, ETHNICITIES),
            "true_census_group": labels_of(pop.ethnicity_true, CENSUS_GROUP),
        }
    )
