"""Fairness of approval decisions across protected groups, at the approval cut-off.

For every protected attribute (`protected_<name>` columns of a scored frame) each
group's approval rate (score >= cut-off) is compared with the most favoured
group's: the adverse impact ratio (AIR). Under the four-fifths rule an attribute
passes when every group's AIR is at least `threshold` (0.8).

Conventions, stated once:
- Missing protected values form their own group, "(missing)": reported, part of
  the verdict, never the reference.
- The reference group is the group with the highest approval rate among groups
  with at least `min_group_size` rows (so a handful of applicants cannot set the
  bar); smaller groups are reported and flagged `small_group`, and left out of
  the verdict because their rate is noise. Set `min_group_size=1` to judge all.
- The 95 % interval of an AIR is a percentile bootstrap that resamples applicants
  within each group (for a 0/1 approval that is a binomial draw per group), with
  the reference group fixed. A group whose interval lies wholly below the
  threshold is "significant".
- The standardized mean difference (SMD) of scores is
  `(mean_g - mean_ref) / pooled_sd`, pooled over the two groups with n - 1
  degrees of freedom; negative means the group scores lower.
- Numeric protected columns with more than `MAX_CODES` distinct values are
  banded: columns named like `age` with `band_age`, others into quintiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from credit_assets.core.compliance.html import figure_png, jsonable, markdown_table

MISSING_GROUP = "(missing)"
PROTECTED_PREFIX = "protected_"
AGE_BAND_EDGES: tuple[int, ...] = (25, 35, 45, 55)
MAX_CODES = 10
"""A numeric protected column with at most this many distinct values is a code, not a measure."""


def band_labels(edges: Sequence[float] = AGE_BAND_EDGES, *, whole_numbers: bool = True) -> list[str]:
    """Labels of the bands `band_age` produces: `<25, 25-34, 35-44, 45-54, 55+` by default.

    With `whole_numbers=False` (a continuous measure) bands read `<a`, `a-<b`, `>=c`.
    """
    if whole_numbers:
        cuts = [int(e) for e in edges]
        return [f"<{cuts[0]}", *(f"{a}-{b - 1}" for a, b in pairwise(cuts)), f"{cuts[-1]}+"]
    cut = [f"{e:.4g}" for e in edges]
    return [f"<{cut[0]}", *(f"{a}-<{b}" for a, b in pairwise(cut)), f">={cut[-1]}"]


def band_age(
    age: str | pl.Expr, edges: Sequence[float] = AGE_BAND_EDGES, *, whole_numbers: bool = True
) -> pl.Expr:
    """Age in years as a band label: `<25`, `25-34`, `35-44`, `45-54`, `55+` (default edges).

    A band includes its lower edge (25 is in `25-34`); null stays null, so the
    caller decides how missing ages are reported. Other edges band any numeric
    column the same way (`whole_numbers=False` for continuous measures).
    """
    value = (pl.col(age) if isinstance(age, str) else age).cast(pl.Float64)
    labels = band_labels(edges, whole_numbers=whole_numbers)
    expr: Any = pl.when(value.is_null()).then(pl.lit(None, dtype=pl.String))
    for edge, label in zip(edges, labels, strict=False):
        expr = expr.when(value < edge).then(pl.lit(label))
    name = age if isinstance(age, str) else age.meta.output_name(raise_if_undetermined=False)
    banded = expr.otherwise(pl.lit(labels[-1]))
    return banded.alias(name) if name else banded


def protected_column(name: str) -> str:
    """`sex` -> `protected_sex`; a name already prefixed is returned as is."""
    return name if name.startswith(PROTECTED_PREFIX) else f"{PROTECTED_PREFIX}{name}"


def group_labels(frame: pl.DataFrame, column: str) -> tuple[np.ndarray, list[str], str]:
    """Group label per row, the groups in display order, and how values were grouped."""
    series = frame.get_column(column)
    if series.dtype.is_float():
        series = series.fill_nan(None)  # NaN is as missing as null
    elif series.dtype == pl.Object:  # e.g. a numpy object array with None
        series = pl.Series(column, [None if v is None else str(v) for v in series], dtype=pl.String)
    frame = series.to_frame()
    how = "categories"
    if series.dtype.is_numeric() and series.drop_nulls().n_unique() > MAX_CODES:
        if "age" in column.removeprefix(PROTECTED_PREFIX).lower():
            labelled, order, how = frame.select(band_age(column)).to_series(), band_labels(), "age bands"
        else:
            edges = sorted(set(np.quantile(series.drop_nulls().to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist()))
            labelled = frame.select(band_age(column, edges, whole_numbers=False)).to_series()
            order = band_labels(edges, whole_numbers=False)
            how = "quintile bands"
    else:
        labelled = series.cast(pl.String)
        order = sorted(labelled.drop_nulls().unique().to_list())
    values = labelled.fill_null(MISSING_GROUP).to_numpy().astype(str)
    present = set(values.tolist())
    ordered = [g for g in order if g in present] + sorted(present - set(order) - {MISSING_GROUP})
    if MISSING_GROUP in present:
        ordered.append(MISSING_GROUP)
    return values, ordered, how


@dataclass(frozen=True)
class GroupFairness:
    group: str
    n: int
    n_approved: int
    approval_rate: float
    adverse_impact_ratio: float | None
    air_ci_low: float | None
    air_ci_high: float | None
    significant: bool  # the whole 95 % interval lies below the threshold
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
    def significant_groups(self) -> list[str]:
        return [g.group for g in self.groups if g.significant]


@dataclass
class FairnessReport:
    """Per-attribute approval parity at one cut-off; `summary` is what the promotion gate reads."""

    attributes: list[AttributeFairness]
    cutoff: int
    threshold: float
    n_rows: int
    n_bootstrap: int
    seed: int
    min_group_size: int
    score_col: str = "score"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.attributes)

    @property
    def worst(self) -> AttributeFairness | None:
        judged = [a for a in self.attributes if a.worst_adverse_impact_ratio is not None]
        failing = [a for a in self.attributes if not a.passed and a.worst_adverse_impact_ratio is None]
        if failing:
            return failing[0]
        return min(judged, key=lambda a: a.worst_adverse_impact_ratio or 0.0, default=None)

    @property
    def summary(self) -> dict[str, Any]:
        worst = self.worst
        return jsonable({
            "worst_adverse_impact_ratio": worst.worst_adverse_impact_ratio if worst else None,
            "worst_group": worst.worst_group if worst else None,
            "attribute": worst.attribute if worst else None,
            "passed": self.passed,
            "cutoff": self.cutoff,
            "threshold": self.threshold,
            "significant_groups": [
                f"{a.attribute}={g}" for a in self.attributes for g in a.significant_groups
            ],
            "attributes": [a.attribute for a in self.attributes],
        })

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "summary": self.summary,
            "cutoff": self.cutoff,
            "threshold": self.threshold,
            "n_rows": self.n_rows,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "min_group_size": self.min_group_size,
            "score_col": self.score_col,
            "attributes": [asdict(a) for a in self.attributes],
            "extras": self.extras,
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairnessReport:
        group_keys = {f.name for f in fields(GroupFairness)}
        attributes = []
        for a in data["attributes"]:
            groups = [GroupFairness(**{k: g[k] for k in group_keys}) for g in a["groups"]]
            attributes.append(AttributeFairness(**{**a, "groups": groups}))
        keys = {f.name for f in fields(cls)} - {"attributes"}
        return cls(attributes=attributes, **{k: data[k] for k in keys if k in data})

    def table_rows(self, attribute: AttributeFairness) -> list[dict[str, Any]]:
        """One row per group, as the markdown and HTML tables show it."""
        rows = []
        for g in attribute.groups:
            interval = (
                f"{g.air_ci_low:.3f}-{g.air_ci_high:.3f}"
                if g.air_ci_low is not None and g.air_ci_high is not None
                else None
            )
            flags = [f for f, on in (("reference", g.is_reference), ("significant", g.significant),
                                     ("small", g.small_group)) if on]
            rows.append({
                "group": g.group, "n": g.n, "approved": g.n_approved, "approval_rate": g.approval_rate,
                "AIR": g.adverse_impact_ratio, "AIR 95% CI": interval,
                "SMD": g.standardized_mean_difference, "AUC": g.auc, "mean PD": g.mean_pd,
                "bad rate": g.observed_bad_rate, "flags": ", ".join(flags),
            })
        return rows

    def to_markdown(self) -> str:
        s = self.summary
        verdict = "PASS" if s["passed"] else "FAIL"
        lines = [
            f"**{verdict}** at cut-off {self.cutoff} (four-fifths threshold {self.threshold:g}); "
            f"worst adverse impact ratio {_fmt(s['worst_adverse_impact_ratio'])} "
            f"({s['attribute']} = {s['worst_group']}).",
        ]
        for a in self.attributes:
            state = "pass" if a.passed else "fail"
            lines += [
                "",
                f"### {a.attribute} ({a.grouping}; reference {a.reference_group}) - {state}",
                markdown_table(self.table_rows(a)),
            ]
            if a.note:
                lines.append(f"_{a.note}_")
        return "\n".join(lines)

    def plot_png(self) -> bytes:
        """Approval rate by group per attribute, AIR on each bar, the four-fifths line dashed."""
        ratios = [max(1.2, 0.4 * len(a.groups) + 0.6) for a in self.attributes] or [1.0]
        fig = Figure(figsize=(7, sum(ratios) + 0.6))
        axes = fig.subplots(len(ratios), 1, squeeze=False,
                            gridspec_kw={"height_ratios": ratios, "hspace": 0.6})[:, 0]
        for ax, a in zip(axes, self.attributes, strict=False):
            names = [g.group for g in a.groups]
            rates = [g.approval_rate for g in a.groups]
            colours = [
                "#2f6fdf" if g.is_reference
                else "#aab2bf" if g.small_group or g.adverse_impact_ratio is None
                else "#d9480f" if g.adverse_impact_ratio < self.threshold
                else "#37b24d"
                for g in a.groups
            ]
            y = np.arange(len(names))
            ax.barh(y, rates, color=colours)
            ax.set_yticks(y, names)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.18)
            for i, g in enumerate(a.groups):
                ax.text(g.approval_rate + 0.01, i, f"AIR {_fmt(g.adverse_impact_ratio)}",
                        va="center", fontsize=8)
            reference = next((g for g in a.groups if g.is_reference), None)
            if reference is not None:
                ax.axvline(reference.approval_rate * self.threshold, color="#d9480f",
                           linestyle="--", linewidth=1)
            ax.set_title(f"{a.attribute}: {'pass' if a.passed else 'fail'}", fontsize=10, loc="left")
        axes[-1].set_xlabel(f"Approval rate at score >= {self.cutoff} (dashed: {self.threshold:g} x reference)")
        return figure_png(fig)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _safe_auc(y: np.ndarray, risk: np.ndarray) -> float | None:
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, risk))


def _bootstrap_air(
    n: np.ndarray, approved: np.ndarray, reference: int, n_bootstrap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles of each group's AIR; resampling within groups."""
    rates = approved / n
    draws = rng.binomial(n.astype(np.int64)[None, :], rates[None, :], size=(n_bootstrap, n.size)) / n[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        air = draws / draws[:, [reference]]
    air[~np.isfinite(air)] = np.nan
    with np.errstate(all="ignore"):
        low, high = np.nanpercentile(air, [2.5, 97.5], axis=0)
    return low, high


def _attribute(
    name: str,
    column: str,
    frame: pl.DataFrame,
    scores: np.ndarray,
    pd_values: np.ndarray | None,
    labels: np.ndarray | None,
    *,
    cutoff: int,
    threshold: float,
    n_bootstrap: int,
    min_group_size: int,
    rng: np.random.Generator,
) -> AttributeFairness:
    values, order, how = group_labels(frame, column)
    index = {g: i for i, g in enumerate(order)}
    codes = np.array([index[v] for v in values], dtype=np.int64)
    k = len(order)
    n = np.bincount(codes, minlength=k).astype(np.float64)
    approved = np.bincount(codes, weights=(scores >= cutoff).astype(np.float64), minlength=k)
    rates = approved / n
    score_sum = np.bincount(codes, weights=scores, minlength=k)
    means = score_sum / n
    sq = np.bincount(codes, weights=(scores - means[codes]) ** 2, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        variances = np.where(n > 1, sq / (n - 1), 0.0)

    small = n < min_group_size
    candidates = [i for i, g in enumerate(order) if g != MISSING_GROUP and not small[i]]
    candidates = candidates or [i for i, g in enumerate(order) if g != MISSING_GROUP]
    reference = max(candidates, key=lambda i: (rates[i], n[i]), default=None)
    ref_rate = rates[reference] if reference is not None else 0.0
    note = ""
    if reference is None:
        note = "every protected value is missing: no reference group"
    elif ref_rate == 0:
        note = f"no applicant in the reference group is approved at cut-off {cutoff}"
    air = rates / ref_rate if reference is not None and ref_rate > 0 else np.full(k, np.nan)
    low = high = np.full(k, np.nan)
    if n_bootstrap > 0 and reference is not None and ref_rate > 0:
        low, high = _bootstrap_air(n, approved, reference, n_bootstrap, rng)

    groups = []
    for i, g in enumerate(order):
        smd = None
        if reference is not None:
            dof = n[i] + n[reference] - 2
            pooled = (
                math.sqrt(((n[i] - 1) * variances[i] + (n[reference] - 1) * variances[reference]) / dof)
                if dof > 0 else 0.0
            )
            smd = float((means[i] - means[reference]) / pooled) if pooled > 0 else None
        mask = codes == i
        auc = mean_pd = bad_rate = None
        n_labelled = 0
        if labels is not None:
            labelled = mask & ~np.isnan(labels)
            n_labelled = int(labelled.sum())
            y = labels[labelled]
            risk = pd_values[labelled] if pd_values is not None else -scores[labelled]
            auc = _safe_auc(y, risk)
            bad_rate = float(y.mean()) if n_labelled else None
            mean_pd = float(pd_values[labelled].mean()) if pd_values is not None and n_labelled else None
        elif pd_values is not None:
            mean_pd = float(pd_values[mask].mean())
        groups.append(GroupFairness(
            group=g, n=int(n[i]), n_approved=int(approved[i]), approval_rate=float(rates[i]),
            adverse_impact_ratio=None if np.isnan(air[i]) else float(air[i]),
            air_ci_low=None if np.isnan(low[i]) else float(low[i]),
            air_ci_high=None if np.isnan(high[i]) else float(high[i]),
            significant=bool(not np.isnan(high[i]) and high[i] < threshold),
            is_reference=i == reference, small_group=bool(small[i]), mean_score=float(means[i]),
            standardized_mean_difference=smd, n_labelled=n_labelled, auc=auc,
            mean_pd=mean_pd, observed_bad_rate=bad_rate,
        ))
    judged = [g for g in groups if not g.small_group and g.adverse_impact_ratio is not None]
    worst = min(judged, key=lambda g: g.adverse_impact_ratio or 0.0, default=None)
    passed = reference is not None and ref_rate > 0 and all(
        (g.adverse_impact_ratio or 0.0) >= threshold for g in judged
    )
    return AttributeFairness(
        attribute=name, column=column, grouping=how,
        reference_group=order[reference] if reference is not None else None, groups=groups,
        passed=bool(passed), worst_group=worst.group if worst else None,
        worst_adverse_impact_ratio=worst.adverse_impact_ratio if worst else None, note=note,
    )


def fairness_report(
    frame: pl.DataFrame,
    *,
    score_col: str = "score",
    pd_col: str = "pd",
    label_col: str = "default_flag",
    protected: list[str],
    cutoff: int,
    threshold: float = 0.8,
    n_bootstrap: int = 1000,
    seed: int = 42,
    min_group_size: int = 30,
) -> FairnessReport:
    """Approval parity per protected attribute at `cutoff` (approved: score >= cutoff).

    `protected` names attributes (`sex` or `protected_sex`); each must be a column
    `protected_<name>` (or the name itself) of `frame`. `pd_col` and `label_col`
    are optional: without them, per-group AUC and calibration are left out; rows
    with a null label count for approval but not for AUC or bad rate.
    """
    if score_col not in frame.columns:
        raise ValueError(f"frame has no score column {score_col!r}")
    if frame[score_col].null_count():
        raise ValueError(f"{score_col} has {frame[score_col].null_count()} nulls; score every row first")
    scores = frame[score_col].cast(pl.Float64).to_numpy()
    pd_values = frame[pd_col].cast(pl.Float64).to_numpy() if pd_col in frame.columns else None
    labels = (
        frame[label_col].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        if label_col in frame.columns else None
    )
    rng = np.random.default_rng(seed)
    attributes = []
    for name in protected:
        column = protected_column(name) if protected_column(name) in frame.columns else name
        if column not in frame.columns:
            raise ValueError(f"protected attribute {name!r}: no column {protected_column(name)!r}")
        attributes.append(_attribute(
            column.removeprefix(PROTECTED_PREFIX), column, frame, scores, pd_values, labels,
            cutoff=cutoff, threshold=threshold, n_bootstrap=n_bootstrap,
            min_group_size=min_group_size, rng=rng,
        ))
    return FairnessReport(
        attributes=attributes, cutoff=int(cutoff), threshold=float(threshold), n_rows=frame.height,
        n_bootstrap=n_bootstrap, seed=seed, min_group_size=min_group_size, score_col=score_col,
    )
