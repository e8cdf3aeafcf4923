"""The experiment report recommends correctly when the truth is known.

The synthetic population's true default probabilities (the generator's ground truth) decide
every outcome. Two models score it: each PD is the true log-odds blurred by noise, more noise
for the worse model, so the test knows which arm is really better. Borrowers are assigned to
arms by the experiment's keyed hash, as the API assigns them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

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
    assert evidence.reason == (
        "too few matured outcomes to compare the arms (each needs 30 bads and 30 goods; "
        "champion: 0 bads and 0 goods matured; challenger: 0 bads and 0 goods matured)"
    )
    assert evidence.auc_difference is None and evidence.outcomes_needed_per_arm is None


def test_a_small_difference_not_yet_significant_runs_longer_and_says_how_many_are_needed(
    truth,
):
    # Nearly equal models (noise 0.5 and 0.48) on 20 000 borrowers: the challenger's arm holds
    # 4 014 matured outcomes, too few to tell a difference of 0.02 AUC at 80 % power.
    equal = experiment_evidence(*scored(truth, 0.5, 0.48), cutoff=600)
    champion, challenger = equal.outcomes["champion"], equal.outcomes["challenger"]
    assert (champion.matured, champion.bads) == (15_986, 1_381)
    assert (challenger.matured, challenger.bads) == (4_014, 373)
    assert equal.auc_difference == pytest.approx(0.0146, abs=5e-4)
    assert equal.auc_p_value == pytest.approx(0.287, abs=1e-3)
    assert equal.recommendation == "run_longer", equal.reason
    # The power calculation, done here by hand: outcomes per arm for a 0.02 AUC difference
    # at alpha 0.05 and power 0.8, given the arms' DeLong errors, less those already matured.
    assert champion.auc_se is not None and challenger.auc_se is not None
    se = math.hypot(champion.auc_se, challenger.auc_se)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    target = math.ceil(challenger.matured * (z * se / 0.02) ** 2)
    assert equal.outcomes_needed_per_arm == target - challenger.matured == 10_887
    assert f"about {equal.outcomes_needed_per_arm} more matured outcomes" in equal.reason


def test_no_difference_with_outcomes_enough_keeps_the_champion(truth):
    # Equally good models (noise 0.5 in both arms); a lender who only acts on a difference of
    # 0.05 AUC or more already holds the outcomes to see one, and none is there.
    decisions, outcomes = scored(truth, champion_noise=0.5, challenger_noise=0.5)
    evidence = experiment_evidence(decisions, outcomes, cutoff=600, min_effect=0.05)
    champion, challenger = evidence.outcomes["champion"], evidence.outcomes["challenger"]
    assert champion.auc is not None and challenger.auc is not None
    matured = decisions.join(outcomes, on="borrower_id")
    for arm in (champion, challenger):
        rows = matured.filter(pl.col("arm") == arm.arm)
        assert arm.auc == pytest.approx(roc_auc_score(rows["bad"], rows["pd"]), abs=1e-12)
    assert evidence.auc_difference == pytest.approx(0.0134, abs=5e-4)
    assert evidence.auc_p_value == pytest.approx(0.33, abs=5e-3)
    assert evidence.outcomes_needed_per_arm == 0
    assert evidence.recommendation == "keep_champion", evidence.reason
    assert evidence.reason == (
        "no difference of 0.05 AUC or more: AUC 0.789 (challenger) against 0.775 (champion), "
        "difference +0.013, p = 0.33, with the outcomes needed to see one."
    )


def _wilson(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval in its closed form (Wilson 1927), written out here."""
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    centre = (successes + z**2 / 2) / (n + z**2)
    half = z * math.sqrt(n) / (n + z**2) * math.sqrt(p * (1 - p) + z**2 / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_the_wilson_interval_covers_the_rate_and_stays_in_bounds():
    low, high = wilson_interval(0, 50)
    assert low == pytest.approx(0.0, abs=1e-12) and 0.05 < high < 0.08
    low, high = wilson_interval(20, 200)
    assert low < 0.1 < high and high - low < 0.09


@pytest.mark.parametrize(
    ("bads", "n", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, the worked examples by
        # method 3 (Wilson score, no continuity correction), to the four places printed.
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
        (29, 29, (0.8830, 1.0)),
        # 7 of 10 at 95 %: 0.3968 to 0.8922.
        (7, 10, (0.3968, 0.8922)),
    ],
)
def test_the_wilson_interval_equals_published_values(bads, n, expected):
    assert wilson_interval(bads, n) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("bads", "n"), [(0, 50), (20, 200), (1, 10), (373, 4014), (50, 50)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_the_wilson_interval_equals_the_closed_form(bads, n, confidence):
    assert wilson_interval(bads, n, confidence) == pytest.approx(
        _wilson(bads, n, confidence), abs=1e-12
    )
