"""Scoring a borrower with a registered model: PD, score, risk band and principal reasons.

`ScoringModel` is built once per model version and holds everything a decision
needs: the model, its explanation, the score scale and risk bands recorded in the
manifest, and the feature order. Either family serves:

- CatBoost: the model and its exact-SHAP leaf tables (`leaf_shap.npz`); reasons
  rank the features that raised the log-odds most (SHAP).
- a WoE scorecard: its bins, WoE and coefficients (`scorecard.json`); reasons use
  the points method, ranking the characteristics where the applicant lost the most
  points against the maximum attainable (`TrainedScorecard.points_lost`).

Both are mapped to the catalogue's reason texts the same way. Two paths share one
core (model input -> raw prediction and per-feature contributions -> PD, score,
band, reasons):

- `score_rows(rows)`: many borrowers from feature mappings in one vectorised pass
  (the API's decider scores every queued request this way; rows are converted by
  the rules of `to_catboost_frame` in plain Python, because converting a DataFrame
  per request costs more than predicting). `score_one(features)` is the same for
  a single row (the shadow scorer's fallback for a row the batch refused).
- `score_frame(frame)`: a whole feature frame (batch scores).

Both give identical results; a test holds them to it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from catboost import Pool

from credit_assets.core.explain import LeafShapExplainer, Reason, ReasonCodeMap
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.modeling.artifacts import LoadedModel
from credit_assets.core.modeling.scaling import RiskBands, ScoreScale
from credit_assets.core.modeling.scorecard_model import TrainedScorecard
from credit_assets.core.modeling.train import MISSING_CATEGORY, to_catboost_frame

if TYPE_CHECKING:
    from credit_assets.core.platform.registry import RegistryRecord
    from credit_assets.core.platform.settings import Settings

LEAF_SHAP_FILE = "leaf_shap.npz"
MAX_REASONS = 4
ALTERNATIVE_SOURCES_FEATURE = "n_alternative_sources"
BUREAU_FEATURE_PREFIX = "bureau_"
INSUFFICIENT_HISTORY = "insufficient history: no alternative data or bureau record"
NO_APPLICATION_DATA = "insufficient data: none of the model's application attributes on file"

REASON_DTYPE = pl.List(
    pl.Struct({"code": pl.String, "text": pl.String, "contribution": pl.Float64})
)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _declares_history(names: Iterable[str]) -> bool:
    """Whether the features can show a borrower's history: an alternative-data source or a
    bureau is declared (its features are computed for everyone, present or not)."""
    return any(
        n == ALTERNATIVE_SOURCES_FEATURE or n.startswith(BUREAU_FEATURE_PREFIX) for n in names
    )


def not_scorable_reason(
    features: Mapping[str, Any], model_features: Sequence[str] = ()
) -> str | None:
    """Why a borrower cannot be scored, or None when they can.

    Where the platform declares alternative-data or bureau sources (the features hold
    `n_alternative_sources` or `bureau_*` features; a generic source named `bureau`
    yields features named so), the rule is the thin-file one: a borrower with no
    alternative-data source (`n_alternative_sources` is 0 or null) and no bureau record
    (every `bureau_*` feature is null) has nothing the model can stand on but the
    application itself, so no score is given. Any one alternative source or a bureau
    record makes them scorable.

    Where it declares neither (a lender's own application file alone), the application is
    all there is and all the model was trained on: a borrower with at least one of
    `model_features` on file is scorable; one with none of them is not.
    """
    if not _declares_history(features):
        if any(not _is_missing(features.get(name)) for name in model_features):
            return None
        return NO_APPLICATION_DATA
    sources: Any = features.get(ALTERNATIVE_SOURCES_FEATURE)
    if not _is_missing(sources) and float(sources) > 0:
        return None
    for name, value in features.items():
        if name.startswith(BUREAU_FEATURE_PREFIX) and not _is_missing(value):
            return None
    return INSUFFICIENT_HISTORY


def unscorable_reason_for(columns: Sequence[str]) -> str:
    """The reason `not_scorable_reason` gives every unscorable row of a frame with `columns`."""
    return INSUFFICIENT_HISTORY if _declares_history(columns) else NO_APPLICATION_DATA


def scorable_expr(columns: Sequence[str], model_features: Sequence[str] = ()) -> pl.Expr:
    """`not_scorable_reason(..., model_features) is None` as a Polars expression over a frame
    with `columns`. It may be a literal (one value, not one per row): select it with
    `with_columns` to get a value per row."""
    if not _declares_history(columns):
        present = [c for c in model_features if c in columns]
        return (
            pl.any_horizontal([_is_present_expr(pl.col(c)) for c in present])
            if present
            else pl.lit(False)
        )
    has_alternative = (
        (pl.col(ALTERNATIVE_SOURCES_FEATURE).cast(pl.Float64).fill_nan(None).fill_null(0.0) > 0)
        if ALTERNATIVE_SOURCES_FEATURE in columns
        else pl.lit(False)
    )
    bureau = [c for c in columns if c.startswith(BUREAU_FEATURE_PREFIX)]
    has_bureau = (
        pl.any_horizontal([_is_present_expr(pl.col(c)) for c in bureau])
        if bureau
        else pl.lit(False)
    )
    return (has_alternative | has_bureau).fill_null(False)


def _is_present_expr(column: pl.Expr) -> pl.Expr:
    return column.is_not_null() & ~_is_nan_expr(column)


def _is_nan_expr(column: pl.Expr) -> pl.Expr:
    # is_nan only exists for floats; other dtypes are never NaN.
    return column.cast(pl.Float64, strict=False).is_nan().fill_null(False)


def _category_text(value: Any) -> str:
    """A categorical value as `to_catboost_frame` makes it (Polars' cast to String)."""
    if _is_missing(value):
        return MISSING_CATEGORY
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class MissingFeaturesError(ValueError):
    """The features given lack columns the model needs (e.g. a snapshot from another catalogue)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"features missing for this model: {missing}")
        self.missing = missing


@dataclass(frozen=True)
class Decision:
    """One borrower's outcome. Unscorable decisions carry only `not_scorable_reason`."""

    scorable: bool
    pd: float | None = None
    score: int | None = None
    band: str | None = None
    reasons: tuple[Reason, ...] = ()
    not_scorable_reason: str | None = None

    def reasons_json(self) -> list[dict[str, Any]]:
        return [
            {"code": r.code, "text": r.text, "contribution": r.contribution} for r in self.reasons
        ]


@dataclass
class ScoringModel:
    """A verified model version, ready to decide; build it once with `from_loaded` or `load`."""

    version: str
    manifest_sha256: str
    features: list[FeatureSpec]
    model: Any
    """The CatBoost model, or the `TrainedScorecard`."""
    explainer: LeafShapExplainer | None
    """CatBoost's exact-SHAP tables; None for a scorecard (its terms are the explanation)."""
    scale: ScoreScale
    bands: RiskBands
    reason_map: ReasonCodeMap
    record: RegistryRecord | None = None
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.feature_names = [f.name for f in self.features]
        self.feature_set = frozenset(self.feature_names)
        self.categorical_features = [f.name for f in self.features if f.is_categorical]
        self._cat_index = [i for i, f in enumerate(self.features) if f.is_categorical]
        self._num_index = [i for i, f in enumerate(self.features) if not f.is_categorical]
        self.family: Literal["catboost", "scorecard"] = (
            "scorecard" if isinstance(self.model, TrainedScorecard) else "catboost"
        )
        if isinstance(self.model, TrainedScorecard):
            if self.model.feature_names != self.feature_names:
                raise ValueError(f"model {self.version}: scorecard characteristics differ")
        elif self.explainer is None:
            raise ValueError(f"model {self.version}: a CatBoost model needs its SHAP tables")

    @classmethod
    def from_loaded(
        cls, loaded: LoadedModel, catalogue: FeatureCatalogue | None = None
    ) -> ScoringModel:
        """Everything scoring needs from a verified artifact.

        Reason codes and texts come from `catalogue`; by default from the feature
        specs recorded in the manifest, i.e. the texts the model was approved with.
        """
        if "score_scale" not in loaded.manifest:
            raise ValueError(f"model {loaded.version} has no score_scale in its manifest")
        explainer = None
        if not isinstance(loaded.model, TrainedScorecard):
            if LEAF_SHAP_FILE not in loaded.files:
                raise ValueError(
                    f"model {loaded.version} has no {LEAF_SHAP_FILE}: cannot explain its scores"
                )
            explainer = LeafShapExplainer.from_bytes(
                loaded.files[LEAF_SHAP_FILE], model=loaded.model
            )
            if list(explainer.feature_names) != loaded.feature_names:
                raise ValueError(
                    f"model {loaded.version}: SHAP tables list other features than the model"
                )
        bands = loaded.manifest.get("risk_bands")
        return cls(
            version=loaded.version,
            manifest_sha256=loaded.manifest_sha256,
            features=list(loaded.features),
            model=loaded.model,
            explainer=explainer,
            scale=ScoreScale.from_dict(loaded.manifest["score_scale"]),
            bands=RiskBands.from_dict(bands) if bands else RiskBands(),
            reason_map=ReasonCodeMap.build(
                loaded.feature_names, catalogue or FeatureCatalogue(tuple(loaded.features))
            ),
            manifest=loaded.manifest,
        )

    @classmethod
    def load(
        cls, settings: Settings, record: RegistryRecord, catalogue: FeatureCatalogue | None = None
    ) -> ScoringModel:
        """Load and verify the artifact a registry record names (ArtifactIntegrityError on a mismatch)."""
        from credit_assets.core.modeling.artifacts import load_registered_artifact

        loaded = load_registered_artifact(settings, record.artifact_uri, record.manifest_sha256)
        if loaded.version != record.version:
            raise ValueError(
                f"registry version {record.version} points at artifact {loaded.version}"
            )
        scoring = cls.from_loaded(loaded, catalogue)
        scoring.record = record
        return scoring

    # -- one borrower -------------------------------------------------------------------

    def model_row(self, features: Mapping[str, Any]) -> list[Any]:
        """The model's input row in feature order, by the rules of `to_catboost_frame`."""
        row = [features.get(name, _ABSENT) for name in self.feature_names]
        if any(value is _ABSENT for value in row):
            raise MissingFeaturesError(
                [n for n, v in zip(self.feature_names, row, strict=True) if v is _ABSENT]
            )
        for i in self._cat_index:
            row[i] = _category_text(row[i])
        for i in self._num_index:
            value = row[i]
            row[i] = math.nan if value is None else float(value)
        return row

    def score_one(self, features: Mapping[str, Any]) -> Decision:
        """Decide for one borrower from a mapping of feature values (extra keys are ignored)."""
        reason = not_scorable_reason(features, self.feature_names)
        if reason is not None:
            return Decision(scorable=False, not_scorable_reason=reason)
        shap, raw = self._explain(self._rows_input([self.model_row(features)]))
        pd = 1.0 / (1.0 + np.exp(-raw))
        score = int(self.scale.score_from_pd(pd)[0])
        # The per-row forms of the batch rules (`top` and `band_for_score` agree with
        # `top_batch` and `bands_for_scores` by construction) skip array set-up costs.
        return Decision(
            True,
            float(pd[0]),
            score,
            self.bands.band_for_score(score),
            tuple(self.reason_map.top(shap[0], MAX_REASONS)),
        )

    # -- many borrowers -----------------------------------------------------------------

    def score_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """`score_one` for many feature mappings, in one vectorised pass."""
        if not rows:
            return []
        reasons = [not_scorable_reason(r, self.feature_names) for r in rows]
        return self._decide(self._rows_input([self.model_row(r) for r in rows]), reasons)

    def score_frame(
        self,
        frame: pl.DataFrame,
        keep: Sequence[str] | None = None,
        thread_count: int = 1,
        chunk_rows: int = 100_000,
    ) -> pl.DataFrame:
        """Decisions for every row of a feature frame, in row order.

        Returns the `keep` columns (default: whichever of `borrower_id`,
        `application_id`, `as_of_date` are present) followed by `scorable`, `pd`,
        `score`, `band`, `reasons` (list of {code, text, contribution}),
        `not_scorable_reason` and `model_version`. Model features missing from
        the frame raise `MissingFeaturesError`.
        """
        missing = [n for n in self.feature_names if n not in frame.columns]
        if missing:
            raise MissingFeaturesError(missing)
        if keep is None:
            keep = [
                c for c in ("borrower_id", "application_id", "as_of_date") if c in frame.columns
            ]
        unscorable = unscorable_reason_for(frame.columns)
        reasons = [
            None if ok else unscorable
            # with_columns gives one value per row, also when the rule is a constant.
            for ok in frame.with_columns(
                scorable_expr(frame.columns, self.feature_names).alias(_SCORABLE)
            )
            .get_column(_SCORABLE)
            .to_list()
        ]
        decisions: list[Decision] = []
        for start in range(0, frame.height, chunk_rows):
            chunk = frame.slice(start, chunk_rows)
            decisions += self._decide(
                self._frame_input(chunk, thread_count),
                reasons[start : start + chunk.height],
                thread_count,
            )
        return pl.concat(
            [frame.select(keep), decisions_frame(decisions, self.version)], how="horizontal"
        )

    # -- shared core --------------------------------------------------------------------

    def _rows_input(self, rows: list[list[Any]]) -> Any:
        """Model rows (from `model_row`) as the family's input: a Pool, or value columns."""
        if self.family == "scorecard":
            return [list(column) for column in zip(*rows, strict=True)]
        matrix = np.empty((len(rows), len(self.feature_names)), dtype=object)
        matrix[:] = rows
        return Pool(matrix, cat_features=self._cat_index or None, thread_count=1)

    def _frame_input(self, chunk: pl.DataFrame, thread_count: int) -> Any:
        if self.family == "scorecard":
            return self.model.terms(chunk)
        return Pool(
            to_catboost_frame(chunk, self.features),
            cat_features=self._cat_index or None,
            thread_count=thread_count,
        )

    def _explain(self, inputs: Any, thread_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(per-feature contributions to risk, raw log-odds) of the family's input.

        CatBoost: exact SHAP from the leaf tables. Scorecard: the points lost against the
        maximum attainable per characteristic (value columns are turned into terms first).
        """
        if self.family == "scorecard":
            scorecard: TrainedScorecard = self.model
            terms = inputs if isinstance(inputs, np.ndarray) else scorecard.terms_of_columns(inputs)
            return scorecard.points_lost(terms), scorecard.raw_of_terms(terms)
        assert self.explainer is not None
        leaves = self.model.calc_leaf_indexes(inputs, thread_count=thread_count)
        return self.explainer.explain_leaves(leaves)

    def _decide(
        self, inputs: Any, unscorable: Sequence[str | None], thread_count: int = 1
    ) -> list[Decision]:
        """Decisions for the model input of rows whose `unscorable` reason is None; the
        others get their reason and no score."""
        shap, raw = self._explain(inputs, thread_count)
        pd = 1.0 / (1.0 + np.exp(-raw))
        scores = self.scale.score_from_pd(pd)
        bands = self.bands.bands_for_scores(scores)
        reasons = self.reason_map.top_batch(shap, MAX_REASONS)
        return [
            Decision(True, float(p), int(s), str(b), tuple(r))
            if why is None
            else Decision(scorable=False, not_scorable_reason=why)
            for why, p, s, b, r in zip(
                unscorable, pd.tolist(), scores.tolist(), bands, reasons, strict=True
            )
        ]


_ABSENT = object()
_SCORABLE = "__scorable"


def decisions_frame(decisions: Sequence[Decision], model_version: str) -> pl.DataFrame:
    """Decisions as the columns `score_frame` returns (without the kept key columns)."""
    return pl.DataFrame(
        {
            "scorable": [d.scorable for d in decisions],
            "pd": [d.pd for d in decisions],
            "score": [d.score for d in decisions],
            "band": [d.band for d in decisions],
            "reasons": [d.reasons_json() for d in decisions],
            "not_scorable_reason": [d.not_scorable_reason for d in decisions],
            "model_version": [model_version] * len(decisions),
        },
        schema={
            "scorable": pl.Boolean,
            "pd": pl.Float64,
            "score": pl.Int64,
            "band": pl.String,
            "reasons": REASON_DTYPE,
            "not_scorable_reason": pl.String,
            "model_version": pl.String,
        },
    )
