"""The gates a challenger passes before it may score anyone, and the decision they add up to."""

import numpy as np
import polars as pl

from credit_assets.core.compliance import fairness_report
from credit_assets.core.modeling.candidates import champion_comparison
from credit_assets.core.platform.settings import Settings
from credit_assets.core.promotion import (
    FAIRNESS,
    FOUR_FIFTHS,
    MISSING_GROUP,
    FairnessPolicy,
    PromotionDecision,
    PromotionPolicy,
    decide,
    fairness_gate,
    group_verdict,
    leakage_gate,
    monotonicity_gate,
    policy_from_settings,
    protected_gate,
    quality_gate,
    rank_ordering_gate,
    reason_accuracy_gate,
    reason_gate,
)
from tests.support.promotion import CATALOGUE


def population(groups: dict[str | None, tuple[int, int]]) -> pl.DataFrame:
    """Per group (approved, total): approved rows score 700, declined 500."""
    sex, score = [], []
    for group, (approved, total) in groups.items():
        sex += [group] * total
        score += [700] * approved + [500] * (total - approved)
    return pl.DataFrame(
        {"protected_sex": sex, "score": score},
        schema={"protected_sex": pl.String, "score": pl.Int64},
    )


POLICY = PromotionPolicy()


def test_a_worse_challenger_fails_the_quality_gate():
    assert not quality_gate(0.770, 0.780, POLICY).passed
    assert quality_gate(0.776, 0.780, POLICY).passed


def test_a_loss_against_the_champion_holds_back_only_when_the_paired_test_says_it_is_real():
    def paired(p_worse: float) -> dict:
        return {"difference": -0.01, "low": -0.03, "high": 0.01, "p_worse": p_worse}

    noise = quality_gate(0.770, 0.780, POLICY, paired(0.2))
    assert noise.passed and "within noise" in noise.detail
    real = quality_gate(0.770, 0.780, POLICY, paired(0.01))
    assert not real.passed and "not noise" in real.detail and "p = 0.01" in real.detail
    # A significant loss within the tolerance is no loss that matters.
    assert quality_gate(0.777, 0.780, POLICY, paired(0.001)).passed
    # quality_alpha 1.0: the point estimates alone decide, as without paired evidence.
    point = PromotionPolicy(quality_alpha=1.0)
    assert not quality_gate(0.770, 0.780, point, paired(0.2)).passed


def test_an_undefined_paired_test_holds_a_loss_back_as_not_assessed():
    paired = {"difference": -0.07, "low": float("nan"), "high": float("nan")}
    gate = quality_gate(0.69, 0.76, POLICY, {**paired, "p_worse": float("nan")})
    assert not gate.passed
    assert gate.detail.endswith(
        "not assessed: a loss beyond the tolerance, and DeLong's test is undefined on these "
        "test rows (too few bads or goods), so it cannot be shown to be noise; held back "
        "(promote only with a recorded override)"
    )
    # A challenger AUC of 0.0 against a champion at 1.0 on one bad: never promoted.
    assert not quality_gate(0.0, 1.0, POLICY, {**paired, "p_worse": float("nan")}).passed


def test_an_undefined_paired_test_within_the_tolerance_passes_on_the_point_estimates():
    paired = {"difference": 0.01, "low": float("nan"), "high": float("nan")}
    assert quality_gate(0.77, 0.76, POLICY, {**paired, "p_worse": float("nan")}).passed


def test_the_champion_comparison_is_delong_on_the_same_rows():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 2000)
    champion = np.clip(y * 0.4 + rng.normal(0.3, 0.2, 2000), 0, 1)
    worse = np.clip(y * 0.2 + rng.normal(0.4, 0.2, 2000), 0, 1)
    comparison = champion_comparison(y, champion, worse)
    assert comparison["difference"] < -0.1 and comparison["p_worse"] < 1e-6
    assert comparison["low"] < comparison["difference"] < comparison["high"] < 0
    assert not quality_gate(
        comparison["challenger_auc"], comparison["champion_auc"], POLICY, comparison
    ).passed
    same = champion_comparison(y, champion, champion)
    assert same["difference"] == 0 and same["p_worse"] == 0.5
    assert quality_gate(same["challenger_auc"], same["champion_auc"], POLICY, same).passed


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


def test_monotonicity_gate_names_the_violating_feature():
    evidence = {
        "passed": False,
        "features": [
            {"feature": "income", "passed": False},
            {"feature": "age_of_file", "passed": True},
        ],
    }
    gate = monotonicity_gate(evidence)
    assert not gate.passed and gate.detail == "violated by: income"
    assert gate.figure == "1 of 2 constrained features violated"
    assert not monotonicity_gate(None).passed


def test_reason_accuracy_gate_reads_the_policy_target():
    report = {"checked": 200, "passed": 188, "share": 0.94}
    assert not reason_accuracy_gate(report, POLICY).passed
    assert reason_accuracy_gate(report, PromotionPolicy(reason_accuracy_target=0.9)).passed
    nobody = reason_accuracy_gate({"checked": 0, "passed": 0, "share": None}, POLICY)
    assert nobody.passed and not nobody.assessed and nobody.verdict == "not assessed"


def bands(*rows: tuple[str, int, int]) -> list[dict]:
    return [{"band": b, "n": n, "n_bad": bad, "observed_bad_rate": bad / n} for b, n, bad in rows]


def test_rank_ordering_fails_only_on_a_significant_inversion():
    noisy = rank_ordering_gate(bands(("A", 40, 2), ("B", 40, 1), ("C", 40, 6)), POLICY)
    assert noisy.passed and "within noise" in noisy.detail
    inverted = rank_ordering_gate(
        bands(("A", 2000, 400), ("B", 2000, 100), ("C", 2000, 500)), POLICY
    )
    assert not inverted.passed and "significant inversion: A 0.200" in inverted.detail


def test_rank_ordering_passes_when_bad_rate_falls_band_by_band():
    gate = rank_ordering_gate(bands(("A", 500, 5), ("B", 500, 20), ("C", 500, 60)), POLICY)
    assert gate.passed and gate.detail == "bad rate falls band by band: C 0.120 > B 0.040 > A 0.010"


# --- fairness: practical and statistical significance ------------------------------------


def report_of(groups: dict, **policy) -> dict:
    return fairness_report(
        population(groups), protected=["sex"], cutoff=600, policy=FairnessPolicy(**policy)
    ).to_dict()


def test_the_first_mortgage_case_is_held_back():
    # 36 of 68 approved against 323 of 408: AIR 0.669, Fisher p ~ 1e-5.
    gate = fairness_gate(report_of({"white": (323, 408), "black": (36, 68)}), POLICY, declared=True)
    assert not gate.passed and gate.name == FAIRNESS
    assert gate.detail.startswith("sex=black AIR 0.669 [")
    assert "p < 0.001 (n 68)" in gate.detail


def test_a_small_missing_group_below_the_threshold_is_flagged_not_deciding():
    # The seed-11 case: a 62-applicant (missing) group at AIR 0.785 while the named groups are fine.
    report = report_of({"female": (800, 1000), "male": (820, 1000), None: (40, 62)})
    gate = fairness_gate(report, POLICY, declared=True)
    assert gate.passed
    assert "flagged, not deciding: sex=(missing) AIR 0.787" in gate.detail
    assert "missing values" in gate.detail


def test_the_missing_group_decides_when_the_policy_says_so():
    report = report_of({"female": (800, 1000), "male": (820, 1000), None: (20, 62)})
    policy = PromotionPolicy(fairness=FairnessPolicy(missing_group_decides=True))
    assert not fairness_gate(report, policy, declared=True).passed
    assert fairness_gate(report, POLICY, declared=True).passed


def test_a_disparity_that_is_not_statistically_significant_does_not_hold_back():
    # AIR 0.70 but only 20 vs 20 applicants: Fisher's p is far above 0.05.
    report = report_of({"A": (16, 20), "B": (11, 20)}, min_group_size=10)
    assert fairness_gate(report, POLICY_SMALL_GROUPS, declared=True).passed
    strict = PromotionPolicy(
        fairness=FairnessPolicy(min_group_size=10, require_statistical_significance=False)
    )
    assert not fairness_gate(report, strict, declared=True).passed


POLICY_SMALL_GROUPS = PromotionPolicy(fairness=FairnessPolicy(min_group_size=10))


def test_group_verdict_is_the_one_rule():
    policy = FairnessPolicy()
    base = {
        "group": "B",
        "n": 100,
        "adverse_impact_ratio": 0.7,
        "p_value": 0.001,
        "is_reference": False,
    }
    assert group_verdict(base, policy).fails
    assert not group_verdict({**base, "p_value": 0.2}, policy).fails
    assert not group_verdict({**base, "adverse_impact_ratio": 0.85}, policy).fails
    assert (
        group_verdict({**base, "n": 20}, policy).not_deciding_because == "fewer than 30 applicants"
    )
    assert (
        group_verdict({**base, "group": MISSING_GROUP}, policy).not_deciding_because
        == "missing values"
    )
    assert (
        group_verdict({**base, "is_reference": True}, policy).not_deciding_because
        == "reference group"
    )


def test_without_a_protected_attribute_the_gate_says_there_is_no_evidence():
    gate = fairness_gate({"summary": None, "attributes": [], "note": "..."}, POLICY, declared=False)
    assert gate.passed and not gate.assessed
    assert gate.verdict == "not assessed"
    assert gate.detail == "no fairness evidence: no protected attribute or proxy input declared"


def test_a_missing_fairness_report_holds_back_when_protected_attributes_exist():
    assert not fairness_gate(None, POLICY, declared=True).passed


def test_the_policy_and_its_defaults_come_from_settings(monkeypatch):
    monkeypatch.setenv("CREDIT_MIN_ADVERSE_IMPACT_RATIO", "0.9")
    monkeypatch.setenv("CREDIT_FAIRNESS_MIN_GROUP_SIZE", "50")
    policy = policy_from_settings(Settings())
    assert policy.fairness.min_adverse_impact_ratio == 0.9
    assert policy.fairness.min_group_size == 50
    assert PromotionPolicy().min_adverse_impact_ratio == FOUR_FIFTHS == 0.8


# --- the decision -----------------------------------------------------------------------


def test_override_needs_a_written_reason_and_is_recorded():
    failing = [quality_gate(0.60, None, POLICY)]
    assert not decide(failing).promote
    assert not decide(failing, override_reason="   ").promote
    decision = decide(failing, override_reason="Regulator-approved interim model, ticket MR-42")
    assert decision.promote and not decision.all_passed
    assert decision.outcome == "promoted by override"
    assert "MR-42" in decision.markdown()


def test_a_held_back_decision_summarises_the_failing_gates_and_round_trips():
    report = report_of({"white": (323, 408), "black": (36, 68)})
    gates = [quality_gate(0.74, None, POLICY), fairness_gate(report, POLICY, declared=True)]
    decision = decide(gates)
    assert decision.outcome == "held back"
    assert decision.summary().startswith("four_fifths_rule: sex=black AIR 0.669 [")
    assert PromotionDecision.from_dict(decision.to_dict()) == decision
    row = decision.rows()[1]
    assert (row["gate"], row["verdict"]) == ("four_fifths_rule", "FAIL")
    assert row["threshold"] == "AIR >= 0.8 unless p >= 0.05"


def test_gates_are_listed_in_one_order():
    gates = [fairness_gate(None, POLICY, declared=False), quality_gate(0.7, None, POLICY)]
    assert [g.name for g in decide(gates).gates] == [
        "quality_not_worse_than_champion",
        "four_fifths_rule",
    ]


def test_when_nobody_is_approved_fairness_is_not_assessed_rather_than_failed():
    report = report_of({"A": (0, 500), "B": (0, 500)})
    gate = fairness_gate(report, POLICY, declared=True)
    assert gate.passed and not gate.assessed
    assert "no applicant in the reference group is approved at cut-off 600" in gate.detail


# --- target leakage -------------------------------------------------------------------------

LEAKING = {
    "rows": 800,
    "bads": 160,
    "max_single_auc": 0.95,
    "findings": [
        {
            "feature": "card_spend",
            "kind": "separates",
            "auc": 0.996,
            "detail": "card_spend alone separates the outcome (AUC 0.996 >= 0.95)",
        }
    ],
    "single_auc": {"card_spend": 0.996, "income": 0.61},
}


def test_a_feature_that_alone_separates_the_outcome_holds_the_model_back():
    gate = leakage_gate(LEAKING)
    assert not gate.passed and gate.assessed
    assert gate.detail.startswith(
        "target leakage suspected: card_spend alone separates the outcome (AUC 0.996 >= 0.95)"
    )
    assert "known_at_decision: true" in gate.detail
    assert gate.figure == "highest single-feature AUC 0.996 (card_spend)"


def test_a_feature_declared_known_at_decision_is_cleared():
    gate = leakage_gate(LEAKING, {"card_spend"})
    assert gate.passed
    assert "cleared by contract (known_at_decision): card_spend" in gate.detail


def test_no_leakage_screen_is_not_assessed_and_holds_back():
    gate = leakage_gate(None)
    assert not gate.passed and not gate.assessed and gate.holds_back


def test_a_clean_screen_passes_with_its_highest_auc():
    clean = {**LEAKING, "findings": [], "single_auc": {"income": 0.61, "age": None}}
    gate = leakage_gate(clean)
    assert gate.passed and gate.figure == "highest single-feature AUC 0.610 (income)"


def test_thin_test_evidence_is_not_assessed_and_holds_back_even_a_perfect_auc():
    # 12 test rows, 2 bads: a test AUC of 1.000 says nothing.
    counts = {"rows": 12, "bads": 2, "auc_low": 1.0, "auc_high": 1.0}
    first = quality_gate(1.0, None, POLICY, counts=counts)
    assert not first.passed and not first.assessed and first.verdict == "not assessed"
    assert first.detail.startswith(
        "evidence too thin: 2 bads and 10 goods in the 12 test rows (minimum 30)"
    )
    assert "promote with a recorded override reason" in first.detail
    assert first.threshold == ">= 30 bads and goods in the test rows"
    against = quality_gate(0.95, 0.7, POLICY, counts={"rows": 400, "bads": 3})
    assert not against.passed and "3 bads in the 400 test rows" in against.detail
    assert "against the champion's 0.7000" in against.detail
    # The override is what lets it through, and it is recorded.
    assert decide([first]).outcome == "held back"
    decision = decide([first], override_reason="pilot lender; 6 months of outcomes pending")
    assert decision.outcome == "promoted by override"
    assert decision.override_reason == "pilot lender; 6 months of outcomes pending"


def test_enough_test_evidence_is_judged_as_before_and_the_minimum_is_a_setting():
    counts = {"rows": 400, "bads": 40, "auc_low": 0.70, "auc_high": 0.80}
    assert quality_gate(0.75, None, POLICY, counts=counts).passed
    strict = policy_from_settings(Settings(evidence_min_bads=50))
    gate = quality_gate(0.75, None, strict, counts=counts)
    assert not gate.passed and "40 bads in the 400 test rows (minimum 50)" in gate.detail
    assert "[0.700, 0.800]" in gate.detail


def test_every_gate_that_can_be_undefined_says_not_assessed_and_holds_back_as_policy_says():
    from credit_assets.core.promotion.decision import as_policy_says
    from credit_assets.core.promotion.policy import NOT_ASSESSED_HOLDS_BACK

    undefined = {
        "quality_not_worse_than_champion": quality_gate(None, 0.8, POLICY),
        "no_target_leakage": leakage_gate(None),
        "monotone_constraints_hold": monotonicity_gate(None),
        "bad_rate_falls_with_score": rank_ordering_gate([], POLICY),
        "reasons_lower_risk_when_neutralised": reason_accuracy_gate(
            {"checked": 0, "passed": 0, "share": 0.0}, POLICY
        ),
        "four_fifths_rule": fairness_gate(None, POLICY, declared=False),
    }
    assert set(undefined) == set(NOT_ASSESSED_HOLDS_BACK)
    for name, gate in undefined.items():
        assert gate.name == name and not gate.assessed and gate.verdict == "not assessed"
        # the asset check (the gate as computed) and the decision (the policy) agree
        assert gate.holds_back is NOT_ASSESSED_HOLDS_BACK[name], name
        assert as_policy_says(gate, POLICY) == gate
    # A lender's policy can make a not-assessed fairness gate hold back.
    strict = PromotionPolicy(
        not_assessed_holds_back={**NOT_ASSESSED_HOLDS_BACK, "four_fifths_rule": True}
    )
    assert as_policy_says(undefined["four_fifths_rule"], strict).holds_back
