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

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from credit_assets.core.catalogue import FeatureCatalogue

FOUR_FIFTHS = 0.8
"""The adverse impact ratio below which a disparity is practically significant."""
FAIRNESS_ALPHA = 0.05
FAIRNESS_MIN_GROUP_SIZE = 30
REASON_ACCURACY_TARGET = 0.95
AUC_TOLERANCE = 0.005
FIRST_MODEL_AUC_FLOOR = 0.65
MISSING_GROUP = "(missing)"

PASS, FAIL, NOT_ASSESSED = "pass", "FAIL", "not assessed"

# Gate names are the names of the asset checks that show them.
QUALITY = "quality_not_worse_than_champion"
RANK_ORDERING = "bad_rate_falls_with_score"
REASONS = "features_have_approved_reasons"
NO_PROTECTED = "no_protected_inputs"
MONOTONICITY = "monotone_constraints_hold"
REASON_ACCURACY = "reasons_lower_risk_when_neutralised"
FAIRNESS = "four_fifths_rule"
GATE_ORDER = (QUALITY, RANK_ORDERING, REASONS, NO_PROTECTED, MONOTONICITY, REASON_ACCURACY, FAIRNESS)


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

    - A challenger may lose at most `auc_tolerance` test AUC against the current champion
      (measured on the same test split); the first model must reach `first_model_auc_floor`.
    - Reason accuracy must reach `reason_accuracy_target`.
    - Band bad rates must fall from the worst band to the best; an inversion counts only
      when it is statistically significant (one-sided two-proportion test,
      p < `rank_ordering_alpha`).
    - Fairness: `fairness` (the four-fifths rule with significance).
    """

    auc_tolerance: float = AUC_TOLERANCE
    first_model_auc_floor: float = FIRST_MODEL_AUC_FLOOR
    reason_accuracy_target: float = REASON_ACCURACY_TARGET
    rank_ordering_alpha: float = FAIRNESS_ALPHA
    fairness: FairnessPolicy = field(default_factory=FairnessPolicy)

    @property
    def min_adverse_impact_ratio(self) -> float:
        return self.fairness.min_adverse_impact_ratio


class PolicySettings(Protocol):
    """The settings fields a policy is read from (`credit_assets.core.settings.Settings`)."""

    promotion_auc_tolerance: float
    first_model_auc_floor: float
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
        first_model_auc_floor=settings.first_model_auc_floor,
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


@dataclass(frozen=True)
class Gate:
    """One gate's verdict: the figure it judged, the threshold and what it means."""

    name: str
    passed: bool
    detail: str
    figure: str = ""
    threshold: str = ""
    deciding: bool = True
    assessed: bool = True

    @property
    def verdict(self) -> str:
        if not self.assessed:
            return NOT_ASSESSED
        return PASS if self.passed else FAIL

    @property
    def holds_back(self) -> bool:
        return self.deciding and not self.passed

    def row(self) -> dict[str, str]:
        verdict = self.verdict if self.deciding or self.passed else f"{FAIL} (advisory)"
        return {
            "gate": self.name,
            "figure": self.figure,
            "threshold": self.threshold,
            "verdict": verdict,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gate:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class PromotionDecision:
    gates: list[Gate]
    override_reason: str | None = None

    @property
    def all_passed(self) -> bool:
        return not self.failed

    @property
    def promote(self) -> bool:
        return self.all_passed or bool(self.override_reason and self.override_reason.strip())

    @property
    def failed(self) -> list[Gate]:
        """The deciding gates that said no."""
        return [g for g in self.gates if g.holds_back]

    @property
    def flagged(self) -> list[Gate]:
        """Advisory gates that said no: reported, not deciding."""
        return [g for g in self.gates if not g.deciding and not g.passed]

    @property
    def outcome(self) -> str:
        if not self.promote:
            return "held back"
        return "promoted by override" if self.failed else "promoted"

    def summary(self) -> str:
        """One line per decision, for a terminal: which gates said no and with what figure."""
        if not self.failed:
            return "every gate passed"
        return "; ".join(f"{g.name}: {g.detail}" for g in self.failed)

    def rows(self) -> list[dict[str, str]]:
        return [g.row() for g in self.gates]

    def markdown(self) -> str:
        lines = ["| gate | figure | threshold | verdict | detail |", "|---|---|---|---|---|"]
        lines += [
            "| " + " | ".join(r[c].replace("|", "/") for c in r) + " |" for r in self.rows()
        ]
        if self.override_reason:
            lines.append(f"\n**Override:** {self.override_reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "promote": self.promote,
            "override_reason": self.override_reason,
            "failed": [g.name for g in self.failed],
            "flagged": [g.name for g in self.flagged],
            "summary": self.summary(),
            "gates": [asdict(g) for g in self.gates],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionDecision:
        return cls(
            gates=[Gate.from_dict(g) for g in data.get("gates", [])],
            override_reason=data.get("override_reason"),
        )


def decide(gates: list[Gate], override_reason: str | None = None) -> PromotionDecision:
    order = {name: i for i, name in enumerate(GATE_ORDER)}
    ordered = sorted(gates, key=lambda g: order.get(g.name, len(order)))
    return PromotionDecision(gates=ordered, override_reason=(override_reason or "").strip() or None)


# --- the gates --------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def quality_gate(
    challenger_auc: float | None, champion_auc: float | None, policy: PromotionPolicy
) -> Gate:
    if challenger_auc is None:
        return Gate(QUALITY, False, "the challenger has no test AUC (one outcome class in test)")
    if champion_auc is None:
        return Gate(
            QUALITY,
            challenger_auc >= policy.first_model_auc_floor,
            f"first model: test AUC {challenger_auc:.4f} against the floor "
            f"{policy.first_model_auc_floor:.2f}",
            figure=f"AUC {challenger_auc:.4f}",
            threshold=f">= {policy.first_model_auc_floor:.2f} (first model)",
        )
    loss = champion_auc - challenger_auc
    return Gate(
        QUALITY,
        loss <= policy.auc_tolerance,
        f"test AUC {challenger_auc:.4f} against the champion's {champion_auc:.4f} "
        f"(may lose at most {policy.auc_tolerance:.3f})",
        figure=f"AUC {challenger_auc:.4f} (champion {champion_auc:.4f})",
        threshold=f">= champion - {policy.auc_tolerance:.3f}",
    )


def _one_sided_increase_p(n_better: int, bad_better: int, n_worse: int, bad_worse: int) -> float:
    """p-value that the better band's bad rate exceeds the worse band's (pooled z-test)."""
    pooled = (bad_better + bad_worse) / (n_better + n_worse)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_better + 1 / n_worse)) if 0 < pooled < 1 else 0.0
    if se == 0:
        return 1.0
    z = (bad_better / n_better - bad_worse / n_worse) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def rank_ordering_gate(bands: Sequence[Mapping[str, Any]], policy: PromotionPolicy) -> Gate:
    """Observed bad rate falls from the worst band to the best (bands given best first).

    Adjacent populated bands are compared; an inversion (a better band with a higher bad
    rate) fails the gate only when it is statistically significant, so a 200-row holdout
    does not hold a model back on noise.
    """
    populated = [b for b in bands if b.get("n") and b.get("observed_bad_rate") is not None]
    inversions, significant = [], []
    for better, worse in zip(populated, populated[1:], strict=False):
        if better["observed_bad_rate"] > worse["observed_bad_rate"] + 1e-12:
            p = _one_sided_increase_p(
                int(better["n"]), int(better["n_bad"]), int(worse["n"]), int(worse["n_bad"])
            )
            text = (
                f"{better['band']} {better['observed_bad_rate']:.3f} (n {better['n']}) > "
                f"{worse['band']} {worse['observed_bad_rate']:.3f} (n {worse['n']}), p {_fmt(p)}"
            )
            inversions.append(text)
            if p < policy.rank_ordering_alpha:
                significant.append(text)
    rates = " > ".join(f"{b['band']} {b['observed_bad_rate']:.3f}" for b in reversed(populated))
    if significant:
        detail = "significant inversion: " + "; ".join(significant)
    elif inversions:
        detail = "inversions within noise: " + "; ".join(inversions)
    else:
        detail = f"bad rate falls band by band: {rates}" if rates else "no band with outcomes"
    return Gate(
        RANK_ORDERING,
        not significant,
        detail,
        figure=f"{len(significant)} significant of {len(inversions)} inversions",
        threshold=f"no inversion with p < {policy.rank_ordering_alpha:g}",
        assessed=len(populated) >= 2,
    )


def reason_gate(feature_names: list[str], catalogue: FeatureCatalogue) -> Gate:
    missing = catalogue.missing(feature_names)
    without = catalogue.without_reason(feature_names)
    problems = [f"not in catalogue: {', '.join(missing)}"] if missing else []
    problems += [f"no approved reason text: {', '.join(without)}"] if without else []
    return Gate(
        REASONS,
        not problems,
        "; ".join(problems) or f"all {len(feature_names)} features map to an approved reason",
        figure=f"{len(missing) + len(without)} without approved text",
        threshold="0",
    )


def protected_gate(feature_names: Iterable[str], protected_columns: Iterable[str]) -> Gate:
    protected = set(protected_columns)
    protected |= {f"protected_{c}" for c in protected}
    leaked = sorted(n for n in feature_names if n in protected or n.startswith("protected_"))
    return Gate(
        NO_PROTECTED,
        not leaked,
        f"protected inputs: {', '.join(leaked)}" if leaked else "no protected attribute among the inputs",
        figure=f"{len(leaked)} protected inputs",
        threshold="0",
    )


def monotonicity_gate(evidence: Mapping[str, Any] | None) -> Gate:
    """From the monotonicity evidence recorded in the model's manifest."""
    if not evidence:
        return Gate(MONOTONICITY, False, "no monotonicity evidence recorded with the model")
    failed = [f["feature"] for f in evidence.get("features", []) if not f.get("passed", True)]
    checked = len(evidence.get("features", []))
    passed = bool(evidence.get("passed", False)) and not failed
    return Gate(
        MONOTONICITY,
        passed,
        "every constrained feature is monotone" if passed else f"violated by: {', '.join(failed)}",
        figure=f"{len(failed)} of {checked} constrained features violated",
        threshold="0",
    )


def reason_accuracy_gate(report: Mapping[str, Any] | None, policy: PromotionPolicy) -> Gate:
    """Neutralising the top reason lowers predicted risk for enough sampled applicants."""
    if not report:
        return Gate(REASON_ACCURACY, False, "no reason accuracy report for this model version")
    checked = int(report.get("checked") or 0)
    share = float(report.get("share") or 0.0)
    target = policy.reason_accuracy_target
    if checked == 0:
        return Gate(
            REASON_ACCURACY,
            True,
            "no applicant with a risk-raising reason to check",
            threshold=f">= {target:.0%}",
            assessed=False,
        )
    return Gate(
        REASON_ACCURACY,
        share >= target,
        f"risk fell for {report.get('passed')} of {checked} sampled applicants "
        f"({share:.1%}) when their top reason was neutralised",
        figure=f"{share:.1%}",
        threshold=f">= {target:.0%}",
    )


# --- fairness ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupVerdict:
    """How the fairness rule judges one group."""

    practically_significant: bool  # AIR below the threshold
    statistically_significant: bool  # p below alpha
    decides: bool  # the group is one the rule judges
    fails: bool
    not_deciding_because: str = ""


def group_verdict(group: Mapping[str, Any], policy: FairnessPolicy) -> GroupVerdict:
    """The one fairness rule, applied to one group's figures.

    `group` carries `group`, `n`, `adverse_impact_ratio`, `p_value` and `is_reference`
    (a `GroupFairness` as a dict).
    """
    air = group.get("adverse_impact_ratio")
    p_value = group.get("p_value")
    practical = air is not None and air < policy.min_adverse_impact_ratio
    statistical = p_value is not None and p_value < policy.alpha
    why = ""
    if group.get("is_reference"):
        why = "reference group"
    elif air is None:
        why = "no ratio"
    elif group.get("group") == MISSING_GROUP and not policy.missing_group_decides:
        why = "missing values"
    elif int(group.get("n") or 0) < policy.min_group_size and not policy.small_groups_decide:
        why = f"fewer than {policy.min_group_size} applicants"
    decides = not why
    significant = statistical or not policy.require_statistical_significance
    return GroupVerdict(
        practically_significant=practical,
        statistically_significant=statistical,
        decides=decides,
        fails=decides and practical and significant,
        not_deciding_because=why,
    )


def describe_group(attribute: str, group: Mapping[str, Any]) -> str:
    """`sex=female AIR 0.671 [0.52, 0.82], p < 0.001 (n 68)`."""
    low, high = group.get("air_ci_low"), group.get("air_ci_high")
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    p_value = group.get("p_value")
    p_text = "" if p_value is None else (", p < 0.001" if p_value < 0.001 else f", p {p_value:.3f}")
    return (
        f"{attribute}={group.get('group')} AIR {_fmt(group.get('adverse_impact_ratio'))}"
        f"{interval}{p_text} (n {group.get('n')})"
    )


def fairness_gate(
    report: Mapping[str, Any] | None, policy: PromotionPolicy, *, declared: bool
) -> Gate:
    """The fairness verdict from a fairness report (`FairnessReport.to_dict()`).

    Without a declared protected attribute there is no evidence: the gate says so
    (`not assessed`) rather than passing silently.
    """
    rule = policy.fairness
    threshold = f"AIR >= {rule.min_adverse_impact_ratio:g} unless p >= {rule.alpha:g}"
    if not rule.require_statistical_significance:
        threshold = f"AIR >= {rule.min_adverse_impact_ratio:g}"
    attributes = list((report or {}).get("attributes") or [])
    if not declared and not attributes:
        return Gate(
            FAIRNESS,
            True,
            "no fairness evidence: no protected attribute declared",
            threshold=threshold,
            assessed=False,
        )
    if not attributes:
        return Gate(FAIRNESS, False, "no fairness report for this model version", threshold=threshold)
    failing, flagged, unjudged, worst = [], [], [], None
    for attribute in attributes:
        name = attribute["attribute"]
        if attribute.get("reference_group") is None or not any(
            g.get("adverse_impact_ratio") is not None for g in attribute["groups"]
        ):
            # Nobody approved, or every value missing: no ratio exists to judge.
            unjudged.append(f"{name}: {attribute.get('note') or 'no reference group'}")
            continue
        for group in attribute["groups"]:
            verdict = group_verdict(group, rule)
            air = group.get("adverse_impact_ratio")
            if verdict.decides and air is not None and (worst is None or air < worst[0]):
                worst = (air, name, group)
            if verdict.fails:
                failing.append(describe_group(name, group))
            elif verdict.practically_significant:
                reason = verdict.not_deciding_because or "not statistically significant"
                flagged.append(f"{describe_group(name, group)}: {reason}")
    figure = f"worst AIR {_fmt(worst[0])} ({worst[1]}={worst[2]['group']})" if worst else ""
    if failing:
        detail = "; ".join(failing)
    elif worst is not None:
        detail = f"no significant disparity; worst {describe_group(worst[1], worst[2])}"
    else:
        detail = "no group large enough to judge"
    if flagged:
        detail += "; flagged, not deciding: " + "; ".join(flagged)
    if unjudged:
        detail += "; not assessed: " + "; ".join(unjudged)
    assessed = bool(failing or worst is not None or flagged)
    return Gate(FAIRNESS, not failing, detail, figure=figure, threshold=threshold, assessed=assessed)


# --- the evidence a decision reads ------------------------------------------------------


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


def evaluate_gates(evidence: PromotionEvidence, policy: PromotionPolicy) -> list[Gate]:
    return [
        quality_gate(evidence.challenger_auc, evidence.champion_auc, policy),
        rank_ordering_gate(evidence.bands, policy),
        reason_gate(evidence.feature_names, evidence.catalogue),
        protected_gate(evidence.feature_names, evidence.protected_columns),
        monotonicity_gate(evidence.monotonicity),
        reason_accuracy_gate(evidence.reason_accuracy, policy),
        fairness_gate(evidence.fairness, policy, declared=bool(evidence.protected_columns)),
    ]


