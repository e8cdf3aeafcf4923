"""Reason accuracy: neutralising a declined applicant's top reason lowers their risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier

from credit_assets.core.explain import (
    LeafShapExplainer,
    ReasonAccuracyReport,
    population_baselines,
    validate_reason_accuracy,
)
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec

CATALOGUE = FeatureCatalogue(
    (
        FeatureSpec(
            "utility_on_time_ratio_12m",
            "Share of utility bills paid on time",
            "utility",
            "float",
            "decreasing",
            "R01",
            "Utility bills paid late",
        ),
        FeatureSpec(
            "telecom_late_payments_12m",
            "Late telecom payments",
            "telecom",
            "float",
            "increasing",
            "R02",
            "Telecom bills paid late",
        ),
        FeatureSpec(
            "bank_overdraft_days_90d",
            "Days overdrawn",
            "bank",
            "float",
            "increasing",
            "R03",
            "Frequent overdrafts",
        ),
        FeatureSpec(
            "months_at_address",
            "Months at current address",
            "application",
            "float",
            "decreasing",
            "R04",
            "Short time at current address",
        ),
        FeatureSpec(
            "employment_type",
            "Employment type",
            "application",
            "category",
            "none",
            "R05",
            "Employment type",
        ),
    )
)
FEATURES = CATALOGUE.names
CATEGORICAL = ["employment_type"]


def _applicants(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "utility_on_time_ratio_12m": rng.beta(5, 1.5, n),
            "telecom_late_payments_12m": rng.poisson(1.2, n).astype(float),
            "bank_overdraft_days_90d": rng.poisson(3.0, n).astype(float),
            "months_at_address": rng.gamma(2.0, 18.0, n),
            "employment_type": rng.choice(["salaried", "self", "gig", "none"], n),
        }
    )
    frame.loc[rng.random(n) < 0.2, "utility_on_time_ratio_12m"] = np.nan
    logit = (
        -1.0
        - 3.0 * (frame["utility_on_time_ratio_12m"].fillna(0.6) - 0.75)
        + 0.5 * frame["telecom_late_payments_12m"]
        + 0.15 * frame["bank_overdraft_days_90d"]
        - 0.015 * frame["months_at_address"]
        + frame["employment_type"].map({"gig": 0.5, "none": 0.9}).fillna(0.0)
    )
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


@pytest.fixture(scope="module")
def report() -> ReasonAccuracyReport:
    frame, label = _applicants(4000, seed=5)
    model = CatBoostClassifier(
        iterations=150,
        depth=4,
        cat_features=CATEGORICAL,
        max_ctr_complexity=1,
        monotone_constraints={
            spec.name: spec.catboost_monotone_sign
            for spec in CATALOGUE.features
            if spec.monotone != "none"
        },
        random_seed=1,
        thread_count=2,
        allow_writing_files=False,
        verbose=False,
    ).fit(frame, label)
    explainer = LeafShapExplainer.from_model(model, background=frame)
    applicants, _ = _applicants(3000, seed=6)
    pd_ = model.predict_proba(applicants)[:, 1]
    declined = pd_ >= np.quantile(pd_, 0.7)
    return validate_reason_accuracy(
        explainer,
        applicants,
        FEATURES,
        CATALOGUE,
        population_baselines(frame, FEATURES, CATEGORICAL),
        declined,
        sample=500,
        seed=0,
    )


def test_top_reason_at_baseline_lowers_risk_for_at_least_95_percent_of_declines(report) -> None:
    assert report.checked + report.without_reason == 500
    assert report.share >= 0.95
    assert report.meets_target


def test_each_failure_names_the_row_code_and_both_risks(report) -> None:
    assert len(report.failures) == report.checked - report.passed
    for failure in report.failures:
        assert failure.after >= failure.before
        assert failure.code in {spec.reason_code for spec in CATALOGUE.features}


def test_population_baselines_are_median_and_category_shares() -> None:
    frame = pd.DataFrame(
        {
            "months_at_address": [1.0, 5.0, np.nan, 9.0],
            "employment_type": ["gig", "self", "self", None],
        }
    )
    baselines = population_baselines(frame, ["months_at_address", "employment_type"], CATEGORICAL)
    # A category is neutralised to the population's mix, not to its mode: the most
    # common category may itself be the risky one.
    assert baselines == {"months_at_address": 5.0, "employment_type": {"gig": 1 / 3, "self": 2 / 3}}
