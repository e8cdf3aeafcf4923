"""Explanations of CatBoost scores: exact SHAP from leaf tables, reason codes, reason accuracy.

Pure domain code (no Dagster): the `explainability_report` asset and the scoring
API call the same functions.
"""

from credit_assets.core.explain.accuracy import (
    ReasonAccuracyFailure,
    ReasonAccuracyReport,
    applicants_to_check,
    population_baselines,
    validate_reason_accuracy,
)
from credit_assets.core.explain.leaf_shap import (
    LeafShapExplainer,
    model_fingerprint,
    needs_background,
)
from credit_assets.core.explain.reasons import Reason, ReasonCodeMap, top_reasons, top_reasons_batch

__all__ = [
    "LeafShapExplainer",
    "Reason",
    "ReasonAccuracyFailure",
    "ReasonAccuracyReport",
    "ReasonCodeMap",
    "applicants_to_check",
    "model_fingerprint",
    "needs_background",
    "population_baselines",
    "top_reasons",
    "top_reasons_batch",
    "validate_reason_accuracy",
]
