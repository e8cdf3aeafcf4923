"""The gates a challenger passes before it may score anyone."""

from credit_assets.core.catalogue import FeatureCatalogue, FeatureSpec
from credit_assets.core.promotion import (
    PromotionPolicy,
    decide,
    fairness_gate,
    protected_gate,
    quality_gate,
    reason_gate,
)

POLICY = PromotionPolicy(auc_tolerance=0.005, first_model_auc_floor=0.65, min_adverse_impact_ratio=0.8)
CATALOGUE = FeatureCatalogue((
    FeatureSpec("utility_on_time_ratio_12m", "on-time share", "utility_payments", "float",
                "decreasing", "U01", "Late payments on utility bills"),
    FeatureSpec("mystery_score", "undocumented", "lender", "float"),
))


def test_a_worse_challenger_fails_the_quality_gate():
    assert not quality_gate(0.770, 0.780, POLICY).passed
    assert quality_gate(0.776, 0.780, POLICY).passed


def test_the_first_model_must_clear_the_floor():
    assert not quality_gate(0.60, None, POLICY).passed
    assert quality_gate(0.70, None, POLICY).passed


def test_a_feature_without_approved_reason_text_fails():
    gate = reason_gate(["utility_on_time_ratio_12m", "mystery_score", "not_declared"], CATALOGUE)
    assert not gate.passed
    assert "not in catalogue: not_declared" in gate.detail
    assert "no approved reason text: mystery_score" in gate.detail


def test_protected_inputs_fail_whatever_their_prefix():
    assert not protected_gate(["income", "sex"], ["sex", "age"]).passed
    assert not protected_gate(["protected_age"], ["sex"]).passed
    assert protected_gate(["income"], ["sex"]).passed


def test_fairness_gate_uses_the_four_fifths_rule():
    assert not fairness_gate(0.79, POLICY).passed
    assert fairness_gate(0.80, POLICY).passed


def test_a_missing_fairness_report_blocks_when_protected_attributes_exist():
    assert not fairness_gate(None, POLICY, required=True).passed
    assert fairness_gate(None, POLICY, required=False).passed


def test_override_needs_a_written_reason_and_is_recorded():
    failing = [quality_gate(0.60, None, POLICY)]
    assert not decide(failing).promote
    assert not decide(failing, override_reason="   ").promote
    decision = decide(failing, override_reason="Regulator-approved interim model, ticket MR-42")
    assert decision.promote and not decision.all_passed
    assert "MR-42" in decision.markdown()
