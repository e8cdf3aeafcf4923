"""Point-in-time features from alternative data and application attributes.

Pure Polars, lazy. The same `compute_features` serves the batch assets and a
single scoring request (`features_for_payload`), so training and serving agree.
"""

from credit_assets.core.features.build import compute_features, snapshot_features
from credit_assets.core.features.catalogue import feature_catalogue
from credit_assets.core.features.frames import KIND_COLUMNS, KIND_STEMS, SourceColumnError
from credit_assets.core.features.hashing import borrower_bucket, stable_hash
from credit_assets.core.features.payload import features_for_payload
from credit_assets.core.features.training_set import (
    build_training_set,
    is_out_of_time,
    model_feature_names,
    training_set_summary,
)

__all__ = [
    "KIND_COLUMNS",
    "KIND_STEMS",
    "SourceColumnError",
    "borrower_bucket",
    "build_training_set",
    "compute_features",
    "feature_catalogue",
    "features_for_payload",
    "is_out_of_time",
    "model_feature_names",
    "snapshot_features",
    "stable_hash",
    "training_set_summary",
]
