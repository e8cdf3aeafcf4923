"""Thin evidence, said so end to end: a small dated file, a tiny file and a very imbalanced one
go through the whole graph, and each ends in a documented hold-back ("evidence too thin"),
with the method and the counts behind every figure named, until an override with a reason."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.settings import get_settings
from credit_assets.orchestration import materialize_all, promote_with_override
from tests.support.lender_files import LenderFileSpec, write_lender_workspace


def latest(asset: str) -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None and event.asset_materialization is not None, asset
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def lender(spec: LenderFileSpec, credit_home, tmp_path, monkeypatch) -> pl.DataFrame:
    written = write_lender_workspace(spec, credit_home, tmp_path / "contracts")
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(written.contract_path.parent))
    monkeypatch.setenv("CREDIT_FEATURE_BUCKETS", "1")
    monkeypatch.setenv("CREDIT_CV_REPEATS", "3")  # the default, named in the bases below
    monkeypatch.setenv("CREDIT_SNAPSHOT_DATE", "2026-07-01")
    return pl.read_csv(written.csv_path)


def evaluation_counts() -> tuple[int, int]:
    meta = latest("model_evaluation")
    return int(meta["test_rows"]), int(meta["test_bads"])


@pytest.mark.slow
def test_a_small_dated_file_is_judged_by_time_ordered_folds_and_held_back_as_too_thin(
    credit_home, tmp_path, monkeypatch
) -> None:
    # 354 dated loans, about 30 bads: the shape a reviewer tried on real data.
    spec = LenderFileSpec(n_rows=354, bad_rate=0.085, protected="none", dated=True, seed=7)
    lender(spec, credit_home, tmp_path, monkeypatch)
    log: list[str] = []
    outcome = materialize_all(log=log.append)
    assert outcome.success, "\n".join(log)

    selection = latest("model_selection")
    basis = selection["evidence_basis"]
    # The validation split is too thin to choose on: cross-validated instead, and it says how.
    assert selection["evaluation_method"] == "cross_validation"
    assert basis.startswith(("AUC by time-ordered cross-validation", "5-fold x 3 cross-validated"))
    assert "too thin to choose on" in selection["evidence_notes"]
    assert "holdout" not in selection["rule"] or "cross-validated" not in selection["rule"]

    rows, bads = evaluation_counts()
    assert bads < 30
    [line] = outcome.held_back
    assert (
        f"evidence too thin: {bads} bads" in line
        and f"in the {rows} test rows (minimum 30)" in line
    )
    assert current_champion(migrated_engine(get_settings().resolved_database_url)) is None

    # Only a recorded override promotes it, and the reason is kept.
    reason = "pilot lender: first 354 loans; re-judge after 6 months of outcomes"
    promoted = promote_with_override(reason, log=log.append)
    assert promoted.success and any("promoted by override" in d for d in promoted.decisions)
    champion = current_champion(migrated_engine(get_settings().resolved_database_url))
    assert champion is not None and champion.override_reason == reason


@pytest.mark.slow
@pytest.mark.parametrize(
    ("n_rows", "bad_rate"),
    [(200, 0.2), (2000, 0.03)],
    ids=["tiny", "very-imbalanced"],
)
def test_a_tiny_or_very_imbalanced_file_is_held_back_as_too_thin(
    n_rows, bad_rate, credit_home, tmp_path, monkeypatch
) -> None:
    spec = LenderFileSpec(n_rows=n_rows, bad_rate=bad_rate, protected="none", seed=11)
    lender(spec, credit_home, tmp_path, monkeypatch)
    log: list[str] = []
    outcome = materialize_all(log=log.append)
    assert outcome.success, "\n".join(log)
    rows, bads = evaluation_counts()
    assert bads < 30 and rows == latest("model_evaluation")["test_rows"]
    [line] = outcome.held_back
    assert f"evidence too thin: {bads} bads" in line
    # The cross-validated figures name their rows and bads; the test figure its interval.
    basis = latest("model_selection")["evidence_basis"]
    assert basis.startswith("5-fold x 3 cross-validated AUC (") and " bads)" in basis
    interval = latest("model_evaluation")["challenger_auc_interval"]
    assert interval in {"DeLong 95 %", "undefined"}
