"""Population and characteristic stability: has the scored population moved away from the baseline?

PSI (population stability index) of a distribution against a baseline:

    PSI = sum over bins of (actual_share - expected_share) * ln(actual_share / expected_share)

- Numeric values are binned on the BASELINE's quantiles (interior deciles by
  default, duplicates dropped, so a feature with a spike at 0 gets fewer bins).
  The first and last bins are open-ended, `(-inf, c1]` ... `(ck, +inf)`, so a
  current value outside the baseline's range still lands in a bin. Bins are
  closed on the right.
- Categorical values get one bin per baseline category, plus "other" for a
  category the baseline never saw.
- Missing values (None/NaN/null) are their own bin: a source that stops
  arriving is drift, not something to drop.
- An empty bin would make the logarithm infinite, so a share of exactly 0 is
  replaced by `EMPTY_BIN_SHARE` (1e-4, i.e. one borrower in 10 000) before the
  formula is applied; shares are not renormalised.

CSI (characteristic stability index) is the same figure on one model input.
Conventional reading: below 0.10 stable (green), 0.10-0.25 some shift (amber),
0.25 and above a significant shift (red).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from credit_assets.core.reports.metadata import markdown_table, md_escape, png_markdown

EMPTY_BIN_SHARE = 1e-4
"""Share used in place of 0 for an empty bin (keeps ln(a/e) finite)."""
DEFAULT_THRESHOLDS = (0.10, 0.25)
MISSING = "missing"
OTHER = "other"


@dataclass(frozen=True)
class PsiBin:
    """One bin of a PSI table. Numeric bins cover `(lower, upper]`; None is an open end."""

    label: str
    expected_count: int
    actual_count: int
    expected_share: float
    actual_share: float
    contribution: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class PsiResult:
    psi: float
    kind: str  # "numeric" or "categorical"
    bins: list[PsiBin]
    n_expected: int
    n_actual: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "psi": self.psi,
            "kind": self.kind,
            "n_expected": self.n_expected,
            "n_actual": self.n_actual,
            "bins": [asdict(b) for b in self.bins],
        }

    def table_markdown(self) -> str:
        return markdown_table(
            [
                {
                    "bin": b.label,
                    "expected share": b.expected_share,
                    "actual share": b.actual_share,
                    "contribution": b.contribution,
                }
                for b in self.bins
            ]
        )


def psi_status(psi: float, thresholds: tuple[float, float] = DEFAULT_THRESHOLDS) -> str:
    """green below the first threshold, red at or above the second, amber between."""
    amber, red = thresholds
    if psi >= red:
        return "red"
    if psi >= amber:
        return "amber"
    return "green"


def _psi_table(
    labels: Sequence[str],
    expected: np.ndarray,
    actual: np.ndarray,
    bounds: Sequence[tuple[float | None, float | None]],
    kind: str,
) -> PsiResult:
    n_e, n_a = int(expected.sum()), int(actual.sum())
    if n_e == 0 or n_a == 0:
        raise ValueError("PSI needs at least one baseline and one current value")
    e_share = expected / n_e
    a_share = actual / n_a
    e_safe = np.where(e_share == 0, EMPTY_BIN_SHARE, e_share)
    a_safe = np.where(a_share == 0, EMPTY_BIN_SHARE, a_share)
    contributions = (a_safe - e_safe) * np.log(a_safe / e_safe)
    bins = [
        PsiBin(
            label=labels[i],
            expected_count=int(expected[i]),
            actual_count=int(actual[i]),
            expected_share=float(e_share[i]),
            actual_share=float(a_share[i]),
            contribution=float(contributions[i]),
            lower=bounds[i][0],
            upper=bounds[i][1],
        )
        for i in range(len(labels))
    ]
    return PsiResult(float(contributions.sum()), kind, bins, n_e, n_a)


def _as_float(values: npt.ArrayLike) -> np.ndarray:
    # dtype=float turns None into NaN, so object arrays with gaps convert as well.
    return np.asarray(values, dtype=np.float64).ravel()


def quantile_cuts(baseline: npt.ArrayLike, bins: int = 10) -> np.ndarray:
    """Interior cut points from the baseline's quantiles, unique and below its maximum."""
    values = _as_float(baseline)
    values = values[~np.isnan(values)]
    if values.size == 0 or bins < 2:
        return np.array([], dtype=np.float64)
    # The k-th cut is the smallest observed value with at least k/bins of the baseline at
    # or below it (inverted CDF, in integer arithmetic so 3/10 of 100 is exactly 30):
    # cuts sit on observed values, so discrete data gets no empty in-between bins.
    ordered = np.sort(values)
    k = np.arange(1, bins)
    cuts = np.unique(ordered[-(-k * ordered.size // bins) - 1])
    # A cut at the maximum would leave the last bin empty in the baseline.
    return cuts[cuts < values.max()]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def population_stability_index(
    baseline: npt.ArrayLike, current: npt.ArrayLike, bins: int = 10
) -> PsiResult:
    """PSI of numeric `current` against `baseline`, binned on the baseline's quantiles."""
    e = _as_float(baseline)
    a = _as_float(current)
    cuts = quantile_cuts(e, bins)
    edges: list[float | None] = [None, *cuts.tolist(), None]
    bounds = list(zip(edges[:-1], edges[1:], strict=True))
    labels = []
    for lower, upper in bounds:
        if lower is None and upper is None:
            labels.append("all values")
        elif lower is None:
            labels.append(f"<= {_fmt(upper)}")  # type: ignore[arg-type]
        elif upper is None:
            labels.append(f"> {_fmt(lower)}")
        else:
            labels.append(f"({_fmt(lower)}, {_fmt(upper)}]")

    def counts(values: np.ndarray) -> np.ndarray:
        present = values[~np.isnan(values)]
        # side="left": a value equal to a cut belongs to the bin the cut closes.
        index = np.searchsorted(cuts, present, side="left")
        return np.bincount(index, minlength=len(bounds)).astype(np.float64)

    expected, actual = counts(e), counts(a)
    e_missing, a_missing = int(np.isnan(e).sum()), int(np.isnan(a).sum())
    if e_missing or a_missing:
        labels.append(MISSING)
        bounds.append((None, None))
        expected = np.append(expected, e_missing)
        actual = np.append(actual, a_missing)
    return _psi_table(labels, expected, actual, bounds, "numeric")


def _as_labels(values: Sequence[object] | npt.ArrayLike) -> list[str | None]:
    out: list[str | None] = []
    for v in np.asarray(values, dtype=object).ravel().tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out


def categorical_stability_index(
    baseline: Sequence[object] | npt.ArrayLike,
    current: Sequence[object] | npt.ArrayLike,
    max_categories: int = 30,
) -> PsiResult:
    """PSI over the baseline's categories, plus "other" (unseen or rare) and "missing".

    The `max_categories` most frequent baseline categories get a bin each; the
    rest share "other" with categories the baseline never had.
    """
    e = _as_labels(baseline)
    a = _as_labels(current)
    frequency: dict[str, int] = {}
    for v in e:
        if v is not None:
            frequency[v] = frequency.get(v, 0) + 1
    kept = sorted(sorted(frequency, key=lambda c: -frequency[c])[:max_categories])
    position = {c: i for i, c in enumerate(kept)}
    other, missing = len(kept), len(kept) + 1

    def counts(values: list[str | None]) -> np.ndarray:
        index = [missing if v is None else position.get(v, other) for v in values]
        return np.bincount(np.array(index, dtype=np.int64), minlength=len(kept) + 2).astype(
            np.float64
        )

    expected, actual = counts(e), counts(a)
    labels = [*kept, OTHER, MISSING]
    # Show "other" and "missing" only when someone is in them.
    keep = [i for i in range(len(labels)) if i < other or expected[i] or actual[i]]
    return _psi_table(
        [labels[i] for i in keep],
        expected[keep],
        actual[keep],
        [(None, None)] * len(keep),
        "categorical",
    )


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    csi: float
    status: str
    result: PsiResult

    def to_dict(self) -> dict[str, Any]:
        table = self.result.to_dict()
        return {
            "feature": self.feature,
            "csi": self.csi,
            "status": self.status,
            "kind": table["kind"],
            "bins": table["bins"],
        }


def _is_categorical(frame: pl.DataFrame, name: str, categorical: set[str]) -> bool:
    dtype = frame.schema[name]
    return name in categorical or isinstance(
        dtype, pl.String | pl.Categorical | pl.Enum | pl.Boolean
    )


def _column(frame: pl.DataFrame, name: str, categorical: bool, side: str) -> list[Any] | np.ndarray:
    if name not in frame.columns:
        raise ValueError(f"{side} frame has no column {name!r}")
    series = frame.get_column(name)
    if categorical:
        return series.cast(pl.String).to_list()
    return series.cast(pl.Float64).to_numpy()


def characteristic_stability(
    baseline_frame: pl.DataFrame,
    current_frame: pl.DataFrame,
    features: list[str],
    categorical: set[str],
    *,
    bins: int = 10,
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
) -> list[FeatureDrift]:
    """CSI of every feature, largest first. String and boolean columns count as categorical."""
    drifts = []
    for name in features:
        is_cat = name in categorical or (
            name in baseline_frame.columns and _is_categorical(baseline_frame, name, categorical)
        )
        e = _column(baseline_frame, name, is_cat, "baseline")
        a = _column(current_frame, name, is_cat, "current")
        result = (
            categorical_stability_index(e, a) if is_cat else population_stability_index(e, a, bins)
        )
        drifts.append(FeatureDrift(name, result.psi, psi_status(result.psi, thresholds), result))
    return sorted(drifts, key=lambda d: (-d.csi, d.feature))


def distribution_png(result: PsiResult, title: str) -> bytes:
    """Expected (baseline) against actual (current) share per bin, as grouped bars."""
    fig = Figure(figsize=(max(5.0, 0.55 * len(result.bins) + 2), 3.6))
    ax = fig.add_subplot()
    x = np.arange(len(result.bins))
    ax.bar(x - 0.2, [b.expected_share for b in result.bins], width=0.4, label="baseline")
    ax.bar(x + 0.2, [b.actual_share for b in result.bins], width=0.4, label="current")
    ax.set_xticks(x, [b.label for b in result.bins], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("Share of population")
    ax.set_title(f"{title} (PSI {result.psi:.3f})")
    ax.legend()
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


@dataclass
class DriftReport:
    """Score PSI and feature CSI of the current population against the baseline."""

    score: PsiResult
    score_status: str
    features: list[FeatureDrift]
    thresholds: tuple[float, float]
    significant: bool
    reasons: list[str]
    top_features: list[str]
    plots: dict[str, bytes] = field(default_factory=dict)
    """PNG bytes keyed by "score" and by each of `top_features`."""

    @property
    def score_psi(self) -> float:
        return self.score.psi

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (plots left out: they are for people, see `to_markdown`)."""
        return {
            "score_psi": self.score.psi,
            "score_status": self.score_status,
            "significant": self.significant,
            "reasons": self.reasons,
            "thresholds": {"amber": self.thresholds[0], "red": self.thresholds[1]},
            "n_baseline": self.score.n_expected,
            "n_current": self.score.n_actual,
            "score_bins": self.score.to_dict()["bins"],
            "features": [
                {"feature": d.feature, "csi": d.csi, "status": d.status, "kind": d.result.kind}
                for d in self.features
            ],
            "top_features": self.top_features,
        }

    def to_markdown(self, plots: bool = True) -> str:
        a, r = self.thresholds
        lines = [
            "## Score drift",
            f"Score PSI **{self.score.psi:.4f}** ({self.score_status}); "
            f"{self.score.n_actual} current against {self.score.n_expected} baseline scores. "
            f"Green below {a:g}, red at {r:g} or above.",
            "",
            ("**Significant drift.** " + md_escape(" ".join(self.reasons)))
            if self.significant
            else "No significant drift.",
            "",
            self.score.table_markdown(),
            "",
            "## Feature drift (CSI)",
            markdown_table(
                [{"feature": d.feature, "CSI": d.csi, "status": d.status} for d in self.features]
            ),
        ]
        if plots:
            lines.append("")
            lines += [png_markdown(png, name) for name, png in self.plots.items()]
        return "\n".join(lines)


def drift_report(
    baseline_scores: npt.ArrayLike,
    current_scores: npt.ArrayLike,
    baseline_features: pl.DataFrame,
    current_features: pl.DataFrame,
    features: list[str],
    categorical: set[str],
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS,
    *,
    bins: int = 10,
    plot_top: int = 5,
) -> DriftReport:
    """Score PSI with a green/amber/red status, CSI of every feature, plots of the worst.

    Drift is `significant` when the score PSI or any feature's CSI reaches the
    red threshold; `reasons` says which in a sentence each.
    """
    amber, red = thresholds
    if not 0 <= amber <= red:
        raise ValueError(
            f"thresholds must be (amber, red) with 0 <= amber <= red, got {thresholds}"
        )
    score = population_stability_index(baseline_scores, current_scores, bins)
    score_status = psi_status(score.psi, thresholds)
    drifts = characteristic_stability(
        baseline_features, current_features, features, categorical, bins=bins, thresholds=thresholds
    )
    reasons = []
    if score.psi >= red:
        reasons.append(f"Score PSI {score.psi:.3f} is at or above {red:g}.")
    red_features = [d for d in drifts if d.csi >= red]
    if red_features:
        listed = ", ".join(f"{d.feature} ({d.csi:.3f})" for d in red_features[:10])
        more = f" and {len(red_features) - 10} more" if len(red_features) > 10 else ""
        reasons.append(f"CSI at or above {red:g} for {listed}{more}.")
    top = drifts[:plot_top]
    plots = {"score": distribution_png(score, "Score")}
    for d in top:
        plots[d.feature] = distribution_png(d.result, d.feature)
    return DriftReport(
        score=score,
        score_status=score_status,
        features=drifts,
        thresholds=thresholds,
        significant=bool(reasons),
        reasons=reasons,
        top_features=[d.feature for d in top],
        plots=plots,
    )
