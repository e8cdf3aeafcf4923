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

Every value scores: a missing value takes its characteristic's missing WoE, a bureau
sentinel code (96, 98, 9999: "not a count") its special WoE, a category never seen in
training the WoE of the pooled rare categories, and a number delivered as text that does
not read as a number (`NA`) the missing WoE. `characteristics()` is the per-characteristic
record a model-risk reviewer reads: information value, and every such treatment.
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

FORMAT_VERSION = 2
"""2 added special codes, numbers read from text and pooled rare categories; 1 still loads."""
READABLE_VERSIONS = (1, 2)
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


def number_of(value: Any) -> float:
    """A value of a number delivered as text, read the same way in training and scoring:
    anything that does not read as a number (None, `NA`, the missing token) is NaN."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def _plain_number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _information_value(counts: Sequence[int], bad_rates: Sequence[float]) -> float:
    """Sum over bins of (share of goods - share of bads) * ln(share of goods / share of bads);
    a bin without goods or without bads adds nothing (its WoE is undefined)."""
    n = np.asarray(counts, dtype=np.float64)
    bads = np.round(n * np.asarray(bad_rates, dtype=np.float64))
    goods = n - bads
    if bads.sum() == 0 or goods.sum() == 0:
        return 0.0
    g, b = goods / goods.sum(), bads / bads.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (g - b) * np.log(g / b)
    return float(np.where((g > 0) & (b > 0), terms, 0.0).sum())


@dataclass(frozen=True)
class BinnedFeature:
    """One scorecard characteristic: its bins, their WoE, and its coefficient.

    Numerical bins are `[splits[i-1], splits[i])` (the first open below, the last
    open above); a value in `special_codes` (a bureau sentinel such as 98) gets
    `special_woe` instead, and with `read_as_number` the values arrive as text and are
    read by `number_of`. Categorical bins are groups of category values; a category too
    rare in training to have a WoE of its own was pooled with the others
    (`pooled_categories`, `pooled_count`) and, like a value never seen, gets `unknown_woe`.
    Missing values get `missing_woe`.
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
    special_codes: list[float] = field(default_factory=list)
    special_woe: float = 0.0
    special_count: int = 0
    special_bad_rate: float = 0.0
    read_as_number: bool = False
    missing_texts: list[str] = field(default_factory=list)
    pooled_categories: int = 0
    pooled_count: int = 0

    def woe_of(self, values: pl.Series) -> np.ndarray:
        """WoE of each value, exactly as the fitted optbinning transform assigns it."""
        if self.kind == "numerical" and self.read_as_number:
            return self.woe_of_values(values.cast(pl.String).to_list())
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

        Numeric: None or NaN is missing (read from text: anything `number_of` cannot read).
        Categorical: values are read as Polars casts them to text (True is "true"); None,
        NaN and the CatBoost missing token are missing.
        """
        if self.kind == "numerical":
            read = number_of if self.read_as_number else _plain_number
            return self._numeric_woe(np.array([read(v) for v in values], dtype=np.float64))
        lookup = self._lookup()
        keys = [_category_key(v) for v in values]
        return np.array(
            [self.missing_woe if k is None else lookup.get(k, self.unknown_woe) for k in keys],
            dtype=np.float64,
        )

    def _numeric_woe(self, x: np.ndarray) -> np.ndarray:
        """The bin WoE of each value of a float array (NaN: the missing WoE; a special code:
        the special WoE)."""
        missing = np.isnan(x)
        result = np.asarray(self.woe, dtype=np.float64)[
            np.digitize(np.where(missing, 0.0, x), np.asarray(self.splits, dtype=np.float64))
        ]
        if self.special_codes:
            result = np.where(np.isin(x, self.special_codes), self.special_woe, result)
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
        """Every WoE a value can be given: the bins, missing, then for categories unseen
        and for numbers a special code (when it has any)."""
        if self.kind == "categorical":
            extra = [self.unknown_woe]
        else:
            extra = [self.special_woe] if self.special_codes else []
        return [*self.woe, self.missing_woe, *extra]

    @property
    def information_value(self) -> float:
        """Information value of the characteristic on its training rows, every bin counted
        (missing and special included): how well it separates bads from goods alone."""
        counts = [*self.counts, self.missing_count, self.special_count]
        rates = [*self.bad_rates, self.missing_bad_rate, self.special_bad_rate]
        return _information_value(counts, rates)

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
    """The catalogue specs of `features`, in the same order (set by training and loading)."""
    train_rows: int = field(default=0, compare=False)
    dropped: list[dict[str, Any]] = field(default_factory=list, compare=False)
    """Characteristics removed for a coefficient of the wrong sign, with that coefficient,
    their information value and the reason."""
    fitted: Any = field(default=None, repr=False, compare=False)
    """The optbinning `Scorecard` it was exported from, when it was just trained."""
    reading: Any = field(default=None, repr=False, compare=False)
    """How training read the inputs (`scorecard_inputs.InputReading`), when it was just trained."""

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_features(self) -> list[str]:
        """Characteristics whose values arrive as text (categories, and numbers read from text)."""
        return [f.name for f in self.features if f.kind == "categorical" or f.read_as_number]

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

        Numeric: a value in the bin (NaN when missing is best). Categorical, and numbers
        delivered as text: the `{category: 1.0}` mix of `population_baselines` (missing as
        CatBoost's token).
        """
        values: dict[str, object] = {}
        for f in self.features:
            attainable = f.attainable_woe
            i = min(range(len(attainable)), key=lambda j: f.coefficient * attainable[j])
            missing = i == len(f.woe)
            if f.kind == "categorical":
                unseen = i > len(f.woe) or (not missing and not f.categories[i])
                category = (
                    MISSING_TOKEN
                    if missing
                    else "\x00unseen-category"
                    if unseen
                    else f.categories[i][0]
                )
                values[f.name] = {category: 1.0}
                continue
            if missing:
                value = math.nan
            elif i > len(f.woe):
                value = f.special_codes[0]
            elif i == 0:
                value = f.splits[0] - 1.0 if f.splits else 0.0
            else:
                value = f.splits[i - 1]
            if f.read_as_number:
                values[f.name] = {MISSING_TOKEN if math.isnan(value) else repr(value): 1.0}
            else:
                values[f.name] = value
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
            if f.special_codes:
                label = "Special: " + ", ".join(f"{c:g}" for c in f.special_codes)
                rows.append(
                    self._points_row(f, label, f.special_woe, f.special_count, f.special_bad_rate)
                )
            if f.kind == "categorical":
                label = (
                    f"Unseen or rare category ({f.pooled_categories} pooled)"
                    if f.pooled_categories
                    else "Unseen category"
                )
                rows.append(self._points_row(f, label, f.unknown_woe, 0, None))
        return rows

    def characteristics(self) -> list[dict[str, Any]]:
        """What a model-risk reviewer reads per characteristic: its information value, its
        bins, how missing values, bureau codes, numbers delivered as text and rare categories
        were treated, and its coefficient; then every characteristic dropped, and why.

        Sorted by information value, kept ones first. `status` is `kept` or `dropped`.
        """
        rows: list[dict[str, Any]] = []
        for f in self.features:
            rows_seen = sum(f.counts) + f.missing_count + f.special_count
            rows.append(
                {
                    "feature": f.name,
                    "status": "kept",
                    "information_value": round(f.information_value, 4),
                    "bins": len(f.woe),
                    "coefficient": round(f.coefficient, 6),
                    "missing_share": round(f.missing_count / rows_seen, 4) if rows_seen else 0.0,
                    "missing_woe": round(f.missing_woe, 4),
                    "special_codes": list(f.special_codes),
                    "special_share": round(f.special_count / rows_seen, 4) if rows_seen else 0.0,
                    "read_as_number": f.read_as_number,
                    "missing_texts": list(f.missing_texts),
                    "pooled_categories": f.pooled_categories,
                    "pooled_share": round(f.pooled_count / rows_seen, 4) if rows_seen else 0.0,
                    "note": _treatment_note(f),
                }
            )
        rows.sort(key=lambda r: -r["information_value"])
        dropped = [
            {
                "feature": d["feature"],
                "status": "dropped",
                "information_value": d.get("information_value"),
                "coefficient": d.get("coefficient"),
                "note": d.get("reason", ""),
            }
            for d in self.dropped
        ]
        return rows + dropped

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
            or data.get("format_version") not in READABLE_VERSIONS
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


def _treatment_note(f: BinnedFeature) -> str:
    """One sentence per treatment the characteristic needed, for the model card."""
    notes = []
    if f.read_as_number:
        texts = ", ".join(repr(t) for t in f.missing_texts) or "none"
        notes.append(
            f"numbers delivered as text, binned as numbers (text read as missing: {texts})"
        )
    if f.special_codes:
        codes = ", ".join(f"{c:g}" for c in f.special_codes)
        notes.append(f"bureau codes {codes} in a bin of their own, not read as quantities")
    if f.pooled_categories:
        notes.append(
            f"{f.pooled_categories} categories too rare for a WoE of their own pooled, "
            "with unseen ones"
        )
    if f.missing_count:
        notes.append("missing values in a bin of their own")
    return "; ".join(notes)


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
