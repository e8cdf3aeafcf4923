"""The evidence a promotion decision reads, judged by every gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from credit_assets.core.features.specs import FeatureCatalogue
from credit_assets.core.promotion.fairness_rule import fairness_gate
from credit_assets.core.promotion.gates import (
    awaiting_experiment,
    leakage_gate,
    live_quality_gate,
    monotonicity_gate,
    protected_gate,
    quality_gate,
    rank_ordering_gate,
    reason_accuracy_gate,
    reason_gate,
)
from credit_assets.core.promotion.policy import PromotionPolicy
from credit_assets.core.promotion.verdicts import Gate


@dataclass(frozen=True)
class PromotionEvidence:
    """Everything recorded about a challenger that the gates judge."""

    feature_names: list[str]
    catalogue: FeatureCatalogue
    protected_columns: list[str]
    challenger_auc: float | None
    champion_auc: float | None
    bands: list[dict[str, Any]]
    monotonicity: Mapping[str, Any] | None
    reason_accuracy: Mapping[str, Any] | None
    fairness: Mapping[str, Any] | None
    champion_comparison: Mapping[str, Any] | None = None
    # After a champion/challenger experiment: its id and report (None if none was written
    # yet) and today's champion. Quality is then judged on the experiment's live outcomes
    # instead of the offline test rows.
    experiment_id: str | None = None
    experiment: Mapping[str, Any] | None = None
    champion_version: str | None = None
    # The leakage screen recorded with the model (None: not assessed), and the features
    # whose contract columns are declared known at decision time.
    leakage: Mapping[str, Any] | None = None
    known_at_decision: frozenset[str] = frozenset()
    # The test rows behind the challenger's AUC (`rows`, `bads`, `auc_low`, `auc_high`): too
    # few bads or goods and the quality gate says the evidence is too thin.
    test_counts: Mapping[str, Any] | None = None


def evaluate_gates(evidence: PromotionEvidence, policy: PromotionPolicy) -> list[Gate]:
    if evidence.experiment_id is not None:
        quality = live_quality_gate(
            evidence.experiment_id, evidence.experiment, evidence.champion_version
        )
    else:
        quality = quality_gate(
            evidence.challenger_auc,
            evidence.champion_auc,
            policy,
            evidence.champion_comparison,
            evidence.test_counts,
        )
        if policy.requires_experiment and evidence.champion_auc is not None:
            quality = awaiting_experiment(quality)
    gates = [
        quality,
        rank_ordering_gate(evidence.bands, policy),
        reason_gate(evidence.feature_names, evidence.catalogue),
        protected_gate(evidence.feature_names, evidence.protected_columns),
        monotonicity_gate(evidence.monotonicity),
        reason_accuracy_gate(evidence.reason_accuracy, policy),
        fairness_gate(evidence.fairness, policy, declared=bool(evidence.protected_columns)),
        leakage_gate(evidence.leakage, evidence.known_at_decision),
    ]
    return [as_policy_says(gate, policy) for gate in gates]


def as_policy_says(gate: Gate, policy: PromotionPolicy) -> Gate:
    """A gate that was not assessed holds back exactly when the policy says so for it."""
    if gate.assessed or gate.name not in policy.not_assessed_holds_back:
        return gate
    return replace(gate, passed=not policy.not_assessed_holds_back[gate.name])
