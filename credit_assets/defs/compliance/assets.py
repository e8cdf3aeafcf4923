"""Compliance: what model risk reviews before a model may decide on anyone, and after.

Reason codes, reason accuracy, explainability, fairness and less-discriminatory
alternatives are computed on the challenger (and gate its promotion); the model
card is written for every promoted version.
"""

import json
from dataclasses import dataclass

import dagster as dg
import numpy as np
import polars as pl

from credit_assets.core.catalogue import FeatureCatalogue
from credit_assets.core.compliance import (
    build_model_card,
)
from credit_assets.core.compliance import (
    explainability_report as build_explainability_report,
)
from credit_assets.core.compliance import (
    fairness_report as build_fairness_report,
)
from credit_assets.core.compliance import (
    lda_search as run_lda_search,
)
from credit_assets.core.explain import (
    LeafShapExplainer,
    population_baselines,
    validate_reason_accuracy,
)
from credit_assets.core.features import feature_catalogue
from credit_assets.core.model_store import load_registered_artifact
from credit_assets.core.modeling import TrainConfig, to_catboost_frame
from credit_assets.core.modeling.artifacts import LoadedModel
from credit_assets.core.registry import current_champion, get_model
from credit_assets.core.reporting import markdown_table, png_markdown
from credit_assets.defs.lineage import latest_metadata
from credit_assets.defs.modeling.assets import load_training_set, score_scale
from credit_assets.defs.resources import PlatformResource

COMPLIANCE_OWNERS = ["team:compliance"]


@dataclass
class ChallengerContext:
    """The challenger under review with its test split, scored."""

    version: str
    run_id: str | None
    loaded: LoadedModel
    explainer: LeafShapExplainer
    catalogue: FeatureCatalogue
    frame: pl.DataFrame
    test: pl.DataFrame
    inputs: object  # the test split as CatBoost sees it
    pd: np.ndarray
    scores: np.ndarray
    protected: list[str]


def challenger_context(
    context: dg.AssetExecutionContext, platform: PlatformResource
) -> ChallengerContext:
    settings = platform.settings
    version = latest_metadata(context, "challenger_model")["version"]
    record = get_model(platform.engine, version)
    loaded = load_registered_artifact(settings, record.artifact_uri, record.manifest_sha256)
    explainer = LeafShapExplainer.from_bytes(loaded.files["leaf_shap.npz"], model=loaded.model)
    frame, _specs, _sha = load_training_set(platform)
    test = frame.filter(pl.col("split") == "test")
    pd_test = loaded.predict_pd(test, thread_count=settings.threads)
    contracts = platform.contracts()
    protected = [c for contract in contracts.values() for c in contract.protected_columns]
    return ChallengerContext(
        version=version,
        run_id=record.run_id,
        loaded=loaded,
        explainer=explainer,
        catalogue=feature_catalogue(contracts),
        frame=frame,
        test=test,
        inputs=to_catboost_frame(test, loaded.features),
        pd=pd_test,
        scores=np.asarray(score_scale(settings).score_from_pd(pd_test)),
        protected=[p for p in protected if f"protected_{p}" in frame.columns],
    )


def write_json(platform: PlatformResource, key: str, payload: dict) -> str:
    return platform.store.put_bytes(key, json.dumps(payload, indent=2, default=str).encode())


@dg.asset(
    group_name="compliance",
    deps=["challenger_model"],
    owners=COMPLIANCE_OWNERS,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "every_model_feature_has_approved_text",
            asset="reason_code_catalogue",
            blocking=True,
            description="Promotion is blocked while any model feature lacks approved reason text.",
        ),
    ],
)
def reason_code_catalogue(context: dg.AssetExecutionContext, platform: PlatformResource):
    """The versioned reason-code catalogue: for every feature, its reason code and the
    consumer-facing text a declined applicant receives (ECOA/Reg B principal reasons, FCRA key
    factors). The version is a content hash; any change to a text is a new version."""
    contracts = platform.contracts()
    catalogue = feature_catalogue(contracts)
    version = latest_metadata(context, "challenger_model")["version"]
    record = get_model(platform.engine, version)
    loaded = load_registered_artifact(
        platform.settings, record.artifact_uri, record.manifest_sha256
    )
    rows = [
        {
            "feature": f.name,
            "reason_code": f.reason_code,
            "reason_text": f.reason_text,
            "monotone": f.monotone,
            "source": f.source,
        }
        for f in catalogue.features
    ]
    key = f"reports/reason_codes/{catalogue.version}.json"
    uri = write_json(platform, key, {"version": catalogue.version, "features": rows})
    without = catalogue.without_reason(loaded.feature_names) + catalogue.missing(
        loaded.feature_names
    )
    yield dg.AssetCheckResult(
        check_name="every_model_feature_has_approved_text",
        passed=not without,
        metadata={"model_version": version, "without_text": ", ".join(without) or "none"},
    )
    codes = sorted({(r["reason_code"], r["reason_text"]) for r in rows if r["reason_code"]})
    yield dg.MaterializeResult(
        metadata={
            "catalogue_version": catalogue.version,
            "features": len(rows),
            "reason_codes": len(codes),
            "uri": dg.MetadataValue.path(uri),
            "codes": dg.MetadataValue.md(
                markdown_table([{"code": c, "text": t} for c, t in codes], ["code", "text"])
            ),
        }
    )


@dg.asset(
    group_name="compliance",
    deps=["challenger_model"],
    owners=COMPLIANCE_OWNERS,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "reasons_lower_risk_when_neutralised",
            asset="reason_accuracy",
            blocking=True,
            description="Neutralising the top reason lowers predicted risk for at least 95 % of sampled declines.",
        ),
    ],
)
def reason_accuracy(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Reason accuracy validation: for a sample of declined test applicants, setting the
    features behind the top reason to the training population's baseline (median, or mode for
    categories) must lower predicted risk in at least 95 % of cases. Reports the figure and
    every failure."""
    settings = platform.settings
    ctx = challenger_context(context, platform)
    train_inputs = to_catboost_frame(
        ctx.frame.filter(pl.col("split") == "train"), ctx.loaded.features
    )
    baselines = population_baselines(
        train_inputs, ctx.loaded.feature_names, ctx.loaded.categorical_features
    )
    declined = ctx.scores < settings.approval_cutoff_score
    report = validate_reason_accuracy(
        ctx.loaded.model,
        ctx.explainer,
        ctx.inputs,
        ctx.loaded.feature_names,
        ctx.catalogue,
        baselines,
        declined,
        sample=500,
        seed=settings.seed,
    )
    payload = report.to_dict()
    uri = write_json(platform, f"reports/reason_accuracy/{ctx.version}.json", payload)
    yield dg.AssetCheckResult(
        check_name="reasons_lower_risk_when_neutralised",
        passed=bool(report.meets_target),
        metadata={"share": float(report.share), "target": 0.95},
    )
    failures = payload.get("failures", [])[:20]
    yield dg.MaterializeResult(
        metadata={
            "model_version": ctx.version,
            "declined_in_test": int(declined.sum()),
            "share_lowering_risk": float(report.share),
            "uri": dg.MetadataValue.path(uri),
            "failures": dg.MetadataValue.md(markdown_table(failures) if failures else "none"),
        }
    )


@dg.asset(
    group_name="compliance", deps=["challenger_model"], owners=COMPLIANCE_OWNERS, kinds={"html"}
)
def explainability_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Global SHAP importance, a SHAP summary plot and dependence plots of the top features
    on the test split (exact SHAP from the model's leaf tables), with the monotonicity evidence
    from training. Shown here and written as a self-contained HTML page per model version."""
    ctx = challenger_context(context, platform)
    shap, _raw = ctx.explainer.explain(ctx.inputs)
    report = build_explainability_report(
        shap,
        ctx.inputs,
        ctx.loaded.feature_names,
        ctx.catalogue,
        monotonicity=ctx.loaded.manifest.get("monotonicity"),
        expected_value=float(
            ctx.loaded.manifest.get("expected_value", ctx.explainer.expected_value)
        ),
    )
    html_uri = platform.store.put_bytes(
        f"reports/explainability/{ctx.version}.html",
        report.to_html(f"Explainability report — model {ctx.version}").encode(),
    )
    write_json(platform, f"reports/explainability/{ctx.version}.json", report.to_dict())
    return dg.MaterializeResult(
        metadata={
            "model_version": ctx.version,
            "html": dg.MetadataValue.path(html_uri),
            "report": dg.MetadataValue.md(report.to_markdown()),
        }
    )


@dg.asset(
    group_name="compliance",
    deps=["challenger_model"],
    owners=COMPLIANCE_OWNERS,
    kinds={"json"},
    check_specs=[
        dg.AssetCheckSpec(
            "four_fifths_rule",
            asset="fairness_report",
            blocking=True,
            description="Adverse impact ratio at the approval cutoff is at least 0.8 for every declared group.",
        ),
    ],
)
def fairness_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Fair-lending evidence for every attribute declared `protected` in the contracts, on the
    test split at the approval cutoff (CREDIT_APPROVAL_CUTOFF_SCORE): approval rate per group,
    adverse impact ratio against the most favoured group with a bootstrap 95 % interval,
    standardized mean difference of scores, AUC and calibration per group, missing values as
    their own group. The four-fifths verdict gates promotion."""
    settings = platform.settings
    ctx = challenger_context(context, platform)
    frame = ctx.test.with_columns(pl.Series("score", ctx.scores), pl.Series("pd", ctx.pd))
    report = (
        build_fairness_report(
            frame,
            protected=ctx.protected,
            cutoff=settings.approval_cutoff_score,
            threshold=settings.min_adverse_impact_ratio,
            seed=settings.seed,
        )
        if ctx.protected
        else None
    )
    payload = (
        report.to_dict() if report else {"summary": None, "note": "no protected attribute declared"}
    )
    uri = write_json(platform, f"reports/fairness/{ctx.version}.json", payload)
    passed = report.passed if report else True
    yield dg.AssetCheckResult(
        check_name="four_fifths_rule",
        passed=bool(passed),
        metadata={
            "worst_adverse_impact_ratio": float(report.summary["worst_adverse_impact_ratio"] or 0)
            if report
            else 1.0,
            "worst_group": str(report.summary.get("worst_group")) if report else "n/a",
        },
    )
    metadata: dict = {
        "model_version": ctx.version,
        "uri": dg.MetadataValue.path(uri),
        "cutoff": settings.approval_cutoff_score,
    }
    if report:
        metadata["report"] = dg.MetadataValue.md(report.to_markdown())
        metadata["approval_by_group"] = dg.MetadataValue.md(
            png_markdown(report.plot_png(), "approval rate by group")
        )
        metadata["worst_adverse_impact_ratio"] = float(
            report.summary["worst_adverse_impact_ratio"] or 0
        )
    yield dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="compliance",
    deps=["challenger_model", "fairness_report"],
    owners=COMPLIANCE_OWNERS,
    kinds={"catboost"},
)
def lda_search(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Search for less-discriminatory alternatives: a family of models (dropping each of the
    features most predictive of a protected attribute, stronger regularisation, a monotone-only
    variant) with their AUC and worst adverse impact ratio, the accuracy–disparity frontier, and
    whether an alternative within 0.01 AUC of the challenger has a better worst AIR. Includes
    the proxy screen: how well each feature alone predicts each protected attribute."""
    settings = platform.settings
    ctx = challenger_context(context, platform)
    fairness = json.loads(platform.store.get_bytes(f"reports/fairness/{ctx.version}.json"))
    summary = fairness.get("summary") or {}
    if not ctx.protected:
        return dg.MaterializeResult(metadata={"note": "no protected attribute declared"})
    # A lighter configuration than the challenger's: the frontier compares like with like.
    config = TrainConfig(
        iterations=300, learning_rate=0.1, threads=settings.threads, seed=settings.seed
    )
    challenger_auc = float(ctx.loaded.manifest.get("metrics", {}).get("auc") or 0.0)
    result = run_lda_search(
        ctx.frame,
        ctx.loaded.features,
        ctx.protected,
        config=config,
        cutoff=settings.approval_cutoff_score,
        scale=score_scale(settings),
        challenger_auc=challenger_auc,
        challenger_worst_air=summary.get("worst_adverse_impact_ratio"),
    )
    uri = write_json(platform, f"reports/lda/{ctx.version}.json", result.to_dict())
    return dg.MaterializeResult(
        metadata={
            "model_version": ctx.version,
            "statement": result.statement,
            "better_alternative": result.better_alternative or "none",
            "frontier": dg.MetadataValue.md(result.to_markdown()),
            "plot": dg.MetadataValue.md(
                png_markdown(result.plot_png(), "accuracy-disparity frontier")
            ),
            "uri": dg.MetadataValue.path(uri),
        }
    )


@dg.asset(
    group_name="compliance", deps=["champion_model"], owners=COMPLIANCE_OWNERS, kinds={"html"}
)
def model_card(context: dg.AssetExecutionContext, platform: PlatformResource):
    """The model card of the promoted version, as Markdown, a self-contained HTML page with its
    plots, and JSON: purpose and intended use, data sources with asset keys and run ids, the
    population and exclusions, performance, stability, fairness, the reason catalogue version,
    monotone constraints and limitations."""
    settings = platform.settings
    champion = current_champion(platform.engine)
    if champion is None:
        raise dg.Failure("no champion has been promoted yet")
    version = champion.version
    loaded = load_registered_artifact(settings, champion.artifact_uri, champion.manifest_sha256)
    store = platform.store

    def report(kind: str) -> dict | None:
        key = f"reports/{kind}/{version}.json"
        return json.loads(store.get_bytes(key)) if store.exists(key) else None

    evaluation = report("model_evaluation") or {}
    frame, _specs, training_sha = load_training_set(platform)
    test = frame.filter(pl.col("split") == "test")
    y = test["default_flag"].to_numpy()
    sources = []
    for name in ["training_set", *[f"raw_{c}" for c in platform.contracts()]]:
        event = context.instance.get_latest_materialization_event(dg.AssetKey(name))
        if event is not None:
            sources.append({"name": name, "asset_key": name, "run_id": event.run_id})
    dated = "application_date" in frame.columns
    card = build_model_card(
        model_version=version,
        manifest=loaded.manifest,
        evaluation=evaluation,
        fairness_summary=champion.fairness or None,
        fairness_report=report("fairness"),
        reason_accuracy=report("reason_accuracy"),
        explainability=report("explainability"),
        lda=report("lda"),
        lineage={
            "sources": sources,
            "training_set_sha256": training_sha,
            "promotion_run_id": champion.run_id,
            "artifact_uri": champion.artifact_uri,
            "manifest_sha256": champion.manifest_sha256,
        },
        population={
            "rows": frame.height,
            "default_rate": float(frame["default_flag"].mean() or 0.0),
            "date_range": [
                str(frame["application_date"].min()),
                str(frame["application_date"].max()),
            ]
            if dated
            else None,
            "splits": frame.group_by("split").len().sort("split").to_dicts(),
            "exclusions": [
                "applications without a matured 12-month outcome",
                "rows quarantined at ingestion (see the quarantine asset)",
            ],
        },
        curves={"champion": (y, loaded.predict_pd(test, thread_count=settings.threads))},
    )
    uris = {
        "markdown": store.put_bytes(
            f"reports/model_cards/{version}.md", card.to_markdown().encode()
        ),
        "html": store.put_bytes(f"reports/model_cards/{version}.html", card.to_html().encode()),
        "json": store.put_bytes(f"reports/model_cards/{version}.json", card.to_json().encode()),
    }
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            **{k: dg.MetadataValue.path(v) for k, v in uris.items()},
            "card": dg.MetadataValue.md(card.to_markdown()),
        }
    )
