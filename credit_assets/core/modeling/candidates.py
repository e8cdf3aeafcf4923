"""The candidate model families, judged on the same evidence: cross-validated or out of time.

Three families are candidates: the CatBoost challenger, the WoE scorecard and an
L2 logistic regression (`logistic`). Without application dates (the normal case
for a lender's own file) one seeded holdout of a few hundred rows cannot tell a
real gap between two models from noise, so the evidence is repeated stratified
k-fold cross-validation on all labelled rows, every family on the same folds, with
paired comparisons against the challenger (`cross_validation`). With dates the
out-of-time test split stays the evidence and every family's AUC on it gets a
bootstrap interval and a DeLong comparison on the same rows (`holdout_evidence`);
`CREDIT_EVALUATION=holdout` asks for that on an undated file too.

A family that cannot be fitted on these rows (say, a scorecard on a file with no
binnable input) is reported with the reason, never an exception for the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import stats

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.cross_validation import (
    CVConfig,
    CVPlan,
    CVReport,
    PairedComparison,
    bootstrap_auc_interval,
    cross_validate,
    cv_splits,
    delong_test,
    paired_comparison,
    time_ordered_splits,
)
from credit_assets.core.modeling.logistic import train_logistic
from credit_assets.core.modeling.metrics import auc
from credit_assets.core.modeling.plots import fold_auc_png
from credit_assets.core.modeling.scorecard import train_scorecard
from credit_assets.core.modeling.train import (
    SPLIT_COLUMN,
    TrainConfig,
    labels_of,
    train_challenger,
)
from credit_assets.core.reports.text import too_few

CHALLENGER = "catboost"
SCORECARD = "scorecard"
LOGISTIC = "logistic"
FAMILIES = (CHALLENGER, SCORECARD, LOGISTIC)
EvaluationMethod = Literal["cross_validation", "holdout"]
# Share of a fold's training rows CatBoost early-stops on (the challenger's own validation).
INNER_VALIDATION_SHARE = 0.2
# Depth and L2 regularisation tried for CatBoost on small files (rows <= CREDIT_CV_TUNE_MAX_ROWS),
# on the first repeat's folds: shallow and light, the default, deeper and heavier.
TUNING_GRID: tuple[tuple[int, float], ...] = ((3, 3.0), (5, 10.0), (6, 30.0))


def _with_splits(
    frame: pl.DataFrame, train_idx: np.ndarray, seed: int, inner: bool
) -> pl.DataFrame:
    """The fold's training rows as a training set: all `train`, or `train` and a stratified
    `validation` share for early stopping (`inner`)."""
    rows = frame[train_idx]
    split = np.full(rows.height, "train", dtype=object)
    if inner:
        y = labels_of(rows)
        rng = np.random.default_rng(seed)
        for label in (0, 1):
            members = np.flatnonzero(y == label)
            take = max(1, round(members.size * INNER_VALIDATION_SHARE)) if members.size > 1 else 0
            split[rng.permutation(members)[:take]] = "validation"
    return rows.with_columns(pl.Series(SPLIT_COLUMN, split.tolist(), dtype=pl.String))


def family_predictors(
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    config: TrainConfig,
    fits: dict[str, list[dict[str, int]]] | None = None,
) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Each family as `fit on these rows, predict those`, over the rows of `frame`.

    CatBoost's early-stopped rounds and the rows each fold fitted on are appended to
    `fits["catboost"]`: the refit on all rows takes its number of trees from them."""

    def catboost(train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
        fold = _with_splits(frame, train_idx, config.seed + int(test_idx[0]), inner=True)
        model = train_challenger(fold, specs, config)
        if fits is not None:
            fits.setdefault(CHALLENGER, []).append(
                {"best_iteration": model.best_iteration, "fit_rows": model.train_rows}
            )
        return model.predict_pd(frame[test_idx], thread_count=config.threads)

    def scorecard(train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
        model = train_scorecard(
            _with_splits(frame, train_idx, config.seed, False), specs, config.seed
        )
        return model.predict_pd(frame[test_idx])

    def logistic(train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
        model = train_logistic(
            _with_splits(frame, train_idx, config.seed, False), specs, config.seed
        )
        return model.predict_pd(frame[test_idx])

    return {CHALLENGER: catboost, SCORECARD: scorecard, LOGISTIC: logistic}


@dataclass(frozen=True)
class Comparison:
    """The challenger against another family: `difference = AUC(other) - AUC(challenger)`."""

    other: str
    difference: float
    low: float
    high: float
    p_value: float
    test: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenger": CHALLENGER,
            "other": self.other,
            "difference": round(self.difference, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "p_value": float(f"{self.p_value:.4g}"),
            "test": self.test,
        }


@dataclass
class CandidateEvidence:
    """Every family's AUC with its interval, and how each compares with the challenger."""

    method: EvaluationMethod
    rows: int
    models: dict[str, dict[str, Any]]
    comparisons: list[Comparison]
    failed: dict[str, str] = field(default_factory=dict)
    plan: dict[str, Any] | None = None
    fold_auc: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        """The family with the highest mean (cross-validated) or holdout AUC."""
        if not self.models:
            return None
        return max(self.models, key=lambda name: self.models[name]["auc"])

    def summary(self) -> str:
        """One line for logs and `models show`."""
        if not self.models:
            return "no family could be evaluated"
        parts = [
            f"{name} {m['auc']:.3f} [{m['auc_low']:.3f}, {m['auc_high']:.3f}]"
            for name, m in self.models.items()
        ]
        return f"{self.describe()}: " + "; ".join(parts) + f"; best: {self.best}"

    def describe(self) -> str:
        """The method actually used and the counts behind its figures."""
        counts = self.details.get("counts") or {}
        if self.method == "cross_validation" and self.plan:
            if self.plan.get("scheme") == "time_ordered":
                return (
                    f"AUC by time-ordered cross-validation ({self.plan['folds']} expanding-window "
                    f"folds over {self.plan['n_rows']:,} dated rows, "
                    f"{self.plan.get('n_test_bad', 0):,} bads tested)"
                )
            return (
                f"{self.plan['folds']}-fold x {self.plan['repeats']} cross-validated AUC "
                f"({self.plan['n_rows']:,} rows, {self.plan['n_bad']:,} bads)"
            )
        where = counts.get("where", "test split")
        rows = f"{counts['rows']:,} rows, {counts['bads']:,} bads, " if counts else ""
        return f"holdout AUC on the {where} ({rows}bootstrap 95 % interval)"

    def table(self) -> list[dict[str, Any]]:
        return [{"model": name, **m} for name, m in self.models.items()] + [
            {"model": name, "auc": None, "note": f"not evaluated: {reason}"}
            for name, reason in self.failed.items()
        ]

    def comparison_table(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.comparisons]

    def fold_auc_png(self) -> bytes | None:
        return fold_auc_png(self.fold_auc)

    def registry_figures(self) -> dict[str, Any]:
        """What the registry keeps with the version: every family's AUC with its interval,
        the comparisons with the challenger, and the best family."""
        return {
            "method": self.method,
            "best": self.best,
            "models": {
                name: {k: m[k] for k in ("auc", "auc_sd", "auc_low", "auc_high") if k in m}
                for name, m in self.models.items()
            },
            "comparisons": self.comparison_table(),
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateEvidence:
        """The evidence as `to_dict` wrote it (a report read back)."""
        return cls(
            method=data["method"],
            rows=int(data["rows"]),
            models=dict(data["models"]),
            comparisons=[
                Comparison(
                    c["other"], c["difference"], c["low"], c["high"], c["p_value"], c["test"]
                )
                for c in data.get("comparisons", [])
            ],
            failed=dict(data.get("failed", {})),
            plan=data.get("plan"),
            fold_auc={k: list(v) for k, v in data.get("fold_auc", {}).items()},
            details=dict(data.get("details", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rows": self.rows,
            "plan": self.plan,
            "models": self.models,
            "best": self.best,
            "comparisons": self.comparison_table(),
            "failed": self.failed,
            "fold_auc": {k: [round(v, 4) for v in vs] for k, vs in self.fold_auc.items()},
            "summary": self.summary(),
            **({"details": self.details} if self.details else {}),
        }


def tune_catboost(
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    config: TrainConfig,
    plan: CVPlan,
    grid: tuple[tuple[int, float], ...] = TUNING_GRID,
) -> tuple[TrainConfig, list[dict[str, Any]]]:
    """CatBoost's depth and L2 regularisation chosen on the folds of the first repeat (the
    number of trees is early-stopped in each fold): the grid point with the best mean AUC,
    the configured one on a tie. Returns the chosen configuration and every point's figure."""
    y = labels_of(frame)
    first = replace(plan, repeats=1, splits=[s for s in plan.splits if s.repeat == 0])
    rows: list[dict[str, Any]] = []
    points = list(dict.fromkeys([(config.depth, config.l2_leaf_reg), *grid]))
    for depth, l2 in points:
        candidate = replace(config, depth=depth, l2_leaf_reg=l2)
        predictor = family_predictors(frame, specs, candidate)[CHALLENGER]
        report = cross_validate({CHALLENGER: predictor}, y, first)
        fold_aucs = [s.auc for s in report.models[CHALLENGER].scores]
        rows.append(
            {
                "depth": depth,
                "l2_leaf_reg": l2,
                "auc_mean": round(float(np.mean(fold_aucs)), 6),
                "folds": len(fold_aucs),
            }
        )
    best = max(
        rows,
        key=lambda r: (r["auc_mean"], (r["depth"], r["l2_leaf_reg"]) == points[0]),
    )
    for row in rows:
        row["chosen"] = row is best
    return replace(config, depth=best["depth"], l2_leaf_reg=best["l2_leaf_reg"]), rows


def cross_validation(
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    config: TrainConfig,
    cv: CVConfig,
    families: tuple[str, ...] = FAMILIES,
    tune_max_rows: int = 0,
    plan: CVPlan | None = None,
) -> CandidateEvidence:
    """Every family on the same repeated stratified folds of all labelled rows of `frame`
    (or on `plan`'s folds, e.g. `time_ordered_splits`).

    On at most `tune_max_rows` rows, CatBoost's depth and regularisation are first chosen on
    the first repeat's folds (`tune_catboost`); its figures are then those of the chosen
    configuration on every fold (slightly optimistic on the first repeat's, which chose it).
    """
    y = labels_of(frame)
    plan = plan or cv_splits(y, cv)
    fits: dict[str, list[dict[str, int]]] = {}
    tuning: list[dict[str, Any]] = []
    tuning_failed = ""
    if CHALLENGER in families and 0 < frame.height <= tune_max_rows:
        config, tuning, tuning_failed = _tuned(frame, specs, config, plan)
    predictors = family_predictors(frame, specs, config, fits)
    merged, failed = _cross_validated(predictors, y, plan, families)
    paired: list[PairedComparison] = []
    if CHALLENGER in merged.models:
        paired = [
            paired_comparison(merged, y, CHALLENGER, other)
            for other in merged.models
            if other != CHALLENGER
        ]
    return CandidateEvidence(
        method="cross_validation",
        rows=frame.height,
        models=_cv_figures(merged),
        comparisons=[_fold_comparison(p, plan) for p in paired],
        failed=failed,
        plan=plan.to_dict(),
        fold_auc={n: [s.auc for s in m.scores] for n, m in merged.models.items()},
        details={
            "paired": [p.to_dict() for p in paired],
            "fits": fits,
            "catboost_config": {"depth": config.depth, "l2_leaf_reg": config.l2_leaf_reg},
            "counts": {"rows": plan.n_rows, "bads": plan.n_bad, "tested_bads": plan.n_test_bad},
            **({"catboost_tuning": tuning} if tuning else {}),
            **({"fallbacks": [tuning_failed]} if tuning_failed else {}),
        },
    )


def _tuned(
    frame: pl.DataFrame, specs: list[FeatureSpec], config: TrainConfig, plan: CVPlan
) -> tuple[TrainConfig, list[dict[str, Any]], str]:
    """`tune_catboost`'s configuration and grid; when tuning fails, the configuration as it
    was, no grid, and a sentence saying so (the CatBoost family then reports its own failure)."""
    try:
        tuned, tuning = tune_catboost(frame, specs, config, plan)
    except Exception as exc:  # recorded, not raised
        return (
            config,
            [],
            f"CatBoost tuning failed ({type(exc).__name__}: {str(exc)[:160]}); the configured "
            f"depth {config.depth} and l2_leaf_reg {config.l2_leaf_reg:g} were used",
        )
    return tuned, tuning, ""


def _cross_validated(
    predictors: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    y: np.ndarray,
    plan: CVPlan,
    families: tuple[str, ...],
) -> tuple[CVReport, dict[str, str]]:
    """Every family cross-validated on `plan`'s folds, merged into one report, and the
    families that could not be fitted with the reason."""
    reports: dict[str, CVReport] = {}
    failed: dict[str, str] = {}
    for name in families:
        try:
            reports[name] = cross_validate({name: predictors[name]}, y, plan)
        except Exception as exc:  # a family that cannot fit these rows is a finding
            failed[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return CVReport(plan=plan, models={n: r.models[n] for n, r in reports.items()}), failed


def _cv_figures(merged: CVReport) -> dict[str, dict[str, Any]]:
    """Each family's mean AUC (with its sd and interval), Gini, KS and Brier over the folds."""
    return {
        row["model"]: {
            "auc": row["auc_mean"],
            "auc_sd": row["auc_sd"],
            "auc_low": row["auc_low"],
            "auc_high": row["auc_high"],
            "gini": row["gini_mean"],
            "ks": row["ks_mean"],
            "brier": row["brier_mean"],
        }
        for row in merged.table()
    }


def _fold_comparison(p: PairedComparison, plan: CVPlan) -> Comparison:
    """A family against the challenger, fold by fold, with the test it was judged by."""
    return Comparison(
        other=p.model_b,
        difference=p.mean_difference,
        low=p.low,
        high=p.high,
        p_value=p.p_value,
        test="corrected resampled t on the fold differences"
        if plan.scheme == "repeated_stratified"
        else "corrected t on the time-ordered fold differences (folds are not exchangeable: "
        "read it as indicative)",
    )


def _delong_interval(
    difference: float, standard_error: float, confidence: float = 0.95
) -> tuple[float, float]:
    """The normal interval DeLong's standard error gives the difference of two AUCs."""
    half = float(stats.norm.ppf((1 + confidence) / 2)) * standard_error
    return difference - half, difference + half


def holdout_evidence(
    y: np.ndarray,
    pds: Mapping[str, np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
    where: str = "test split",
) -> CandidateEvidence:
    """Every family's AUC on the same (out-of-time) rows of `where`, a bootstrap interval on
    each, and DeLong's test of each against the challenger on those rows."""
    models = {}
    for name, pd in pds.items():
        low, high = bootstrap_auc_interval(y, pd, n_boot=n_boot, seed=seed)
        models[name] = {
            "auc": round(auc(y, pd), 6),
            "auc_low": round(low, 6),
            "auc_high": round(high, 6),
        }
    comparisons = []
    if CHALLENGER in pds:
        for other, pd in pds.items():
            if other == CHALLENGER:
                continue
            result = delong_test(y, pds[CHALLENGER], pd)
            low, high = _delong_interval(result.difference, result.standard_error)
            comparisons.append(
                Comparison(
                    other=other,
                    difference=result.difference,
                    low=low,
                    high=high,
                    p_value=result.p_value,
                    test="DeLong on the same test rows",
                )
            )
    bads = int(np.asarray(y).sum())
    return CandidateEvidence(
        method="holdout",
        rows=int(y.size),
        models=models,
        comparisons=comparisons,
        details={"counts": {"rows": int(y.size), "bads": bads, "where": where}},
    )


def choose_method(configured: str, out_of_time: bool) -> EvaluationMethod:
    """`auto` cross-validates unless the test split is out of time; `holdout` never does
    (the seeded or out-of-time test split, with bootstrap intervals); `cross_validation`
    always does."""
    if configured == "cross_validation" or (configured == "auto" and not out_of_time):
        return "cross_validation"
    return "holdout"


def thin_evidence(y: np.ndarray, minimum: int, where: str) -> str:
    """Why the rows of `where` are too few to judge a model on, or "" when they hold at least
    `minimum` bads and `minimum` goods (`CREDIT_EVIDENCE_MIN_BADS`)."""
    return too_few(int(np.asarray(y).sum()), int(np.asarray(y).size), minimum, where)


def dated_plan(order: np.ndarray, y: np.ndarray, cv: CVConfig, minimum: int) -> tuple[CVPlan, str]:
    """The folds for dated rows whose out-of-time split is too thin: time-ordered (expanding
    window) when its tested blocks hold at least `minimum` bads and every block a bad and a
    good; otherwise repeated stratified folds, and a note that says the date order was not
    kept and why."""
    try:
        plan = time_ordered_splits(order, y, cv)
    except ValueError as error:
        reason = str(error)
    else:
        if plan.n_test_bad >= minimum:
            return plan, (
                f"time-ordered cross-validation: {plan.folds} expanding-window folds, "
                f"{plan.n_test_bad} bads in the tested blocks"
            )
        reason = f"its tested blocks would hold {plan.n_test_bad} bads (minimum {minimum})"
    plan = cv_splits(y, cv)
    return plan, (
        f"repeated stratified cross-validation that does NOT keep the date order: time-ordered "
        f"folds were not possible ({reason}); the figures mix periods"
    )


def cv_sample(frame: pl.DataFrame, max_rows: int, seed: int) -> tuple[pl.DataFrame, str]:
    """At most `max_rows` labelled rows, stratified on the label (every bad kept while the
    bads alone fit), and a note saying what was sampled (empty when nothing was)."""
    if frame.height <= max_rows:
        return frame, ""
    y = labels_of(frame)
    rng = np.random.default_rng(seed)
    share = max_rows / frame.height
    keep = np.concatenate(
        [
            rng.choice(members, size=max(2, round(members.size * share)), replace=False)
            for members in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
        ]
    )
    note = (
        f"cross-validated on a stratified sample of {keep.size:,} of {frame.height:,} rows "
        f"(CREDIT_CV_MAX_ROWS={max_rows:,})"
    )
    return frame[np.sort(keep)], note


def champion_comparison(
    y: np.ndarray, champion_pd: np.ndarray, challenger_pd: np.ndarray, confidence: float = 0.95
) -> dict[str, Any]:
    """The challenger against the champion on the same test rows (DeLong): the difference
    `challenger - champion`, its interval, the two-sided p and the one-sided `p_worse` that
    the challenger ranks worse, as the quality gate reads them."""
    result = delong_test(y, champion_pd, challenger_pd)
    low, high = _delong_interval(result.difference, result.standard_error, confidence)
    z_p = result.p_value / 2
    p_worse = z_p if result.difference < 0 else 1.0 - z_p if result.difference > 0 else 0.5
    return {
        "test": "DeLong, same test rows",
        "rows": int(np.asarray(y).size),
        "champion_auc": round(result.auc_a, 6),
        "challenger_auc": round(result.auc_b, 6),
        "difference": round(result.difference, 6),
        "low": round(low, 6),
        "high": round(high, 6),
        "confidence": confidence,
        "p_value": float(f"{result.p_value:.4g}"),
        "p_worse": float(f"{p_worse:.4g}"),
    }
