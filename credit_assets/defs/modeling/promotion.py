"""Promotion: the decision on the evaluated challenger (or an experiment's), and the champion."""

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import dagster as dg

from credit_assets.core.contracts import fairness_only_columns, known_at_decision
from credit_assets.core.features import feature_catalogue
from credit_assets.core.modeling.artifacts import LoadedModel
from credit_assets.core.modeling.candidates import CHALLENGER
from credit_assets.core.platform.experiments import (
    ExperimentError,
    get_experiment,
    running_experiment,
    stop_experiment,
)
from credit_assets.core.platform.registry import (
    RegistryRecord,
    current_champion,
    get_model,
    hold_back,
    promote,
)
from credit_assets.core.platform.storage.keys import report_key
from credit_assets.core.promotion import (
    PromotionDecision,
    PromotionEvidence,
    decide,
    evaluate_gates,
)
from credit_assets.defs.common.checks import gate_check_spec
from credit_assets.defs.common.lineage import latest_metadata
from credit_assets.defs.common.loaders import load_challenger, policy
from credit_assets.defs.common.reports import read_report
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.modeling.assets import MODEL_OWNERS, defined


class PromotionConfig(dg.Config):
    override_reason: str = ""
    """Promote even if a gate fails. Requires a written reason; it is recorded in the registry."""
    experiment_id: str = ""
    """Judge the challenger of this champion/challenger experiment instead of the newest
    evaluated one: every gate as usual, quality on the experiment's live outcomes
    (`credit-platform experiment promote`)."""


PROMOTION_CHECK = "promotion_gates_passed"


def promotion_evidence(
    platform: PlatformResource, version: str, loaded: LoadedModel | None = None
) -> PromotionEvidence:
    """What the gates judge for `version`: its manifest and the reports written about it."""
    loaded = loaded or load_challenger(platform, version)
    contracts = platform.contracts()
    evaluation = read_report(platform, "model_evaluation", version) or {}
    models = evaluation.get("models", {})
    return PromotionEvidence(
        feature_names=loaded.feature_names,
        catalogue=feature_catalogue(contracts),
        protected_columns=fairness_only_columns(contracts),
        challenger_auc=models.get("challenger", {}).get("auc"),
        champion_auc=models.get("champion", {}).get("auc"),
        bands=evaluation.get("challenger_bands", []),
        monotonicity=loaded.manifest.get("monotonicity"),
        reason_accuracy=read_report(platform, "reason_accuracy", version),
        fairness=read_report(platform, "fairness", version),
        champion_comparison=evaluation.get("champion_comparison"),
        leakage=loaded.manifest.get("leakage"),
        known_at_decision=known_at_decision(contracts),
        test_counts=evaluation.get("test_counts"),
    )


def experiment_candidate(platform: PlatformResource, experiment_id: str) -> tuple[str, dict]:
    """The challenger an experiment tested, and the evidence fields that judge its quality on
    the experiment's live outcomes. A bad id or a challenger that already serves is an error."""
    try:
        experiment = get_experiment(platform.engine, experiment_id)
    except ExperimentError as error:
        raise dg.Failure(description=str(error)) from error
    version = experiment.challenger_version
    champion = current_champion(platform.engine)
    if champion is not None and champion.version == version:
        raise dg.Failure(
            description=f"the challenger of experiment {experiment_id}, {version}, is already "
            "the champion"
        )
    return version, {
        "experiment_id": experiment_id,
        "experiment": read_report(platform, "experiments", experiment_id),
        "champion_version": champion.version if champion else None,
    }


def _stop_after_promotion(platform: PlatformResource, experiment_id: str, run_id: str) -> None:
    """An experiment whose challenger is promoted is over; stop it if it still runs."""
    running = running_experiment(platform.engine)
    if running is not None and running.experiment_id == experiment_id:
        stop_experiment(
            platform.engine,
            stopped_by="champion_model",
            reason=f"its challenger was promoted (run {run_id})",
            experiment_id=experiment_id,
        )


@dg.asset(
    group_name="modeling",
    deps=[
        "model_evaluation",
        "challenger_model",
        "reason_code_catalogue",
        "reason_accuracy",
        "explainability_report",
        "fairness_report",
        "lda_search",
    ],
    owners=MODEL_OWNERS,
    kinds={"catboost"},
    check_specs=[
        gate_check_spec(
            PROMOTION_CHECK,
            "champion_model",
            "Every promotion gate passed for the challenger under review (red: it was held "
            "back and the champion is unchanged; see the model card).",
        )
    ],
)
def champion_model(
    context: dg.AssetExecutionContext, config: PromotionConfig, platform: PlatformResource
):
    """The model that scores borrowers, and the promotion decision on the evaluated challenger.

    The challenger is promoted when no gate says no: quality not worse than the current
    champion beyond a tolerance (first model: above a floor), bad rate falling with the
    score, every feature mapped to an approved reason text, no protected attribute among the
    inputs, monotonicity verified, reason accuracy, and no group with an adverse impact
    ratio that is both practically and statistically significant. Otherwise it is held back:
    the run still succeeds, the registry lists it as `held_back` with the failed gates, the
    champion stays as it was, and the model card documents why. A documented override
    (`override_reason` in the run config) promotes anyway and is recorded. The registry
    record is what the scoring API loads."""
    version, evidence_of_experiment, evaluation_run_id = _under_review(context, platform, config)
    loaded = load_challenger(platform, version)
    evidence = replace(promotion_evidence(platform, version, loaded), **evidence_of_experiment)
    decision = decide(evaluate_gates(evidence, policy(platform.settings)), config.override_reason)
    # The family choice and its rule travel with the decision (the preference is policy).
    manifest = loaded.manifest
    decision_record = {
        **decision.to_dict(),
        "family": manifest.get("model_type", CHALLENGER),
        "selection": manifest.get("selection") or {},
    }
    record = _record_decision(
        context, platform, config, version, decision, decision_record, evaluation_run_id
    )
    card = platform.store.uri(report_key("model_cards", version, "html"))
    yield from _champion_results(platform, version, decision, record, card)


def _under_review(
    context: dg.AssetExecutionContext, platform: PlatformResource, config: PromotionConfig
) -> tuple[str, dict, str | None]:
    """The challenger to judge, the evidence fields an experiment replaces, and the run that
    evaluated it: the experiment's challenger with `experiment_id`, else the one the latest
    `model_evaluation` evaluated."""
    if config.experiment_id:
        version, evidence_of_experiment = experiment_candidate(platform, config.experiment_id)
        evaluation_run_id = get_model(platform.engine, version).lineage.get("evaluation_run_id")
        return version, evidence_of_experiment, evaluation_run_id
    evaluation = latest_metadata(context, "model_evaluation")
    return evaluation["challenger_version"], {}, evaluation["_run_id"]


def _record_decision(
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    config: PromotionConfig,
    version: str,
    decision: PromotionDecision,
    decision_record: dict[str, Any],
    evaluation_run_id: str | None,
) -> RegistryRecord:
    """The decision in the registry: the challenger promoted (an experiment it won stopped),
    or held back with the champion unchanged."""
    fairness = read_report(platform, "fairness", version) or {}
    if not decision.promote:
        record = hold_back(
            platform.engine,
            version,
            decision=decision_record,
            fairness=fairness.get("summary") or {},
            lineage={"evaluation_run_id": evaluation_run_id, "decision_run_id": context.run_id},
        )
        context.log.warning(f"challenger {version} held back: {decision.summary()}")
        return record
    report = read_report(platform, "model_evaluation", version) or {}
    record = promote(
        platform.engine,
        version,
        run_id=context.run_id,
        # The test figures, with what model_evaluation recorded (every family's evidence).
        metrics={
            **get_model(platform.engine, version).metrics,
            **report.get("models", {}).get("challenger", {}),
        },
        fairness=fairness.get("summary") or {},
        override_reason=decision.override_reason,
        decision=decision_record,
        lineage={
            "evaluation_run_id": evaluation_run_id,
            "promotion_run_id": context.run_id,
            **({"experiment_id": config.experiment_id} if config.experiment_id else {}),
        },
    )
    if config.experiment_id:
        _stop_after_promotion(platform, config.experiment_id, context.run_id)
    return record


def _champion_results(
    platform: PlatformResource,
    version: str,
    decision: PromotionDecision,
    record: RegistryRecord,
    card: str,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """The promotion check (red when the challenger was held back) and the champion as it
    now stands, with the decision."""
    champion = current_champion(platform.engine)
    yield dg.AssetCheckResult(
        check_name=PROMOTION_CHECK,
        passed=decision.all_passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=decision.summary(),
        metadata={"outcome": decision.outcome, "gates": dg.MetadataValue.md(decision.markdown())},
    )
    yield dg.MaterializeResult(
        metadata={
            "decision": decision.outcome,
            "challenger_version": version,
            "challenger_status": record.status,
            "failed_gates": ", ".join(g.name for g in decision.failed) or "none",
            "summary": decision.summary(),
            "version": champion.version if champion else "",
            "artifact_uri": dg.MetadataValue.path(champion.artifact_uri if champion else ""),
            "manifest_sha256": champion.manifest_sha256 if champion else "",
            "promoted_at": champion.promoted_at.isoformat()
            if champion and champion.promoted_at
            else "",
            "test_auc": defined((champion.metrics if champion else {}).get("auc")),
            "gates": dg.MetadataValue.md(decision.markdown()),
            "override_reason": decision.override_reason or "",
            "model_card": dg.MetadataValue.path(card),
        }
    )
