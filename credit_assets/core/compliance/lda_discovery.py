"""A search for less discriminatory alternatives (LDA) that discovers one or refutes it.

After Gillis, Meursault & Ustun, "Operationalizing the Search for Less Discriminatory
Alternatives in Fair Lending" (FAccT 2024): a search either returns a model that reduces the
disparity without a meaningful loss of performance (a discovery), or certifies that none exists
within a stated model class and budget (a refutation). Many models fit a file about equally well
(model multiplicity: Black, Raghavan & Barocas, FAccT 2022), and they can differ in whom they
approve, so the search fits many of them and compares like with like.

Candidates (`CandidateConfig`, each a named, seeded configuration that `refit` reproduces
exactly), from generators taken in turn so that a small budget still tries every kind:

- `hyperparameters`: CatBoost through the platform's `train_challenger`, over seeds, depths,
  learning rates, L2 regularisation and iterations (seeded shuffle of the grid); the other
  CatBoost generators keep the base configuration's, so only what they name changes;
- `drop_proxies`: without one, then two, of the features that alone best predict a protected
  attribute (`proxy_screen` on the train split);
- `coarsen_proxy`: a numeric proxy quantile-binned into k buckets by CatBoost itself
  (`per_float_feature_quantization`, border type Median), so the `.cbm` serves raw values;
- `monotone_proxy`: a proxy without a declared direction constrained in the direction of its
  correlation with default on the train rows;
- `reweighting`: CatBoost with train-row weights that give each protected group x label cell the
  same total weight (or, `group_label_independence`, Kamiran & Calders' P(g)P(y)/P(g, y)):
  the protected attribute is used in training only, never as an input;
- `reduction`: fairlearn's `ExponentiatedGradient` (Agarwal et al. 2018) with
  `DemographicParity` or `TruePositiveRateParity` on approvals, over an L2 logistic regression
  on the same features, cost-sensitive so that its classifiers decide near the operating point.
  Its result is a randomized mixture of classifiers: fairlearn 0.15 gives no `predict_proba`,
  `predict` draws at random, and `_pmf_predict` (private) gives each applicant's probability of
  approval. The candidate ranks by that probability (rounded to 1e-6), ties ordered by the
  weighted mean PD of the mixture's regressions. The platform serves one deterministic
  CatBoost or scorecard artifact, not a mixture, so these are `servable: False`;
- `scorecard`: the WoE scorecard (`train_scorecard`) on all features and without the proxies,
  when the scorecard family is searched.

Evaluation, on the challenger's own evaluation rows: every candidate approves the same share of
applicants as the challenger's operating point (equal approval rate, the lowest risks first;
ties broken by one seeded order of applicants, the same for every candidate, so each approves
exactly as many). Per candidate: AUC with its DeLong 95 % interval; the paired DeLong difference
from the challenger; the fairness verdict and worst adverse impact ratio from
`fairness_report` under the gate's policy; a percentile bootstrap interval of the worst AIR
(applicants resampled, decisions held, the same resamples for every candidate, so the gain over
the challenger has a paired interval too); and the worst AIR across approval rates.

"Comparable" is the quality gate's rule with the LDA tolerance: an AUC loss of at most
`auc_tolerance`, or a larger loss that DeLong's one-sided test cannot tell from noise
(p >= alpha).

Parallel fits (`SearchBudget.workers`): candidates are taken from the stream in batches of
`workers`, the budget checked before each batch (never more than `max_candidates` fits started;
no batch started once `max_seconds` have elapsed). With more than one worker a batch is fitted
by `joblib.Parallel` on the loky backend, one candidate per worker process, each CatBoost fit
with the space's `threads`; with one, in this process. Every fit returns its PD on the
evaluation rows (or its error); the evaluation runs here, in stream order, so the candidates
and their figures are the same whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import joblib
import numpy as np
import polars as pl
from scipy import stats

from credit_assets.core.compliance.fairness import (
    DEFAULT_APPROVAL_RATES,
    cutoff_for_approval_rate,
    fairness_report,
)
from credit_assets.core.compliance.groups import (
    MISSING_GROUP,
    PROTECTED_PREFIX,
    protected_column,
)
from credit_assets.core.compliance.lda_candidates import (
    CHALLENGER,
    STOP_CANDIDATES,
    STOP_EXHAUSTED,
    STOP_SECONDS,
    Z95,
    CandidateConfig,
    Kind,
    SearchBudget,
    SearchInputs,
    SearchSpace,
    attribute_groups,
    candidate_stream,
    refit,
)
from credit_assets.core.compliance.lda_statement import method_text, search_statement
from credit_assets.core.compliance.proxies import proxy_screen, strongest_proxies
from credit_assets.core.compliance.proxy_fairness import (
    PROXY_ATTRIBUTE,
    has_proxies,
    most_likely_labels,
)
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.candidates import champion_comparison
from credit_assets.core.modeling.cross_validation import auc_standard_error
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.train import (
    LABEL_COLUMN,
    SPLIT_COLUMN,
    TrainConfig,
    labels_of,
)
from credit_assets.core.promotion import LDA_AUC_TOLERANCE, QUALITY_ALPHA, FairnessPolicy
from credit_assets.core.reports.render import jsonable, markdown_table
from credit_assets.core.reports.text import md_escape

# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _Attribute:
    name: str
    onehot: np.ndarray  # rows x groups
    groups: list[str]
    deciding: np.ndarray  # may hold a model back (size and missing rules; not the reference)
    eligible: np.ndarray  # may be the reference group


@dataclass(frozen=True)
class _EvaluationRows:
    """The rows every candidate is judged on, and what is fixed across candidates."""

    frame: pl.DataFrame
    y: np.ndarray
    protected: list[str]
    attributes: list[_Attribute]
    tie_order: np.ndarray
    resamples: np.ndarray  # n_bootstrap x rows: how often each applicant is drawn
    approval_rate: float
    approval_rates: tuple[float, ...]
    policy: FairnessPolicy
    auc_tolerance: float
    alpha: float


def _coded_attribute(frame: pl.DataFrame, name: str, policy: FairnessPolicy) -> _Attribute:
    labels = attribute_groups(frame, name)
    groups = sorted(set(labels.tolist()))
    codes = np.searchsorted(np.array(groups), labels)
    onehot = np.eye(len(groups))[codes]
    n = onehot.sum(axis=0)
    known = np.array([g != MISSING_GROUP for g in groups])
    large = n >= policy.min_group_size
    eligible = known & large if (known & large).any() else known
    deciding = (known | policy.missing_group_decides) & (large | policy.small_groups_decide)
    return _Attribute(name, onehot, groups, deciding, eligible)


def _worst_air(weights: np.ndarray, approved: np.ndarray, rows: _EvaluationRows) -> np.ndarray:
    """Worst AIR per row of `weights` (applicant multiplicities): the gate's worst deciding
    group against the most favoured eligible group, over every attribute; NaN when none."""
    worst = np.full(weights.shape[0], np.inf)
    for a in rows.attributes:
        size = weights @ a.onehot
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = (weights @ (a.onehot * approved[:, None])) / size
            ranked = np.where(a.eligible[None, :] & np.isfinite(rates), rates, -np.inf)
            reference = ranked.argmax(axis=1)
            reference_rate = ranked[np.arange(ranked.shape[0]), reference]
            air = rates / reference_rate[:, None]
        air[:, ~a.deciding] = np.inf
        air[np.arange(air.shape[0]), reference] = np.inf
        air[~(reference_rate > 0)] = np.inf  # nobody approved in the reference: not judged
        air[~np.isfinite(air)] = np.inf
        worst = np.minimum(worst, air.min(axis=1))
    worst[np.isinf(worst)] = np.nan
    return worst


def _approval_scores(risk: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """Unique integer scores, higher for lower risk; ties in risk by the fixed applicant order."""
    order = np.lexsort((tie_order, risk))  # lowest risk first
    scores = np.empty(risk.size, dtype=np.int64)
    scores[order] = np.arange(risk.size, 0, -1)
    return scores


def _decisions(risk: np.ndarray, rows: _EvaluationRows) -> tuple[np.ndarray, float]:
    """Approval scores and the cut-off that approves the operating point's share of the rows."""
    scores = _approval_scores(risk, rows.tie_order)
    return scores, cutoff_for_approval_rate(scores, rows.approval_rate)


def _figure(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    finite = draws[np.isfinite(draws)]
    if finite.size < max(10, draws.size // 2):
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


_FIGURES = (
    "auc",
    "auc_low",
    "auc_high",
    "auc_difference",
    "difference_low",
    "difference_high",
    "p_value",
    "p_worse",
    "comparable",
    "approval_rate",
    "worst_air",
    "worst_air_low",
    "worst_air_high",
    "worst_group",
    "air_gain_low",
    "air_gain_high",
    "passes_fairness_policy",
    "failing_groups",
    "air_by_approval_rate",
)
"""A candidate's figures, in the order its row lists them (None where not defined)."""


def _evaluate(
    risk: np.ndarray,
    rows: _EvaluationRows,
    challenger: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[dict[str, Any], np.ndarray]:
    """A candidate's figures on the evaluation rows, and its bootstrap draws of the worst AIR.

    `challenger`: its risk and its worst-AIR draws (None when evaluating the challenger)."""
    scores, cutoff = _decisions(risk, rows)
    approved = (scores >= cutoff).astype(np.float64)
    draws = _worst_air(rows.resamples, approved, rows)
    row: dict[str, Any] = dict.fromkeys(_FIGURES)
    row["comparable"] = challenger is None
    row.update(_fairness_figures(risk, scores, cutoff, approved, draws, rows))
    row.update(_auc_figures(rows.y, risk))
    if challenger is not None and row["auc"] is not None:
        challenger_risk, challenger_draws = challenger
        row.update(_paired_figures(rows, challenger_risk, risk))
        row["air_gain_low"], row["air_gain_high"] = _interval(draws - challenger_draws)
    return row, draws


def _fairness_figures(
    risk: np.ndarray,
    scores: np.ndarray,
    cutoff: float,
    approved: np.ndarray,
    draws: np.ndarray,
    rows: _EvaluationRows,
) -> dict[str, Any]:
    """The fairness report's verdict at the operating point under the gate's policy, the
    worst AIR's bootstrap interval, and the worst AIR at each approval rate."""
    report = fairness_report(
        rows.frame.with_columns(pl.Series("score", scores), pl.Series("pd", risk)),
        protected=rows.protected,
        cutoff=cutoff,
        policy=rows.policy,
        n_bootstrap=0,
        approval_rates=rows.approval_rates,
    )
    summary = report.summary
    air_low, air_high = _interval(draws)
    curve: dict[float, float] = {}
    for point in report.approval_curve:
        if point["decides"]:
            rate = point["approval_rate"]
            curve[rate] = min(curve.get(rate, math.inf), point["air"])
    return {
        "approval_rate": float(approved.mean()),
        "worst_air": _figure(summary["worst_adverse_impact_ratio"]),
        "worst_air_low": air_low,
        "worst_air_high": air_high,
        "worst_group": (
            f"{summary['attribute']}={summary['worst_group']}" if summary["worst_group"] else None
        ),
        "passes_fairness_policy": bool(summary["passed"]),
        "failing_groups": summary["failing_groups"],
        "air_by_approval_rate": [
            {"approval_rate": rate, "worst_air": _figure(air)} for rate, air in curve.items()
        ],
    }


def _auc_figures(y: np.ndarray, risk: np.ndarray) -> dict[str, Any]:
    """AUC with its DeLong 95 % interval; nothing with fewer than two bads or goods (no AUC,
    never 0.0)."""
    try:
        auc_value, se = auc_standard_error(y, risk)
    except ValueError:
        return {}
    return {
        "auc": auc_value,
        "auc_low": max(0.0, auc_value - Z95 * se),
        "auc_high": min(1.0, auc_value + Z95 * se),
    }


def _paired_figures(
    rows: _EvaluationRows, challenger_risk: np.ndarray, risk: np.ndarray
) -> dict[str, Any]:
    """The AUC difference from the challenger by DeLong's paired test, and whether the
    candidate is comparable."""
    paired = champion_comparison(rows.y, challenger_risk, risk)
    loss = -float(paired["difference"])
    p_worse = _figure(paired["p_worse"])
    # The quality gate's rule: a loss beyond the tolerance counts unless it is noise; an
    # undefined test never excuses one.
    return {
        "auc_difference": float(paired["difference"]),
        "difference_low": _figure(paired["low"]),
        "difference_high": _figure(paired["high"]),
        "p_value": _figure(paired["p_value"]),
        "p_worse": p_worse,
        "comparable": bool(
            loss <= rows.auc_tolerance or (p_worse is not None and p_worse >= rows.alpha)
        ),
    }


def pareto_frontier(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the rows no other row beats on both AUC and worst AIR (higher is better)."""
    points = [r for r in rows if r.get("auc") is not None and r.get("worst_air") is not None]

    def dominated(r: dict[str, Any]) -> bool:
        return any(
            o["auc"] >= r["auc"]
            and o["worst_air"] >= r["worst_air"]
            and (o["auc"] > r["auc"] or o["worst_air"] > r["worst_air"])
            for o in points
        )

    return [r["name"] for r in sorted(points, key=lambda r: -r["auc"]) if not dominated(r)]


# ---------------------------------------------------------------- result


@dataclass
class SearchResult:
    """What the search found, how, and within which budget (JSON via `to_dict`)."""

    kind: Kind
    statement: str
    candidates: list[dict[str, Any]]
    """The challenger first, then every candidate tried, in order, with its `config`."""
    frontier: list[str]
    budget: dict[str, Any]
    method: str
    finding: str | None = None  # "passes_fairness_policy" or "improves_worst_air"
    alternative: str | None = None
    least_discriminatory_comparable: str | None = None
    approval_rate: float | None = None
    auc_tolerance: float = LDA_AUC_TOLERANCE
    alpha: float = QUALITY_ALPHA
    policy: dict[str, Any] = field(default_factory=dict)
    families: list[str] = field(default_factory=list)
    generators: list[str] = field(default_factory=list)
    proxies: list[dict[str, Any]] = field(default_factory=list)

    def candidate(self, name: str) -> dict[str, Any]:
        return next(r for r in self.candidates if r["name"] == name)

    def config(self, name: str) -> CandidateConfig:
        """The configuration `refit` needs to reproduce candidate `name`."""
        data = self.candidate(name)["config"]
        if data is None:
            raise ValueError(f"{name!r} has no configuration (the challenger is not refitted)")
        return CandidateConfig.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_markdown(self) -> str:
        columns = [
            "name",
            "generator",
            "auc",
            "auc_difference",
            "comparable",
            "worst_air",
            "worst_air_low",
            "worst_air_high",
            "passes_fairness_policy",
            "uses_protected_attribute_in_training",
            "servable",
            "error",
        ]
        frontier = set(self.frontier)
        rows = [
            {**r, "name": r["name"] + (" *" if r["name"] in frontier else "")}
            for r in self.candidates
        ]
        return "\n\n".join(
            [
                f"**{md_escape(self.statement)}**",
                markdown_table(rows, columns),
                md_escape("* on the AUC / worst-AIR frontier."),
                md_escape(self.method),
            ]
        )


# ---------------------------------------------------------------- the search


def _evaluation_rows(
    frame: pl.DataFrame,
    y: np.ndarray,
    protected: list[str],
    attributes: list[str],
    terms: _SearchTerms,
    approval_rates: tuple[float, ...],
    n_bootstrap: int,
    seed: int,
) -> _EvaluationRows:
    rng = np.random.default_rng(seed)
    n = frame.height
    return _EvaluationRows(
        frame=frame,
        y=y,
        protected=list(protected),
        attributes=[_coded_attribute(frame, a, terms.policy) for a in attributes],
        tie_order=rng.permutation(n),
        resamples=rng.multinomial(n, np.full(n, 1.0 / n), n_bootstrap).astype(np.float64),
        approval_rate=float(terms.approval_rate),
        approval_rates=approval_rates,
        policy=terms.policy,
        auc_tolerance=terms.auc_tolerance,
        alpha=terms.alpha,
    )


def _with_proxy_groups(frame: pl.DataFrame, attributes: list[str]) -> pl.DataFrame:
    """`frame` with the BISG most likely group as `protected_race_ethnicity`, for the screen."""
    if PROXY_ATTRIBUTE not in attributes or not has_proxies(frame):
        return frame
    return frame.with_columns(most_likely_labels(frame).alias(protected_column(PROXY_ATTRIBUTE)))


def _worst_first(challenger_pd: np.ndarray, rows: _EvaluationRows) -> list[str]:
    """The attributes, the one the challenger treats worst first: training-time fairness
    (reweighting, reductions) aims at it first."""
    scores, cutoff = _decisions(challenger_pd, rows)
    approved = (scores >= cutoff).astype(np.float64)
    ones = np.ones((1, approved.size))
    worst = {
        a.name: float(_worst_air(ones, approved, replace(rows, attributes=[a]))[0])
        for a in rows.attributes
    }
    return sorted(worst, key=lambda name: np.nan_to_num(worst[name], nan=1.0))


def _directions(train: pl.DataFrame, names: list[str]) -> dict[str, str]:
    """Direction of risk in each numeric feature on the train rows (Spearman's sign)."""
    y = train.get_column(LABEL_COLUMN).cast(pl.Float64).to_numpy()
    directions = {}
    for name in names:
        x = train.get_column(name).cast(pl.Float64).fill_null(float("nan")).to_numpy()
        known = np.isfinite(x)
        if known.sum() < 3 or np.unique(x[known]).size < 2:
            continue
        rho = stats.spearmanr(x[known], y[known]).statistic
        if np.isfinite(rho) and rho != 0:
            directions[name] = "increasing" if rho > 0 else "decreasing"
    return directions


def _row(config: CandidateConfig | None, name: str, family: str) -> dict[str, Any]:
    if config is None:
        return {
            "name": name,
            "family": family,
            "generator": CHALLENGER,
            "description": "the challenger as trained",
            "uses_protected_attribute_in_training": False,
            "servable": True,
            "not_servable_because": "",
            "dropped": [],
            "config": None,
        }
    return {
        "name": config.name,
        "family": config.family,
        "generator": config.generator,
        "description": config.description,
        "uses_protected_attribute_in_training": config.uses_protected_attribute_in_training,
        "servable": config.servable,
        "not_servable_because": config.not_servable_because,
        "dropped": list(config.dropped),
        "config": config.to_dict(),
    }


@dataclass(frozen=True)
class _FitData:
    """What every candidate's fit reads (pickled to each worker process)."""

    training_set: pl.DataFrame
    features: list[FeatureSpec]
    scale: ScoreScale | None
    rows_frame: pl.DataFrame  # the evaluation rows, predicted by each candidate


@dataclass(frozen=True)
class _Fit:
    """A candidate's PD on the evaluation rows, or why it could not be fitted."""

    risk: np.ndarray | None
    error: str | None
    seconds: float  # its fit and prediction, timed where it ran


def _fit_candidate(config: CandidateConfig, data: _FitData) -> _Fit:
    """Refit `config` and predict the evaluation rows (module level, so loky can pickle it)."""
    started = time.perf_counter()
    try:
        model = refit(config, data.training_set, data.features, data.scale)
        risk = np.asarray(model.predict_pd(data.rows_frame, thread_count=config.threads))
    except Exception as exc:  # one candidate that cannot be fitted is a result, not a crash
        return _Fit(None, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    return _Fit(risk, None, time.perf_counter() - started)


class _Fitter:
    """Fits a batch in its order: here, or one candidate per worker process. A candidate's
    own error comes back as its result (`_fit_candidate`), so an exception from the pool is
    the pool's (a worker killed, e.g. out of memory): that batch and every later one are then
    fitted in this process, and `fallback` says why, instead of the search failing."""

    def __init__(self, parallel: joblib.Parallel | None) -> None:
        self.parallel = parallel
        self.fallback: str | None = None

    def fit(self, batch: list[CandidateConfig], data: _FitData) -> list[_Fit]:
        if self.parallel is not None:
            try:
                return list(
                    self.parallel(joblib.delayed(_fit_candidate)(config, data) for config in batch)
                )
            except Exception as exc:  # the pool broke, not a candidate: fit here instead
                self.parallel = None
                self.fallback = (
                    f"the worker processes stopped ({type(exc).__name__}: {str(exc)[:160]}); "
                    "the remaining candidates were fitted one at a time in this process"
                )
        return [_fit_candidate(config, data) for config in batch]


def _candidate_row(
    config: CandidateConfig,
    fit: _Fit,
    rows: _EvaluationRows,
    challenger: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """A candidate's row: its configuration and figures, or the error that stopped its fit."""
    row = _row(config, config.name, config.family)
    if fit.risk is None:
        failed = {"auc": None, "worst_air": None, "comparable": False}
        return {**row, "error": fit.error, **failed, "passes_fairness_policy": None}
    figures, _ = _evaluate(fit.risk, rows, challenger)
    return {**row, **figures, "seconds": fit.seconds}


def _try_candidates(
    stream: Iterator[CandidateConfig],
    data: _FitData,
    rows: _EvaluationRows,
    challenger: tuple[np.ndarray, np.ndarray],
    budget: SearchBudget,
    clock: Callable[[], float],
) -> tuple[list[dict[str, Any]], str, float, str | None]:
    """The candidates' rows in stream order, why the search stopped, its seconds, and why
    the fits left the worker processes (None when they did not).

    Batches of `budget.workers`, the budget checked before each; evaluated here, in order."""
    tried: list[dict[str, Any]] = []
    start = clock()
    parallel = (
        joblib.Parallel(n_jobs=budget.workers, backend="loky") if budget.workers > 1 else None
    )
    fitter = _Fitter(parallel)
    with parallel if parallel is not None else contextlib.nullcontext():
        while True:
            room = budget.max_candidates - len(tried)
            batch = list(itertools.islice(stream, min(budget.workers, room) if room > 0 else 1))
            if not batch or room <= 0:
                stop = STOP_CANDIDATES if batch else STOP_EXHAUSTED
                return tried, stop, clock() - start, fitter.fallback
            if clock() - start >= budget.max_seconds:
                return tried, STOP_SECONDS, clock() - start, fitter.fallback
            for config, fit in zip(batch, fitter.fit(batch, data), strict=True):
                tried.append(_candidate_row(config, fit, rows, challenger))


_NO_ATTRIBUTE = "No protected attribute or proxy declared: no search run."
_ONE_CLASS = (
    "Not assessed: the evaluation rows hold one outcome class, so no AUC can be "
    "compared; no search run."
)
_NO_CHALLENGER_AUC = (
    "Not assessed: the challenger has no AUC on the evaluation rows (fewer than two "
    "bads or goods); no search run."
)


@dataclass(frozen=True)
class _Challenger:
    """What every candidate is judged against: the challenger's PD on the evaluation rows,
    its figures there and its bootstrap draws of the worst AIR."""

    family: str
    pd: np.ndarray
    figures: dict[str, Any]
    draws: np.ndarray

    def row(self) -> dict[str, Any]:
        """Its row, the first of the search's candidates."""
        return {**_row(None, CHALLENGER, self.family), **self.figures}


def search_less_discriminatory_alternatives(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    protected: list[str],
    *,
    challenger_pd: np.ndarray,
    approval_rate: float,
    base_config: TrainConfig,
    challenger_family: str = "catboost",
    evaluation_rows: pl.DataFrame | None = None,
    space: SearchSpace | None = None,
    budget: SearchBudget | None = None,
    policy: FairnessPolicy | None = None,
    scale: ScoreScale | None = None,
    auc_tolerance: float = LDA_AUC_TOLERANCE,
    alpha: float = QUALITY_ALPHA,
    approval_rates: tuple[float, ...] = DEFAULT_APPROVAL_RATES,
    n_bootstrap: int = 300,
    seed: int = 42,
    clock: Callable[[], float] = time.monotonic,
) -> SearchResult:
    """Search for a less discriminatory alternative to the challenger; discover or refute.

    `challenger_pd` is the challenger's PD on `evaluation_rows` (default: the `test` split of
    `training_set`), which carry the label and the `protected_<name>` columns; `approval_rate`
    is the share its operating point approves. Candidates are fitted on the train split
    (early-stopped on validation) from `features`, never from a protected column.
    """
    space = space or SearchSpace()
    budget = budget or SearchBudget()
    policy = policy or FairnessPolicy()
    terms = _SearchTerms.of(
        space, budget, policy, challenger_family, approval_rate, auc_tolerance, alpha, n_bootstrap
    )
    rows_frame = _evaluation_frame(training_set, evaluation_rows)
    challenger_pd = _checked_challenger_pd(challenger_pd, rows_frame, features)
    attributes = list(protected) + ([PROXY_ATTRIBUTE] if has_proxies(rows_frame) else [])
    if not attributes:
        return terms.not_assessed(_NO_ATTRIBUTE)
    y = labels_of(rows_frame)
    if y.min() == y.max():
        return terms.not_assessed(_ONE_CLASS)
    rows = _evaluation_rows(
        rows_frame, y, protected, attributes, terms, approval_rates, n_bootstrap, seed
    )
    figures, draws = _evaluate(challenger_pd, rows, None)
    if figures["auc"] is None:
        return terms.not_assessed(_NO_CHALLENGER_AUC)
    challenger = _Challenger(challenger_family, challenger_pd, figures, draws)
    return _search_candidates(
        training_set,
        features,
        attributes,
        challenger,
        rows,
        terms,
        base_config=base_config,
        space=space,
        budget=budget,
        scale=scale,
        clock=clock,
    )


def _search_candidates(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    attributes: list[str],
    challenger: _Challenger,
    rows: _EvaluationRows,
    terms: _SearchTerms,
    *,
    base_config: TrainConfig,
    space: SearchSpace,
    budget: SearchBudget,
    scale: ScoreScale | None,
    clock: Callable[[], float],
) -> SearchResult:
    """Fit the candidates the generators propose, within the budget, and judge each against
    the challenger on the evaluation rows."""
    inputs, screen = _search_inputs(
        training_set,
        features,
        attributes,
        base_config=base_config,
        space=space,
        challenger=challenger,
        rows=rows,
        terms=terms,
    )
    tried, stop_reason, seconds, fallback = _try_candidates(
        candidate_stream(inputs),
        _FitData(training_set, list(features), scale, rows.frame),
        rows,
        (challenger.pd, challenger.draws),
        budget,
        clock,
    )
    return terms.result(
        [challenger.row(), *tried],
        screen,
        stop_reason=stop_reason,
        seconds=seconds,
        fallback=fallback,
    )


@dataclass(frozen=True)
class _SearchTerms:
    """What a search states whatever it finds: the families searched, the budget, the policy,
    the comparability rule and the method text."""

    families: list[str]
    budget_text: str
    used: dict[str, Any]
    """The budget granted (`SearchResult.budget` adds what was used)."""
    policy: FairnessPolicy
    approval_rate: float
    auc_tolerance: float
    alpha: float
    method: str

    @classmethod
    def of(
        cls,
        space: SearchSpace,
        budget: SearchBudget,
        policy: FairnessPolicy,
        challenger_family: str,
        approval_rate: float,
        auc_tolerance: float,
        alpha: float,
        n_bootstrap: int,
    ) -> _SearchTerms:
        families = list(space.families or (challenger_family,))
        if space.protected_in_training:
            families.append("reduction")
        budget_text = budget.describe()
        return cls(
            families=families,
            budget_text=budget_text,
            used={
                "max_candidates": budget.max_candidates,
                "max_seconds": budget.max_seconds,
                "workers": budget.workers,
            },
            policy=policy,
            approval_rate=approval_rate,
            auc_tolerance=auc_tolerance,
            alpha=alpha,
            method=method_text(families, budget_text, auc_tolerance, alpha, policy, n_bootstrap),
        )

    def not_assessed(self, why: str) -> SearchResult:
        """A search that did not run, and why."""
        return SearchResult(
            kind="not_assessed",
            statement=why,
            candidates=[],
            frontier=[],
            budget={**self.used, "candidates": 0, "seconds": 0.0, "stop_reason": None},
            method=self.method,
            approval_rate=self.approval_rate,
            auc_tolerance=self.auc_tolerance,
            alpha=self.alpha,
            policy=asdict(self.policy),
            families=self.families,
        )

    def result(
        self,
        candidates: list[dict[str, Any]],
        screen: list[dict[str, Any]],
        *,
        stop_reason: str,
        seconds: float,
        fallback: str | None = None,
    ) -> SearchResult:
        """The search's result: `candidates` (the challenger first) judged, stated and placed
        on the AUC / worst-AIR frontier, with the budget they used."""
        used = {
            **self.used,
            "candidates": len(candidates) - 1,
            "failed": sum("error" in r for r in candidates),
            "seconds": seconds,
            "stop_reason": stop_reason,
            **({"parallel_fallback": fallback} if fallback else {}),
        }
        tried = [r for r in candidates[1:] if "error" not in r]
        kind, finding, alternative, least, statement = search_statement(
            candidates[0],
            tried,
            families=self.families,
            budget=used,
            budget_text=self.budget_text,
            tolerance=self.auc_tolerance,
            threshold=self.policy.min_adverse_impact_ratio,
        )
        frontier = pareto_frontier(candidates)
        for r in candidates:
            r["on_frontier"] = r["name"] in frontier
        return SearchResult(
            kind=kind,
            statement=statement,
            candidates=jsonable(candidates),
            frontier=frontier,
            budget=jsonable(used),
            method=self.method,
            finding=finding,
            alternative=alternative,
            least_discriminatory_comparable=least,
            approval_rate=float(self.approval_rate),
            auc_tolerance=self.auc_tolerance,
            alpha=self.alpha,
            policy=asdict(self.policy),
            families=self.families,
            generators=sorted({r["generator"] for r in candidates[1:]}),
            proxies=jsonable(screen),
        )


def _evaluation_frame(
    training_set: pl.DataFrame, evaluation_rows: pl.DataFrame | None
) -> pl.DataFrame:
    """The rows every candidate is judged on: those given, else the test split."""
    if evaluation_rows is not None:
        return evaluation_rows
    return training_set.filter(pl.col(SPLIT_COLUMN) == "test")


def _checked_challenger_pd(
    challenger_pd: np.ndarray, rows_frame: pl.DataFrame, features: list[FeatureSpec]
) -> np.ndarray:
    """The challenger's PD as floats, or ValueError if it does not match the evaluation rows
    or a protected column is among the features."""
    challenger_pd = np.asarray(challenger_pd, dtype=np.float64)
    if challenger_pd.size != rows_frame.height:
        raise ValueError(
            f"challenger_pd has {challenger_pd.size} values for {rows_frame.height} rows"
        )
    leaked = [f.name for f in features if f.name.startswith(PROTECTED_PREFIX)]
    if leaked:
        raise ValueError(f"protected columns cannot be model inputs: {leaked}")
    return challenger_pd


def _search_inputs(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    attributes: list[str],
    *,
    base_config: TrainConfig,
    space: SearchSpace,
    challenger: _Challenger,
    rows: _EvaluationRows,
    terms: _SearchTerms,
) -> tuple[SearchInputs, list[dict[str, Any]]]:
    """What the candidate generators read (the proxies flagged by the screen on the train
    rows, the attributes worst first, the directions of risk), and the proxy screen."""
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    screen = proxy_screen(_with_proxy_groups(train, attributes), features, attributes)
    inputs = SearchInputs(
        features=list(features),
        base=replace(base_config, threads=space.threads),
        proxies=[p for p in strongest_proxies(screen, space.top_proxies) if p["flagged"]],
        attributes=_worst_first(challenger.pd, rows),
        directions=_directions(train, [f.name for f in features if not f.is_categorical]),
        approval_rate=float(terms.approval_rate),
        families=tuple(terms.families),
        challenger_family=challenger.family,
        space=space,
    )
    return inputs, screen
