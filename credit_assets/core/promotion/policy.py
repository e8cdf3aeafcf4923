"""The promotion policy: every threshold a gate applies, with its default, in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from credit_assets.core.promotion.verdicts import (
    FAIRNESS,
    LEAKAGE,
    MONOTONICITY,
    QUALITY,
    RANK_ORDERING,
    REASON_ACCURACY,
)

FOUR_FIFTHS = 0.8
"""The adverse impact ratio below which a disparity is practically significant."""
FAIRNESS_ALPHA = 0.05
FAIRNESS_MIN_GROUP_SIZE = 30
REASON_ACCURACY_TARGET = 0.95
AUC_TOLERANCE = 0.005
LDA_AUC_TOLERANCE = 0.01
"""AUC an alternative may lose against the challenger and still serve the same business need
(the less-discriminatory-alternative search; CREDIT_LDA_AUC_TOLERANCE)."""
QUALITY_ALPHA = 0.05
FIRST_MODEL_AUC_FLOOR = 0.65
EVIDENCE_MIN_BADS = 30
"""Fewest bads (and goods) in the rows a quality figure comes from: with fewer, an AUC's
95 % interval is wider than about +-0.1 and the figure cannot tell models apart."""
MISSING_GROUP = "(missing)"
NOT_ASSESSED_HOLDS_BACK: dict[str, bool] = {
    # The figure could not be computed, so nothing shows the challenger is good enough:
    QUALITY: True,  # one outcome class or too few bads/goods in the test rows
    LEAKAGE: True,  # no leakage screen recorded with the model
    MONOTONICITY: True,  # no post-training evidence recorded with the model
    # Nothing to judge, and the gate's question does not arise:
    RANK_ORDERING: False,  # fewer than two score bands with outcomes (quality judges thinness)
    REASON_ACCURACY: False,  # no sampled applicant with a risk-raising reason to check
    FAIRNESS: False,  # no protected attribute or proxy declared: the card says so
}
"""What "not assessed" means for each gate that can be undefined: an undefined statistic never
passes a gate by accident; where it does not hold back, the card and the decision say it was
not assessed."""


@dataclass(frozen=True)
class FairnessPolicy:
    """When a disparity between groups holds a model back (see the module docstring)."""

    min_adverse_impact_ratio: float = FOUR_FIFTHS
    alpha: float = FAIRNESS_ALPHA
    min_group_size: int = FAIRNESS_MIN_GROUP_SIZE
    require_statistical_significance: bool = True
    missing_group_decides: bool = False
    small_groups_decide: bool = False

    def describe(self) -> str:
        significance = (
            f"and Fisher's exact p < {self.alpha:g}"
            if self.require_statistical_significance
            else "(no significance test required)"
        )
        return (
            f"AIR < {self.min_adverse_impact_ratio:g} {significance}, groups of at least "
            f"{self.min_group_size}; small groups "
            f"{'decide' if self.small_groups_decide else 'reported only'}; the missing group "
            f"{'decides' if self.missing_group_decides else 'reported only'}"
        )


@dataclass(frozen=True)
class PromotionPolicy:
    """Tolerances, with documented defaults.

    - A challenger is held back against the current champion when, on the same test rows,
      it loses more than `auc_tolerance` AUC **and** DeLong's paired test says the loss is
      not noise (one-sided p < `quality_alpha`; 1.0 decides on the point estimate alone).
      The first model must reach `first_model_auc_floor`.
    - With `requires_experiment`, a challenger that would replace a champion is judged on
      live outcomes only: the offline comparison is reported, and it is held back until a
      champion/challenger experiment recommends it (`credit-platform experiment promote`).
    - Evidence too thin: when the test rows hold fewer than `evidence_min_bads` bads or
      goods, the quality gate is not assessed and holds the model back (override with a
      recorded reason).
    - Reason accuracy must reach `reason_accuracy_target`.
    - Band bad rates must fall from the worst band to the best; an inversion counts only
      when it is statistically significant (one-sided two-proportion test,
      p < `rank_ordering_alpha`).
    - Fairness: `fairness` (the four-fifths rule with significance).
    """

    auc_tolerance: float = AUC_TOLERANCE
    quality_alpha: float = QUALITY_ALPHA
    first_model_auc_floor: float = FIRST_MODEL_AUC_FLOOR
    evidence_min_bads: int = EVIDENCE_MIN_BADS
    requires_experiment: bool = False
    reason_accuracy_target: float = REASON_ACCURACY_TARGET
    rank_ordering_alpha: float = FAIRNESS_ALPHA
    fairness: FairnessPolicy = field(default_factory=FairnessPolicy)
    not_assessed_holds_back: dict[str, bool] = field(
        default_factory=lambda: dict(NOT_ASSESSED_HOLDS_BACK)
    )

    @property
    def min_adverse_impact_ratio(self) -> float:
        return self.fairness.min_adverse_impact_ratio


class PolicySettings(Protocol):
    """The settings fields a policy is read from (`credit_assets.core.platform.settings.Settings`)."""

    promotion_auc_tolerance: float
    promotion_quality_alpha: float
    first_model_auc_floor: float
    evidence_min_bads: int
    promotion_requires_experiment: bool
    reason_accuracy_target: float
    min_adverse_impact_ratio: float
    fairness_alpha: float
    fairness_min_group_size: int
    fairness_require_significance: bool
    fairness_missing_group_decides: bool
    fairness_small_groups_decide: bool


def policy_from_settings(settings: PolicySettings) -> PromotionPolicy:
    return PromotionPolicy(
        auc_tolerance=settings.promotion_auc_tolerance,
        quality_alpha=settings.promotion_quality_alpha,
        first_model_auc_floor=settings.first_model_auc_floor,
        evidence_min_bads=settings.evidence_min_bads,
        requires_experiment=settings.promotion_requires_experiment,
        reason_accuracy_target=settings.reason_accuracy_target,
        fairness=FairnessPolicy(
            min_adverse_impact_ratio=settings.min_adverse_impact_ratio,
            alpha=settings.fairness_alpha,
            min_group_size=settings.fairness_min_group_size,
            require_statistical_significance=settings.fairness_require_significance,
            missing_group_decides=settings.fairness_missing_group_decides,
            small_groups_decide=settings.fairness_small_groups_decide,
        ),
    )
