"""Search for less discriminatory alternatives (LDA) to the challenger.

Fair-lending practice expects a lender to look for a model that serves its
business purpose about as well with less disparate impact. The search trains a
small, documented family of alternatives with the platform's own
`train_challenger`, scores each on the same test split at the same approval
cut-off, and compares AUC with the worst adverse impact ratio (AIR):

- `drop_<feature>`: without each of the `top_proxies` features that, alone, best
  predict a protected attribute (`proxy_screen` on the train split);
- `drop_source_<source>`: without every feature of the strongest proxy's source;
- `regularised`: stronger regularisation (l2_leaf_reg x3, at least 10; depth - 2);
- `monotone_only`: only the features with a declared monotone direction.

An alternative is "comparable" when its AUC is within `AUC_TOLERANCE` (0.01) of
the challenger's; the best comparable alternative with a higher worst AIR is the
`better_alternative`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from credit_assets.core.compliance.fairness import fairness_report
from credit_assets.core.compliance.groups import protected_column
from credit_assets.core.compliance.proxies import proxy_screen, strongest_proxies
from credit_assets.core.compliance.proxy_fairness import (
    PROXY_ATTRIBUTE,
    has_proxies,
    most_likely_labels,
)
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.metrics import auc as auc_score
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.scorecard import train_scorecard
from credit_assets.core.modeling.train import TrainConfig, train_challenger
from credit_assets.core.promotion import FOUR_FIFTHS, FairnessPolicy
from credit_assets.core.reports.render import figure_png, markdown_table
from credit_assets.core.reports.text import md_escape

AUC_TOLERANCE = 0.01
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Alternative:
    """One candidate model: which features, which hyper-parameters, and why."""

    name: str
    description: str
    features: list[FeatureSpec]
    config: TrainConfig


@dataclass
class LdaResult:
    """The frontier (challenger first) and the verdict on a less discriminatory alternative."""

    frontier: list[dict[str, Any]]
    better_alternative: str | None
    statement: str
    proxies: list[dict[str, Any]]
    cutoff: int
    auc_tolerance: float = AUC_TOLERANCE
    threshold: float = FOUR_FIFTHS
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def alternatives(self) -> list[dict[str, Any]]:
        return [row for row in self.frontier if row["name"] != CHALLENGER]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frontier": self.frontier,
            "better_alternative": self.better_alternative,
            "statement": self.statement,
            "proxies": self.proxies,
            "cutoff": self.cutoff,
            "auc_tolerance": self.auc_tolerance,
            "threshold": self.threshold,
            "extras": self.extras,
        }

    def to_markdown(self) -> str:
        columns = [
            "name",
            "auc",
            "auc_delta",
            "worst_air",
            "worst_group",
            "passes_fairness_gate",
            "comparable",
            "description",
        ]
        flagged = [p for p in self.proxies if p["flagged"]]
        return "\n\n".join(
            [
                f"**{md_escape(self.statement)}**",
                markdown_table(self.frontier, columns),
                f"Proxy screen: {len(flagged)} flagged feature x attribute pair(s).",
            ]
        )

    def plot_png(self) -> bytes:
        """AUC against worst AIR; the challenger a star, comparable AUCs shaded."""
        fig = Figure(figsize=(6.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
        challenger = next(r for r in self.frontier if r["name"] == CHALLENGER)
        ax.axhline(
            self.threshold,
            color="#d9480f",
            linestyle="--",
            linewidth=1,
            label=f"four-fifths ({self.threshold:g})",
        )
        for row in self.frontier:
            if row["auc"] is None or row["worst_air"] is None:
                continue
            is_challenger = row["name"] == CHALLENGER
            ax.scatter(
                row["auc"],
                row["worst_air"],
                s=160 if is_challenger else 50,
                marker="*" if is_challenger else "o",
                color="#2f6fdf"
                if is_challenger
                else "#37b24d"
                if row["name"] == self.better_alternative
                else "#868e96",
                zorder=3,
            )
            ax.annotate(
                row["name"],
                (row["auc"], row["worst_air"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
        if challenger["auc"] is not None:
            right = max(ax.get_xlim()[1], challenger["auc"] + self.auc_tolerance)
            ax.axvspan(
                challenger["auc"] - self.auc_tolerance,
                right,
                color="#e7f0ff",
                zorder=0,
                label=f"comparable: AUC >= challenger - {self.auc_tolerance:g}",
            )
            ax.set_xlim(right=right)
        ax.set_xlabel("Test AUC")
        ax.set_ylabel("Worst adverse impact ratio")
        ax.set_title(f"Less discriminatory alternatives (cut-off {self.cutoff})", fontsize=10)
        ax.legend(loc="best", fontsize=8)
        return figure_png(fig)


def alternatives_for(
    features: list[FeatureSpec],
    config: TrainConfig,
    proxies: list[dict[str, Any]],
    family: str = "catboost",
) -> list[Alternative]:
    """The family of alternatives to the challenger's feature set and configuration
    (a scorecard has no tree regularisation to strengthen: its alternatives drop inputs)."""
    model_family = family
    chosen: list[Alternative] = []
    names = {f.name for f in features}
    for proxy in proxies:
        kept = [f for f in features if f.name != proxy["feature"]]
        if kept and proxy["feature"] in names:
            chosen.append(
                Alternative(
                    f"drop_{proxy['feature']}",
                    f"without {proxy['feature']} (predicts {proxy['protected']} with AUC {proxy['auc']:.3f})",
                    kept,
                    config,
                )
            )
    if proxies:
        source = next((f.source for f in features if f.name == proxies[0]["feature"]), None)
        kept = [f for f in features if f.source != source]
        if kept and len(kept) < len(features) - 1:
            chosen.append(
                Alternative(
                    f"drop_source_{source}",
                    f"without every feature of source {source}",
                    kept,
                    config,
                )
            )
    if model_family != "scorecard":
        chosen.append(
            Alternative(
                "regularised",
                "stronger regularisation: l2_leaf_reg x3 (at least 10), depth - 2 (at least 2)",
                list(features),
                replace(
                    config,
                    l2_leaf_reg=max(10.0, config.l2_leaf_reg * 3),
                    depth=max(2, config.depth - 2),
                ),
            )
        )
    monotone = [f for f in features if f.monotone != "none"]
    if monotone and len(monotone) < len(features):
        chosen.append(
            Alternative(
                "monotone_only",
                "only the features with a declared monotone direction",
                monotone,
                config,
            )
        )
    return chosen


def _statement(
    better: dict[str, Any] | None,
    challenger_auc: float,
    challenger_worst_air: float | None,
    tol: float,
) -> str:
    air = "n/a" if challenger_worst_air is None else f"{challenger_worst_air:.3f}"
    if better is None:
        return (
            f"No alternative within {tol:g} AUC of the challenger (AUC {challenger_auc:.3f}) "
            f"has a better worst adverse impact ratio than the challenger's {air}."
        )
    return (
        f"Alternative '{better['name']}' ({better['description']}) has AUC {better['auc']:.3f}, "
        f"within {tol:g} of the challenger's {challenger_auc:.3f}, and a better worst adverse "
        f"impact ratio: {better['worst_air']:.3f} against {air}."
    )


def lda_search(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    protected: list[str],
    *,
    config: TrainConfig,
    cutoff: int,
    scale: ScoreScale,
    challenger_auc: float,
    challenger_worst_air: float | None,
    top_proxies: int = 3,
    policy: FairnessPolicy | None = None,
    auc_tolerance: float = AUC_TOLERANCE,
    family: str = "catboost",
) -> LdaResult:
    """Train the alternatives, evaluate each on `test`, and state whether one is less discriminatory.

    The challenger itself is not retrained: its test AUC and worst AIR are passed
    in, measured the same way (same split, cut-off and fairness report). `policy` is
    the fairness policy the promotion gate applies (its threshold and group rules).
    `family` is the challenger's: a scorecard's alternatives are scorecards.
    """
    policy = policy or FairnessPolicy()
    threshold = policy.min_adverse_impact_ratio
    challenger_row: dict[str, Any] = {
        "name": CHALLENGER,
        "description": "the challenger as trained",
        "n_features": len(features),
        "auc": float(challenger_auc),
        "auc_delta": 0.0,
        "worst_air": None if challenger_worst_air is None else float(challenger_worst_air),
        "worst_group": None,
        "passes_fairness_gate": None,
        "comparable": True,
        "dropped": [],
        "depth": config.depth,
        "l2_leaf_reg": config.l2_leaf_reg,
    }
    proxied = has_proxies(training_set)
    if not protected and not proxied:
        return LdaResult(
            [challenger_row],
            None,
            "No protected attribute or proxy declared: no search run.",
            [],
            cutoff,
            auc_tolerance,
            threshold,
        )
    train = training_set.filter(pl.col("split") == "train")
    test = training_set.filter(pl.col("split") == "test")
    if test.height == 0:
        raise ValueError("the training set has no test split to evaluate alternatives on")
    screened = list(protected)
    if proxied:
        # The screen asks which feature predicts the proxied group: the most likely one.
        most_likely = most_likely_labels(train, threshold=0.0)
        train = train.with_columns(most_likely.alias(protected_column(PROXY_ATTRIBUTE)))
        screened.append(PROXY_ATTRIBUTE)
    screen = proxy_screen(train, features, screened)
    alternatives = alternatives_for(
        features, config, strongest_proxies(screen, top_proxies), family
    )

    def fit(alternative: Alternative) -> Any:
        if family == "scorecard":
            return train_scorecard(
                training_set, alternative.features, alternative.config.seed, scale
            )
        return train_challenger(training_set, alternative.features, alternative.config)

    y = test["default_flag"].cast(pl.Int8).to_numpy()
    frontier = [challenger_row]
    for alternative in alternatives:
        trained = fit(alternative)
        pd_test = trained.predict_pd(test, thread_count=alternative.config.threads)
        scored = test.with_columns(
            pl.Series("score", scale.score_from_pd(pd_test)), pl.Series("pd", pd_test)
        )
        summary = fairness_report(
            scored,
            protected=protected,
            cutoff=cutoff,
            policy=policy,
            n_bootstrap=0,
            approval_rates=(),
        ).summary
        model_auc = auc_score(y, pd_test) if 0 < y.sum() < y.size else None
        kept = {f.name for f in alternative.features}
        frontier.append(
            {
                "name": alternative.name,
                "description": alternative.description,
                "n_features": len(alternative.features),
                "auc": model_auc,
                "auc_delta": None if model_auc is None else model_auc - challenger_auc,
                "worst_air": summary["worst_adverse_impact_ratio"],
                "worst_group": f"{summary['attribute']}={summary['worst_group']}",
                "passes_fairness_gate": bool(summary["passed"]),
                "comparable": model_auc is not None and model_auc >= challenger_auc - auc_tolerance,
                "dropped": sorted({f.name for f in features} - kept),
                "depth": alternative.config.depth,
                "l2_leaf_reg": alternative.config.l2_leaf_reg,
            }
        )
    baseline_air = -np.inf if challenger_worst_air is None else challenger_worst_air
    better_rows = [
        r
        for r in frontier[1:]
        if r["comparable"] and r["worst_air"] is not None and r["worst_air"] > baseline_air
    ]
    better = max(better_rows, key=lambda r: (r["worst_air"], r["auc"]), default=None)
    return LdaResult(
        frontier=frontier,
        better_alternative=better["name"] if better else None,
        statement=_statement(better, challenger_auc, challenger_worst_air, auc_tolerance),
        proxies=screen,
        cutoff=int(cutoff),
        auc_tolerance=auc_tolerance,
        threshold=threshold,
    )
