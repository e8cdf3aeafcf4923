"""The promotion gates: when a challenger may become the champion, and why not.

Every gate and every threshold lives here, once. The asset checks that show a
gate in the Dagster UI and `champion_model`, which decides, call the same
functions on the same evidence. A gate that says no is an outcome: the
challenger is held back and documented, the champion stays as it was, and the
run succeeds.

A gate has a verdict (`pass`, `FAIL`, `not assessed`) and may be advisory
(`deciding=False`): reported and flagged, never holding a model back. A
decision promotes when no deciding gate fails, or when an override with a
written reason is given (and recorded).

The fairness rule, as fair-lending practice runs it: a group holds a model back
when its adverse impact ratio (AIR) against the most favoured group is below
`min_adverse_impact_ratio` (practical significance, the four-fifths rule) **and**
the difference in approval rates is statistically significant (Fisher's exact
test, p below `alpha`). Groups smaller than `min_group_size` and the
`(missing)` group are reported and flagged but do not decide, unless the policy
says they do.
"""

from credit_assets.core.promotion.decision import PromotionEvidence, evaluate_gates
from credit_assets.core.promotion.fairness_rule import (
    GroupVerdict,
    describe_group,
    fairness_gate,
    group_verdict,
)
from credit_assets.core.promotion.gates import (
    leakage_gate,
    monotonicity_gate,
    protected_gate,
    quality_gate,
    rank_ordering_gate,
    reason_accuracy_gate,
    reason_gate,
)
from credit_assets.core.promotion.policy import (
    AUC_TOLERANCE,
    EVIDENCE_MIN_BADS,
    FAIRNESS_ALPHA,
    FAIRNESS_MIN_GROUP_SIZE,
    FIRST_MODEL_AUC_FLOOR,
    FOUR_FIFTHS,
    LDA_AUC_TOLERANCE,
    MISSING_GROUP,
    QUALITY_ALPHA,
    REASON_ACCURACY_TARGET,
    FairnessPolicy,
    PolicySettings,
    PromotionPolicy,
    policy_from_settings,
)
from credit_assets.core.promotion.verdicts import (
    FAIL,
    FAIRNESS,
    GATE_ORDER,
    LEAKAGE,
    MONOTONICITY,
    NO_PROTECTED,
    NOT_ASSESSED,
    PASS,
    QUALITY,
    RANK_ORDERING,
    REASON_ACCURACY,
    REASONS,
    Gate,
    PromotionDecision,
    decide,
)

__all__ = [
    "LEAKAGE",
    "leakage_gate",
    "AUC_TOLERANCE",
    "LDA_AUC_TOLERANCE",
    "QUALITY_ALPHA",
    "FAIL",
    "FAIRNESS",
    "FAIRNESS_ALPHA",
    "FAIRNESS_MIN_GROUP_SIZE",
    "EVIDENCE_MIN_BADS",
    "FIRST_MODEL_AUC_FLOOR",
    "FOUR_FIFTHS",
    "GATE_ORDER",
    "MISSING_GROUP",
    "MONOTONICITY",
    "NOT_ASSESSED",
    "NO_PROTECTED",
    "PASS",
    "QUALITY",
    "RANK_ORDERING",
    "REASONS",
    "REASON_ACCURACY",
    "REASON_ACCURACY_TARGET",
    "FairnessPolicy",
    "Gate",
    "GroupVerdict",
    "PolicySettings",
    "PromotionDecision",
    "PromotionEvidence",
    "PromotionPolicy",
    "decide",
    "describe_group",
    "evaluate_gates",
    "fairness_gate",
    "group_verdict",
    "monotonicity_gate",
    "policy_from_settings",
    "protected_gate",
    "quality_gate",
    "rank_ordering_gate",
    "reason_accuracy_gate",
    "reason_gate",
]
