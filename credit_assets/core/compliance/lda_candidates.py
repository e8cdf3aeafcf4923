"""The candidates of the less-discriminatory-alternative search (`lda_discovery`): the budget and
the space searched, each candidate as a named, seeded configuration (`CandidateConfig`), the
generators that propose them in turn, and `refit`, which reproduces any of them exactly.

Generators (see `lda_discovery` for the method as a whole): `hyperparameters` (CatBoost seeds,
depths, learning rates, L2, iterations), `drop_proxies`, `coarsen_proxy`, `monotone_proxy`,
`reweighting` and `reduction` (fairlearn's `ExponentiatedGradient`: the protected attribute used
in training only, never an input; a randomized mixture, so not servable) and `scorecard`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl
from catboost import CatBoostClassifier, Pool
from fairlearn.reductions import (
    DemographicParity,
    ErrorRate,
    ExponentiatedGradient,
    TruePositiveRateParity,
)
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_assets.core.compliance.groups import (
    group_labels,
    protected_column,
)
from credit_assets.core.compliance.proxy_fairness import (
    PROXY_ATTRIBUTE,
    has_proxies,
    most_likely_labels,
)
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.scorecard import train_scorecard
from credit_assets.core.modeling.train import (
    SPLIT_COLUMN,
    TrainConfig,
    TrainedModel,
    catboost_params,
    labels_of,
    to_catboost_frame,
    train_challenger,
)
from credit_assets.core.reports.render import jsonable

CHALLENGER = "challenger"
Kind = Literal["discovery", "refutation", "not_assessed"]
WeightsRule = Literal["none", "equal_group_label_cells", "group_label_independence"]
Constraint = Literal["demographic_parity", "true_positive_rate_parity"]
STOP_CANDIDATES, STOP_SECONDS, STOP_EXHAUSTED = "max_candidates", "max_seconds", "exhausted"
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class SearchBudget:
    """Candidates are fitted in batches of `workers` (in parallel processes when more than
    one). Checked before each batch: never more than `max_candidates` fits started in all,
    and no batch started once `max_seconds` have elapsed (fits under way are never cut short,
    so the last batch may end past it)."""

    max_candidates: int = 40
    max_seconds: float = 900.0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")

    def describe(self) -> str:
        text = f"at most {self.max_candidates} candidates and {self.max_seconds:g} s"
        return text + (f", {self.workers} fitted at a time" if self.workers > 1 else "")


@dataclass(frozen=True)
class SearchSpace:
    """What the generators may try. `families` None: the challenger's family only."""

    families: tuple[str, ...] | None = None  # "catboost", "scorecard"
    seeds: tuple[int, ...] = (11, 23, 37)
    depths: tuple[int, ...] = (3, 4, 5, 6)
    learning_rates: tuple[float, ...] = (0.03, 0.1)
    l2_leaf_regs: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
    iterations: tuple[int, ...] = (300, 1000)
    top_proxies: int = 3
    max_dropped: int = 2
    coarsen_buckets: tuple[int, ...] = (2, 4)
    monotone_proxies: bool = True
    protected_in_training: bool = True
    """Reweighting and reductions use the protected attribute in training; set False where
    the lender's counsel does not allow it."""
    weights_rules: tuple[WeightsRule, ...] = ("equal_group_label_cells", "group_label_independence")
    constraints: tuple[Constraint, ...] = ("demographic_parity", "true_positive_rate_parity")
    reduction_eps: float = 0.01
    reduction_max_iter: int = 30
    threads: int = 1


@dataclass(frozen=True)
class CandidateConfig:
    """Everything `refit` needs to fit a candidate again, identically (JSON via `to_dict`)."""

    name: str
    family: str  # "catboost", "scorecard" or "reduction"
    generator: str
    description: str
    features: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    iterations: int = 0
    learning_rate: float = 0.0
    depth: int = 0
    l2_leaf_reg: float = 0.0
    early_stopping_rounds: int = 0
    seed: int = 0
    threads: int = 1
    monotone_overrides: tuple[tuple[str, str], ...] = ()
    coarsen: tuple[tuple[str, int], ...] = ()
    sample_weights: WeightsRule = "none"
    protected_attribute: str | None = None
    constraint: Constraint | None = None
    reduction_eps: float = 0.0
    reduction_max_iter: int = 0
    approval_rate: float | None = None

    @property
    def uses_protected_attribute_in_training(self) -> bool:
        return self.protected_attribute is not None

    @property
    def not_servable_because(self) -> str:
        if self.family == "reduction":
            return (
                "a randomized mixture of classifiers (fairlearn ExponentiatedGradient): the "
                "platform serves one CatBoost or scorecard artifact"
            )
        return ""

    @property
    def servable(self) -> bool:
        return not self.not_servable_because

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            iterations=self.iterations,
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2_leaf_reg=self.l2_leaf_reg,
            early_stopping_rounds=self.early_stopping_rounds,
            threads=self.threads,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **jsonable(asdict(self)),
            "uses_protected_attribute_in_training": self.uses_protected_attribute_in_training,
            "servable": self.servable,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateConfig:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for key in ("features", "dropped"):
            values[key] = tuple(values.get(key) or ())
        for key in ("monotone_overrides", "coarsen"):
            values[key] = tuple(tuple(pair) for pair in values.get(key) or ())
        return cls(**values)


class CandidateModel(Protocol):
    def predict_pd(self, df: pl.DataFrame, thread_count: int = 1) -> np.ndarray: ...


# ---------------------------------------------------------------- fitting


def _specs_for(config: CandidateConfig, features: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    by_name = {f.name: f for f in features}
    missing = [n for n in config.features if n not in by_name]
    if missing:
        raise ValueError(f"candidate {config.name}: features not in the catalogue: {missing}")
    overrides = dict(config.monotone_overrides)
    return [
        replace(by_name[n], monotone=overrides[n]) if n in overrides else by_name[n]  # type: ignore[arg-type]
        for n in config.features
    ]


def attribute_groups(frame: pl.DataFrame, attribute: str) -> np.ndarray:
    """Group label per row of a protected attribute (`sex`), or of the BISG proxy
    (`race_ethnicity`: the most likely group at the report's threshold, else missing)."""
    column = protected_column(attribute)
    if column not in frame.columns and attribute == PROXY_ATTRIBUTE and has_proxies(frame):
        frame = frame.with_columns(most_likely_labels(frame).alias(column))
    return group_labels(frame, column)[0]


def sample_weights(labels: np.ndarray, groups: np.ndarray, rule: WeightsRule) -> np.ndarray:
    """Per-row training weights by protected group x label cell, averaging one.

    `equal_group_label_cells`: every non-empty cell weighs the same in total;
    `group_label_independence` (Kamiran & Calders): P(g) P(y) / P(g, y), under which the
    group and the label are independent.
    """
    if rule == "none":
        return np.ones(labels.size)
    cell_keys = np.char.add(groups.astype(str), np.char.add("|", labels.astype(str)))
    _, cell, cell_n = np.unique(cell_keys, return_inverse=True, return_counts=True)
    if rule == "equal_group_label_cells":
        weights = labels.size / (cell_n.size * cell_n[cell])
    else:
        _, g, g_n = np.unique(groups, return_inverse=True, return_counts=True)
        _, y, y_n = np.unique(labels, return_inverse=True, return_counts=True)
        weights = (g_n[g] * y_n[y]) / (labels.size * cell_n[cell])
    return np.asarray(weights / weights.mean(), dtype=np.float64)


def _fit_catboost(
    training_set: pl.DataFrame, specs: list[FeatureSpec], config: CandidateConfig
) -> TrainedModel:
    """`train_challenger`, or its exact mirror when weights or a coarsened input are needed
    (`train_challenger` takes neither): the same parameters, splits and early stopping."""
    train_config = config.train_config()
    if config.sample_weights == "none" and not config.coarsen:
        return train_challenger(training_set, specs, train_config)
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    validation = training_set.filter(pl.col(SPLIT_COLUMN) == "validation")
    y_train, y_valid = labels_of(train), labels_of(validation)
    params = catboost_params(specs, train_config)
    index = {f.name: i for i, f in enumerate(specs)}
    if config.coarsen:
        params["per_float_feature_quantization"] = [
            f"{index[name]}:border_count={buckets - 1},border_type=Median"
            for name, buckets in config.coarsen
        ]
    weights = None
    if config.sample_weights != "none":
        assert config.protected_attribute is not None
        groups = attribute_groups(train, config.protected_attribute)
        weights = sample_weights(y_train, groups, config.sample_weights)
    cat = [f.name for f in specs if f.is_categorical] or None
    model = CatBoostClassifier(**params)
    model.fit(
        Pool(
            to_catboost_frame(train, specs),
            label=y_train,
            cat_features=cat,
            weight=weights,
            thread_count=config.threads,
        ),
        eval_set=Pool(
            to_catboost_frame(validation, specs),
            label=y_valid,
            cat_features=cat,
            thread_count=config.threads,
        ),
    )
    return TrainedModel(
        model=model,
        features=specs,
        best_iteration=int(model.get_best_iteration() or 0),
        params=params,
        train_rows=train.height,
        validation_rows=validation.height,
        extras={"lda_candidate": config.to_dict()},
    )


@dataclass
class ReductionModel:
    """A fitted ExponentiatedGradient mixture over logistic regressions (not servable)."""

    features: list[FeatureSpec]
    reduction: Any
    approve_threshold: float
    """P(good) above which the cost-sensitive classifiers approve (near the operating point)."""

    def approval_probability(self, df: pl.DataFrame) -> np.ndarray:
        inputs = to_catboost_frame(df, self.features)
        return np.asarray(self.reduction._pmf_predict(inputs)[:, 1], dtype=np.float64)

    def predict_pd(self, df: pl.DataFrame, thread_count: int = 1) -> np.ndarray:
        """A risk to rank by, not a calibrated PD: the mixture's probability of declining,
        ties ordered by its regressions' weighted mean PD (added below the 1e-6 grid)."""
        inputs = to_catboost_frame(df, self.features)
        weights = self.reduction.weights_
        mean_pd = sum(
            float(w) * self.reduction.predictors_[t].predict_proba(inputs)[:, 0]
            for t, w in weights.items()
            if w > 0
        )
        decline = 1.0 - self.approval_probability(df)
        risk = np.round(decline, 6) + 1e-7 * np.asarray(mean_pd, dtype=np.float64)
        return risk / (1.0 + 1e-7)  # stays a probability


def _logistic_pipeline(specs: list[FeatureSpec], seed: int) -> Pipeline:
    """The platform's logistic regression inputs (median-imputed with a missing indicator and
    standardised; one-hot categoricals), with sample weights reaching the regression."""
    numeric = [f.name for f in specs if not f.is_categorical]
    categorical = [f.name for f in specs if f.is_categorical]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        transformers.append(("numeric", make_pipeline(imputer, StandardScaler()), numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=5)
        transformers.append(("categorical", encoder, categorical))
    return Pipeline(
        [
            ("inputs", ColumnTransformer(transformers)),
            ("model", LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )


def _fit_reduction(
    training_set: pl.DataFrame, specs: list[FeatureSpec], config: CandidateConfig
) -> ReductionModel:
    assert config.protected_attribute is not None and config.approval_rate is not None
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    inputs = to_catboost_frame(train, specs)
    good = 1 - labels_of(train)  # predicting 1 approves: parity is on approvals
    plain = _logistic_pipeline(specs, config.seed).fit(inputs, good)
    # Costs put the classifiers' decision where the operating point approves.
    threshold = float(np.quantile(plain.predict_proba(inputs)[:, 1], 1.0 - config.approval_rate))
    constraint = (
        DemographicParity()
        if config.constraint == "demographic_parity"
        else TruePositiveRateParity()
    )
    reduction = ExponentiatedGradient(
        _logistic_pipeline(specs, config.seed),
        constraints=constraint,
        objective=ErrorRate(costs={"fp": threshold, "fn": 1.0 - threshold}),
        eps=config.reduction_eps,
        max_iter=config.reduction_max_iter,
        sample_weight_name="model__sample_weight",
    )
    reduction.fit(
        inputs, good, sensitive_features=attribute_groups(train, config.protected_attribute)
    )
    return ReductionModel(features=specs, reduction=reduction, approve_threshold=threshold)


def refit(
    config: CandidateConfig,
    training_set: pl.DataFrame,
    features: Sequence[FeatureSpec],
    scale: ScoreScale | None = None,
) -> CandidateModel:
    """Fit the candidate `config` describes on `training_set` (its train and validation
    splits), from the catalogue `features`: the same model, prediction for prediction."""
    specs = _specs_for(config, features)
    if config.family == "catboost":
        return _fit_catboost(training_set, specs, config)
    if config.family == "scorecard":
        return train_scorecard(training_set, specs, config.seed, scale)
    if config.family == "reduction":
        return _fit_reduction(training_set, specs, config)
    raise ValueError(f"unknown candidate family {config.family!r}")


# ---------------------------------------------------------------- generators


def _catboost_config(
    name: str, generator: str, description: str, base: TrainConfig, **kw: Any
) -> CandidateConfig:
    values: dict[str, Any] = {
        "iterations": base.iterations,
        "learning_rate": base.learning_rate,
        "depth": base.depth,
        "l2_leaf_reg": base.l2_leaf_reg,
        "early_stopping_rounds": base.early_stopping_rounds,
        "seed": base.seed,
        "threads": base.threads,
    }
    values.update(kw)
    return CandidateConfig(name, "catboost", generator, description, **values)


@dataclass(frozen=True)
class SearchInputs:
    features: list[FeatureSpec]
    base: TrainConfig
    proxies: list[dict[str, Any]]
    attributes: list[str]  # worst (for the challenger) first
    directions: dict[str, str]
    approval_rate: float
    families: tuple[str, ...]
    challenger_family: str
    space: SearchSpace


def _hyperparameters(s: SearchInputs) -> Iterator[CandidateConfig]:
    space = s.space
    grid = list(
        itertools.product(
            space.seeds, space.depths, space.learning_rates, space.l2_leaf_regs, space.iterations
        )
    )
    order = np.random.default_rng(s.base.seed).permutation(len(grid))
    names = tuple(f.name for f in s.features)
    base = (s.base.seed, s.base.depth, s.base.learning_rate, s.base.l2_leaf_reg, s.base.iterations)
    for seed, depth, lr, l2, iterations in (grid[i] for i in order):
        if s.challenger_family == "catboost" and (seed, depth, lr, l2, iterations) == base:
            continue  # the challenger's own configuration
        yield _catboost_config(
            f"catboost_d{depth}_lr{lr:g}_l2{l2:g}_it{iterations}_s{seed}",
            "hyperparameters",
            f"CatBoost depth {depth}, learning rate {lr:g}, L2 {l2:g}, {iterations} trees, "
            f"seed {seed}",
            s.base,
            features=names,
            depth=depth,
            learning_rate=lr,
            l2_leaf_reg=l2,
            iterations=iterations,
            seed=seed,
            threads=space.threads,
        )


def _proxy_names(s: SearchInputs, numeric_only: bool = False) -> list[str]:
    categorical = {f.name for f in s.features if f.is_categorical}
    return [p["feature"] for p in s.proxies if not (numeric_only and p["feature"] in categorical)]


def _subsets(s: SearchInputs) -> Iterator[tuple[str, ...]]:
    proxies = _proxy_names(s)
    for k in range(1, s.space.max_dropped + 1):
        for dropped in itertools.combinations(proxies, k):
            if len(dropped) < len(s.features):
                yield dropped


def _without(s: SearchInputs, dropped: tuple[str, ...]) -> str:
    screen = {p["feature"]: p for p in s.proxies}
    return ", ".join(
        f"{name} (alone predicts {screen[name]['protected']} with AUC {screen[name]['auc']:.2f})"
        for name in dropped
    )


def _drop_proxies(s: SearchInputs) -> Iterator[CandidateConfig]:
    for dropped in _subsets(s):
        kept = tuple(f.name for f in s.features if f.name not in dropped)
        yield _catboost_config(
            "drop_" + "+".join(dropped),
            "drop_proxies",
            f"CatBoost without {_without(s, dropped)}",
            s.base,
            features=kept,
            dropped=dropped,
            threads=s.space.threads,
        )


def _coarsen_proxy(s: SearchInputs) -> Iterator[CandidateConfig]:
    names = tuple(f.name for f in s.features)
    for feature in _proxy_names(s, numeric_only=True):
        for buckets in s.space.coarsen_buckets:
            yield _catboost_config(
                f"coarsen_{feature}_q{buckets}",
                "coarsen_proxy",
                f"CatBoost with {feature} in {buckets} quantile buckets",
                s.base,
                features=names,
                coarsen=((feature, buckets),),
                threads=s.space.threads,
            )


def _monotone_proxy(s: SearchInputs) -> Iterator[CandidateConfig]:
    if not s.space.monotone_proxies:
        return
    declared = {f.name for f in s.features if f.monotone != "none"}
    names = tuple(f.name for f in s.features)
    for feature in _proxy_names(s, numeric_only=True):
        direction = s.directions.get(feature)
        if feature in declared or direction is None:
            continue
        yield _catboost_config(
            f"monotone_{feature}_{direction}",
            "monotone_proxy",
            f"CatBoost with risk {direction} in {feature} (its direction on the train rows)",
            s.base,
            features=names,
            monotone_overrides=((feature, direction),),
            threads=s.space.threads,
        )


def _reweighting(s: SearchInputs) -> Iterator[CandidateConfig]:
    if not s.space.protected_in_training:
        return
    names = tuple(f.name for f in s.features)
    for attribute in s.attributes:
        for rule in s.space.weights_rules:
            yield _catboost_config(
                f"reweight_{attribute}_{rule}",
                "reweighting",
                f"CatBoost with {attribute} x label weights ({rule.replace('_', ' ')}); "
                f"{attribute} used in training only",
                s.base,
                features=names,
                sample_weights=rule,
                protected_attribute=attribute,
                threads=s.space.threads,
            )


def _reduction(s: SearchInputs) -> Iterator[CandidateConfig]:
    if not s.space.protected_in_training:
        return
    names = tuple(f.name for f in s.features)
    for attribute in s.attributes:
        for constraint in s.space.constraints:
            yield CandidateConfig(
                f"eg_{constraint}_{attribute}",
                "reduction",
                "reduction",
                f"ExponentiatedGradient ({constraint.replace('_', ' ')} on approvals by "
                f"{attribute}) over a logistic regression; {attribute} used in training only",
                features=names,
                seed=s.base.seed,
                protected_attribute=attribute,
                constraint=constraint,
                reduction_eps=s.space.reduction_eps,
                reduction_max_iter=s.space.reduction_max_iter,
                approval_rate=s.approval_rate,
            )


def _scorecard(s: SearchInputs) -> Iterator[CandidateConfig]:
    names = tuple(f.name for f in s.features)
    subsets: list[tuple[str, ...]] = list(_subsets(s))
    if s.challenger_family != "scorecard":  # else the full card is the challenger itself
        subsets.insert(0, ())
    for dropped in subsets:
        yield CandidateConfig(
            "scorecard" + ("_drop_" + "+".join(dropped) if dropped else "_all"),
            "scorecard",
            "scorecard",
            "WoE scorecard" + (f" without {_without(s, dropped)}" if dropped else ""),
            features=tuple(n for n in names if n not in dropped),
            dropped=dropped,
            seed=s.base.seed,
        )


def candidate_stream(s: SearchInputs) -> Iterator[CandidateConfig]:
    """Every generator's configurations, one from each in turn (round robin)."""
    streams: list[Iterator[CandidateConfig]] = []
    if "catboost" in s.families:
        streams += [
            _drop_proxies(s),
            _hyperparameters(s),
            _reweighting(s),
            _coarsen_proxy(s),
            _monotone_proxy(s),
        ]
    streams.append(_reduction(s))
    if "scorecard" in s.families:
        streams.append(_scorecard(s))
    seen: set[str] = set()
    while streams:
        for stream in list(streams):
            config = next(stream, None)
            if config is None:
                streams.remove(stream)
            elif config.name not in seen:
                seen.add(config.name)
                yield config


def candidate_specs(config: CandidateConfig, features: Sequence[FeatureSpec]) -> list[FeatureSpec]:
    """The inputs candidate `config` uses, from the catalogue `features`, with its monotone
    constraints: what its artifact is checked and explained against once adopted."""
    return _specs_for(config, features)
