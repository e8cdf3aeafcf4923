"""An L2-penalised logistic regression on one-hot and standardised inputs.

The plainest credit model there is, and on many classic credit files as good as a
boosted one: it is the reference every challenger's cross-validated AUC is set
against. Numeric inputs are median-imputed with a missing indicator and
standardised; categorical inputs are one-hot encoded with missing as its own level
and levels unseen in training ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling.scorecard import to_scorecard_frame
from credit_assets.core.modeling.train import SPLIT_COLUMN, labels_of

MISSING_LEVEL = "(missing)"


@dataclass
class TrainedLogistic:
    features: list[FeatureSpec]
    c: float
    pipeline: Pipeline = field(repr=False)

    def predict_pd(self, frame: pl.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(_inputs(frame, self.features))[:, 1])


def _inputs(frame: pl.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    inputs = to_scorecard_frame(frame, features)
    for spec in features:
        if spec.is_categorical:
            inputs[spec.name] = inputs[spec.name].fillna(MISSING_LEVEL).astype(str)
    return inputs


def train_logistic(
    training_set: pl.DataFrame, features: list[FeatureSpec], seed: int, c: float = 1.0
) -> TrainedLogistic:
    """Fit on the `train` split (C is the inverse L2 strength; 1.0 is scikit-learn's default)."""
    train = training_set.filter(pl.col(SPLIT_COLUMN) == "train")
    y = labels_of(train)
    if len(np.unique(y)) < 2:
        raise ValueError("the train split has a single class; cannot fit a default model")
    numeric = [f.name for f in features if not f.is_categorical]
    categorical = [f.name for f in features if f.is_categorical]
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical)
        )
    pipeline = Pipeline(
        [
            ("inputs", ColumnTransformer(transformers)),
            ("model", LogisticRegression(C=c, max_iter=2000, random_state=seed)),
        ]
    )
    pipeline.fit(_inputs(train, features), y)
    return TrainedLogistic(features=list(features), c=c, pipeline=pipeline)
