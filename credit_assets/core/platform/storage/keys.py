"""Every key the platform writes in its data store, in one place.

Keys are relative POSIX paths under the data store's root (`CREDIT_HOME/data` or the S3
prefix). Artifacts (`models/<version>/...`) live in the artifact store instead
(`credit_assets.core.modeling.artifacts`).
"""

from __future__ import annotations

RAW_PREFIX = "raw/"
QUARANTINE_PREFIX = "quarantine/"
QUARANTINE_REPORT = "quarantine_report/quarantine.parquet"
BORROWER_FEATURES_PREFIX = "features/borrower_features/"
TRAINING_SET = "features/training_set.parquet"
BATCH_SCORES_PREFIX = "scores/batch_scores/"
DEMOGRAPHIC_PROXIES = "compliance/demographic_proxies.parquet"
"""BISG probabilities per application: fairness testing only, never a model input."""
DEMOGRAPHIC_PROXIES_COVERAGE = "compliance/demographic_proxies_coverage.json"

REPORT_KINDS = (
    "model_selection",
    "model_evaluation",
    "fairness",
    "reason_accuracy",
    "reason_codes",
    "explainability",
    "lda",
    "model_cards",
    "drift",
    "experiments",
)


def raw_key(source: str, partition_key: str) -> str:
    """A landing file's validated rows: `raw/<source>/<file partition>.parquet`."""
    return f"{RAW_PREFIX}{source}/{partition_key}.parquet"


def raw_prefix(source: str) -> str:
    return f"{RAW_PREFIX}{source}/"


def quarantine_key(source: str, partition_key: str) -> str:
    """A landing file's quarantined rows: `quarantine/<source>/<file partition>.parquet`."""
    return f"{QUARANTINE_PREFIX}{source}/{partition_key}.parquet"


def bucket_key(bucket: str) -> str:
    """One borrower-hash bucket of the feature snapshot."""
    return f"{BORROWER_FEATURES_PREFIX}bucket={bucket}.parquet"


def batch_scores_key(bucket: str) -> str:
    return f"{BATCH_SCORES_PREFIX}bucket={bucket}.parquet"


def scorecard_key(training_sha: str) -> str:
    """The WoE scorecard baseline trained on one training set (by its content hash)."""
    return f"scorecards/{training_sha}/scorecard.json"


def candidate_fit_key(training_sha: str, family: str) -> str:
    """A family fitted on one training set while it was judged (reused when it is chosen)."""
    return f"candidates/{training_sha}/{family}.json"


def report_key(kind: str, name: str, extension: str = "json") -> str:
    """A report: `reports/<kind>/<model version, catalogue version or day>.<ext>`."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"unknown report kind {kind!r}; known: {', '.join(REPORT_KINDS)}")
    return f"reports/{kind}/{name}.{extension}"
