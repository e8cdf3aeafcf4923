"""Quality judged on a champion/challenger experiment's live outcomes, and the policy that asks
for them before a challenger replaces the champion."""

from dataclasses import replace

from credit_assets.core.platform.settings import Settings
from credit_assets.core.promotion import (
    PromotionEvidence,
    PromotionPolicy,
    evaluate_gates,
    policy_from_settings,
)
from credit_assets.core.promotion.verdicts import QUALITY
from tests.support.promotion import CATALOGUE

# A challenger offline worse than the champion by 0.02 AUC, significantly, that passes every
# other gate.
EVIDENCE = PromotionEvidence(
    feature_names=["utility_on_time_ratio_12m"],
    catalogue=CATALOGUE,
    protected_columns=[],
    challenger_auc=0.76,
    champion_auc=0.78,
    bands=[],
    monotonicity={"passed": True, "features": [{"feature": "utility_on_time_ratio_12m"}]},
    reason_accuracy={"share": 0.99, "checked": 200},
    fairness={"summary": None, "attributes": []},
    champion_comparison={"difference": -0.02, "low": -0.03, "high": -0.01, "p_worse": 1e-4},
    leakage={"rows": 900, "bads": 180, "findings": [], "single_auc": {}},
)


def report(recommendation: str, champion: str = "v-champion") -> dict:
    return {
        "experiment": {"experiment_id": "exp-1", "champion_version": champion},
        "recommendation": recommendation,
        "reason": "the challenger ranks risk better: difference +0.030, p = 0.001.",
        "auc_difference": 0.03,
        "auc_p_value": 0.001,
    }


def quality(evidence: PromotionEvidence, policy: PromotionPolicy | None = None):
    gates = {g.name: g for g in evaluate_gates(evidence, policy or PromotionPolicy())}
    return gates[QUALITY], [g.name for g in gates.values() if not g.passed]


def test_offline_the_worse_challenger_fails_quality_and_only_quality():
    gate, failed = quality(EVIDENCE)
    assert failed == [QUALITY] and "not noise" in gate.detail


def test_live_outcomes_that_recommend_promote_pass_quality_whatever_the_offline_figure():
    live = replace(
        EVIDENCE,
        experiment_id="exp-1",
        experiment=report("promote"),
        champion_version="v-champion",
    )
    gate, failed = quality(live)
    assert failed == []
    assert "live outcomes of experiment exp-1" in gate.detail and "promote" in gate.detail
    assert gate.figure == "live AUC diff +0.0300, p 0.001"


def test_live_outcomes_that_do_not_recommend_promote_hold_back():
    for recommendation in ("keep_champion", "run_longer"):
        live = replace(
            EVIDENCE,
            experiment_id="exp-1",
            experiment=report(recommendation),
            champion_version="v-champion",
        )
        gate, failed = quality(live)
        assert failed == [QUALITY] and f"recommends {recommendation}" in gate.detail


def test_an_experiment_against_an_earlier_champion_is_no_evidence_about_todays():
    live = replace(
        EVIDENCE,
        experiment_id="exp-1",
        experiment=report("promote", champion="v-old"),
        champion_version="v-champion",
    )
    gate, failed = quality(live)
    assert failed == [QUALITY]
    assert "against v-old, but the champion is now v-champion" in gate.detail


def test_an_experiment_without_a_report_holds_back_and_says_what_to_run():
    live = replace(EVIDENCE, experiment_id="exp-1", experiment=None, champion_version="v")
    gate, failed = quality(live)
    assert failed == [QUALITY] and "no report yet" in gate.detail


def test_the_policy_that_requires_an_experiment_holds_an_offline_better_challenger(monkeypatch):
    better = replace(
        EVIDENCE,
        challenger_auc=0.80,
        champion_comparison={"difference": 0.02, "low": 0.01, "high": 0.03, "p_worse": 0.99},
    )
    assert quality(better)[1] == []
    monkeypatch.setenv("CREDIT_PROMOTION_REQUIRES_EXPERIMENT", "true")
    policy = policy_from_settings(Settings())
    assert policy.requires_experiment
    gate, failed = quality(better, policy)
    assert failed == [QUALITY]
    assert gate.detail.startswith("offline: ") and "experiment promote" in gate.detail
    # The first model has no champion to run an experiment against: the floor decides.
    first = replace(better, champion_auc=None, champion_comparison=None)
    assert quality(first, policy)[1] == []
    # And with the experiment's evidence, the same policy lets it through.
    live = replace(
        better, experiment_id="exp-1", experiment=report("promote"), champion_version="v-champion"
    )
    assert quality(live, policy)[1] == []
