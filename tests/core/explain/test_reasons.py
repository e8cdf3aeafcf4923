"""Principal reasons: SHAP summed by reason code, risk-increasing only, in a fixed order."""

from __future__ import annotations

import numpy as np
import pytest

from credit_assets.core.explain import Reason, ReasonCodeMap, top_reasons, top_reasons_batch
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec


def _spec(name: str, code: str | None, text: str | None) -> FeatureSpec:
    return FeatureSpec(
        name=name,
        description=name,
        source="test",
        dtype="float",
        reason_code=code,
        reason_text=text,
    )


CATALOGUE = FeatureCatalogue(
    (
        _spec("utility_on_time_ratio_12m", "R01", "Utility bills paid late"),
        _spec("utility_late_count_12m", "R01", "Utility bills paid late"),
        _spec("telecom_late_payments_12m", "R02", "Telecom bills paid late"),
        _spec("rent_on_time_ratio_12m", "R03", "Rent paid late"),
        _spec("bank_overdraft_days_90d", "R04", "Frequent overdrafts"),
        _spec("months_at_address", "R05", "Short time at current address"),
        _spec("income_band", "R06", "Income too low for the amount"),
    )
)
FEATURES = list(CATALOGUE.names)


def test_features_sharing_a_code_are_summed_into_one_reason() -> None:
    shap = np.array([0.30, 0.25, 0.40, 0.0, 0.0, 0.0, 0.0])
    reasons = top_reasons(shap, FEATURES, CATALOGUE)
    assert reasons[0] == Reason(
        "R01",
        "Utility bills paid late",
        0.55,
        ("utility_on_time_ratio_12m", "utility_late_count_12m"),
    )
    assert [r.code for r in reasons] == ["R01", "R02"]


def test_reasons_come_largest_contribution_first_and_at_most_k() -> None:
    shap = np.array([0.05, 0.0, 0.40, 0.10, 0.90, 0.20, 0.30])
    assert [r.code for r in top_reasons(shap, FEATURES, CATALOGUE)] == ["R04", "R02", "R06", "R05"]
    assert [r.code for r in top_reasons(shap, FEATURES, CATALOGUE, k=2)] == ["R04", "R02"]


def test_only_risk_increasing_sums_are_reasons() -> None:
    # R01 nets to a decrease although one of its features raises risk.
    shap = np.array([0.30, -0.50, -0.20, 0.0, 0.10, -0.05, 0.0])
    reasons = top_reasons(shap, FEATURES, CATALOGUE)
    assert [r.code for r in reasons] == ["R04"]
    assert all(r.contribution > 0 for r in reasons)


def test_an_applicant_below_the_baseline_everywhere_has_no_reasons() -> None:
    assert top_reasons(-np.ones(len(FEATURES)), FEATURES, CATALOGUE) == []


def test_equal_contributions_are_ordered_by_code() -> None:
    shap = np.array([0.0, 0.0, 0.25, 0.0, 0.25, 0.0, 0.125 + 0.125])
    for _ in range(3):
        assert [r.code for r in top_reasons(shap, FEATURES, CATALOGUE)] == ["R02", "R04", "R06"]
    # A code whose features sum to the same value ties the same way.
    tied = np.array([0.125, 0.125, 0.25, 0.0, 0.0, 0.0, 0.0])
    assert [r.code for r in top_reasons(tied, FEATURES, CATALOGUE)] == ["R01", "R02"]


def test_texts_come_from_the_catalogue() -> None:
    reasons = top_reasons(np.full(len(FEATURES), 0.1), FEATURES, CATALOGUE, k=7)
    assert {r.code: r.text for r in reasons} == {
        spec.reason_code: spec.reason_text for spec in CATALOGUE.features
    }


def test_model_feature_order_need_not_follow_the_catalogue() -> None:
    order = list(reversed(FEATURES))
    shap = np.zeros(len(order))
    shap[order.index("rent_on_time_ratio_12m")] = 0.7
    assert top_reasons(shap, order, CATALOGUE)[0].code == "R03"


def test_batch_equals_the_per_row_rule_exactly() -> None:
    rng = np.random.default_rng(0)
    shap = rng.normal(0, 0.3, (2000, len(FEATURES)))
    shap[::7, 4] = shap[::7, 2]  # exact ties between codes
    shap[::11] = -np.abs(shap[::11])  # rows without any reason
    batch = top_reasons_batch(shap, FEATURES, CATALOGUE)
    assert batch == [top_reasons(row, FEATURES, CATALOGUE) for row in shap]
    assert any(r == [] for r in batch)


def test_indicator_matrix_sums_shap_by_code() -> None:
    mapping = ReasonCodeMap.build(FEATURES, CATALOGUE)
    shap = np.random.default_rng(1).normal(size=(50, len(FEATURES)))
    np.testing.assert_allclose(shap @ mapping.indicator, mapping.code_sums(shap), atol=1e-12)


def test_a_feature_without_an_approved_reason_is_refused() -> None:
    catalogue = CATALOGUE.merged(FeatureCatalogue((_spec("device_age_days", None, None),)))
    with pytest.raises(ValueError, match="device_age_days"):
        ReasonCodeMap.build([*FEATURES, "device_age_days"], catalogue)


def test_a_feature_missing_from_the_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the feature catalogue"):
        ReasonCodeMap.build([*FEATURES, "unknown_feature"], CATALOGUE)
