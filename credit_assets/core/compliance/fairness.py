"""Fairness of approval decisions across protected groups.

For every protected attribute (`protected_<name>` columns of a scored frame) each
group's approval rate (score >= cut-off) is compared with the most favoured
group's: the adverse impact ratio (AIR). Whether a disparity holds a model back
is decided by the one rule in `credit_assets.core.promotion` (`group_verdict`):
practically significant (AIR below the four-fifths threshold) and statistically
significant (Fisher's exact test on the two groups' approvals), for groups that
are large enough and not the missing group. This module computes the figures the
rule reads and records its verdict per group.

Conventions, stated once:
- Grouping (missing values, age bands, quintiles): `credit_assets.core.compliance.groups`.
- The reference group is the group with the highest approval rate among groups
  with at least `policy.min_group_size` rows other than `(missing)`, so a handful
  of applicants cannot set the bar.
- The p-value is Fisher's exact test (two-sided) of the group's approvals against
  the reference group's. The 95 % interval of an AIR is a percentile bootstrap that
  resamples applicants within each group (a binomial draw per group for a 0/1
  approval), with the reference group fixed.
- The standardized mean difference (SMD) of scores is
  `(mean_g - mean_ref) / pooled_sd`, pooled over the two groups with n - 1
  degrees of freedom; negative means the group scores lower.
- Across approval rates (`approval_curve`): the same figures when the cut-off is
  moved so that a given share of applicants is approved.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from scipy.stats import fisher_exact
from sklearn.metrics import roc_auc_score

from credit_assets.core.compliance.groups import (
    MISSING_GROUP,
    PROTECTED_PREFIX,
    group_labels,
    protected_column,
)
from credit_assets.core.compliance.proxy_fairness import (
    MOST_LIKELY,
    PROXY_EVIDENCE,
    PROXY_THRESHOLD,
    WEIGHTED,
    has_proxies,
    most_likely_labels,
    proxy_matrix,
    weighted_groups,
)
from credit_assets.core.promotion import FairnessPolicy, describe_group, group_verdict
from credit_assets.core.reports.render import figure_png, jsonable, markdown_table
from credit_assets.core.reports.text import Markdown, md_escape

DEFAULT_APPROVAL_RATES: tuple[float, ...] = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))
"""Approval rates a lender may run, 30 % to 95 %: where the AIR curve is drawn."""


@dataclass(frozen=True)
class GroupFairness:
    group: str
    n: int
    n_approved: int
    approval_rate: float
    adverse_impact_ratio: float | None
    air_ci_low: float | None
    air_ci_high: float | None
    p_value: float | None  # Fisher's exact test against the reference group
    practically_significant: bool  # AIR below the threshold
    statistically_significant: bool  # p below alpha
    decides: bool  # judged by the rule (not the reference, large enough, not missing)
    fails: bool  # holds the model back under the policy
    not_deciding_because: str
    is_reference: bool
    small_group: bool
    mean_score: float
    standardized_mean_difference: float | None
    n_labelled: int
    auc: float | None
    mean_pd: float | None
    observed_bad_rate: float | None


@dataclass(frozen=True)
class AttributeFairness:
    attribute: str
    column: str
    grouping: str  # "categories", "age bands" or "quintile bands"
    reference_group: str | None
    groups: list[GroupFairness]
    passed: bool
    worst_group: str | None
    worst_adverse_impact_ratio: float | None
    note: str = ""

    @property
    def n_missing(self) -> int:
        return sum(g.n for g in self.groups if g.group == MISSING_GROUP)

    @property
    def failing_groups(self) -> list[str]:
        return [g.group for g in self.groups if g.fails]

    @property
    def flagged_groups(self) -> list[str]:
        """Below the threshold but not deciding: too small, missing, or not significant."""
        return [g.group for g in self.groups if g.practically_significant and not g.fails]


@dataclass
class FairnessReport:
    """Per-attribute approval parity at one cut-off, and across approval rates."""

    attributes: list[AttributeFairness]
    cutoff: int
    policy: FairnessPolicy
    n_rows: int
    n_bootstrap: int
    seed: int
    approval_rate: float  # share of all rows approved at the cut-off
    score_col: str = "score"
    approval_curve: list[dict[str, Any]] = field(default_factory=list)
    evidence: str = "self-reported protected attributes"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return self.policy.min_adverse_impact_ratio

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.attributes)

    @property
    def worst(self) -> AttributeFairness | None:
        failing = [
            a for a in self.attributes if not a.passed and a.worst_adverse_impact_ratio is None
        ]
        if failing:
            return failing[0]
        judged = [a for a in self.attributes if a.worst_adverse_impact_ratio is not None]
        return min(judged, key=lambda a: a.worst_adverse_impact_ratio or 0.0, default=None)

    @property
    def summary(self) -> dict[str, Any]:
        worst = self.worst
        return jsonable(
            {
                "worst_adverse_impact_ratio": worst.worst_adverse_impact_ratio if worst else None,
                "worst_group": worst.worst_group if worst else None,
                "attribute": worst.attribute if worst else None,
                "passed": self.passed,
                "cutoff": self.cutoff,
                "approval_rate": self.approval_rate,
                "threshold": self.threshold,
                "policy": self.policy.describe(),
                "evidence": self.evidence,
                "failing_groups": [
                    describe_group(a.attribute, asdict(g))
                    for a in self.attributes
                    for g in a.groups
                    if g.fails
                ],
                "flagged_groups": [
                    f"{a.attribute}={g}" for a in self.attributes for g in a.flagged_groups
                ],
                "crossings": crossings(self.approval_curve),
                "attributes": [a.attribute for a in self.attributes],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "summary": self.summary,
                "cutoff": self.cutoff,
                "policy": asdict(self.policy),
                "n_rows": self.n_rows,
                "n_bootstrap": self.n_bootstrap,
                "seed": self.seed,
                "approval_rate": self.approval_rate,
                "score_col": self.score_col,
                "evidence": self.evidence,
                "attributes": [asdict(a) for a in self.attributes],
                "approval_curve": self.approval_curve,
                "extras": self.extras,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessReport:
        """The report `to_dict` wrote; a payload without attributes gives an empty report."""
        group_keys = {f.name for f in fields(GroupFairness)}
        attribute_keys = {f.name for f in fields(AttributeFairness)}
        attributes = []
        for a in data.get("attributes") or []:
            groups = [GroupFairness(**{k: g.get(k) for k in group_keys}) for g in a["groups"]]
            values = {k: a[k] for k in attribute_keys if k in a}
            attributes.append(AttributeFairness(**{**values, "groups": groups}))
        policy = FairnessPolicy(**(data.get("policy") or {}))
        keys = {f.name for f in fields(cls)} - {"attributes", "policy"}
        values = {k: data[k] for k in keys if k in data}
        values.setdefault("cutoff", 0)
        values.setdefault("n_rows", 0)
        values.setdefault("n_bootstrap", 0)
        values.setdefault("seed", 0)
        values.setdefault("approval_rate", float("nan"))
        return cls(attributes=attributes, policy=policy, **values)

    def table_rows(self, attribute: AttributeFairness) -> list[dict[str, Any]]:
        """One row per group, as the markdown and HTML tables show it."""
        rows = []
        for g in attribute.groups:
            interval = (
                f"{g.air_ci_low:.3f}-{g.air_ci_high:.3f}"
                if g.air_ci_low is not None and g.air_ci_high is not None
                else None
            )
            flags = [
                flag
                for flag, on in (
                    ("reference", g.is_reference),
                    ("HOLDS BACK", g.fails),
                    ("below threshold", g.practically_significant and not g.fails),
                    ("significant", g.statistically_significant),
                    (
                        f"not deciding: {g.not_deciding_because}",
                        bool(g.not_deciding_because) and not g.is_reference,
                    ),
                )
                if on
            ]
            rows.append(
                {
                    "group": g.group,
                    "n": g.n,
                    "approved": g.n_approved,
                    "approval_rate": g.approval_rate,
                    "AIR": g.adverse_impact_ratio,
                    "AIR 95% CI": interval,
                    "p (Fisher)": g.p_value,
                    "SMD": g.standardized_mean_difference,
                    "AUC": g.auc,
                    "mean PD": g.mean_pd,
                    "bad rate": g.observed_bad_rate,
                    "flags": ", ".join(flags),
                }
            )
        return rows

    def to_markdown(self) -> str:
        s = self.summary
        verdict = "PASS" if s["passed"] else "FAIL"
        # Attribute and group names are the lender's data: escaped wherever they appear.
        lines = [
            f"**{verdict}** "
            + md_escape(
                f"at cut-off {self.cutoff} (approval rate {_pct(self.approval_rate)}; "
                f"rule: {self.policy.describe()}); worst adverse impact ratio "
                f"{_fmt(s['worst_adverse_impact_ratio'])} ({s['attribute']} = "
                f"{s['worst_group']}). Evidence: {self.evidence}."
            ),
        ]
        point = self.extras.get("operating_point")
        if point:
            lines.append(md_escape(f"Operating point: {point['detail']}."))
        if s["failing_groups"]:
            lines.append(
                md_escape("Holding the model back: " + "; ".join(s["failing_groups"]) + ".")
            )
        if s["flagged_groups"]:
            lines.append(
                md_escape("Flagged, not deciding: " + ", ".join(s["flagged_groups"]) + ".")
            )
        for a in self.attributes:
            state = "pass" if a.passed else "fail"
            heading = f"{a.attribute} ({a.grouping}; reference {a.reference_group}) - {state}"
            lines += ["", f"### {md_escape(heading)}", markdown_table(self.table_rows(a))]
            if a.note:
                lines.append(f"_{md_escape(a.note)}_")
        if self.approval_curve:
            lines += [
                "",
                "### Adverse impact ratio across approval rates",
                curve_markdown(self.approval_curve, self.threshold),
            ]
        return "\n".join(lines)

    def plot_png(self) -> bytes:
        """Approval rate by group per attribute, AIR on each bar, the four-fifths line dashed."""
        ratios = [max(1.2, 0.4 * len(a.groups) + 0.6) for a in self.attributes] or [1.0]
        fig = Figure(figsize=(7, sum(ratios) + 0.6))
        axes = fig.subplots(
            len(ratios), 1, squeeze=False, gridspec_kw={"height_ratios": ratios, "hspace": 0.6}
        )[:, 0]
        for ax, a in zip(axes, self.attributes, strict=False):
            names = [g.group for g in a.groups]
            colours = [
                "#2f6fdf"
                if g.is_reference
                else "#d9480f"
                if g.fails
                else "#f59f00"
                if g.practically_significant
                else "#aab2bf"
                if not g.decides
                else "#37b24d"
                for g in a.groups
            ]
            y = np.arange(len(names))
            ax.barh(y, [g.approval_rate for g in a.groups], color=colours)
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.18)
            for i, g in enumerate(a.groups):
                ax.text(
                    g.approval_rate + 0.01,
                    i,
                    f"AIR {_fmt(g.adverse_impact_ratio)}",
                    va="center",
                    fontsize=8,
                )
            reference = next((g for g in a.groups if g.is_reference), None)
            if reference is not None:
                ax.axvline(
                    reference.approval_rate * self.threshold,
                    color="#d9480f",
                    linestyle="--",
                    linewidth=1,
                )
            ax.set_title(
                f"{a.attribute}: {'pass' if a.passed else 'fail'}", fontsize=10, loc="left"
            )
        axes[-1].set_xlabel(
            f"Approval rate at score >= {self.cutoff} (dashed: {self.threshold:g} x reference; "
            "red holds back, orange flagged)"
        )
        return figure_png(fig)

    def curve_png(self) -> bytes:
        return curve_png(self.approval_curve, self.threshold, self.approval_rate)


def _fmt(value: float | None) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.3f}"
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.1%}"


def _safe_auc(y: np.ndarray, risk: np.ndarray) -> float | None:
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, risk))


def _fisher_p(approved: float, n: float, ref_approved: float, ref_n: float) -> float | None:
    if n <= 0 or ref_n <= 0:
        return None
    table = [[int(approved), int(n - approved)], [int(ref_approved), int(ref_n - ref_approved)]]
    return float(fisher_exact(table).pvalue)


def _bootstrap_air(
    n: np.ndarray, approved: np.ndarray, reference: int, n_bootstrap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles of each group's AIR; resampling within groups."""
    rates = approved / n
    draws = (
        rng.binomial(n.astype(np.int64)[None, :], rates[None, :], size=(n_bootstrap, n.size))
        / n[None, :]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        air = draws / draws[:, [reference]]
    air[~np.isfinite(air)] = np.nan
    with np.errstate(all="ignore"):
        low, high = np.nanpercentile(air, [2.5, 97.5], axis=0)
    return low, high


def _reference(
    order: list[str], n: np.ndarray, rates: np.ndarray, policy: FairnessPolicy
) -> int | None:
    """The most favoured group among those large enough (and never the missing group)."""
    eligible = [
        i for i, g in enumerate(order) if g != MISSING_GROUP and n[i] >= policy.min_group_size
    ]
    eligible = eligible or [i for i, g in enumerate(order) if g != MISSING_GROUP]
    return max(eligible, key=lambda i: (rates[i], n[i]), default=None)


@dataclass(frozen=True)
class _Groups:
    """Rows coded by group for one attribute."""

    codes: np.ndarray
    order: list[str]
    grouping: str
    n: np.ndarray


def _coded(frame: pl.DataFrame, column: str) -> _Groups:
    values, order, how = group_labels(frame, column)
    index = {g: i for i, g in enumerate(order)}
    codes = np.array([index[v] for v in values], dtype=np.int64)
    return _Groups(codes, order, how, np.bincount(codes, minlength=len(order)).astype(np.float64))


def _attribute(
    name: str,
    column: str,
    coded: _Groups,
    scores: np.ndarray,
    pd_values: np.ndarray | None,
    labels: np.ndarray | None,
    *,
    cutoff: float,
    policy: FairnessPolicy,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> AttributeFairness:
    parity = _parity(coded, scores, cutoff=cutoff, policy=policy, n_bootstrap=n_bootstrap, rng=rng)
    groups = [
        _group_fairness(parity, i, _outcomes(coded.codes == i, scores, pd_values, labels), policy)
        for i in range(len(coded.order))
    ]
    reference = parity.reference
    return _judged(
        name,
        column,
        coded.grouping,
        coded.order[reference] if reference is not None else None,
        groups,
        judged=parity.judged,
        note=_reference_note(parity, cutoff),
    )


@dataclass(frozen=True)
class _Parity:
    """One attribute's approvals and scores per group at a cut-off, against its reference."""

    coded: _Groups
    approved: np.ndarray  # approved applicants per group
    rates: np.ndarray  # approval rate per group
    means: np.ndarray  # mean score per group
    variances: np.ndarray  # score variance per group (n - 1 degrees of freedom)
    reference: int | None  # index of the reference group
    judged: bool  # a reference group with approvals: ratios are defined
    air: np.ndarray  # adverse impact ratio per group (NaN when not judged)
    air_low: np.ndarray  # bootstrap 95 % interval of the AIR (NaN without a bootstrap)
    air_high: np.ndarray

    @property
    def reference_rate(self) -> float:
        return self.rates[self.reference] if self.reference is not None else 0.0


def _parity(
    coded: _Groups,
    scores: np.ndarray,
    *,
    cutoff: float,
    policy: FairnessPolicy,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> _Parity:
    """Approval rates and score moments per group, the reference group, each group's AIR
    against it and (with `n_bootstrap`) the AIR's bootstrap interval."""
    codes, n = coded.codes, coded.n
    k = len(coded.order)
    approved = np.bincount(codes, weights=(scores >= cutoff).astype(np.float64), minlength=k)
    rates = approved / n
    means = np.bincount(codes, weights=scores, minlength=k) / n
    sq = np.bincount(codes, weights=(scores - means[codes]) ** 2, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        variances = np.where(n > 1, sq / (n - 1), 0.0)
    reference = _reference(coded.order, n, rates, policy)
    ref_rate = rates[reference] if reference is not None else 0.0
    judged = reference is not None and ref_rate > 0
    air = rates / ref_rate if judged else np.full(k, np.nan)
    low = high = np.full(k, np.nan)
    if n_bootstrap > 0 and judged:
        assert reference is not None
        low, high = _bootstrap_air(n, approved, reference, n_bootstrap, rng)
    return _Parity(coded, approved, rates, means, variances, reference, judged, air, low, high)


def _reference_note(parity: _Parity, cutoff: float) -> str:
    """Why an attribute's ratios are not defined, or ""."""
    if parity.reference is None:
        return "every protected value is missing: no reference group"
    if parity.reference_rate == 0:
        return f"no applicant in the reference group is approved at cut-off {cutoff:g}"
    return ""


def _versus_reference(parity: _Parity, i: int) -> tuple[float | None, float | None]:
    """Group `i`'s standardized mean difference of scores and Fisher p-value of approvals
    against the reference group (no p-value for the reference itself; neither without one)."""
    reference = parity.reference
    if reference is None:
        return None, None
    n, variances = parity.coded.n, parity.variances
    dof = n[i] + n[reference] - 2
    pooled = (
        math.sqrt(((n[i] - 1) * variances[i] + (n[reference] - 1) * variances[reference]) / dof)
        if dof > 0
        else 0.0
    )
    smd = float((parity.means[i] - parity.means[reference]) / pooled) if pooled > 0 else None
    p_value = None
    if i != reference:
        p_value = _fisher_p(parity.approved[i], n[i], parity.approved[reference], n[reference])
    return smd, p_value


@dataclass(frozen=True)
class _Outcomes:
    """A group's discrimination and calibration on its labelled rows."""

    n_labelled: int = 0
    auc: float | None = None
    mean_pd: float | None = None
    observed_bad_rate: float | None = None


def _outcomes(
    mask: np.ndarray,
    scores: np.ndarray,
    pd_values: np.ndarray | None,
    labels: np.ndarray | None,
) -> _Outcomes:
    """AUC (of the PD, else of the negated score), mean PD and bad rate of the group's
    labelled rows; without labels, the mean PD of all its rows."""
    if labels is not None:
        labelled = mask & ~np.isnan(labels)
        n_labelled = int(labelled.sum())
        y = labels[labelled]
        risk = pd_values[labelled] if pd_values is not None else -scores[labelled]
        return _Outcomes(
            n_labelled=n_labelled,
            auc=_safe_auc(y, risk),
            mean_pd=(
                float(pd_values[labelled].mean()) if pd_values is not None and n_labelled else None
            ),
            observed_bad_rate=float(y.mean()) if n_labelled else None,
        )
    if pd_values is not None:
        return _Outcomes(mean_pd=float(pd_values[mask].mean()))
    return _Outcomes()


def _group_fairness(
    parity: _Parity, i: int, outcomes: _Outcomes, policy: FairnessPolicy
) -> GroupFairness:
    """Group `i`'s figures and the promotion rule's verdict on them."""
    group, n = parity.coded.order[i], parity.coded.n[i]
    smd, p_value = _versus_reference(parity, i)
    ratio = None if np.isnan(parity.air[i]) else float(parity.air[i])
    verdict = group_verdict(
        {
            "group": group,
            "n": int(n),
            "adverse_impact_ratio": ratio,
            "p_value": p_value,
            "is_reference": i == parity.reference,
        },
        policy,
    )
    low, high = parity.air_low[i], parity.air_high[i]
    return GroupFairness(
        group=group,
        n=int(n),
        adverse_impact_ratio=ratio,
        p_value=p_value,
        is_reference=i == parity.reference,
        n_approved=int(parity.approved[i]),
        approval_rate=float(parity.rates[i]),
        air_ci_low=None if np.isnan(low) else float(low),
        air_ci_high=None if np.isnan(high) else float(high),
        practically_significant=verdict.practically_significant,
        statistically_significant=verdict.statistically_significant,
        decides=verdict.decides,
        fails=verdict.fails,
        not_deciding_because=verdict.not_deciding_because,
        small_group=bool(n < policy.min_group_size),
        mean_score=float(parity.means[i]),
        standardized_mean_difference=smd,
        n_labelled=outcomes.n_labelled,
        auc=outcomes.auc,
        mean_pd=outcomes.mean_pd,
        observed_bad_rate=outcomes.observed_bad_rate,
    )


def _judged(
    name: str,
    column: str,
    grouping: str,
    reference_group: str | None,
    groups: list[GroupFairness],
    *,
    judged: bool,
    note: str,
) -> AttributeFairness:
    """An attribute's verdict from its groups': passed unless one fails; the worst deciding AIR."""
    deciding = [g for g in groups if g.decides and g.adverse_impact_ratio is not None]
    worst = min(deciding, key=lambda g: g.adverse_impact_ratio or 0.0, default=None)
    return AttributeFairness(
        attribute=name,
        column=column,
        grouping=grouping,
        reference_group=reference_group,
        groups=groups,
        passed=bool(judged and not any(g.fails for g in groups)),
        worst_group=worst.group if worst else None,
        worst_adverse_impact_ratio=worst.adverse_impact_ratio if worst else None,
        note=note,
    )


def cutoff_for_approval_rate(scores: np.ndarray, rate: float) -> float:
    """The lowest score such that approving `score >= it` approves about `rate` of applicants."""
    ordered = np.sort(scores)[::-1]
    index = min(max(math.ceil(rate * ordered.size) - 1, 0), ordered.size - 1)
    return float(ordered[index])


def approval_curve(
    scores: np.ndarray,
    attributes: list[tuple[str, _Groups]],
    policy: FairnessPolicy,
    rates: tuple[float, ...] = DEFAULT_APPROVAL_RATES,
) -> list[dict[str, Any]]:
    """AIR per group at each approval rate: rows of approval rate, cut-off score, group, AIR.

    `crosses` marks a deciding group whose AIR is below the threshold at that rate;
    `holds_back` one that the rule would also find significant there.
    """
    rows: list[dict[str, Any]] = []
    for rate in rates:
        cutoff = cutoff_for_approval_rate(scores, rate)
        approved_rows = scores >= cutoff
        for name, coded in attributes:
            k = len(coded.order)
            approved = np.bincount(
                coded.codes, weights=approved_rows.astype(np.float64), minlength=k
            )
            group_rates = approved / coded.n
            reference = _reference(coded.order, coded.n, group_rates, policy)
            if reference is None or group_rates[reference] == 0:
                continue
            for i, group in enumerate(coded.order):
                air = float(group_rates[i] / group_rates[reference])
                p_value = (
                    None
                    if i == reference
                    else _fisher_p(approved[i], coded.n[i], approved[reference], coded.n[reference])
                )
                verdict = group_verdict(
                    {
                        "group": group,
                        "n": int(coded.n[i]),
                        "adverse_impact_ratio": air,
                        "p_value": p_value,
                        "is_reference": i == reference,
                    },
                    policy,
                )
                rows.append(
                    {
                        "approval_rate": rate,
                        "actual_approval_rate": float(approved_rows.mean()),
                        "cutoff_score": cutoff,
                        "attribute": name,
                        "group": group,
                        "n": int(coded.n[i]),
                        "air": air,
                        "p_value": p_value,
                        "is_reference": i == reference,
                        "decides": verdict.decides,
                        "crosses": verdict.decides and verdict.practically_significant,
                        "holds_back": verdict.fails,
                    }
                )
    return rows


def crossings(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per deciding group whose AIR falls below the threshold somewhere on the curve: where."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in curve:
        if not row["crosses"]:
            continue
        key = (row["attribute"], row["group"])
        entry = found.setdefault(
            key,
            {
                "attribute": row["attribute"],
                "group": row["group"],
                "approval_rates": [],
                "min_air": row["air"],
                "significant_at": [],
            },
        )
        entry["approval_rates"].append(row["approval_rate"])
        entry["min_air"] = min(entry["min_air"], row["air"])
        if row["holds_back"]:
            entry["significant_at"].append(row["approval_rate"])
    return list(found.values())


def curve_markdown(curve: list[dict[str, Any]], threshold: float) -> str:
    """Approval rate, cut-off score and the AIR of every deciding group; crossings marked."""
    if not curve:
        return "_(no curve)_"
    columns = sorted({f"{r['attribute']}={r['group']}" for r in curve if r["decides"]})
    table: dict[float, dict[str, Any]] = {}
    for r in curve:
        row = table.setdefault(
            r["approval_rate"],
            {
                "approval rate": f"{r['approval_rate']:.0%}",
                "cut-off": round(r["cutoff_score"]),
            },
        )
        name = f"{r['attribute']}={r['group']}"
        if name in columns:
            mark = " **\\<**" if r["holds_back"] else " \\<" if r["crosses"] else ""
            row[name] = Markdown(f"{r['air']:.3f}{mark}")
    note = (
        f"\n\n`<` AIR below {threshold:g}; **\\<** below and statistically significant "
        "(would hold the model back at that approval rate)."
    )
    return markdown_table(list(table.values()), ["approval rate", "cut-off", *columns]) + note


def curve_png(curve: list[dict[str, Any]], threshold: float, at_rate: float | None = None) -> bytes:
    """AIR against approval rate, one line per deciding group, the four-fifths line dashed."""
    attributes = sorted({r["attribute"] for r in curve})
    fig = Figure(figsize=(7, 2.6 * max(1, len(attributes)) + 0.4))
    axes = fig.subplots(max(1, len(attributes)), 1, squeeze=False)[:, 0]
    for ax, attribute in zip(axes, attributes, strict=False):
        rows = [r for r in curve if r["attribute"] == attribute and r["decides"]]
        for group in sorted({r["group"] for r in rows}):
            points = [(r["approval_rate"], r["air"]) for r in rows if r["group"] == group]
            ax.plot(
                [x for x, _ in points],
                [y for _, y in points],
                marker="o",
                markersize=3,
                label=group,
            )
        ax.axhline(threshold, color="#d9480f", linestyle="--", linewidth=1)
        if at_rate is not None and not math.isnan(at_rate):
            ax.axvline(at_rate, color="#868e96", linestyle=":", linewidth=1)
        ax.set_ylim(0, 1.05)
        ax.set_title(
            f"{attribute}: AIR by approval rate (dotted: the configured cut-off)",
            fontsize=9,
            loc="left",
        )
        if rows:
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no group large enough to judge", ha="center", transform=ax.transAxes)
    axes[-1].set_xlabel("Share of applicants approved")
    return figure_png(fig)


def fairness_report(
    frame: pl.DataFrame,
    *,
    score_col: str = "score",
    pd_col: str = "pd",
    label_col: str = "default_flag",
    protected: list[str],
    cutoff: float,
    policy: FairnessPolicy | None = None,
    n_bootstrap: int = 1000,
    seed: int = 42,
    approval_rates: tuple[float, ...] = DEFAULT_APPROVAL_RATES,
) -> FairnessReport:
    """Approval parity per protected attribute at `cutoff` (approved: score >= cutoff).

    `protected` names attributes (`sex` or `protected_sex`); each must be a column
    `protected_<name>` (or the name itself) of `frame`. When `frame` carries BISG
    probabilities (`bisg_<group>`, see `proxy_fairness`), the proxied race/ethnicity is
    judged too, weighted and by most likely group, under the same rule. `pd_col` and `label_col`
    are optional: without them, per-group AUC and calibration are left out; rows
    with a null label count for approval but not for AUC or bad rate. An empty
    `approval_rates` skips the curve.
    """
    policy = policy or FairnessPolicy()
    scores, pd_values, labels = _scored_arrays(frame, score_col, pd_col, label_col)
    judge = _AttributeJudge(
        scores,
        pd_values,
        labels,
        cutoff=cutoff,
        policy=policy,
        n_bootstrap=n_bootstrap,
        rng=np.random.default_rng(seed),
    )
    attributes = [judge.self_reported(frame, name) for name in protected]
    proxied = has_proxies(frame)
    if proxied:
        attributes += judge.proxied(frame)
    curve = approval_curve(scores, judge.coded, policy, approval_rates) if scores.size else []
    return FairnessReport(
        attributes=attributes,
        cutoff=int(cutoff),
        policy=policy,
        n_rows=frame.height,
        n_bootstrap=n_bootstrap,
        seed=seed,
        approval_rate=float((scores >= cutoff).mean()) if scores.size else float("nan"),
        score_col=score_col,
        approval_curve=curve,
        evidence=_evidence(protected, proxied),
    )


def _scored_arrays(
    frame: pl.DataFrame, score_col: str, pd_col: str, label_col: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Scores (every row scored, or ValueError), PDs and labels (NaN where null) as arrays;
    None for a PD or label column the frame does not have."""
    if score_col not in frame.columns:
        raise ValueError(f"frame has no score column {score_col!r}")
    if frame[score_col].null_count():
        raise ValueError(
            f"{score_col} has {frame[score_col].null_count()} nulls; score every row first"
        )
    scores = frame[score_col].cast(pl.Float64).to_numpy()
    pd_values = frame[pd_col].cast(pl.Float64).to_numpy() if pd_col in frame.columns else None
    labels = (
        frame[label_col].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        if label_col in frame.columns
        else None
    )
    return scores, pd_values, labels


@dataclass
class _AttributeJudge:
    """Judges the attributes of one scored frame at one cut-off, in turn (they share `rng`),
    keeping each judged attribute's coded groups for the approval curve."""

    scores: np.ndarray
    pd_values: np.ndarray | None
    labels: np.ndarray | None
    cutoff: float
    policy: FairnessPolicy
    n_bootstrap: int
    rng: np.random.Generator
    coded: list[tuple[str, _Groups]] = field(default_factory=list)

    def judge(self, name: str, column: str, coded: _Groups) -> AttributeFairness:
        self.coded.append((name, coded))
        return _attribute(
            name,
            column,
            coded,
            self.scores,
            self.pd_values,
            self.labels,
            cutoff=self.cutoff,
            policy=self.policy,
            n_bootstrap=self.n_bootstrap,
            rng=self.rng,
        )

    def self_reported(self, frame: pl.DataFrame, name: str) -> AttributeFairness:
        """Attribute `name`, column `protected_<name>` (or `name` itself) of `frame`."""
        column = protected_column(name) if protected_column(name) in frame.columns else name
        if column not in frame.columns:
            raise ValueError(f"protected attribute {name!r}: no column {protected_column(name)!r}")
        return self.judge(column.removeprefix(PROTECTED_PREFIX), column, _coded(frame, column))

    def proxied(self, frame: pl.DataFrame) -> list[AttributeFairness]:
        """The BISG race/ethnicity proxy: probability-weighted, then by most likely group."""
        weighted = weighted_groups(
            self.scores,
            self.pd_values,
            self.labels,
            proxy_matrix(frame),
            cutoff=self.cutoff,
            policy=self.policy,
            n_bootstrap=self.n_bootstrap,
            rng=self.rng,
        )
        coded = replace(
            _coded(most_likely_labels(frame).to_frame(), MOST_LIKELY),
            grouping=f"most likely group, probability >= {PROXY_THRESHOLD:g}",
        )
        most_likely = self.judge(MOST_LIKELY, "demographic_proxies", coded)
        below = f"(missing): no proxy, or no group reaching {PROXY_THRESHOLD:g}"
        return [
            _weighted_attribute(weighted),
            replace(most_likely, note="; ".join(n for n in (most_likely.note, below) if n)),
        ]


def _evidence(protected: list[str], proxied: bool) -> str:
    """What the protected groups come from: self-reported attributes, BISG proxies, or none."""
    evidence = " and ".join(
        e
        for e, on in (("self-reported protected attributes", protected), (PROXY_EVIDENCE, proxied))
        if on
    )
    return evidence or "none"


def _weighted_attribute(groups: list[dict[str, Any]]) -> AttributeFairness:
    """The probability-weighted proxy groups as an attribute (groups with no weight left out)."""
    kept = [GroupFairness(**g) for g in groups if g["n"] > 0]
    judged = any(g.adverse_impact_ratio is not None for g in kept)
    return _judged(
        WEIGHTED,
        "demographic_proxies",
        "every applicant weighted by P(group) (CFPB method); n = expected applicants",
        next((g.group for g in kept if g.is_reference), None),
        kept,
        judged=judged,
        note="" if judged else "no proxied group is approved at the cut-off: no ratio",
    )
