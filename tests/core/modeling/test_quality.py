"""The quality bar on the demo population: the challenger gets within 0.02 AUC of the best any
model could do (the generator's true PD), on an out-of-time test split it never saw."""

import polars as pl
import pytest

from credit_assets.core.contracts import load_contracts
from credit_assets.core.features import build_training_set, feature_catalogue, model_feature_names
from credit_assets.core.modeling import TrainConfig, auc, train_challenger
from credit_assets.core.tools.synthetic import generate_frames
from tests.support.paths import REPO_ROOT


@pytest.mark.slow
def test_challenger_is_within_two_points_of_the_bayes_optimal_auc_on_the_demo_population():
    contracts = load_contracts(REPO_ROOT / "contracts")
    frames = generate_frames(50_000, seed=42)
    truth = frames.pop("ground_truth")
    sources = {name: frame.lazy() for name, frame in frames.items() if name in contracts}
    training_set = build_training_set(sources, contracts, seed=42)
    catalogue = feature_catalogue(contracts)
    specs = [catalogue[n] for n in model_feature_names(training_set, catalogue)]

    model = train_challenger(training_set, specs, TrainConfig(threads=2, seed=42))

    test = training_set.filter(pl.col("split") == "test").join(
        truth.select("application_id", "true_pd"), on="application_id"
    )
    y = test["default_flag"].to_numpy()
    challenger_auc = auc(y, model.predict_pd(test, thread_count=2))
    bayes_auc = auc(y, test["true_pd"].to_numpy())
    assert test.height > 5_000
    assert 0.75 <= bayes_auc <= 0.88
    assert bayes_auc - challenger_auc <= 0.02, (
        f"challenger {challenger_auc:.4f} vs Bayes-optimal {bayes_auc:.4f}"
    )
    assert challenger_auc <= bayes_auc + 0.005, "beating the true PD means leakage"
