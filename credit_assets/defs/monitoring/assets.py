"""Monitoring: drift of what the API scores, performance as outcomes mature, shadow scoring."""

import json
from datetime import datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.monitoring.drift import DEFAULT_THRESHOLDS
from credit_assets.core.monitoring.drift import drift_report as build_drift_report
from credit_assets.core.monitoring.performance import performance_report as build_performance_report
from credit_assets.core.monitoring.shadow_comparison import (
    shadow_comparison as build_shadow_comparison,
)
from credit_assets.core.platform.decision_log import (
    latest_shadow_version,
    load_decisions,
    load_shadow_pairs,
)
from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.storage.keys import report_key
from credit_assets.defs.common.loaders import load_model, load_training_set, score_scale
from credit_assets.defs.common.partitions import DAILY
from credit_assets.defs.common.resources import PlatformResource

MONITORING_OWNERS = ["team:model-risk"]


NO_CHAMPION_NOTE = "no champion has been promoted yet: nothing is scored, nothing to monitor"


def champion_baseline(platform: PlatformResource):
    """The champion, its input frame on the training population and those rows' scores."""
    settings = platform.settings
    champion = current_champion(platform.engine)
    if champion is None:
        return None
    loaded = load_model(platform, champion)
    frame, _specs, _sha = load_training_set(platform)
    train = frame.filter(pl.col("split") == "train")
    scores = np.asarray(
        score_scale(settings).score_from_pd(loaded.predict_pd(train, thread_count=settings.threads))
    )
    return champion, loaded, train, scores


@dg.asset(
    group_name="monitoring",
    partitions_def=DAILY,
    deps=["champion_model"],
    owners=MONITORING_OWNERS,
    kinds={"polars"},
)
def drift_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Population stability of the score and characteristic stability of every model input,
    between the champion's training population (bins from its quantiles; missing values their
    own bin) and the decisions the API logged on this day. PSI/CSI below 0.10 is green, 0.10 to
    0.25 amber, 0.25 and above red; a red score or feature makes the report `significant`,
    which the drift sensor answers with a retrain."""
    baseline = champion_baseline(platform)
    if baseline is None:
        return dg.MaterializeResult(metadata={"significant": False, "note": NO_CHAMPION_NOTE})
    champion, loaded, train, baseline_scores = baseline
    day = datetime.fromisoformat(context.partition_key)
    decisions = load_decisions(
        platform.engine,
        day,
        day + timedelta(days=1),
        model_version=champion.version,
        with_features=True,
    )
    if decisions.height < 50:
        return dg.MaterializeResult(
            metadata={
                "decisions": decisions.height,
                "significant": False,
                "model_version": champion.version,
                "note": "fewer than 50 decisions in the window: not enough to judge drift",
            }
        )
    features = [f for f in loaded.feature_names if f in decisions.columns]
    report = build_drift_report(
        baseline_scores,
        decisions["score"].to_numpy(),
        train,
        decisions,
        features,
        set(loaded.categorical_features),
        DEFAULT_THRESHOLDS,
    )
    uri = platform.store.put_bytes(
        report_key("drift", context.partition_key),
        json.dumps(report.to_dict(), default=str).encode(),
    )
    return dg.MaterializeResult(
        metadata={
            "decisions": decisions.height,
            "model_version": champion.version,
            "score_psi": float(report.score_psi),
            "score_status": report.score_status,
            "significant": bool(report.significant),
            "drifting_features": sum(1 for f in report.features if f.status == "red"),
            "report": dg.MetadataValue.md(report.to_markdown()),
            "uri": dg.MetadataValue.path(uri),
        }
    )


@dg.asset(
    group_name="monitoring",
    deps=["champion_model", "raw_outcomes"],
    owners=MONITORING_OWNERS,
    kinds={"polars"},
    automation_condition=dg.AutomationCondition.eager(),
)
def performance_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """How the champion's decisions performed once their 12-month outcomes arrived: AUC, KS,
    calibration and bad rate by band per monthly vintage, against the validation figures; a
    drop in AUC beyond CREDIT_PERFORMANCE_TOLERANCE (0.05) is flagged. Refreshed whenever new
    outcomes are ingested."""
    champion = current_champion(platform.engine)
    if champion is None:
        return dg.MaterializeResult(
            metadata={"matured_decisions": 0, "degraded": False, "note": NO_CHAMPION_NOTE}
        )
    contracts = platform.contracts()
    outcomes_contract = next((c for c in contracts.values() if c.kind.value == "outcomes"), None)
    decisions = load_decisions(
        platform.engine, datetime(2000, 1, 1), datetime(2100, 1, 1), model_version=champion.version
    )
    if outcomes_contract is None or decisions.height == 0:
        return dg.MaterializeResult(
            metadata={
                "matured_decisions": 0,
                "degraded": False,
                "note": "no decisions with an outcomes source yet",
            }
        )
    outcomes = matured_outcomes(platform, outcomes_contract).rename({"bad": "default_flag"})
    report = build_performance_report(
        decisions,
        outcomes,
        validation=champion.metrics,
        tolerance=platform.settings.performance_tolerance,
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": champion.version,
            "matured_decisions": int(report.to_dict().get("overall", {}).get("n", 0) or 0),
            "degraded": bool(report.degraded),
            "report": dg.MetadataValue.md(report.to_markdown()),
        }
    )


def matured_outcomes(platform: PlatformResource, contract: Contract) -> pl.DataFrame:
    """Per borrower of the outcomes source (its latest row): `bad`, 1 for the contract's bad
    label, else 0."""
    label = contract.label_column
    bad = label.labels["bad"] if label and label.labels else 1
    assert label is not None and contract.borrower_column is not None
    return (
        scan_source(platform.store, contract)
        .collect()
        .select(
            pl.col(contract.borrower_column).cast(pl.String).alias("borrower_id"),
            (pl.col(label.name).cast(pl.String) == str(bad)).cast(pl.Int8).alias("bad"),
        )
        .unique("borrower_id", keep="last")
    )


@dg.asset(
    group_name="monitoring", deps=["champion_model"], owners=MONITORING_OWNERS, kinds={"polars"}
)
def shadow_comparison(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Champion versus the newest registered challenger scored in shadow on live traffic (off
    the response path): band agreement, score shift and band migration on the same decisions."""
    shadow_version = latest_shadow_version(platform.engine)
    if shadow_version is None:
        return dg.MaterializeResult(
            metadata={"note": "no challenger scored in shadow yet", "pairs": 0}
        )
    champion, shadow = load_shadow_pairs(platform.engine, shadow_version)
    if champion.height == 0:
        return dg.MaterializeResult(metadata={"shadow_version": shadow_version, "pairs": 0})
    comparison = build_shadow_comparison(
        champion, shadow, cutoff=platform.settings.approval_cutoff_score
    )
    return dg.MaterializeResult(
        metadata={
            "shadow_version": shadow_version,
            "pairs": champion.height,
            "comparison": dg.MetadataValue.md(comparison.to_markdown()),
        }
    )
