"""The fairness rule: which group's disparity holds a model back (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credit_assets.core.promotion.policy import MISSING_GROUP, FairnessPolicy, PromotionPolicy
from credit_assets.core.promotion.verdicts import FAIRNESS, Gate
from credit_assets.core.promotion.verdicts import fmt as _fmt


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


NO_FAIRNESS_EVIDENCE = "no fairness evidence: no protected attribute or proxy input declared"


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
            NO_FAIRNESS_EVIDENCE,
            threshold=threshold,
            assessed=False,
        )
    if not attributes:
        return Gate(
            FAIRNESS, False, "no fairness report for this model version", threshold=threshold
        )
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
    point = ((report or {}).get("extras") or {}).get("operating_point")
    if point:
        detail += f"; {point['detail']}"
    assessed = bool(failing or worst is not None or flagged)
    return Gate(
        FAIRNESS, not failing, detail, figure=figure, threshold=threshold, assessed=assessed
    )
