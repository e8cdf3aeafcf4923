"""Repeated stratified cross-validation of PD models, with the uncertainty of every figure.

A single train/test split gives one AUC and no idea how much it would move on other
data. Model-risk review asks for the spread, and for whether a challenger is really
better than the champion or only lucky on one split. This module

- plans repeated stratified k-fold splits (`cv_splits`) that every model shares,
- scores each model on every fold (`cross_validate`): AUC, Gini, KS and Brier, their
  mean and sample standard deviation, and an interval on AUC,
- compares two models fold by fold (`paired_comparison`) and on their out-of-fold
  predictions (`delong_test`),
- and, for an out-of-time holdout that cannot be resampled by fold, gives a percentile
  bootstrap interval on AUC (`bootstrap_auc_interval`).

Conventions as in `metrics`: `y` is 1 for a bad (default), `pd` the predicted
probability of default. Every difference is `AUC(b) - AUC(a)`: positive when `b`, the
challenger, ranks better than `a`, the champion.

Intervals and tests on fold figures use the corrected resampled t of Nadeau & Bengio
(2003), in the repeated k-fold form of Bouckaert & Frank (2004). The k = folds x repeats
fold figures overlap in their training rows, so they are positively correlated and the
naive variance of their mean, s^2 / k, is far too small; the correction uses
`(1/k + n_test/n_train) * s^2` and a t distribution with k - 1 degrees of freedom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold

from credit_assets.core.modeling.metrics import _as_arrays, auc, brier_score, ks_statistic

DECIMALS = 6
"""Figures in `to_dict()` are rounded to 6 decimals; p-values keep 4 significant digits."""

Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Fits on the rows `train_idx` and returns the PD of the rows `test_idx`, in that order."""


@dataclass(frozen=True)
class CVConfig:
    folds: int = 5
    repeats: int = 3
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.folds < 2 or self.repeats < 1:
            raise ValueError(
                f"need folds >= 2 and repeats >= 1, got {self.folds} and {self.repeats}"
            )
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")


class Split(NamedTuple):
    repeat: int
    fold: int
    train_idx: np.ndarray
    test_idx: np.ndarray


@dataclass(frozen=True)
class CVPlan:
    """The splits every model is scored on; `folds` may be fewer than requested (see `note`)."""

    folds: int
    repeats: int
    seed: int
    confidence: float
    n_rows: int
    n_bad: int
    splits: list[Split] = field(repr=False)
    note: str = ""
    scheme: str = "repeated_stratified"
    """`repeated_stratified` (k-fold, shuffled) or `time_ordered` (expanding window: each fold
    trains on every earlier block of dated rows and is tested on the next)."""
    tested_bad: int = 0
    """Bads in the tested blocks of a `time_ordered` plan."""

    @property
    def test_train_ratio(self) -> float:
        """n_test / n_train of the Nadeau-Bengio correction, averaged over the splits."""
        n_test = np.mean([s.test_idx.size for s in self.splits])
        n_train = np.mean([s.train_idx.size for s in self.splits])
        return float(n_test / n_train)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "repeats": self.repeats,
            "seed": self.seed,
            "confidence": self.confidence,
            "n_rows": self.n_rows,
            "n_bad": self.n_bad,
            "n_splits": len(self.splits),
            "note": self.note,
            "scheme": self.scheme,
            "n_test_bad": self.n_test_bad,
        }

    @property
    def n_test_bad(self) -> int:
        """Bads in the test folds of one repeat: every bad once for k-fold; those after the
        first block for an expanding window (its first block is never tested)."""
        if self.scheme == "repeated_stratified":
            return self.n_bad
        return self.tested_bad

    def describe(self) -> str:
        """How the figures were made, with the counts behind them."""
        if self.scheme == "time_ordered":
            return (
                f"time-ordered cross-validation ({self.folds} expanding-window folds over "
                f"{self.n_rows:,} dated rows, {self.n_test_bad:,} bads in the tested blocks)"
            )
        return (
            f"{self.folds}-fold x {self.repeats} repeated stratified cross-validation "
            f"({self.n_rows:,} rows, {self.n_bad:,} bads)"
        )


def cv_splits(y: npt.ArrayLike, config: CVConfig | None = None) -> CVPlan:
    """Repeated stratified k-fold splits of `y`, deterministic for a given seed.

    Every test fold must hold a bad and a good for AUC and KS to exist, so when the
    minority class has fewer rows than `config.folds` the plan uses one fold per
    minority row and says so in `note`.
    """
    config = config or CVConfig()
    labels = _labels(y)
    n_bad = int(labels.sum())
    n_good = labels.size - n_bad
    minority = min(n_bad, n_good)
    if minority < 2:
        raise ValueError(
            f"cross-validation needs at least 2 bads and 2 goods; got {n_bad} bad and {n_good} good"
        )
    folds, note = config.folds, ""
    if minority < config.folds:
        folds = minority
        minority_name = "bad" if n_bad <= n_good else "good"
        note = (
            f"{config.folds} folds requested but only {minority} {minority_name} rows exist; "
            f"used {folds} folds so every test fold holds at least one bad and one good."
        )
    splitter = RepeatedStratifiedKFold(
        n_splits=folds, n_repeats=config.repeats, random_state=config.seed
    )
    splits = []
    for i, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(labels.size), labels)):
        # Read-only, so a predictor cannot alter the plan the other models share.
        train_idx.setflags(write=False)
        test_idx.setflags(write=False)
        splits.append(Split(i // folds, i % folds, train_idx, test_idx))
    return CVPlan(
        folds=folds,
        repeats=config.repeats,
        seed=config.seed,
        confidence=config.confidence,
        n_rows=int(labels.size),
        n_bad=n_bad,
        splits=splits,
        note=note,
    )


def time_ordered_splits(
    order: npt.ArrayLike, y: npt.ArrayLike, config: CVConfig | None = None
) -> CVPlan:
    """Expanding-window splits of rows ordered by `order` (their application dates): the
    rows are cut into `folds + 1` consecutive blocks of equal size; fold i trains on blocks
    0..i and is tested on block i + 1, so no model is judged on rows older than those it
    learnt from. A `ValueError` when a test block lacks a bad or a good (the caller then
    falls back to `cv_splits` and says so)."""
    config = config or CVConfig()
    labels = _labels(y)
    ranks = np.argsort(np.asarray(order), kind="stable")
    blocks = np.array_split(ranks, config.folds + 1)
    splits = []
    for i in range(config.folds):
        train_idx = np.sort(np.concatenate(blocks[: i + 1]))
        test_idx = np.sort(blocks[i + 1])
        bads = int(labels[test_idx].sum())
        if bads == 0 or bads == test_idx.size:
            raise ValueError(
                f"time-ordered block {i + 2} of {config.folds + 1} holds "
                f"{'no bad' if bads == 0 else 'no good'} ({test_idx.size} rows)"
            )
        train_idx.setflags(write=False)
        test_idx.setflags(write=False)
        splits.append(Split(0, i, train_idx, test_idx))
    return CVPlan(
        folds=config.folds,
        repeats=1,
        seed=config.seed,
        confidence=config.confidence,
        n_rows=int(labels.size),
        n_bad=int(labels.sum()),
        splits=splits,
        scheme="time_ordered",
        tested_bad=int(sum(labels[s.test_idx].sum() for s in splits)),
    )


@dataclass(frozen=True)
class FoldScore:
    repeat: int
    fold: int
    n_test: int
    auc: float
    gini: float
    ks: float
    brier: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "repeat": self.repeat,
            "fold": self.fold,
            "n_test": self.n_test,
            "auc": _round(self.auc),
            "gini": _round(self.gini),
            "ks": _round(self.ks),
            "brier": _round(self.brier),
        }


@dataclass(frozen=True)
class ModelCV:
    """One model over all folds: spread of each figure, corrected-t interval on AUC.

    `auc_low`, `auc_high` bound the mean fold AUC at `confidence` with the Nadeau-Bengio
    corrected resampled t (module docstring). `oof_auc[r]` is the AUC of repeat r's
    out-of-fold PDs `oof_pd[r]`, one per row of `y`: each row scored by the model that
    did not see it (NaN for a row no fold tested: the first block of time-ordered splits,
    left out of `oof_auc` and of the paired DeLong test).
    """

    name: str
    scores: list[FoldScore]
    auc_mean: float
    auc_sd: float
    auc_low: float
    auc_high: float
    confidence: float
    gini_mean: float
    gini_sd: float
    ks_mean: float
    ks_sd: float
    brier_mean: float
    brier_sd: float
    oof_auc: list[float]
    oof_pd: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **{figure: _round(getattr(self, figure)) for figure in _SUMMARY_FIGURES},
            "confidence": self.confidence,
            "oof_auc": [_round(a) for a in self.oof_auc],
            "folds": [s.to_dict() for s in self.scores],
        }


_SUMMARY_FIGURES = (
    "auc_mean",
    "auc_sd",
    "auc_low",
    "auc_high",
    "gini_mean",
    "gini_sd",
    "ks_mean",
    "ks_sd",
    "brier_mean",
    "brier_sd",
)
_TABLE_COLUMNS = ("auc_mean", "auc_sd", "auc_low", "auc_high", "gini_mean", "ks_mean", "brier_mean")


@dataclass(frozen=True)
class CVReport:
    plan: CVPlan
    models: dict[str, ModelCV]

    def table(self) -> list[dict[str, Any]]:
        """One row per model, for a markdown table in the model card or Dagster metadata."""
        return [
            {"model": name, **{c: _round(getattr(m, c)) for c in _TABLE_COLUMNS}}
            for name, m in self.models.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "models": {name: m.to_dict() for name, m in self.models.items()},
        }


def cross_validate(predictors: Mapping[str, Predictor], y: npt.ArrayLike, plan: CVPlan) -> CVReport:
    """Score every model on the same splits of `plan`, keeping out-of-fold PDs per repeat."""
    if not predictors:
        raise ValueError("no predictors to cross-validate")
    labels = _labels(y)
    if labels.size != plan.n_rows:
        raise ValueError(f"y has {labels.size} rows but the plan was made for {plan.n_rows}")
    scores: dict[str, list[FoldScore]] = {name: [] for name in predictors}
    oof = {name: np.full((plan.repeats, plan.n_rows), np.nan) for name in predictors}
    for split in plan.splits:
        y_test = labels[split.test_idx]
        for name, predict in predictors.items():
            pd = np.asarray(predict(split.train_idx, split.test_idx), dtype=np.float64).ravel()
            if pd.size != split.test_idx.size:
                raise ValueError(
                    f"{name} returned {pd.size} PDs for {split.test_idx.size} test rows"
                )
            fold_auc = auc(y_test, pd)
            scores[name].append(
                FoldScore(
                    repeat=split.repeat,
                    fold=split.fold,
                    n_test=int(split.test_idx.size),
                    auc=fold_auc,
                    gini=2.0 * fold_auc - 1.0,
                    ks=ks_statistic(y_test, pd),
                    brier=brier_score(y_test, pd),
                )
            )
            oof[name][split.repeat, split.test_idx] = pd
    models = {name: _summarise(name, scores[name], oof[name], labels, plan) for name in predictors}
    return CVReport(plan=plan, models=models)


def _summarise(
    name: str, scores: list[FoldScore], oof_pd: np.ndarray, labels: np.ndarray, plan: CVPlan
) -> ModelCV:
    def column(metric: str) -> np.ndarray:
        return np.array([getattr(s, metric) for s in scores])

    auc_test = _corrected_t(column("auc"), plan.test_train_ratio, plan.confidence)
    oof_pd.setflags(write=False)
    return ModelCV(
        name=name,
        scores=scores,
        auc_mean=auc_test.mean,
        auc_sd=auc_test.sd,
        auc_low=auc_test.low,
        auc_high=auc_test.high,
        confidence=plan.confidence,
        gini_mean=float(column("gini").mean()),
        gini_sd=float(column("gini").std(ddof=1)),
        ks_mean=float(column("ks").mean()),
        ks_sd=float(column("ks").std(ddof=1)),
        brier_mean=float(column("brier").mean()),
        brier_sd=float(column("brier").std(ddof=1)),
        oof_auc=[auc(*_scored(labels, repeat_pd)) for repeat_pd in oof_pd],
        oof_pd=oof_pd,
    )


class _TTest(NamedTuple):
    mean: float
    sd: float
    low: float
    high: float
    p_value: float


def _corrected_t(values: np.ndarray, test_train_ratio: float, confidence: float) -> _TTest:
    """Nadeau-Bengio corrected resampled t on k fold figures: interval, and test of mean 0.

    With no spread the interval collapses to the mean and p is 1 for a zero mean, 0 otherwise
    (the limit of t = mean / se as se goes to 0), so a model compared with itself gives p = 1, not NaN.
    """
    k = values.size
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    se = sd * float(np.sqrt(1.0 / k + test_train_ratio))
    if se == 0.0:
        return _TTest(mean, sd, mean, mean, 1.0 if mean == 0.0 else 0.0)
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, df=k - 1)) * se
    p_value = float(2.0 * stats.t.sf(abs(mean) / se, df=k - 1))
    return _TTest(mean, sd, mean - half_width, mean + half_width, p_value)


@dataclass(frozen=True)
class DeLongResult:
    """Two correlated ROC AUCs on the same rows; `difference = auc_b - auc_a`."""

    auc_a: float
    auc_b: float
    difference: float
    standard_error: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc_a": _round(self.auc_a),
            "auc_b": _round(self.auc_b),
            "difference": _round(self.difference),
            "standard_error": _round(self.standard_error),
            "p_value": _round_p(self.p_value),
        }


def delong_test(y: npt.ArrayLike, pd_a: npt.ArrayLike, pd_b: npt.ArrayLike) -> DeLongResult:
    """DeLong's two-sided test that two PDs scored on the same rows have equal AUC.

    The fast algorithm of Sun & Xu (2014): each AUC and its structural components come
    from midranks (ties count one half, as in `roc_auc_score`); the covariance of the two
    AUCs is `S10 / n_bad + S01 / n_good`, and z = difference / its standard error is
    compared with a normal distribution. With zero variance p is 1 for a zero difference.
    """
    labels, a = _as_arrays(y, pd_a)
    _, b = _as_arrays(labels, pd_b)
    bad = labels == 1.0
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad == 0 or n_good == 0:
        raise ValueError(f"DeLong needs bads and goods; got {n_bad} bad and {n_good} good")
    aucs, v10, v01 = zip(*(_structural_components(bad, p) for p in (a, b)), strict=True)
    covariance = np.cov(np.vstack(v10)) / n_bad + np.cov(np.vstack(v01)) / n_good
    variance = covariance[0, 0] + covariance[1, 1] - 2.0 * covariance[0, 1]
    difference = aucs[1] - aucs[0]
    se = float(np.sqrt(max(variance, 0.0)))
    if difference == 0.0:
        p_value = 1.0
    elif se == 0.0:
        p_value = 0.0
    else:
        p_value = float(2.0 * stats.norm.sf(abs(difference) / se))
    return DeLongResult(aucs[0], aucs[1], difference, se, p_value)


def auc_standard_error(y: npt.ArrayLike, pd: npt.ArrayLike) -> tuple[float, float]:
    """(AUC, its DeLong standard error) of one PD on its own rows: for comparing AUCs of
    independent samples (the arms of an experiment), whose errors add."""
    labels, scores = _as_arrays(y, pd)
    bad = labels == 1.0
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    if n_bad < 2 or n_good < 2:
        raise ValueError(f"an AUC's error needs 2 bads and 2 goods; got {n_bad} and {n_good}")
    value, v10, v01 = _structural_components(bad, scores)
    variance = float(np.var(v10, ddof=1)) / n_bad + float(np.var(v01, ddof=1)) / n_good
    return value, float(np.sqrt(max(variance, 0.0)))


def _structural_components(bad: np.ndarray, pd: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's V10 (one per bad) and V01 (one per good), from midranks."""
    n_bad, n_good = int(bad.sum()), int((~bad).sum())
    rank_all = stats.rankdata(pd)
    rank_bad = stats.rankdata(pd[bad])
    rank_good = stats.rankdata(pd[~bad])
    # Goods ranked below each bad, and bads ranked above each good (ties count one half).
    v10 = (rank_all[bad] - rank_bad) / n_good
    v01 = 1.0 - (rank_all[~bad] - rank_good) / n_bad
    return float(v10.mean()), v10, v01


@dataclass(frozen=True)
class PairedComparison:
    """Model `b` against model `a` on the same folds; `difference = AUC(b) - AUC(a)`.

    The fold differences are tested with the Nadeau-Bengio corrected resampled t (module
    docstring): the primary evidence, since it accounts for refitting on different rows.
    DeLong is run on each repeat's out-of-fold PDs; `delong_p_median` summarises the
    repeats and is not itself a p-value of any one test. `delong` is the first repeat.
    """

    model_a: str
    model_b: str
    differences: list[float]
    mean_difference: float
    sd_difference: float
    low: float
    high: float
    confidence: float
    p_value: float
    delong_p_values: list[float]
    delong_p_median: float
    delong: DeLongResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "difference": "AUC(b) - AUC(a)",
            "mean_difference": _round(self.mean_difference),
            "sd_difference": _round(self.sd_difference),
            "low": _round(self.low),
            "high": _round(self.high),
            "confidence": self.confidence,
            "p_value": _round_p(self.p_value),
            "fold_differences": [_round(d) for d in self.differences],
            "delong_p_values": [_round_p(p) for p in self.delong_p_values],
            "delong_p_median": _round_p(self.delong_p_median),
            "delong_first_repeat": self.delong.to_dict(),
        }


def paired_comparison(report: CVReport, y: npt.ArrayLike, a: str, b: str) -> PairedComparison:
    """Whether model `b` ranks bads above goods better than model `a`, with its uncertainty."""
    missing = [name for name in (a, b) if name not in report.models]
    if missing:
        raise KeyError(f"no cross-validation results for {missing}; have {list(report.models)}")
    labels = _labels(y)
    if labels.size != report.plan.n_rows:
        raise ValueError(f"y has {labels.size} rows but the report covers {report.plan.n_rows}")
    model_a, model_b = report.models[a], report.models[b]
    differences = np.array(
        [sb.auc - sa.auc for sa, sb in zip(model_a.scores, model_b.scores, strict=True)]
    )
    test = _corrected_t(differences, report.plan.test_train_ratio, report.plan.confidence)
    delong = [
        delong_test(*_scored(labels, pd_a, pd_b))
        for pd_a, pd_b in zip(model_a.oof_pd, model_b.oof_pd, strict=True)
    ]
    p_values = [d.p_value for d in delong]
    return PairedComparison(
        model_a=a,
        model_b=b,
        differences=differences.tolist(),
        mean_difference=test.mean,
        sd_difference=test.sd,
        low=test.low,
        high=test.high,
        confidence=report.plan.confidence,
        p_value=test.p_value,
        delong_p_values=p_values,
        delong_p_median=float(np.median(p_values)),
        delong=delong[0],
    )


def bootstrap_auc_interval(
    y: npt.ArrayLike,
    pd: npt.ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval on AUC, for an out-of-time holdout scored once.

    Rows are resampled with replacement; a resample holding one class has no AUC and is
    skipped, so the interval rests on slightly fewer than `n_boot` resamples.
    """
    labels, p = _as_arrays(y, pd)
    bad = labels == 1.0
    if bad.all() or not bad.any():
        raise ValueError("a bootstrap interval on AUC needs bads and goods")
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        rows = rng.integers(0, labels.size, labels.size)
        if bad[rows].all() or not bad[rows].any():
            continue
        aucs.append(_structural_components(bad[rows], p[rows])[0])
    if not aucs:
        raise ValueError("every bootstrap resample held a single class")
    low, high = np.quantile(aucs, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(low), float(high)


def _scored(labels: np.ndarray, *pds: np.ndarray) -> tuple[np.ndarray, ...]:
    """The labels and out-of-fold PDs of the rows some fold tested. Time-ordered splits never
    test the first block (it only ever trains), so its PDs stay NaN and are left out."""
    tested = np.logical_and.reduce([np.isfinite(pd) for pd in pds])
    return (labels[tested], *(pd[tested] for pd in pds))


def _labels(y: npt.ArrayLike) -> np.ndarray:
    labels = np.asarray(y, dtype=np.float64).ravel()
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("y must be 0 (good) or 1 (bad)")
    return labels.astype(np.int64)


def _round(value: float) -> float:
    return round(float(value), DECIMALS)


def _round_p(p_value: float) -> float:
    # Significant digits, not decimals: a p of 3e-9 is evidence, rounding it to 0 is not.
    return float(f"{p_value:.4g}")
