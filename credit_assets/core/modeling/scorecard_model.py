"""A fitted WoE scorecard as plain data: what it predicts, and why, without optbinning.

`TrainedScorecard` is what `train_scorecard` (scorecard.py, optbinning + scikit-learn)
returns and what a scorecard artifact holds (`scorecard.json`). Everything here is
NumPy and Polars, so the scoring API serves a scorecard without importing the
training stack.

The log-odds of default of a row is `intercept + sum_j coefficient_j * woe_j(x_j)`:
one additive term per characteristic. Two explanations follow from the terms:

- points lost (`points_lost`): how far each term sits above the lowest term its
  characteristic can take, i.e. the points the applicant lost against the maximum
  attainable on that characteristic. This is the classic adverse-action method for
  scorecards, and what the reasons of a scorecard decision rank. In log-odds;
  multiply by the scale's `factor` (pdo / ln 2) for score points.
- contributions against a population (`centred_terms`): each term minus its mean
  over a background population. For an additive model these are its exact
  (interventional) SHAP values, so the explainability report reads a scorecard as it
  reads CatBoost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scaling import ScoreScale

FORMAT_VERSION = 1
MISSING_TOKEN = "__missing__"
"""The token a null categorical becomes on the CatBoost path; a scorecard reads it as missing."""


def _category_key(value: Any) -> str | None:
    """A categorical value as `cast(pl.String)` makes it; None for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    return None if text == MISSING_TOKEN else text


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
            return self._numeric_woe(values.cast(pl.Float64).to_numpy().astype(np.float64))
        lookup = self._lookup()
        text = values.cast(pl.String).to_list()
        return np.array(
            [
                self.missing_woe
                if v is None or v == MISSING_TOKEN
                else lookup.get(v, self.unknown_woe)
                for v in text
            ],
            dtype=np.float64,
        )

    def woe_of_values(self, values: Sequence[Any]) -> np.ndarray:
        """`woe_of` for plain Python values (the API's request rows), without a Series.

        Numeric: None or NaN is missing. Categorical: values are read as Polars casts
        them to text (True is "true"); None, NaN and the CatBoost missing token are missing.
        """
        if self.kind == "numerical":
            return self._numeric_woe(
                np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)
            )
        lookup = self._lookup()
        keys = [_category_key(v) for v in values]
        return np.array(
            [self.missing_woe if k is None else lookup.get(k, self.unknown_woe) for k in keys],
            dtype=np.float64,
        )

    def _numeric_woe(self, x: np.ndarray) -> np.ndarray:
        """The bin WoE of each value of a float array (NaN: the missing WoE)."""
        missing = np.isnan(x)
        result = np.asarray(self.woe, dtype=np.float64)[
            np.digitize(np.where(missing, 0.0, x), np.asarray(self.splits, dtype=np.float64))
        ]
        return np.where(missing, self.missing_woe, result)

    def _lookup(self) -> dict[str, float]:
        cached: dict[str, float] | None = self.__dict__.get("_lookup_cache")
        if cached is None:
            cached = {
                c: w for group, w in zip(self.categories, self.woe, strict=True) for c in group
            }
            object.__setattr__(self, "_lookup_cache", cached)
        return cached

    @property
    def attainable_woe(self) -> list[float]:
        """Every WoE a value can be given: the bins, missing, and for categories unseen."""
        extra = [self.unknown_woe] if self.kind == "categorical" else []
        return [*self.woe, self.missing_woe, *extra]

    @property
    def best_term(self) -> float:
        """The lowest log-odds term this characteristic can contribute (the most points)."""
        return min(self.coefficient * w for w in self.attainable_woe)


@dataclass
class TrainedScorecard:
    """A fitted WoE scorecard; everything but `fitted` round-trips through JSON."""

    features: list[BinnedFeature]
    intercept: float
    scale: ScoreScale
    specs: list[FeatureSpec] = field(default_factory=list, repr=False, compare=False)
    train_rows: int = field(default=0, compare=False)
    dropped: list[dict[str, Any]] = field(default_factory=list, compare=False)
    """Characteristics removed for a coefficient of the wrong sign, with that coefficient."""
    """The catalogue specs of `features`, in the same order (set by training and loading)."""
    fitted: Any = field(default=None, repr=False, compare=False)
    """The optbinning `Scorecard` it was exported from, when it was just trained."""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    def predict_log_odds(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        frame = pl.from_pandas(df) if isinstance(df, pd.DataFrame) else df
        total = np.full(frame.height, self.intercept, dtype=np.float64)
        for f in self.features:
            total += f.coefficient * f.woe_of(frame.get_column(f.name))
        return total

    def predict_pd(self, df: pl.DataFrame | pd.DataFrame, thread_count: int = 1) -> np.ndarray:
        """Probability of default per row (`thread_count` is accepted for a common signature)."""
        return 1.0 / (1.0 + np.exp(-self.predict_log_odds(df)))

    def predict_raw(self, df: pl.DataFrame | pd.DataFrame, thread_count: int = 1) -> np.ndarray:
        return self.predict_log_odds(df)

    # -- terms and their explanations ---------------------------------------------------

    def terms(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        """(rows, characteristics) log-odds terms `coefficient * woe`, in `feature_names` order."""
        frame = pl.from_pandas(df) if isinstance(df, pd.DataFrame) else df
        if not self.features:
            return np.zeros((frame.height, 0))
        return np.column_stack(
            [f.coefficient * f.woe_of(frame.get_column(f.name)) for f in self.features]
        )

    def terms_of_columns(self, columns: Sequence[Sequence[Any]]) -> np.ndarray:
        """`terms` for plain value columns, one per characteristic in `feature_names` order."""
        if not self.features:
            return np.zeros((len(columns[0]) if columns else 0, 0))
        return np.column_stack(
            [
                f.coefficient * f.woe_of_values(values)
                for f, values in zip(self.features, columns, strict=True)
            ]
        )

    def raw_of_terms(self, terms: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + terms.sum(axis=1), dtype=np.float64)

    def best_terms(self) -> np.ndarray:
        return np.array([f.best_term for f in self.features], dtype=np.float64)

    def points_lost(self, terms: np.ndarray) -> np.ndarray:
        """Log-odds each characteristic adds above its best attainable term (>= 0).

        Ranking these is the points method of adverse-action reasons: the characteristics
        where the applicant lost the most points against the maximum attainable. Multiply
        by `scale.factor` for score points.
        """
        return np.maximum(terms - self.best_terms(), 0.0)

    def best_values(self) -> dict[str, object]:
        """Per characteristic, a value that falls in its lowest-risk bin: the reference the
        points method measures reasons against (reason accuracy neutralises to it).

        Numeric: a value in the bin (NaN when missing is best). Categorical: the
        `{category: 1.0}` mix of `population_baselines` (missing as CatBoost's token).
        """
        values: dict[str, object] = {}
        for f in self.features:
            attainable = f.attainable_woe
            i = min(range(len(attainable)), key=lambda j: f.coefficient * attainable[j])
            missing = i == len(f.woe)
            if f.kind == "categorical":
                category = (
                    MISSING_TOKEN
                    if missing
                    else "\x00unseen-category"
                    if i > len(f.woe)
                    else f.categories[i][0]
                )
                values[f.name] = {category: 1.0}
            elif missing:
                values[f.name] = math.nan
            elif i == 0:
                values[f.name] = f.splits[0] - 1.0 if f.splits else 0.0
            else:
                values[f.name] = f.splits[i - 1]
        return values

    @staticmethod
    def centred_terms(terms: np.ndarray, background: np.ndarray) -> np.ndarray:
        """Terms minus their mean over `background` terms: the exact SHAP values of an
        additive model against that population."""
        return terms - background.mean(axis=0, keepdims=True)

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
            "dropped": self.dropped,
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
            dropped=list(data.get("dropped", [])),
        )

    @classmethod
    def from_json(cls, text: str) -> TrainedScorecard:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class ScorecardExplainer:
    """A scorecard's explanation with the interface of the CatBoost SHAP explainer.

    `explain(frame)` returns (points lost per characteristic, log-odds): what the reasons
    rank and what the model predicts, from one pass over the terms. Frames are model
    frames (CatBoost's missing token reads as missing) or feature frames.
    """

    scorecard: TrainedScorecard

    @property
    def feature_names(self) -> list[str]:
        return self.scorecard.feature_names

    def explain(self, data: Any, thread_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        terms = self.scorecard.terms(data)
        return self.scorecard.points_lost(terms), self.scorecard.raw_of_terms(terms)

    def shap(self, data: Any, background: Any | None = None) -> tuple[np.ndarray, float]:
        """Exact SHAP values of the additive model against `background` (default: `data`)
        and the expected log-odds they are measured from."""
        terms = self.scorecard.terms(data)
        reference = terms if background is None else self.scorecard.terms(background)
        expected = float(self.scorecard.intercept + reference.sum(axis=1).mean())
        return self.scorecard.centred_terms(terms, reference), expected
