"""Compliance: what model risk reviews before a model may decide on anyone, and after.

Reason codes, reason accuracy, explainability, fairness and less-discriminatory
alternatives are computed on every challenger (their gates feed `champion_model`'s
decision); the model card is written for every challenger, promoted or held back.
"""

from typing import Any

import dagster as dg
import polars as pl

from credit_assets.core.compliance import (
    DEFAULT_LIMITATIONS,
    FairnessReport,
    ModelCard,
    build_model_card,
)
from credit_assets.core.compliance import (
    explainability_report as build_explainability_report,
)
from credit_assets.core.compliance import (
    fairness_report as build_fairness_report,
)
from credit_assets.core.compliance.bisg import coverage_markdown
from credit_assets.core.compliance.lda_discovery import SearchResult
from credit_assets.core.compliance.lda_report import frontier_png
from credit_assets.core.compliance.operating_point import OperatingPoint, operating_point
from credit_assets.core.explain import (
    applicants_to_check,
    population_baselines,
    validate_reason_accuracy,
)
from credit_assets.core.features import feature_catalogue
from credit_assets.core.modeling import to_catboost_frame
from credit_assets.core.modeling.scorecard_model import ScorecardExplainer
from credit_assets.core.platform.registry import RegistryRecord, get_model
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.keys import report_key
from credit_assets.core.privacy.records import erasures_affecting
from credit_assets.core.promotion import (
    FAIRNESS,
    REASON_ACCURACY,
    FairnessPolicy,
    PromotionDecision,
    fairness_gate,
    policy_from_settings,
    reason_accuracy_gate,
    reason_gate,
)
from credit_assets.core.promotion.fairness_rule import NO_FAIRNESS_EVIDENCE
from credit_assets.core.reports.metadata import markdown_table, png_markdown
from credit_assets.defs.common.checks import gate_check_result, gate_check_spec
from credit_assets.defs.common.lineage import LINEAGE_LDA_OF, latest_metadata
from credit_assets.defs.common.loaders import (
    ChallengerContext,
    Proxies,
    challenger_context,
    labels,
    load_challenger,
    load_model,
    load_training_set,
    with_proxies,
)
from credit_assets.defs.common.reports import read_report, write_report
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.compliance.lda import (
    SearchPlan,
    adoptable,
    approval_rate_of,
    run_search,
    search_plan,
    write_lda_reports,
)

COMPLIANCE_OWNERS = ["team:compliance"]


@dg.asset(
    group_name="compliance",
    deps=["challenger_model"],
    owners=COMPLIANCE_OWNERS,
    kinds={"json"},
    check_specs=[
        gate_check_spec(
            "every_model_feature_has_approved_text",
            "reason_code_catalogue",
            "Gate: a challenger is held back while any of its features lacks approved reason text.",
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
    loaded = load_challenger(platform, version)
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
    uri = write_report(
        platform,
        "reason_codes",
        catalogue.version,
        {"version": catalogue.version, "features": rows},
    )
    yield gate_check_result(
        reason_gate(loaded.feature_names, catalogue),
        check_name="every_model_feature_has_approved_text",
        model_version=version,
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
        gate_check_spec(
            REASON_ACCURACY,
            "reason_accuracy",
            "Gate: neutralising the top reason lowers predicted risk for at least "
            "CREDIT_REASON_ACCURACY_TARGET (95 %) of sampled declines.",
        ),
    ],
)
def reason_accuracy(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Reason accuracy validation: for a sample of declined test applicants (the riskiest
    fifth when fewer than 30 are declined), setting the features behind the top reason to the
    training population's baseline (median, or the category mix) must lower predicted risk in
    at least 95 % of cases (CREDIT_REASON_ACCURACY_TARGET). Reports the figure and every
    failure."""
    settings = platform.settings
    ctx = challenger_context(context, platform)
    train_inputs = to_catboost_frame(
        ctx.frame.filter(pl.col("split") == "train"), ctx.loaded.features
    )
    declined = ctx.scores < settings.approval_cutoff_score
    checked, population = applicants_to_check(ctx.pd, declined)
    if isinstance(ctx.explainer, ScorecardExplainer):
        # The points method measures reasons against the best attainable bin: that is
        # what a declined applicant is told they fell short of, so it is what we restore.
        baselines = ctx.explainer.scorecard.best_values()
        population += "; reasons neutralised to the best attainable bin (points method)"
    else:
        baselines = population_baselines(
            train_inputs, ctx.loaded.feature_names, ctx.loaded.categorical_features
        )
    rules = policy_from_settings(settings)
    report = validate_reason_accuracy(
        ctx.explainer,
        ctx.inputs,
        ctx.loaded.feature_names,
        ctx.catalogue,
        baselines,
        checked,
        sample=500,
        seed=settings.seed,
        target=rules.reason_accuracy_target,
        population=population,
    )
    payload = report.to_dict()
    uri = write_report(platform, "reason_accuracy", ctx.version, payload)
    yield gate_check_result(reason_accuracy_gate(payload, rules), population=population)
    failures = payload.get("failures", [])[:20]
    yield dg.MaterializeResult(
        metadata={
            "model_version": ctx.version,
            "declined_in_test": int(declined.sum()),
            "checked_population": population,
            "share_lowering_risk": float(report.share),
            "uri": dg.MetadataValue.path(uri),
            "failures": dg.MetadataValue.md(markdown_table(failures) if failures else "none"),
        }
    )


@dg.asset(
    group_name="compliance", deps=["challenger_model"], owners=COMPLIANCE_OWNERS, kinds={"html"}
)
def explainability_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Global SHAP importance, shap's beeswarm of the model and waterfall of the riskiest
    decision, and dependence plots of the top features on the test split (the platform's exact
    SHAP from the model's leaf tables, drawn by shap's standard plots), with the monotonicity evidence
    from training. Shown here and written as a self-contained HTML page per model version."""
    ctx = challenger_context(context, platform)
    points_table = None
    if isinstance(ctx.explainer, ScorecardExplainer):
        # An additive model's exact SHAP: each term against the explained rows' mean.
        shap, expected_value = ctx.explainer.shap(ctx.inputs)
        points_table = ctx.explainer.scorecard.points_table()
    else:
        shap, _raw = ctx.explainer.explain(ctx.inputs)
        expected_value = float(
            ctx.loaded.manifest.get("expected_value", ctx.explainer.expected_value)
        )
    report = build_explainability_report(
        shap,
        ctx.inputs,
        ctx.loaded.feature_names,
        ctx.catalogue,
        monotonicity=ctx.loaded.manifest.get("monotonicity"),
        expected_value=expected_value,
        points_table=points_table,
    )
    html_uri = platform.store.put_bytes(
        report_key("explainability", ctx.version, "html"),
        report.to_html(f"Explainability report — model {ctx.version}").encode(),
    )
    write_report(platform, "explainability", ctx.version, report.to_dict())
    return dg.MaterializeResult(
        metadata={
            "model_version": ctx.version,
            "html": dg.MetadataValue.path(html_uri),
            "report": dg.MetadataValue.md(report.to_markdown()),
        }
    )


NO_PROTECTED_NOTE = NO_FAIRNESS_EVIDENCE


@dg.asset(
    group_name="compliance",
    deps=["challenger_model", "demographic_proxies"],
    owners=COMPLIANCE_OWNERS,
    kinds={"json"},
    check_specs=[
        gate_check_spec(
            FAIRNESS,
            "fairness_report",
            "Gate: no group of at least the minimum size has an adverse impact ratio below "
            "CREDIT_MIN_ADVERSE_IMPACT_RATIO (0.8) that is also statistically significant.",
        ),
    ],
)
def fairness_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Fair-lending evidence on the test split, for every attribute declared `protected` in
    the contracts and, where proxy inputs are declared, for race/ethnicity proxied by BISG
    (`demographic_proxies`; weighted by the probabilities as the CFPB does, and by the most
    likely group at probability >= 0.8). At the approval cut-off (CREDIT_APPROVAL_CUTOFF_SCORE):
    the approval rate per group, the adverse impact ratio against the most favoured group with
    a bootstrap 95 % interval and a p-value, the standardized mean difference of scores, AUC
    and calibration per group, missing values as their own group; and the adverse impact ratio
    across the approval rates a lender may run (30 % to 95 %). A disparity that is practically
    and statistically significant holds the challenger back (small and missing groups are
    reported, not deciding); the report says whether its evidence is self-reported or proxied."""
    settings = platform.settings
    rules = policy_from_settings(settings)
    ctx = challenger_context(context, platform)
    frame = ctx.test.with_columns(pl.Series("score", ctx.scores), pl.Series("pd", ctx.pd))
    proxies = with_proxies(platform, frame)
    if proxies is not None:
        frame = proxies.frame
    point = _fairness_operating_point(ctx, settings)
    report = _fairness_evidence(ctx, frame, proxies, point, rules.fairness, settings.seed)
    payload = (
        report.to_dict()
        if report
        else {"summary": None, "attributes": [], "note": NO_PROTECTED_NOTE}
    )
    uri = write_report(platform, "fairness", ctx.version, payload)
    gate = fairness_gate(payload, rules, declared=report is not None)
    yield gate_check_result(gate)
    metadata: dict = {
        "model_version": ctx.version,
        "uri": dg.MetadataValue.path(uri),
        "cutoff": point.cutoff,
        "operating_point": point.detail,
        "verdict": gate.verdict,
        "detail": gate.detail,
    }
    if report:
        metadata |= _fairness_evidence_metadata(report, proxies, frame.height)
    else:
        metadata["note"] = NO_PROTECTED_NOTE
    yield dg.MaterializeResult(metadata=metadata)


def _fairness_operating_point(ctx: ChallengerContext, settings: Settings) -> OperatingPoint:
    """Where approval parity is judged on the challenger's test scores; by default at the
    good rate of the development rows."""
    development = ctx.frame.filter(pl.col("split") != "test")
    return operating_point(
        ctx.scores,
        api_cutoff=settings.approval_cutoff_score,
        cutoff_configured="approval_cutoff_score" in settings.model_fields_set,
        approval_rate=settings.fairness_approval_rate,
        good_rate=1.0 - float(labels(development).mean()) if development.height else 0.5,
    )


def _fairness_evidence(
    ctx: ChallengerContext,
    frame: pl.DataFrame,
    proxies: Proxies | None,
    point: OperatingPoint,
    policy: FairnessPolicy,
    seed: int,
) -> FairnessReport | None:
    """The fairness report of the scored test rows at `point`, with the operating point and
    the proxies' coverage; None when neither a protected attribute nor a proxy is declared."""
    if not ctx.protected and proxies is None:
        return None
    report = build_fairness_report(
        frame, protected=ctx.protected, cutoff=point.cutoff, policy=policy, seed=seed
    )
    report.extras["operating_point"] = point.to_dict()
    if proxies is not None:
        report.extras["proxies"] = {
            **proxies.coverage,
            "test_rows": frame.height,
            "test_rows_with_proxy": proxies.rows_with_proxy,
        }
    return report


def _fairness_evidence_metadata(
    report: FairnessReport, proxies: Proxies | None, test_rows: int
) -> dict[str, Any]:
    """What the Dagster UI shows of the evidence: its source, the report, the plots and the
    figures that decide."""
    metadata: dict[str, Any] = {"evidence": report.evidence}
    if proxies is not None:
        metadata["proxy_coverage"] = dg.MetadataValue.md(
            f"{proxies.rows_with_proxy} of {test_rows} test applications have a proxy. "
            + coverage_markdown(proxies.coverage)
        )
    metadata["report"] = dg.MetadataValue.md(report.to_markdown())
    metadata["approval_by_group"] = dg.MetadataValue.md(
        png_markdown(report.plot_png(), "approval rate by group")
    )
    metadata["air_by_approval_rate"] = dg.MetadataValue.md(
        png_markdown(report.curve_png(), "adverse impact ratio by approval rate")
    )
    metadata["approval_rate_at_cutoff"] = float(report.approval_rate)
    worst = report.summary["worst_adverse_impact_ratio"]
    # Undefined (nobody approved in the reference group) shows as missing, never 0.
    metadata["worst_adverse_impact_ratio"] = None if worst is None else float(worst)
    return metadata


@dg.asset(
    group_name="compliance",
    deps=["challenger_model", "fairness_report", "demographic_proxies"],
    owners=COMPLIANCE_OWNERS,
    kinds={"catboost", "html"},
)
def lda_search(context: dg.AssetExecutionContext, platform: PlatformResource):
    """The less-discriminatory-alternative search (docs/LDA.md), whenever a protected attribute
    or a BISG proxy is declared: within a budget of candidates and seconds (the full one when
    the fairness gate holds the challenger back, a light one when it passes), it fits models
    of the servable families that differ by seed and hyperparameters, drop, coarsen or
    monotone-constrain the features that best predict a protected group, reweight, or use
    fairlearn's reductions (protected attribute in training only), and judges each on the
    challenger's test rows at its operating point: AUC with a paired DeLong difference, worst
    adverse impact ratio with a paired bootstrap interval, the gate's fairness rule. It states
    a discovery (an alternative within CREDIT_LDA_AUC_TOLERANCE that passes or improves most)
    or a refutation within the searched class and budget; a servable discovery can be
    registered as a challenger (`credit-platform models adopt-lda`)."""
    settings = platform.settings
    ctx = challenger_context(context, platform)
    proxies = with_proxies(platform, ctx.frame)
    if not ctx.protected and proxies is None:
        return dg.MaterializeResult(
            metadata={"model_version": ctx.version, "note": NO_PROTECTED_NOTE + ": no search run"}
        )
    lineage = get_model(platform.engine, ctx.version).lineage
    fairness = read_report(platform, "fairness", ctx.version) or {}
    gate = fairness_gate(fairness, policy_from_settings(settings), declared=True)
    plan = search_plan(settings, gate, lineage)
    context.log.info(f"LDA search for {ctx.version}: {plan.why}")
    frame = proxies.frame if proxies is not None else ctx.frame
    development = ctx.frame.filter(pl.col("split") != "test")
    result = run_search(ctx, frame, settings, plan, approval_rate_of(fairness, development))
    adopt = adoptable(result, lineage)
    uris = write_lda_reports(
        platform,
        ctx.version,
        result,
        {
            "model_version": ctx.version,
            "training_set_sha256": lineage.get("training_set_sha256"),
            "plan": plan.why,
            "adoptable": adopt,
            LINEAGE_LDA_OF: lineage.get(LINEAGE_LDA_OF),
        },
    )
    return dg.MaterializeResult(metadata=lda_metadata(ctx.version, result, plan, adopt, uris))


def lda_metadata(
    version: str, result: SearchResult, plan: SearchPlan, adopt: str | None, uris: dict[str, str]
) -> dict[str, Any]:
    """What the Dagster UI shows of a search: the statement, the frontier and the pages."""
    budget = result.budget
    return {
        "model_version": version,
        "kind": result.kind,
        "statement": result.statement,
        "alternative": result.alternative or "none",
        "adoptable": adopt or "none",
        "adopt_with": f"credit-platform models adopt-lda --from {version}" if adopt else "",
        "plan": plan.why,
        "candidates": int(budget.get("candidates") or 0),
        "seconds": float(budget.get("seconds") or 0.0),
        "stop_reason": str(budget.get("stop_reason") or ""),
        "candidates_table": dg.MetadataValue.md(result.to_markdown()),
        "plot": dg.MetadataValue.md(png_markdown(frontier_png(result), "AUC / worst AIR frontier")),
        "html": dg.MetadataValue.path(uris["html"]),
        "uri": dg.MetadataValue.path(uris["json"]),
    }


def erasure_notes(erased: list[dict]) -> list[str]:
    """What the card says when borrowers in this model's training set have been erased."""
    if not erased:
        return []
    ids = ", ".join(e["request_id"] for e in erased)
    return [
        f"{len(erased)} borrower(s) whose rows were in this model's training set have since "
        f"been erased (requests {ids}). A trained model is not changed by an erasure; the "
        "next training set no longer holds their rows."
    ]


def lda_with_page(platform: PlatformResource, version: str, lda: dict | None) -> dict | None:
    """The LDA report with where its HTML page is, for the model card to link."""
    key = report_key("lda", version, "html")
    if lda is None or not platform.store.exists(key):
        return lda
    return {**lda, "page": platform.store.uri(key)}


@dg.asset(
    group_name="compliance", deps=["champion_model"], owners=COMPLIANCE_OWNERS, kinds={"html"}
)
def model_card(context: dg.AssetExecutionContext, platform: PlatformResource):
    """The model card of the challenger `champion_model` just decided on, promoted or held
    back, as Markdown, a self-contained HTML page with its plots, and JSON: purpose and
    intended use, the promotion decision (every gate with its figure, threshold and verdict,
    and for a promoted version its promotion record), data sources with asset keys and run
    ids, the population and exclusions, performance, stability, fairness (or the explicit
    statement that there is no fairness evidence), the reason catalogue version, monotone
    constraints and limitations."""
    version = latest_metadata(context, "champion_model")["challenger_version"]
    record = get_model(platform.engine, version)
    card = _card_of(context, platform, version, record)
    uris = _write_card(platform, version, card)
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "status": record.status,
            **{k: dg.MetadataValue.path(v) for k, v in uris.items()},
            "card": dg.MetadataValue.md(card.to_markdown()),
        }
    )


def _card_of(
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    version: str,
    record: RegistryRecord,
) -> ModelCard:
    """The card of `version` from the reports written about it, its registry record, the
    training set it was fitted on and its curves on the test split."""
    loaded = load_model(platform, record)

    def report(kind: str) -> dict | None:
        return read_report(platform, kind, version)

    frame, _specs, training_sha = load_training_set(platform)
    test = frame.filter(pl.col("split") == "test")
    y = test["default_flag"].to_numpy()
    fairness = report("fairness")
    erased = erasures_affecting(platform.engine, version)
    return build_model_card(
        model_version=version,
        manifest=loaded.manifest,
        evaluation=report("model_evaluation") or {},
        fairness_report=fairness if fairness and fairness.get("attributes") else None,
        fairness_note=(fairness or {}).get("note"),
        reason_accuracy=report("reason_accuracy"),
        explainability=report("explainability"),
        lda=lda_with_page(platform, version, report("lda")),
        decision=PromotionDecision.from_dict(record.decision) if record.decision else None,
        registry=record.to_dict(),
        lineage=_card_lineage(context, platform, record, training_sha),
        population=_card_population(frame),
        curves={"challenger": (y, loaded.predict_pd(test, thread_count=platform.settings.threads))},
        limitations=[*DEFAULT_LIMITATIONS, *erasure_notes(erased)],
    )


def _card_sources(context: dg.AssetExecutionContext, platform: PlatformResource) -> list[dict]:
    """The training set and every raw source, each with the run that last materialized it."""
    sources = []
    for name in ["training_set", *[f"raw_{c}" for c in platform.contracts()]]:
        event = context.instance.get_latest_materialization_event(dg.AssetKey(name))
        if event is not None:
            sources.append({"name": name, "asset_key": name, "run_id": event.run_id})
    return sources


def _card_lineage(
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    record: RegistryRecord,
    training_sha: str,
) -> dict[str, Any]:
    """Where the model came from: its sources, training set, runs and artifact."""
    return {
        "sources": _card_sources(context, platform),
        "training_set_sha256": training_sha,
        "training_run_id": record.lineage.get("training_run_id"),
        "decision_run_id": record.lineage.get("promotion_run_id")
        or record.lineage.get("decision_run_id"),
        "model_card_run_id": context.run_id,
        "artifact_uri": record.artifact_uri,
        "manifest_sha256": record.manifest_sha256,
    }


def _card_population(frame: pl.DataFrame) -> dict[str, Any]:
    """The rows the model was developed on: count, default rate, dates, splits, exclusions."""
    dated = "application_date" in frame.columns
    return {
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
    }


def _write_card(platform: PlatformResource, version: str, card: ModelCard) -> dict[str, str]:
    """The card written as Markdown, HTML and JSON; the URI of each."""
    store = platform.store
    return {
        "markdown": store.put_bytes(
            report_key("model_cards", version, "md"), card.to_markdown().encode()
        ),
        "html": store.put_bytes(
            report_key("model_cards", version, "html"), card.to_html().encode()
        ),
        "json": store.put_bytes(
            report_key("model_cards", version, "json"), card.to_json().encode()
        ),
    }
