"""The experiment report recommends correctly when the truth is known.

The synthetic population's true default probabilities (the generator's ground truth) decide
every outcome. Two models score it: each PD is the true log-odds blurred by noise, more noise
for the worse model, so the test knows which arm is really better. Borrowers are assigned to
arms by the experiment's keyed hash, as the API assigns them.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from credit_assets.core.monitoring.experiment_report import experiment_evidence, wilson_interval
from credit_assets.core.platform.experiments import assign_arm
from credit_assets.core.tools.synthetic import generate_frames

KEY = bytes(range(32))
SHARE = 0.2  # the largest an experiment may send to the challenger by default


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return generate_frames(20_000, seed=5)["ground_truth"].select("borrower_id", "true_pd")


def scored(truth: pl.DataFrame, champion_noise: float, challenger_noise: float, seed: int = 1):
    """(decisions, outcomes): each borrower decided once by its arm's model, its outcome drawn
    from its true PD."""
    rng = np.random.default_rng(seed)
    true_pd = truth["true_pd"].to_numpy()
    logit = np.log(true_pd / (1 - true_pd))
    arms = [assign_arm(KEY, SHARE, "acme", f"borrower:{b}") for b in truth["borrower_id"]]
    noise = np.where(np.array(arms) == "challenger", challenger_noise, champion_noise)
    pd = 1 / (1 + np.exp(-(logit + rng.normal(0, 1, len(logit)) * noise)))
    score = np.clip(np.round(650 - 40 / np.log(2) * np.log(pd / (1 - pd) * 20)), 300, 850)
    decisions = pl.DataFrame(
        {
            "arm": arms,
            "scorable": True,
            "score": score.astype(int),
            "pd": pd,
            "borrower_id": truth["borrower_id"],
            "reasons": [json.dumps([{"code": "U03"}])] * truth.height,
            "created_at": pl.datetime_range(
                pl.datetime(2026, 1, 1), pl.datetime(2026, 1, 2), interval="4s", eager=True
            )[: truth.height],
        }
    )
    outcomes = pl.DataFrame(
        {
            "borrower_id": truth["borrower_id"],
            "bad": (rng.random(len(true_pd)) < true_pd).astype(int),
        }
    )
    return decisions, outcomes


def test_a_truly_better_challenger_is_recommended_for_promotion(truth):
    decisions, outcomes = scored(truth, champion_noise=1.5, challenger_noise=0.3)
    evidence = experiment_evidence(decisions, outcomes, cutoff=600)
    assert evidence.recommendation == "promote", evidence.reason
    assert evidence.auc_difference is not None and evidence.auc_difference > 0.03
    assert evidence.auc_p_value is not None and evidence.auc_p_value < 0.05
    challenger = evidence.outcomes["challenger"]
    assert challenger.matured == evidence.arms["challenger"].decisions
    assert 0.15 < challenger.matured / truth.height < 0.25  # the share, by the keyed hash


def test_a_truly_worse_challenger_keeps_the_champion(truth):
    decisions, outcomes = scored(truth, champion_noise=0.3, challenger_noise=1.5)
    evidence = experiment_evidence(decisions, outcomes, cutoff=600)
    assert evidence.recommendation == "keep_champion", evidence.reason
    assert evidence.auc_difference is not None and evidence.auc_difference < -0.03
    assert "ranks risk worse" in evidence.reason


def test_too_few_outcomes_run_longer_and_say_how_many_are_needed(truth):
    decisions, outcomes = scored(truth.head(600), champion_noise=0.5, challenger_noise=0.45)
    evidence = experiment_evidence(decisions, outcomes.head(0), cutoff=600)
    assert evidence.recommendation == "run_longer"
    assert "too few matured outcomes" in evidence.reason
    equal = experiment_evidence(*scored(truth, 0.5, 0.48), cutoff=600)
    assert equal.recommendation in ("run_longer", "keep_champion")
    if equal.recommendation == "run_longer":
        assert equal.outcomes_needed_per_arm and equal.outcomes_needed_per_arm > 0
        assert f"about {equal.outcomes_needed_per_arm} more matured outcomes" in equal.reason


def test_the_wilson_interval_covers_the_rate_and_stays_in_bounds():
    low, high = wilson_interval(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.05 < high < 0.08
    low, high = wilson_interval(20, 200)
    assert low < 0.1 < high and high - low < 0.09
