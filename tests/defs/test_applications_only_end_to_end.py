"""A lender with its own dated application file and nothing else (no alternative data, no
bureau): every group materializes, the split is out of time, and the champion scores every
applicant in `batch_scores`."""

from __future__ import annotations

import dagster as dg
import pytest

from credit_assets.orchestration import materialize_all
from tests.support.lender_files import LenderFileSpec, WrittenLender, write_lender_workspace


@pytest.fixture
def dated_lender(credit_home, tmp_path, monkeypatch) -> WrittenLender:
    # 1 200 rows at a 20 % bad rate: the out-of-time test and validation splits each hold
    # more than CREDIT_EVIDENCE_MIN_BADS (30) bads, so the evidence is not thin.
    spec = LenderFileSpec(n_rows=1200, protected="sex", dated=True, seed=5)
    written = write_lender_workspace(spec, credit_home, tmp_path / "contracts")
    for name, value in {
        "CREDIT_CONTRACTS_DIR": str(written.contract_path.parent),
        "CREDIT_FEATURE_BUCKETS": "1",
        "CREDIT_SNAPSHOT_DATE": "2026-07-01",  # after every application of the file
    }.items():
        monkeypatch.setenv(name, value)
    return written


def latest(asset: str) -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None and event.asset_materialization is not None, asset
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.slow
def test_the_champion_scores_every_applicant_of_an_applications_only_lender(
    dated_lender,
) -> None:
    log: list[str] = []
    outcome = materialize_all(log=log.append)  # every group, scoring and monitoring included
    assert outcome.success, "\n".join(log)
    assert any(" promoted; " in line for line in outcome.decisions), outcome.decisions

    assert latest("model_evaluation")["evaluation_method"] == "holdout"  # out of time
    scores = latest("batch_scores")
    assert scores["dagster/row_count"] == dated_lender.expected_rows == 1200
    assert scores["scorable_share"] == 1.0
