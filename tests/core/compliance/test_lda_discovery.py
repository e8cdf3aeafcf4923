"""The less-discriminatory-alternative search: it discovers a fix that exists, refutes one that
does not, stops within its budget, and every candidate can be refitted exactly."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from credit_assets.core.compliance.lda_candidates import (
    CHALLENGER,
    STOP_CANDIDATES,
    STOP_EXHAUSTED,
    STOP_SECONDS,
    CandidateConfig,
    SearchBudget,
    SearchSpace,
    refit,
    sample_weights,
)
from credit_assets.core.compliance.lda_discovery import (
    SearchResult,
    _fit_candidate,
    _FitData,
    pareto_frontier,
    search_less_discriminatory_alternatives,
)
from credit_assets.core.compliance.lda_report import lda_html
from credit_assets.core.compliance.lda_statement import search_statement
from credit_assets.core.compliance.proxies import proxy_screen
from credit_assets.core.modeling.cross_validation import auc_standard_error
from credit_assets.core.modeling.train import TrainConfig, train_challenger
from credit_assets.core.reports.text import md_escape
from tests.support.lda_data import (
    INHERENT_FEATURES,
    PLANTED_FEATURES,
    FitDataThatKillsWorkers,
    inherent_disparity,
    planted_proxy_disparity,
)

CONFIG = TrainConfig(
    iterations=150, learning_rate=0.1, depth=4, early_stopping_rounds=30, threads=1, seed=7
)
SPACE = SearchSpace(
    families=("catboost", "scorecard"),
    seeds=(1, 2),
    depths=(3, 4),
    learning_rates=(0.1,),
    l2_leaf_regs=(3.0, 10.0),
    iterations=(150,),
    reduction_max_iter=15,
)
APPROVAL_RATE = 0.4
TOLERANCE = 0.01


def _search(frame: pl.DataFrame, features, budget: SearchBudget, **kw) -> SearchResult:
    test = frame.filter(pl.col("split") == "test")
    challenger = train_challenger(frame, features, CONFIG)
    return search_less_discriminatory_alternatives(
        frame,
        features,
        ["sex"],
        challenger_pd=challenger.predict_pd(test),
        approval_rate=APPROVAL_RATE,
        base_config=CONFIG,
        space=kw.pop("space", SPACE),
        budget=budget,
        **kw,
    )


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, SearchResult]:
    frame = planted_proxy_disparity(5000, seed=0)
    return frame, _search(frame, PLANTED_FEATURES, SearchBudget(max_candidates=16))


@pytest.fixture(scope="module")
def inherent() -> SearchResult:
    frame = inherent_disparity(5000, seed=0)
    return _search(frame, INHERENT_FEATURES, SearchBudget(max_candidates=14))


def test_the_generated_proxy_is_a_strong_proxy_for_sex(planted):
    frame, _ = planted
    train = frame.filter(pl.col("split") == "train")
    top = proxy_screen(train, PLANTED_FEATURES, ["sex"])[0]
    assert top["feature"] == "shopping_index" and top["auc"] > 0.9


def test_a_planted_disparity_with_a_fix_is_discovered(planted):
    _, result = planted
    challenger = result.candidate(CHALLENGER)
    assert result.kind == "discovery" and result.finding == "passes_fairness_policy"
    assert challenger["worst_air"] < 0.8 and not challenger["passes_fairness_policy"]
    found = result.candidate(result.alternative)
    assert found["comparable"] and -found["auc_difference"] <= TOLERANCE
    assert found["worst_air"] >= 0.8 and found["passes_fairness_policy"]
    assert found["servable"]  # a model the platform can serve is offered first
    assert result.statement.startswith(f"Discovery: alternative '{result.alternative}'")
    assert f"from {challenger['worst_air']:.2f} to {found['worst_air']:.2f}" in result.statement
    assert "DeLong 95 %" in result.statement


def test_dropping_the_proxy_is_comparable_and_fair(planted):
    _, result = planted
    dropped = result.candidate("drop_shopping_index")
    assert dropped["comparable"] and dropped["worst_air"] >= 0.8
    assert dropped["air_gain_low"] > 0  # paired bootstrap: the gain is not noise


def test_a_disparity_in_the_signal_itself_is_refuted_not_invented(inherent):
    result = inherent
    assert result.kind == "refutation" and result.alternative is None
    comparable = [r for r in result.candidates[1:] if r["comparable"]]
    assert comparable and not any(r["passes_fairness_policy"] for r in comparable)
    best = result.candidate(result.least_discriminatory_comparable)
    assert best["worst_air"] < 0.8
    assert f"among {result.budget['candidates']} candidates" in result.statement
    assert f"best {best['worst_air']:.2f} (candidate '{best['name']}'" in result.statement
    assert "none within 0.01 AUC reaches AIR 0.8" in result.statement
    # Fair models exist, but only at a large AUC cost: outside the comparable set.
    fair = [r for r in result.candidates[1:] if r["worst_air"] and r["worst_air"] >= 0.8]
    assert fair and all(r["auc_difference"] < -0.05 for r in fair)


def test_a_small_budget_tries_every_kind_of_candidate(planted):
    _, result = planted
    assert result.budget["stop_reason"] == STOP_CANDIDATES
    assert result.budget["candidates"] == 16 == len(result.candidates) - 1
    kinds = {
        "hyperparameters",
        "drop_proxies",
        "coarsen_proxy",
        "monotone_proxy",
        "reweighting",
        "reduction",
        "scorecard",
    }
    assert {r["generator"] for r in result.candidates[1:]} == kinds


def test_the_search_stops_at_its_time_budget():
    frame = planted_proxy_disparity(2000, seed=1)
    ticks = itertools.count()
    result = _search(
        frame,
        PLANTED_FEATURES,
        SearchBudget(max_candidates=50, max_seconds=9.0),
        space=SearchSpace(protected_in_training=False, seeds=(1,), iterations=(60,)),
        clock=lambda: float(next(ticks)),  # one second per reading
    )
    assert result.budget["stop_reason"] == STOP_SECONDS
    assert 0 < result.budget["candidates"] < 50 and result.budget["seconds"] >= 9.0


PARALLEL_SPACE = SearchSpace(
    families=("catboost", "scorecard"),
    seeds=(1,),
    depths=(3, 4),
    learning_rates=(0.1,),
    l2_leaf_regs=(3.0,),
    iterations=(60,),
    reduction_max_iter=10,
)


@pytest.fixture(scope="module")
def in_parallel() -> tuple[SearchResult, SearchResult]:
    """The same search fitted in this process and by two worker processes; 7 candidates, so
    the last batch of two holds one."""
    frame = planted_proxy_disparity(2000, seed=3)
    return tuple(  # type: ignore[return-value]
        _search(
            frame,
            PLANTED_FEATURES,
            SearchBudget(max_candidates=7, workers=workers),
            space=PARALLEL_SPACE,
        )
        for workers in (1, 2)
    )


def test_candidates_fitted_in_parallel_are_the_candidates_fitted_in_turn(in_parallel):
    sequential, parallel = in_parallel

    def figures(result: SearchResult) -> list[tuple]:
        return [(r["name"], r["auc"], r["worst_air"]) for r in result.candidates]

    assert figures(parallel) == figures(sequential)
    assert len({r["generator"] for r in parallel.candidates[1:]}) == 7  # every kind, 2 processes
    assert (parallel.kind, parallel.alternative) == (sequential.kind, sequential.alternative)


def test_a_worker_killed_mid_search_is_a_note_not_a_failed_search(in_parallel, monkeypatch):
    """The worker processes die on receiving the first batch: the search goes on in this
    process, finds the same candidates with the same figures, and says why it fell back."""
    import credit_assets.core.compliance.lda_discovery as discovery

    monkeypatch.setattr(discovery, "_FitData", FitDataThatKillsWorkers)
    frame = planted_proxy_disparity(2000, seed=3)
    fallen_back = _search(
        frame, PLANTED_FEATURES, SearchBudget(max_candidates=7, workers=2), space=PARALLEL_SPACE
    )
    sequential, _ = in_parallel
    assert [(r["name"], r["auc"], r["worst_air"]) for r in fallen_back.candidates] == [
        (r["name"], r["auc"], r["worst_air"]) for r in sequential.candidates
    ]
    assert "TerminatedWorkerError" in fallen_back.budget["parallel_fallback"]
    assert "parallel_fallback" not in sequential.budget
    assert "one at a time in this process" in lda_html(fallen_back, model_version="v1")


def test_parallel_fits_never_start_more_than_max_candidates(in_parallel):
    _, parallel = in_parallel
    assert parallel.budget["stop_reason"] == STOP_CANDIDATES
    assert parallel.budget["candidates"] == 7 == len(parallel.candidates) - 1


def test_the_budget_records_the_workers(in_parallel):
    sequential, parallel = in_parallel
    assert (sequential.budget["workers"], parallel.budget["workers"]) == (1, 2)
    assert SearchBudget(workers=2).describe().endswith(", 2 fitted at a time")
    assert SearchBudget().describe() == "at most 40 candidates and 900 s"
    with pytest.raises(ValueError, match="workers must be at least 1"):
        SearchBudget(workers=0)


def test_parallel_batches_stop_at_the_time_budget():
    frame = planted_proxy_disparity(2000, seed=1)
    ticks = itertools.count()
    result = _search(
        frame,
        PLANTED_FEATURES,
        SearchBudget(max_candidates=50, max_seconds=3.0, workers=2),
        space=SearchSpace(protected_in_training=False, seeds=(1,), iterations=(60,)),
        clock=lambda: float(next(ticks)),  # one second per reading: one reading per batch
    )
    assert result.budget["stop_reason"] == STOP_SECONDS
    assert result.budget["candidates"] == 4  # two batches of two began before 3 s


def test_a_candidate_that_cannot_be_fitted_returns_its_error():
    frame = planted_proxy_disparity(600, seed=2)
    config = CandidateConfig("odd", "unknown", "hyperparameters", "odd", ("utilisation",))
    fit = _fit_candidate(config, _FitData(frame, PLANTED_FEATURES, None, frame))
    assert fit.risk is None
    assert fit.error == "ValueError: unknown candidate family 'unknown'"


def test_a_search_that_runs_out_of_candidates_says_so():
    frame = planted_proxy_disparity(2000, seed=1)
    space = SearchSpace(
        protected_in_training=False,
        seeds=(1,),
        depths=(3,),
        learning_rates=(0.1,),
        l2_leaf_regs=(3.0,),
        iterations=(60,),
        top_proxies=1,
        max_dropped=1,
        coarsen_buckets=(2,),
    )
    result = _search(frame, PLANTED_FEATURES, SearchBudget(max_candidates=50), space=space)
    assert result.budget["stop_reason"] == STOP_EXHAUSTED
    assert [r["generator"] for r in result.candidates[1:]] == [
        "drop_proxies",
        "hyperparameters",
        "coarsen_proxy",
        "monotone_proxy",
    ]
    assert not any(r["uses_protected_attribute_in_training"] for r in result.candidates)


def test_every_candidate_says_whether_it_trained_on_a_protected_attribute(planted):
    _, result = planted
    for row in result.candidates[1:]:
        config = CandidateConfig.from_dict(row["config"])
        assert row["uses_protected_attribute_in_training"] is (
            config.generator in ("reweighting", "reduction")
        )
        assert row["servable"] is (config.family != "reduction")
        assert not any(f.startswith("protected_") for f in config.features)


def test_the_figures_are_judged_at_the_challengers_approval_rate(planted):
    frame, result = planted
    test = frame.filter(pl.col("split") == "test")
    k = math.ceil(APPROVAL_RATE * test.height)
    challenger_pd = train_challenger(frame, PLANTED_FEATURES, CONFIG).predict_pd(test)
    approved = np.zeros(test.height, dtype=bool)
    approved[np.argsort(challenger_pd, kind="stable")[:k]] = True
    female = test["protected_sex"].to_numpy() == "female"
    rates = approved[female].mean(), approved[~female].mean()
    challenger = result.candidate(CHALLENGER)
    assert challenger["worst_air"] == pytest.approx(min(rates) / max(rates), abs=1e-12)
    for row in result.candidates:
        if row.get("worst_air") is None:
            continue
        assert row["approval_rate"] == pytest.approx(k / test.height)
        assert row["worst_air_low"] <= row["worst_air"] <= row["worst_air_high"]
        curve = {p["approval_rate"]: p["worst_air"] for p in row["air_by_approval_rate"]}
        assert len(curve) == 14 and curve[APPROVAL_RATE] == pytest.approx(row["worst_air"])


def test_the_frontier_is_the_non_dominated_set(planted):
    _, result = planted
    points = [r for r in result.candidates if r.get("auc") is not None]
    on = [r for r in points if r["name"] in result.frontier]
    off = [r for r in points if r["name"] not in result.frontier]
    assert on and off
    for r in off:
        assert any(o["auc"] >= r["auc"] and o["worst_air"] >= r["worst_air"] for o in on)
    rows = [
        {"name": "a", "auc": 0.80, "worst_air": 0.9},
        {"name": "b", "auc": 0.85, "worst_air": 0.7},
        {"name": "c", "auc": 0.79, "worst_air": 0.6},
    ]
    assert pareto_frontier(rows) == ["b", "a"]


@pytest.mark.parametrize("generator", ["coarsen_proxy", "reweighting", "reduction", "scorecard"])
def test_refit_reproduces_a_candidate_exactly(planted, generator):
    frame, result = planted
    test = frame.filter(pl.col("split") == "test")
    row = next(r for r in result.candidates[1:] if r["generator"] == generator)
    config = result.config(row["name"])
    first = refit(config, frame, PLANTED_FEATURES).predict_pd(test)
    second = refit(config, frame, PLANTED_FEATURES).predict_pd(test)
    np.testing.assert_array_equal(first, second)
    y = test["default_flag"].to_numpy()
    assert auc_standard_error(y, first)[0] == row["auc"]  # the very candidate the search scored


def test_refit_of_a_hyperparameter_candidate_is_train_challenger(planted):
    frame, result = planted
    test = frame.filter(pl.col("split") == "test")
    row = next(r for r in result.candidates[1:] if r["generator"] == "hyperparameters")
    config = result.config(row["name"])
    direct = train_challenger(frame, PLANTED_FEATURES, config.train_config())
    np.testing.assert_array_equal(
        refit(config, frame, PLANTED_FEATURES).predict_pd(test), direct.predict_pd(test)
    )


def test_the_result_round_trips_through_json_with_none_for_undefined_figures(planted):
    _, result = planted
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    again = SearchResult.from_dict(data)
    assert again.to_dict() == data
    assert again.config(result.alternative) == result.config(result.alternative)
    challenger = data["candidates"][0]
    assert challenger["auc_difference"] is None and challenger["p_worse"] is None
    assert challenger["config"] is None
    assert data["budget"]["stop_reason"] == STOP_CANDIDATES and data["method"]


def test_no_protected_attribute_means_no_search():
    frame = planted_proxy_disparity(600, seed=2)
    test = frame.filter(pl.col("split") == "test")
    result = search_less_discriminatory_alternatives(
        frame,
        PLANTED_FEATURES,
        [],
        challenger_pd=np.full(test.height, 0.3),
        approval_rate=0.5,
        base_config=CONFIG,
    )
    assert result.kind == "not_assessed" and result.candidates == []
    assert result.budget["candidates"] == 0


def test_weights_give_each_group_and_label_cell_the_same_weight():
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 1])
    groups = np.array(["f", "f", "f", "f", "m", "m", "f", "m", "m", "m"])
    weights = sample_weights(labels, groups, "equal_group_label_cells")
    cells = {(g, y): weights[(groups == g) & (labels == y)].sum() for g in "fm" for y in (0, 1)}
    assert np.allclose(list(cells.values()), 2.5) and weights.mean() == pytest.approx(1.0)
    independent = sample_weights(labels, groups, "group_label_independence")
    bad_rate = {g: np.average(labels[groups == g], weights=independent[groups == g]) for g in "fm"}
    assert bad_rate["f"] == pytest.approx(bad_rate["m"])


def _row(name: str, auc: float, air: float, passes: bool, gain_low: float | None, **config):
    config = {"servable": True, "uses_protected_attribute_in_training": False, **config}
    return {
        "name": name,
        "description": name,
        "generator": "drop_proxies",
        "auc": auc,
        "auc_difference": auc - 0.85,
        "difference_low": auc - 0.856,
        "difference_high": auc - 0.844,
        "comparable": 0.85 - auc <= TOLERANCE,
        "worst_air": air,
        "air_gain_low": gain_low,
        "air_gain_high": None if gain_low is None else gain_low + 0.1,
        "passes_fairness_policy": passes,
        "approval_rate": 0.4,
        "config": config,
        "not_servable_because": "",
    }


def _statement_for(challenger: dict, tried: list[dict]):
    budget = {"candidates": len(tried), "seconds": 12.0, "stop_reason": STOP_CANDIDATES}
    return search_statement(
        challenger,
        tried,
        families=["catboost"],
        budget=budget,
        budget_text=SearchBudget(max_candidates=len(tried)).describe(),
        tolerance=TOLERANCE,
        threshold=0.8,
    )


def test_a_gain_beyond_noise_that_still_fails_is_a_discovery_of_an_improvement():
    challenger = _row(CHALLENGER, 0.85, 0.62, False, None)
    tried = [_row("better", 0.846, 0.74, False, 0.05), _row("noise", 0.85, 0.66, False, -0.03)]
    kind, finding, alternative, least, text = _statement_for(challenger, tried)
    assert (kind, finding, alternative, least) == (
        "discovery",
        "improves_worst_air",
        "better",
        "better",
    )
    assert "from 0.62 to 0.74" in text and "but still does not pass" in text
    assert "at an AUC cost of 0.004 ± 0.006 (DeLong 95 %)" in text


def test_a_passing_challenger_without_a_significant_gain_is_a_refutation():
    challenger = _row(CHALLENGER, 0.85, 0.86, True, None)
    tried = [_row("similar", 0.849, 0.88, True, -0.02), _row("poor", 0.80, 0.97, True, 0.05)]
    kind, finding, alternative, least, text = _statement_for(challenger, tried)
    assert (kind, finding, alternative, least) == ("refutation", None, None, "similar")
    assert text.startswith("Refutation: the challenger passes the fairness policy (worst AIR 0.86)")
    assert "among 2 candidates" in text and "best 0.88 (candidate 'similar'" in text
    assert "The least disparity at any AUC: 'poor', worst AIR 0.97 at an AUC cost of 0.050" in text


def test_a_protected_column_is_refused_as_a_model_input():
    frame = planted_proxy_disparity(600, seed=2)
    test = frame.filter(pl.col("split") == "test")
    leaking = [*PLANTED_FEATURES, replace(PLANTED_FEATURES[0], name="protected_sex")]
    with pytest.raises(ValueError, match="protected columns cannot be model inputs"):
        search_less_discriminatory_alternatives(
            frame,
            leaking,
            ["sex"],
            challenger_pd=np.full(test.height, 0.3),
            approval_rate=0.5,
            base_config=CONFIG,
        )


def test_the_result_renders_for_the_asset(planted):
    _, result = planted
    markdown = result.to_markdown()
    assert md_escape(result.statement) in markdown and md_escape(result.method) in markdown
    assert all(md_escape(r["name"]) in markdown for r in result.candidates)
