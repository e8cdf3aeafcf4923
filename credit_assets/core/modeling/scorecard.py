"""The baseline: a weight-of-evidence logistic scorecard (optbinning + scikit-learn).

optbinning fits the bins and the logistic regression; what we keep is plain data:
per feature the bin edges (or category groups), the WoE of every bin, of missing
values and of unseen categories, and the coefficient. Prediction is computed from
that data alone, so the JSON file is the model (optbinning would only persist a
pickle) and a test proves it predicts exactly as the fitted optbinning object.

WoE follows optbinning: `ln(share of goods / share of bads)` in a bin, so a
higher WoE means lower risk and the coefficients come out negative.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scaling import ScoreScale
from credit_assets.core.modeling.train import LABEL_COLUMN, SPLIT_COLUMN

FORMAT_VERSION = 1
_UNSEEN_PROBE = "\x00unseen-category-probe"


@dataclass(frozen=True)
class BinnedFeature:
    """One scorecard characteristic: its bins, their WoE, and its coefficient.

    Numerical bins are `[splits[i-1], splits[i])` (the first open below, the last
    open above). Categorical bins are groups of category values; a value never seen
    in training gets `unknown_woe`. Missing values get `missing_woe`.
    """

    name: str
    kind: Literal["numerical", "categorical"]
    coefficient: float
    bin_labels: list[str]
    woe: list[float]
    missing_woe: float
    unknown_woe: float = 0.0
    splits: list[float] = field(default_factory=list)
    categories: list[list[str]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    bad_rates: list[float] = field(default_factory=list)
    missing_count: int = 0
    missing_bad_rate: float = 0.0

    def woe_of(self, values: pl.Series) -> np.ndarray:
        """WoE of each value, exactly as the fitted optbinning transform assigns it."""
        if self.kind == "numerical":
            x = values.cast(pl.Float64).to_numpy().astype(np.float64)
            missing = np.isnan(x)
            result = np.asarray(self.woe, dtype=np.float64)[
                np.digitize(np.where(missing, 0.0, x), np.asarray(self.splits, dtype=np.float64))
            ]
            return np.where(missing, self.missing_woe, result)
        lookup = {c: w for group, w in zip(self.categories, self.woe, strict=True) for c in group}
        text = values.cast(pl.String).to_list()
        return np.array(
            [self.missing_woe if v is None else lookup.get(v, self.unknown_woe) for v in text],
            dtype=np.float64,
        )


@dataclass
class TrainedScorecard:
    """A fitted WoE scorecard; everything but `fitted` round-trips through JSON."""

    features: list[BinnedFeature]
    intercept: float
    scale: ScoreScale
    fitted: Scorecard | None = field(default=None, repr=False, compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def predict_log_odds(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        frame = pl.from_pandas(df) if isinstance(df, pd.DataFrame) else df
        total = np.full(frame.height, self.intercept, dtype=np.float64)
        for f in self.features:
            total += f.coefficient * f.woe_of(frame.get_column(f.name))
        return total

    def predict_pd(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.predict_log_odds(df)))

    def score(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        """Whole-point scores on this scorecard's scale."""
        return np.asarray(self.scale.score_from_pd(self.predict_pd(df)))

    def _points(self, coefficient: float, woe: float) -> float:
        # Points to double the odds spread over the characteristics, as optbinning's
        # "pdo_odds" scaling does: the points of a row sum to its unclipped score.
        n = len(self.features)
        return -(coefficient * woe + self.intercept / n) * self.scale.factor + self.scale.offset / n

    def points_table(self) -> list[dict[str, Any]]:
        """Feature, bin, WoE and points for every bin, including missing and unseen values."""
        rows: list[dict[str, Any]] = []
        for f in self.features:
            for label, woe, count, rate in zip(
                f.bin_labels, f.woe, f.counts, f.bad_rates, strict=True
            ):
                rows.append(self._points_row(f, label, woe, count, rate))
            rows.append(
                self._points_row(f, "Missing", f.missing_woe, f.missing_count, f.missing_bad_rate)
            )
            if f.kind == "categorical":
                rows.append(self._points_row(f, "Unseen category", f.unknown_woe, 0, None))
        return rows

    def _points_row(
        self, f: BinnedFeature, label: str, woe: float, count: int, rate: float | None
    ) -> dict[str, Any]:
        return {
            "feature": f.name,
            "bin": label,
            "woe": woe,
            "points": self._points(f.coefficient, woe),
            "count": count,
            "bad_rate": rate,
            "coefficient": f.coefficient,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "woe_logistic_scorecard",
            "format_version": FORMAT_VERSION,
            "intercept": self.intercept,
            "scale": self.scale.to_dict(),
            "features": [asdict(f) for f in self.features],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainedScorecard:
        if (
            data.get("format") != "woe_logistic_scorecard"
            or data.get("format_version") != FORMAT_VERSION
        ):
            raise ValueError("not a scorecard document of a known format version")
        return cls(
            features=[BinnedFeature(**f) for f in data["features"]],
            intercept=float(data["intercept"]),
            scale=ScoreScale.from_dict(data["scale"]),
        )

    @classmethod
    def from_json(cls, text: str) -> TrainedScorecard:
        return cls.from_dict(json.loads(text))


def to_scorecard_frame(df: pl.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """optbinning input: numeric (and bool) as float64 with NaN, categoricals as str/None."""
    exprs = [
        pl.col(f.name).cast(pl.String) if f.is_categorical else pl.col(f.name).cast(pl.Float64)
        for f in features
    ]
    frame = df.select(exprs).to_pandas()
    for f in features:
        frame[f.name] = frame[f.name].astype(object if f.is_categorical else np.float64)
    return frame


def _monotonic_trend(spec: FeatureSpec) -> dict[str, Any]:
    # optbinning's trend is of the event (bad) rate, i.e. of risk: the catalogue's direction.
    trend = {"increasing": "ascending", "decreasing": "descending"}.get(spec.monotone)
    return {"monotonic_trend": trend} if trend and not spec.is_categorical else {}


def _extract(fitted: Scorecard, spec: FeatureSpec, coefficient: float) -> BinnedFeature:
    optb = fitted.binning_process_.get_binned_variable(spec.name)
    table = optb.binning_table.build(add_totals=False)
    n_bins = len(table) - 2  # the last two rows are "Special" and "Missing"
    counts = [int(c) for c in table["Count"].iloc[:n_bins]]
    rates = [float(r) for r in table["Event rate"].iloc[:n_bins]]
    missing_row = table.iloc[-1]

    def woe(probe: np.ndarray) -> list[float]:
        # Ask the fitted transform itself, so our WoE is its WoE bit for bit.
        values = optb.transform(probe, metric="woe", metric_missing="empirical")
        return [float(v) for v in values]

    common: dict[str, Any] = {
        "name": spec.name,
        "coefficient": float(coefficient),
        "counts": counts,
        "bad_rates": rates,
        "missing_count": int(missing_row["Count"]),
        "missing_bad_rate": float(missing_row["Event rate"]),
    }
    if optb.dtype == "numerical":
        splits = [float(s) for s in optb.splits]
        probed = woe(np.array([-np.inf, *splits, np.nan], dtype=np.float64))
        return BinnedFeature(
            kind="numerical",
            splits=splits,
            bin_labels=[str(b) for b in table["Bin"].iloc[:n_bins]],
            woe=probed[:-1],
            missing_woe=probed[-1],
            **common,
        )
    if getattr(optb, "_cat_others", None):
        raise ValueError(f"{spec.name}: an 'others' category group cannot be exported")
    groups = [[str(c) for c in group] for group in optb.splits]
    probed = woe(np.array([g[0] for g in groups] + [None, _UNSEEN_PROBE], dtype=object))
    return BinnedFeature(
        kind="categorical",
        categories=groups,
        bin_labels=[", ".join(g) for g in groups],
        woe=probed[:-2],
        missing_woe=probed[-2],
        unknown_woe=probed[-1],
        **common,
    )


def train_scorecard(
    training_set: pl.DataFrame,
    features: list[FeatureSpec],
    seed: int,
    scale: ScoreScale | None = None,
) -> TrainedScorecard:
    """Fit optimal bins and a logistic regression on WoE, on the `train` split.

    Numeric features with a declared direction get monotone bins in that direction;
    missing values form their own bin with its empirical WoE.
    """
    scale = scale or ScoreScale()
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    if train.height == 0:
        raise ValueError("the training set has no train split rows")
    y = train.get_column(LABEL_COLUMN).cast(pl.Int64).to_numpy()
    names = [f.name for f in features]
    binning = BinningProcess(
        variable_names=names,
        categorical_variables=[f.name for f in features if f.is_categorical] or None,
        binning_fit_params={f.name: p for f in features if (p := _monotonic_trend(f))} or None,
    )
    fitted = Scorecard(
        binning_process=binning,
        estimator=LogisticRegression(random_state=seed, max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": scale.pdo,
            "odds": scale.base_odds,
            "scorecard_points": scale.base_score,
        },
    )
    fitted.fit(to_scorecard_frame(train, features), y, metric_missing="empirical")
    selected = list(fitted.binning_process_.get_support(names=True))
    coefficients = dict(zip(selected, fitted.estimator_.coef_.ravel(), strict=True))
    by_name = {f.name: f for f in features}
    return TrainedScorecard(
        features=[_extract(fitted, by_name[n], coefficients[n]) for n in selected],
        intercept=float(fitted.estimator_.intercept_[0]),
        scale=scale,
        fitted=fitted,
    )
