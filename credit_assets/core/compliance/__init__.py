"""Compliance core: fairness, proxy screening, less discriminatory alternatives,
explainability reports and model cards. Pure Python, no Dagster; the compliance
assets call these functions and publish what they return."""

from credit_assets.core.compliance.explainability import (
    ExplainabilityReport,
    explainability_report,
)
from credit_assets.core.compliance.fairness import (
    DEFAULT_APPROVAL_RATES,
    AttributeFairness,
    FairnessReport,
    GroupFairness,
    fairness_report,
)
from credit_assets.core.compliance.groups import (
    AGE_BAND_EDGES,
    MISSING_GROUP,
    band_age,
    band_labels,
)
from credit_assets.core.compliance.lda_candidates import SearchBudget, SearchSpace
from credit_assets.core.compliance.lda_discovery import (
    SearchResult,
    search_less_discriminatory_alternatives,
)
from credit_assets.core.compliance.model_card import (
    DEFAULT_INTENDED_USE,
    DEFAULT_LIMITATIONS,
    SECTION_IDS,
    ModelCard,
    build_model_card,
)
from credit_assets.core.compliance.proxies import PROXY_AUC_THRESHOLD, proxy_screen

__all__ = [
    "AGE_BAND_EDGES",
    "DEFAULT_APPROVAL_RATES",
    "DEFAULT_INTENDED_USE",
    "DEFAULT_LIMITATIONS",
    "MISSING_GROUP",
    "PROXY_AUC_THRESHOLD",
    "SECTION_IDS",
    "AttributeFairness",
    "ExplainabilityReport",
    "FairnessReport",
    "GroupFairness",
    "ModelCard",
    "SearchBudget",
    "SearchResult",
    "SearchSpace",
    "band_age",
    "band_labels",
    "build_model_card",
    "explainability_report",
    "fairness_report",
    "proxy_screen",
    "search_less_discriminatory_alternatives",
]
