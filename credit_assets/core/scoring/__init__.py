"""Scoring one borrower or a frame of them with a registered model: score, PD, band, reasons.

`model`: `ScoringModel` (loads a registry record's artifact, verifies it, scores rows and
frames with exact-SHAP reasons), `Decision`, `decisions_frame`, `not_scorable_reason`,
`MissingFeaturesError` (re-exported here). The scoring API and the `batch_scores` asset
call the same functions.
"""

from credit_assets.core.scoring.model import (
    INSUFFICIENT_HISTORY,
    LEAF_SHAP_FILE,
    MAX_REASONS,
    NO_APPLICATION_DATA,
    Decision,
    MissingFeaturesError,
    ScoringModel,
    decisions_frame,
    not_scorable_reason,
    scorable_expr,
)

__all__ = [
    "INSUFFICIENT_HISTORY",
    "LEAF_SHAP_FILE",
    "MAX_REASONS",
    "NO_APPLICATION_DATA",
    "Decision",
    "MissingFeaturesError",
    "ScoringModel",
    "decisions_frame",
    "not_scorable_reason",
    "scorable_expr",
]
