"""Monitoring of live decisions: population drift, performance on matured outcomes, shadow models.

Pure functions over frames and arrays; the Dagster monitoring assets read the
decision log and call these.
"""

from credit_assets.core.monitoring.drift import (
    DEFAULT_THRESHOLDS,
    EMPTY_BIN_SHARE,
    DriftReport,
    FeatureDrift,
    PsiBin,
    PsiResult,
    categorical_stability_index,
    characteristic_stability,
    drift_report,
    population_stability_index,
    psi_status,
)
from credit_assets.core.monitoring.performance import PerformanceReport, performance_report
from credit_assets.core.monitoring.shadow_comparison import ShadowComparison, shadow_comparison

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EMPTY_BIN_SHARE",
    "DriftReport",
    "FeatureDrift",
    "PerformanceReport",
    "PsiBin",
    "PsiResult",
    "ShadowComparison",
    "categorical_stability_index",
    "characteristic_stability",
    "drift_report",
    "performance_report",
    "population_stability_index",
    "psi_status",
    "shadow_comparison",
]
