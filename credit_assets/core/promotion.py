"""The promotion gates: when a challenger may become the champion.

Each gate is a named, explained verdict; `champion_model` promotes only when
all of them pass, or when an override with a written reason is given (and
recorded). The same verdicts back the blocking asset checks that stop a run
before promotion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from credit_assets.core.catalogue import FeatureCatalogue


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromotionPolicy:
    """Tolerances, with documented defaults.

    - A challenger may lose at most `auc_tolerance` test AUC against the current champion
      (measured on the same test split).
    - The first model must reach `first_model_auc_floor`.
    - The worst adverse impact ratio must reach `min_adverse_impact_ratio` (four-fifths rule).
    """

    auc_tolerance: float = 0.005
    first_model_auc_floor: float = 0.65
    min_adverse_impact_ratio: float = 0.8


@dataclass(frozen=True)
class PromotionDecision:
    gates: list[Gate]
    override_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def all_passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def promote(self) -> bool:
        return self.all_passed or bool(self.override_reason and self.override_reason.strip())

    @property
    def failed(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]

    def markdown(self) -> str:
        lines = ["| gate | verdict | detail |", "|---|---|---|"]
        lines += [f"| {g.name} | {'pass' if g.passed else 'FAIL'} | {g.detail} |" for g in self.gates]
        if self.override_reason:
            lines.append(f"\n**Override:** {self.override_reason}")
        return "\n".join(lines)


def quality_gate(
    challenger_auc: float | None, champion_auc: float | None, policy: PromotionPolicy
) -> Gate:
    if challenger_auc is None:
        return Gate("quality", False, "the challenger has no test AUC")
    if champion_auc is None:
        return Gate(
            "quality",
            challenger_auc >= policy.first_model_auc_floor,
            f"first model: test AUC {challenger_auc:.4f} vs floor {policy.first_model_auc_floor:.2f}",
        )
    loss = champion_auc - challenger_auc
    return Gate(
        "quality",
        loss <= policy.auc_tolerance,
        f"test AUC {challenger_auc:.4f} vs champion {champion_auc:.4f} "
        f"(tolerance {policy.auc_tolerance:.3f})",
    )


def reason_gate(feature_names: list[str], catalogue: FeatureCatalogue) -> Gate:
    missing = catalogue.missing(feature_names)
    without = catalogue.without_reason(feature_names)
    problems = [f"not in catalogue: {', '.join(missing)}"] if missing else []
    problems += [f"no approved reason text: {', '.join(without)}"] if without else []
    return Gate(
        "reasons",
        not problems,
        "; ".join(problems) or f"all {len(feature_names)} features map to an approved reason",
    )


def protected_gate(feature_names: list[str], protected_columns: list[str]) -> Gate:
    protected = set(protected_columns) | {f"protected_{c}" for c in protected_columns}
    leaked = sorted(n for n in feature_names if n in protected or n.startswith("protected_"))
    return Gate(
        "no_protected_inputs",
        not leaked,
        f"protected inputs: {', '.join(leaked)}" if leaked else "no protected attribute among the inputs",
    )


def fairness_gate(worst_air: float | None, policy: PromotionPolicy, required: bool = True) -> Gate:
    """Four-fifths rule on the worst group; a missing report fails when attributes are declared."""
    if worst_air is None:
        if required:
            return Gate("fairness", False, "no fairness report for this model version yet")
        return Gate("fairness", True, "no protected attribute declared: nothing to compare")
    return Gate(
        "fairness",
        worst_air >= policy.min_adverse_impact_ratio,
        f"worst adverse impact ratio {worst_air:.3f} vs {policy.min_adverse_impact_ratio:.2f}",
    )


def monotonicity_gate(passed: bool, failed_features: list[str]) -> Gate:
    return Gate(
        "monotonicity",
        passed,
        "every constrained feature is monotone"
        if passed
        else f"violated by: {', '.join(failed_features)}",
    )


def decide(gates: list[Gate], override_reason: str | None = None) -> PromotionDecision:
    return PromotionDecision(gates=gates, override_reason=(override_reason or "").strip() or None)
