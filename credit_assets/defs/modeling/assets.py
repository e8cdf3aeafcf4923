"""Modeling: the CatBoost challenger, the scorecard baseline and their evaluation
(the promotion decision is `promotion.py`)."""

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
from catboost import CatBoostClassifier

from credit_assets.core.contracts import Contract, fairness_only_columns, known_at_decision
from credit_assets.core.features import feature_catalogue, is_out_of_time
from credit_assets.core.features.specs import FeatureCatalogue, FeatureSpec
from credit_assets.core.features.training_set import APPLICATION_DATE, LABEL
from credit_assets.core.modeling import (
    RiskBands,
    evaluate,
    train_challenger,
    train_scorecard,
    verify_monotonicity,
)
from credit_assets.core.modeling.artifacts import (
    ArtifactRef,
    LoadedModel,
    model_bytes,
    save_model_artifact,
)
from credit_assets.core.modeling.candidates import (
    CHALLENGER,
    LOGISTIC,
    SCORECARD,
    CandidateEvidence,
    champion_comparison,
    choose_method,
    cross_validation,
    cv_sample,
    dated_plan,
    holdout_evidence,
    thin_evidence,
)
from credit_assets.core.modeling.cross_validation import CVConfig, auc_standard_error
from credit_assets.core.modeling.leakage import screen_leakage
from credit_assets.core.modeling.logistic import train_logistic
from credit_assets.core.modeling.metrics import bayes_optimal_auc
from credit_assets.core.modeling.monotonicity import MonotonicityReport
from credit_assets.core.modeling.plots import calibration_markdown, roc_markdown
from credit_assets.core.modeling.scaling import band_table_markdown
from credit_assets.core.modeling.scorecard import TrainedScorecard
from credit_assets.core.modeling.selection import (
    Selection,
    SelectionPolicy,
    choose_family,
    trees_from_folds,
)
from credit_assets.core.modeling.train import SPLIT_COLUMN, TrainedModel, refit_challenger
from credit_assets.core.platform.registry import (
    RegistryRecord,
    current_champion,
    record_metrics,
    register_challenger,
)
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.artifacts import artifact_storage
from credit_assets.core.platform.storage.keys import (
    candidate_fit_key,
    scorecard_key,
)
from credit_assets.core.promotion import (
    LEAKAGE,
    MONOTONICITY,
    NO_PROTECTED,
    QUALITY,
    RANK_ORDERING,
    REASONS,
    PromotionPolicy,
    monotonicity_gate,
    protected_gate,
    quality_gate,
    rank_ordering_gate,
    reason_gate,
)
from credit_assets.core.promotion.gates import leakage_gate
from credit_assets.core.reports.metadata import markdown_table, png_markdown
from credit_assets.core.reports.text import md_escape
from credit_assets.defs.common.checks import gate_check_result, gate_check_spec
from credit_assets.defs.common.lineage import latest_metadata
from credit_assets.defs.common.loaders import (
    labels,
    load_challenger,
    load_model,
    load_training_set,
    policy,
    score_scale,
    train_config,
)
from credit_assets.defs.common.reports import read_report, write_report
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.modeling.lda_adoption import adopt_alternative

MODEL_OWNERS = ["team:model-risk"]
SCALAR_METRICS = ("n", "n_bad", "bad_rate", "mean_pd", "auc", "gini", "ks", "brier", "ece")


def scalar_metrics(metrics: dict) -> dict:
    return {k: metrics[k] for k in SCALAR_METRICS if k in metrics}


def selection_policy(settings: Settings) -> SelectionPolicy:
    """CREDIT_MODEL_FAMILIES, CREDIT_PREFER_FAMILY and CREDIT_PREFER_MARGIN as a policy."""
    return SelectionPolicy.parse(
        settings.model_families, settings.prefer_family, settings.prefer_margin
    )


def selection_evidence(
    platform: PlatformResource, frame: pl.DataFrame, specs: list[FeatureSpec], training_sha: str
) -> CandidateEvidence:
    """Every family on the same evidence, before any is chosen: repeated stratified k-fold
    cross-validation on all labelled rows when the training set is not split by date (or
    CREDIT_EVALUATION says so); with dates, each family fitted on `train` and judged on the
    later `validation` rows, so the test split stays sealed for the gates."""
    settings = platform.settings
    dated = is_out_of_time(frame)
    method = choose_method(settings.evaluation, dated)
    cv = CVConfig(folds=settings.cv_folds, repeats=settings.cv_repeats, seed=settings.seed)
    if method == "cross_validation":
        return _cross_validated_evidence(frame, specs, settings, cv)
    validation = frame.filter(pl.col(SPLIT_COLUMN) == "validation")
    thin = thin_evidence(
        labels(validation), settings.evidence_min_bads, "out-of-time validation rows"
    )
    development = frame.filter(pl.col(SPLIT_COLUMN) != "test")
    if thin and settings.evaluation == "auto" and _has_both_labels(development, 2):
        return _development_cv_evidence(development, specs, settings, cv, thin)
    return _validation_evidence(platform, frame, validation, specs, training_sha, thin)


def _cross_validated_evidence(
    frame: pl.DataFrame, specs: list[FeatureSpec], settings: Settings, cv: CVConfig
) -> CandidateEvidence:
    """Repeated stratified k-fold cross-validation on the labelled rows (a stratified sample
    of CREDIT_CV_MAX_ROWS of them when there are more, and the evidence says so)."""
    rows, note = cv_sample(frame, settings.cv_max_rows, settings.seed)
    evidence = cross_validation(
        rows, specs, train_config(settings), cv, tune_max_rows=settings.cv_tune_max_rows
    )
    if note:
        evidence.details["sample"] = note
    return evidence


def _development_cv_evidence(
    development: pl.DataFrame,
    specs: list[FeatureSpec],
    settings: Settings,
    cv: CVConfig,
    thin: str,
) -> CandidateEvidence:
    """Cross-validation on the dated development rows (time-ordered folds where they hold
    enough bads) when the out-of-time validation split is too thin to choose on."""
    plan, how = dated_plan(
        development.get_column(APPLICATION_DATE).to_numpy(),
        labels(development),
        cv,
        settings.evidence_min_bads,
    )
    evidence = cross_validation(
        development,
        specs,
        train_config(settings),
        cv,
        tune_max_rows=settings.cv_tune_max_rows,
        plan=plan,
    )
    evidence.details["why"] = (
        f"the out-of-time validation split is too thin to choose on ({thin}); {how}, on "
        "the development rows (the test split stays sealed)"
    )
    return evidence


def _validation_evidence(
    platform: PlatformResource,
    frame: pl.DataFrame,
    validation: pl.DataFrame,
    specs: list[FeatureSpec],
    training_sha: str,
    thin: str,
) -> CandidateEvidence:
    """Each family fitted on `train` and judged on the out-of-time `validation` rows."""
    settings = platform.settings
    pds, failed = _validation_pds(platform, frame, validation, specs, training_sha)
    evidence = holdout_evidence(
        labels(validation), pds, seed=settings.seed, where="out-of-time validation split"
    )
    evidence.failed = failed
    evidence.details["split"] = (
        "validation (out of time; CatBoost early-stops on it, which favours it slightly)"
    )
    if thin:
        evidence.details["thin"] = thin
    return evidence


def _validation_pds(
    platform: PlatformResource,
    frame: pl.DataFrame,
    validation: pl.DataFrame,
    specs: list[FeatureSpec],
    training_sha: str,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Each family's PDs on the validation rows, and why any family could not be fitted;
    every servable fit is stored for `challenger_model` to reuse."""
    settings = platform.settings
    pds: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    fitters = {
        CHALLENGER: lambda: train_challenger(frame, specs, train_config(settings)),
        SCORECARD: lambda: train_scorecard(frame, specs, settings.seed, score_scale(settings)),
        LOGISTIC: lambda: train_logistic(frame, specs, settings.seed),
    }
    for name, fit in fitters.items():
        try:
            fitted = fit()
            pds[name] = fitted.predict_pd(validation)
        except Exception as exc:  # a family that cannot fit these rows is a finding
            failed[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        if isinstance(fitted, TrainedModel | TrainedScorecard):
            # The chosen family is this very fit: challenger_model reuses it, not refits it.
            store_fit(platform, training_sha, fitted)
    return pds, failed


def _has_both_labels(frame: pl.DataFrame, minimum: int) -> bool:
    y = labels(frame)
    return int(y.sum()) >= minimum and int(y.size - y.sum()) >= minimum


def defined(value: float | None) -> float | None:
    """A metric for metadata: None (shown as missing) where it is undefined (one outcome
    class in the test rows), never 0.0."""
    return None if value is None or value != value else float(value)


@dg.asset(group_name="modeling", deps=["training_set"], owners=MODEL_OWNERS, kinds={"python"})
def model_selection(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Which family becomes the challenger. CatBoost, the WoE scorecard and an L2 logistic
    regression (the benchmark, which cannot serve) are judged on the same evidence:
    repeated stratified k-fold cross-validation (5 x 3 by default) when the training set has
    no dates, else the out-of-time validation split. The family with the best AUC among
    CREDIT_MODEL_FAMILIES is chosen, unless CREDIT_PREFER_FAMILY names one that is within
    CREDIT_PREFER_MARGIN of it; the rule and the figures are recorded with the challenger
    and its promotion decision. The chosen family still faces every gate."""
    frame, specs, training_sha = load_training_set(platform)
    evidence = selection_evidence(platform, frame, specs, training_sha)
    selection = choose_family(
        evidence.models, selection_policy(platform.settings), evidence.method, evidence.describe()
    )
    context.log.info(f"{evidence.summary()}; chosen: {selection.reason}")
    uri = write_report(
        platform,
        "model_selection",
        training_sha,
        {
            "training_set_sha256": training_sha,
            "evidence": evidence.to_dict(),
            "selection": selection.to_dict(),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "family": selection.family,
            "reason": selection.reason,
            "rule": selection.rule,
            "training_set_sha256": training_sha,
            "report_uri": dg.MetadataValue.path(uri),
            **candidate_metadata(evidence),
        }
    )


def store_fit(
    platform: PlatformResource, training_sha: str, fitted: TrainedModel | TrainedScorecard
) -> None:
    """Keep a family's fit on this training set (CatBoost's own format, or the scorecard
    document; never a pickle) for `challenger_model` to reuse."""
    if isinstance(fitted, TrainedScorecard):
        family, body = SCORECARD, {"scorecard": fitted.to_dict(), "train_rows": fitted.train_rows}
        names = fitted.feature_names
    else:
        family, names = CHALLENGER, fitted.feature_names
        body = {
            "cbm_base64": base64.b64encode(model_bytes(fitted.model)).decode(),
            "best_iteration": fitted.best_iteration,
            "params": fitted.params,
            "train_rows": fitted.train_rows,
            "validation_rows": fitted.validation_rows,
        }
    platform.store.put_bytes(
        candidate_fit_key(training_sha, family),
        json.dumps({**body, "features": names, "config": fit_config(platform.settings)}).encode(),
    )


def fit_config(settings: Settings) -> dict[str, Any]:
    """What a stored fit was made with: reused only while the configuration is the same."""
    return {
        "train": vars(train_config(settings)),
        "seed": settings.seed,
        "scale": score_scale(settings).to_dict(),
    }


def stored_fit(
    platform: PlatformResource, training_sha: str, family: str, specs: list[FeatureSpec]
) -> TrainedModel | TrainedScorecard | None:
    """The fit `store_fit` kept for this training set and family, if any."""
    key = candidate_fit_key(training_sha, family)
    if not platform.store.exists(key):
        return None
    body = json.loads(platform.store.get_bytes(key))
    by_name = {s.name: s for s in specs}
    if body.get("config") != json.loads(json.dumps(fit_config(platform.settings))) or not set(
        body["features"]
    ) <= set(by_name):
        return None  # made under another configuration or catalogue: fit afresh
    features = [by_name[n] for n in body["features"]]
    if family == SCORECARD:
        scorecard = TrainedScorecard.from_dict(body["scorecard"])
        scorecard.specs, scorecard.train_rows = features, int(body["train_rows"])
        return scorecard
    model = CatBoostClassifier()
    model.load_model(blob=base64.b64decode(body["cbm_base64"]))
    return TrainedModel(
        model=model,
        features=features,
        best_iteration=int(body["best_iteration"]),
        params=body["params"],
        train_rows=int(body["train_rows"]),
        validation_rows=int(body["validation_rows"]),
    )


def chosen_family(
    platform: PlatformResource, training_sha: str
) -> tuple[Selection, dict[str, Any]]:
    """The selection `model_selection` made on this training set, and its evidence."""
    report = read_report(platform, "model_selection", training_sha)
    if report is None:
        raise ValueError(
            f"no model_selection for training set {training_sha}: materialize model_selection "
            "after training_set (the training job does both)"
        )
    return Selection.from_dict(report["selection"]), report["evidence"]


def fit_chosen(
    settings: Settings,
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    family: str,
    evidence: dict[str, Any],
) -> tuple[TrainedModel | TrainedScorecard, str]:
    """The chosen family, fitted, and a sentence on how.

    Cross-validated evidence: refit on every row but the sealed test split (train and
    validation), CatBoost with the number of trees its folds early-stopped at. Out-of-time
    evidence: fitted on `train` as judged (CatBoost early-stopped on `validation`)."""
    scale = score_scale(settings)
    if evidence.get("method") == "cross_validation":
        development = frame.filter(pl.col(SPLIT_COLUMN) != "test").with_columns(
            pl.lit("train").alias(SPLIT_COLUMN)
        )
        where = f"refit on all {development.height:,} development rows (the test split is sealed)"
        if family == SCORECARD:
            return train_scorecard(development, specs, settings.seed, scale), where
        details = evidence.get("details", {})
        fits = details.get("fits", {}).get(CHALLENGER)
        if fits:
            chosen = details.get("catboost_config") or {}
            config = replace(train_config(settings), **chosen)
            trees, note = trees_from_folds(fits, development.height, config.iterations)
            tuned = (
                f"; depth {config.depth}, l2_leaf_reg {config.l2_leaf_reg:g} chosen by the "
                "first repeat's folds"
                if details.get("catboost_tuning")
                else ""
            )
            return (
                refit_challenger(development, specs, config, trees),
                f"{where}; {note}{tuned}",
            )
    if family == SCORECARD:
        return train_scorecard(frame, specs, settings.seed, scale), "fitted on the train split"
    return (
        train_challenger(frame, specs, train_config(settings)),
        "fitted on the train split, early-stopped on validation",
    )


def fit_or_reuse(
    platform: PlatformResource,
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    training_sha: str,
    family: str,
    evidence: dict[str, Any],
) -> tuple[TrainedModel | TrainedScorecard, str]:
    """`fit_chosen`, except that the fit `model_selection` judged on the out-of-time split is
    reused as it is (the same rows, configuration and seed would give the same model)."""
    if evidence.get("method") != "cross_validation":
        kept = stored_fit(platform, training_sha, family, specs)
        if kept is not None:
            how = (
                "fitted on the train split"
                if family == SCORECARD
                else "fitted on the train split, early-stopped on validation"
            )
            return kept, how + " (the fit model_selection judged)"
    return fit_chosen(platform.settings, frame, specs, family, evidence)


class ChallengerConfig(dg.Config):
    lda_of: str = ""
    """Register the less discriminatory alternative the LDA search of this model version
    found, instead of fitting the family model_selection chose."""
    lda_candidate: str = ""
    """With `lda_of`: this candidate of the search (default: its servable discovery)."""


@dg.asset(
    group_name="modeling",
    deps=["training_set", "model_selection"],
    owners=MODEL_OWNERS,
    kinds={"catboost", "optbinning"},
    check_specs=[
        gate_check_spec(
            MONOTONICITY,
            "challenger_model",
            "Gate: a partial-dependence sweep confirms every declared direction.",
        ),
        gate_check_spec(
            NO_PROTECTED,
            "challenger_model",
            "Gate: no protected attribute or proxy input (or protected_*, bisg_* column) is a model input.",
        ),
        gate_check_spec(
            REASONS,
            "challenger_model",
            "Gate: every input maps to a reason code with approved consumer text.",
        ),
        gate_check_spec(
            LEAKAGE,
            "challenger_model",
            "Gate: no input alone nearly separates the outcome (single-feature AUC < 0.95) and no "
            "common value occurs with one outcome only, unless its contract column is declared "
            "known at decision time.",
        ),
    ],
)
def challenger_model(
    context: dg.AssetExecutionContext, config: ChallengerConfig, platform: PlatformResource
):
    """The challenger: the family `model_selection` chose, fitted. CatBoost with native
    categoricals and the monotone constraints the catalogue declares, or the WoE scorecard
    with monotone bins; with cross-validated evidence refit on all development rows (CatBoost
    with the number of trees its folds chose), else fitted on `train`. Directions are verified
    after training, not trusted. Saved as an immutable artifact (`models/<version>/` with
    `model.cbm` or `scorecard.json`, a manifest naming the family, features, params, metrics,
    score scale and the selection, sha256 of every file) and registered as a challenger.
    Run with `lda_of`, it is instead the less discriminatory alternative that version's LDA
    search found, refit exactly from its recorded configuration (`models adopt-lda`)."""
    settings = platform.settings
    frame, specs, training_sha = load_training_set(platform)
    contracts = platform.contracts()
    catalogue = feature_catalogue(contracts)
    fitted = _fit_or_adopt(platform, config, frame, specs, training_sha)
    selection, how = fitted.selection, fitted.how
    context.log.info(f"challenger family {selection.family}: {selection.reason}; {how}")
    assessed = _assess_challenger(settings, frame, fitted)
    explained = _explain_challenger(settings, frame, fitted)
    manifest_extra: dict[str, Any] = {
        "leakage": assessed.leakage,
        "catalogue_version": catalogue.version,
        "training_snapshot_id": training_sha,
        "metrics": scalar_metrics(assessed.metrics),
        "score_scale": score_scale(settings).to_dict(),
        "risk_bands": RiskBands().to_dict(),
        "monotonicity": assessed.monotonicity.to_dict(),
        "selection": selection.to_dict(),
        "fitted": how,
        **explained.manifest,
    }
    ref = save_model_artifact(
        artifact_storage(settings),
        fitted.trained,
        manifest_extra=manifest_extra,
        extra_files=explained.files,
    )
    _register_challenger(platform, context.run_id, ref, fitted, assessed.metrics, training_sha)
    yield from _challenger_gate_results(
        fitted.trained.feature_names, assessed, contracts, catalogue
    )
    yield _challenger_materialization(ref, fitted, assessed.metrics, explained, training_sha)


@dataclass(frozen=True)
class _FittedChallenger:
    """The challenger fitted (or the LDA alternative adopted), the inputs it uses, and how."""

    trained: TrainedModel | TrainedScorecard
    specs: list[FeatureSpec]
    selection: Selection
    how: str
    lineage: dict[str, Any]
    """The adopted alternative's lineage; empty for the family model_selection chose."""


def _fit_or_adopt(
    platform: PlatformResource,
    config: ChallengerConfig,
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    training_sha: str,
) -> _FittedChallenger:
    """With `lda_of`, the LDA alternative refitted from its recorded configuration; else the
    family `model_selection` chose, fitted (or its out-of-time fit reused)."""
    if config.lda_of:
        adopted = adopt_alternative(
            platform, frame, specs, training_sha, config.lda_of, config.lda_candidate
        )
        return _FittedChallenger(
            adopted.trained, adopted.specs, adopted.selection, adopted.how, adopted.lineage
        )
    selection, evidence = chosen_family(platform, training_sha)
    trained, how = fit_or_reuse(platform, frame, specs, training_sha, selection.family, evidence)
    return _FittedChallenger(trained, specs, selection, how, {})


@dataclass(frozen=True)
class _Assessment:
    """The challenger's test metrics and the evidence of its monotonicity and leakage gates."""

    metrics: dict[str, Any]
    monotonicity: MonotonicityReport
    leakage: dict[str, Any]


def _assess_challenger(
    settings: Settings, frame: pl.DataFrame, fitted: _FittedChallenger
) -> _Assessment:
    """Metrics on the test split, the directions verified on the train rows (a partial
    dependence sweep), and the leakage screen of the development rows."""
    trained, specs = fitted.trained, fitted.specs
    test = frame.filter(pl.col("split") == "test")
    scale = score_scale(settings)
    pd_test = trained.predict_pd(test, thread_count=settings.threads)
    metrics = evaluate(labels(test), pd_test, scale.score_from_pd(pd_test), bands=RiskBands())
    monotonicity = verify_monotonicity(
        trained.model if isinstance(trained, TrainedModel) else trained,
        frame.filter(pl.col("split") == "train"),
        specs,
        seed=settings.seed,
    )
    development = frame.filter(pl.col("split") != "test")
    leakage = screen_leakage(development, LABEL, [spec.name for spec in specs]).to_dict()
    return _Assessment(metrics, monotonicity, leakage)


@dataclass(frozen=True)
class _Explanation:
    """What explains the challenger's scores: manifest entries, artifact files, importance."""

    manifest: dict[str, Any]
    files: dict[str, bytes]
    importance: list[tuple[str, float]]


def _explain_challenger(
    settings: Settings, frame: pl.DataFrame, fitted: _FittedChallenger
) -> _Explanation:
    """CatBoost: the leaf SHAP tables (`leaf_shap.npz`) with their baseline, and the feature
    importance. Scorecard: its characteristics and the spread of points each can give."""
    trained = fitted.trained
    if not isinstance(trained, TrainedModel):
        return _Explanation(
            {"characteristics": trained.characteristics()}, {}, scorecard_importance(trained)
        )
    from credit_assets.core.explain import LeafShapExplainer
    from credit_assets.core.modeling import catboost_pool, to_catboost_frame

    # Monotone constraints leave some leaves without training weight; the training
    # population then fixes the SHAP baseline once (documented in the manifest).
    train_rows = frame.filter(pl.col("split") == "train")
    explainer = LeafShapExplainer.from_model(
        trained.model,
        background=catboost_pool(
            to_catboost_frame(train_rows, fitted.specs), fitted.specs, thread_count=settings.threads
        ),
    )
    return _Explanation(
        {"expected_value": float(explainer.expected_value)},
        {"leaf_shap.npz": explainer.to_bytes()},
        list(zip(trained.feature_names, trained.model.get_feature_importance(), strict=True)),
    )


def _register_challenger(
    platform: PlatformResource,
    run_id: str,
    ref: ArtifactRef,
    fitted: _FittedChallenger,
    metrics: dict[str, Any],
    training_sha: str,
) -> None:
    """Register the saved artifact as a challenger, with its lineage."""
    lineage = {
        "training_set_sha256": training_sha,
        "training_run_id": run_id,
        "family": fitted.selection.family,
        "selection": fitted.selection.reason,
        **fitted.lineage,
    }
    register_challenger(
        platform.engine,
        version=ref.version,
        artifact_uri=ref.uri,
        manifest_sha256=ref.manifest_sha256,
        run_id=run_id,
        metrics=scalar_metrics(metrics),
        lineage=lineage,
    )


def _challenger_gate_results(
    names: list[str],
    assessed: _Assessment,
    contracts: dict[str, Contract],
    catalogue: FeatureCatalogue,
) -> Iterator[dg.AssetCheckResult]:
    """The monotonicity, protected-input, leakage and reason-code gates."""
    yield gate_check_result(
        monotonicity_gate(assessed.monotonicity.to_dict()),
        evidence=dg.MetadataValue.md(assessed.monotonicity.to_markdown()),
    )
    yield gate_check_result(protected_gate(names, fairness_only_columns(contracts)))
    yield gate_check_result(leakage_gate(assessed.leakage, known_at_decision(contracts)))
    yield gate_check_result(reason_gate(names, catalogue))


def _challenger_materialization(
    ref: ArtifactRef,
    fitted: _FittedChallenger,
    metrics: dict[str, Any],
    explained: _Explanation,
    training_sha: str,
) -> dg.MaterializeResult:
    """The challenger's metadata: version, artifact, test figures, top feature importance."""
    trained, selection = fitted.trained, fitted.selection
    top = sorted(explained.importance, key=lambda kv: -kv[1])[:15]
    return dg.MaterializeResult(
        metadata={
            "version": ref.version,
            "family": selection.family,
            "selection": selection.reason,
            "fitted": fitted.how,
            "artifact_uri": dg.MetadataValue.path(ref.uri),
            "manifest_sha256": ref.manifest_sha256,
            "features": len(trained.feature_names),
            "best_iteration": trained.best_iteration if isinstance(trained, TrainedModel) else 0,
            "test_auc": defined(metrics["auc"]),
            "test_gini": defined(metrics["gini"]),
            "test_ks": defined(metrics["ks"]),
            "test_brier": float(metrics["brier"]),
            "training_set_sha256": training_sha,
            "feature_importance": dg.MetadataValue.md(
                markdown_table([{"feature": n, "importance": v} for n, v in top])
            ),
        }
    )


def scorecard_importance(scorecard: TrainedScorecard) -> list[tuple[str, float]]:
    """A characteristic's weight in a scorecard: the spread of points it can give."""
    factor = scorecard.scale.factor
    return [
        (f.name, factor * (max(t := [f.coefficient * w for w in f.attainable_woe]) - min(t)))
        for f in scorecard.features
    ]


@dg.asset(
    group_name="modeling",
    deps=["training_set", "model_selection"],
    owners=MODEL_OWNERS,
    kinds={"optbinning"},
)
def baseline_scorecard(context: dg.AssetExecutionContext, platform: PlatformResource):
    """WoE-binned logistic scorecard (optbinning) on the same training split: the transparent
    baseline every challenger is reported against. Stored as JSON (bins, WoE, coefficients)."""
    settings = platform.settings
    frame, specs, training_sha = load_training_set(platform)
    # With dates, model_selection fitted this very scorecard on the train split; reuse it.
    kept = stored_fit(platform, training_sha, SCORECARD, specs)
    scorecard = (
        kept
        if isinstance(kept, TrainedScorecard)
        else train_scorecard(frame, specs, settings.seed, score_scale(settings))
    )
    test = frame.filter(pl.col("split") == "test")
    pd_test = scorecard.predict_pd(test)
    metrics = evaluate(labels(test), pd_test)
    key = scorecard_key(training_sha)
    storage = artifact_storage(settings)
    if not (hasattr(storage, "exists") and storage.exists(key)):
        storage.put_bytes(key, scorecard.to_json().encode())
    return dg.MaterializeResult(
        metadata={
            "scorecard_key": key,
            "artifact_uri": dg.MetadataValue.path(storage.uri(key)),
            "test_auc": defined(metrics["auc"]),
            "test_ks": defined(metrics["ks"]),
            "points_table": dg.MetadataValue.md(markdown_table(scorecard.points_table()[:40])),
        }
    )


def ground_truth(platform: PlatformResource) -> pl.DataFrame | None:
    """The synthetic generator's true PDs, when this workspace holds generated data."""
    folder = platform.settings.ground_truth_dir
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    return pl.read_parquet(files) if files else None


@dg.asset(
    group_name="modeling",
    deps=["challenger_model", "baseline_scorecard"],
    owners=MODEL_OWNERS,
    kinds={"catboost"},
    check_specs=[
        gate_check_spec(
            QUALITY,
            "model_evaluation",
            "Gate: test AUC within tolerance of the current champion (first model: above a floor).",
        ),
        gate_check_spec(
            RANK_ORDERING,
            "model_evaluation",
            "Gate: observed bad rate falls from band E to band A (significant inversions fail).",
        ),
    ],
)
def model_evaluation(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Challenger, baseline scorecard and the current champion side by side on the same test
    split: AUC, Gini, KS, Brier, expected calibration error, calibration by decile, bad rate by
    score band, ROC and calibration plots. On synthetic data, the Bayes-optimal AUC from the
    generator's ground truth and the challenger's gap to it."""
    settings = platform.settings
    frame, _specs, training_sha = load_training_set(platform)
    test = frame.filter(pl.col("split") == "test")
    y = labels(test)
    version = latest_metadata(context, "challenger_model")["version"]
    challenger, champion, pds = _test_predictions(context, platform, test, version)
    scale = score_scale(settings)
    results = {
        name: evaluate(y, p, scale.score_from_pd(p), bands=RiskBands()) for name, p in pds.items()
    }
    bayes = bayes_optimal_auc(test, ground_truth(platform))
    candidates = candidate_evidence(
        context, platform, frame, _specs, y, pds, training_sha, challenger.family
    )
    evaluation = _Evaluation(
        version=version,
        challenger=challenger,
        champion=champion,
        test_rows=int(test.height),
        y=y,
        pds=pds,
        results=results,
        bayes=bayes,
        candidates=candidates,
        versus_champion=(
            champion_comparison(y, pds["champion"], pds["challenger"])
            if "champion" in pds
            else None
        ),
        test_counts=evidence_counts(y, pds["challenger"]),
    )
    uri = write_report(platform, "model_evaluation", version, evaluation.report())
    record_metrics(platform.engine, version, evaluation=evaluation.registry_figures())
    yield from evaluation.gate_results(policy(settings))
    yield dg.MaterializeResult(metadata=evaluation.metadata(uri))


def _test_predictions(
    context: dg.AssetExecutionContext, platform: PlatformResource, test: pl.DataFrame, version: str
) -> tuple[LoadedModel, RegistryRecord | None, dict[str, np.ndarray]]:
    """The challenger, the current champion (when another version) and the PDs on the test
    split of the challenger, the baseline scorecard and the champion."""
    settings = platform.settings
    challenger = load_challenger(platform, version)
    pds = {"challenger": challenger.predict_pd(test, thread_count=settings.threads)}
    scorecard_meta = latest_metadata(context, "baseline_scorecard")
    scorecard = TrainedScorecard.from_json(
        artifact_storage(settings).get_bytes(scorecard_meta["scorecard_key"]).decode()
    )
    pds["baseline_scorecard"] = scorecard.predict_pd(test)
    champion = current_champion(platform.engine)
    if champion is not None and champion.version != version:
        loaded = load_model(platform, champion)
        pds["champion"] = loaded.predict_pd(test, thread_count=settings.threads)
    return challenger, champion, pds


@dataclass(frozen=True)
class _Evaluation:
    """The challenger, baseline scorecard and champion on the same test split, and how the
    evaluation reports, records, gates and shows them."""

    version: str
    challenger: LoadedModel
    champion: RegistryRecord | None
    test_rows: int
    y: np.ndarray
    pds: dict[str, np.ndarray]
    results: dict[str, dict[str, Any]]
    bayes: float | None
    candidates: CandidateEvidence
    versus_champion: dict[str, Any] | None
    test_counts: dict[str, Any]

    def report(self) -> dict[str, Any]:
        """The `model_evaluation` report."""
        challenger = self.results["challenger"]
        return {
            "challenger_version": self.version,
            "challenger_family": self.challenger.family,
            "selection": self.challenger.manifest.get("selection"),
            "champion_version": self.champion.version if self.champion is not None else None,
            "test_rows": self.test_rows,
            "bayes_optimal_auc": self.bayes,
            "models": {name: scalar_metrics(r) for name, r in self.results.items()},
            "challenger_bands": challenger["bands"],
            "challenger_calibration": challenger["calibration"],
            "candidates": self.candidates.to_dict(),
            "champion_comparison": self.versus_champion,
            "test_counts": self.test_counts,
        }

    def registry_figures(self) -> dict[str, Any]:
        """The evaluation recorded with the challenger in the registry."""
        return {
            **self.candidates.registry_figures(),
            "family": self.challenger.family,
            "selection": self.challenger.manifest.get("selection"),
            "fitted": self.challenger.manifest.get("fitted"),
            "test_counts": self.test_counts,
        }

    def gate_results(self, gate_policy: PromotionPolicy) -> Iterator[dg.AssetCheckResult]:
        """The quality and rank-ordering gates."""
        challenger_auc = self.results["challenger"]["auc"]
        champion_auc = self.results["champion"]["auc"] if "champion" in self.results else None
        yield gate_check_result(
            quality_gate(
                challenger_auc, champion_auc, gate_policy, self.versus_champion, self.test_counts
            )
        )
        bands = self.results["challenger"]["bands"]
        yield gate_check_result(
            rank_ordering_gate(bands, gate_policy),
            bands=dg.MetadataValue.md(band_table_markdown(bands)),
        )

    def metadata(self, uri: str) -> dict[str, Any]:
        """The materialization's metadata: the comparison table, bands, ROC and calibration,
        the candidates' evidence and, on synthetic data, the gap to the Bayes-optimal AUC."""
        challenger_auc = self.results["challenger"]["auc"]
        curves = {name: (self.y, p) for name, p in self.pds.items()}
        comparison = [{"model": name, **scalar_metrics(r)} for name, r in self.results.items()]
        metadata: dict = {
            "challenger_version": self.version,
            "test_rows": self.test_rows,
            "test_bads": self.test_counts["bads"],
            "challenger_auc": defined(challenger_auc),
            "challenger_auc_interval": self.test_counts["interval"],
            "comparison": dg.MetadataValue.md(
                markdown_table(
                    comparison,
                    ["model", "auc", "gini", "ks", "brier", "ece", "bad_rate", "mean_pd"],
                )
            ),
            "bands": dg.MetadataValue.md(band_table_markdown(self.results["challenger"]["bands"])),
            "roc": dg.MetadataValue.md(roc_markdown(curves)),
            "calibration": dg.MetadataValue.md(calibration_markdown(curves)),
            "report_uri": dg.MetadataValue.path(uri),
            **candidate_metadata(self.candidates),
        }
        if self.bayes is not None:
            metadata["bayes_optimal_auc"] = self.bayes
            if challenger_auc is not None:
                metadata["gap_to_bayes_auc"] = float(self.bayes - challenger_auc)
        return metadata


def evidence_counts(y: np.ndarray, pd: np.ndarray) -> dict[str, Any]:
    """The test rows behind the challenger's AUC: rows, bads and DeLong's 95 % interval
    (None where the AUC is undefined)."""
    rows, bads = int(y.size), int(y.sum())
    low = high = None
    if min(bads, rows - bads) >= 2:
        value, se = auc_standard_error(y, pd)
        low, high = max(0.0, value - 1.96 * se), min(1.0, value + 1.96 * se)
    return {
        "rows": rows,
        "bads": bads,
        "auc_low": defined(low),
        "auc_high": defined(high),
        "interval": "DeLong 95 %" if low is not None else "undefined",
    }


def candidate_evidence(
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    frame: pl.DataFrame,
    specs: list[FeatureSpec],
    y_test: np.ndarray,
    pds: dict[str, np.ndarray],
    training_sha: str,
    family: str,
) -> CandidateEvidence:
    """Every family judged on the same evidence: the cross-validation `model_selection` ran
    (when the training set has no out-of-time split, or CREDIT_EVALUATION says so), else
    every family on the out-of-time test split with bootstrap intervals and DeLong."""
    settings = platform.settings
    _selection, recorded = chosen_family(platform, training_sha)
    if recorded.get("method") == "cross_validation":
        evidence = CandidateEvidence.from_dict(recorded)
    else:
        test = frame.filter(pl.col("split") == "test")
        # Fitted on `train` as the challenger was: the challenger is its family's figure.
        families = {
            CHALLENGER: pds["challenger"]
            if family == CHALLENGER
            else (
                stored_fit(platform, training_sha, CHALLENGER, specs)
                or train_challenger(frame, specs, train_config(settings))
            ).predict_pd(test),
            SCORECARD: pds["challenger"] if family == SCORECARD else pds["baseline_scorecard"],
            LOGISTIC: train_logistic(frame, specs, settings.seed).predict_pd(test),
            **({"champion": pds["champion"]} if "champion" in pds else {}),
        }
        evidence = holdout_evidence(y_test, families, seed=settings.seed, where="test split")
    context.log.info(evidence.summary())
    return evidence


def candidate_metadata(evidence: CandidateEvidence) -> dict:
    metadata: dict = {
        "evaluation_method": evidence.method,
        "best_family": evidence.best or "none",
        "candidates": dg.MetadataValue.md(
            markdown_table(
                evidence.table(),
                ["model", "auc", "auc_sd", "auc_low", "auc_high", "gini", "ks", "brier", "note"],
            )
        ),
        "evidence_summary": evidence.summary(),
        "evidence_basis": evidence.describe(),
    }
    notes = [
        evidence.details[k] for k in ("why", "thin", "sample") if evidence.details.get(k)
    ] + list(evidence.details.get("fallbacks", []))
    if notes:
        # Fallbacks and thin evidence, where a reviewer sees them.
        metadata["evidence_notes"] = dg.MetadataValue.md(
            "\n".join(f"- {md_escape(n)}" for n in notes)
        )
    if evidence.comparisons:
        metadata["paired_comparisons"] = dg.MetadataValue.md(
            markdown_table(evidence.comparison_table())
        )
    png = evidence.fold_auc_png()
    if png is not None:
        metadata["fold_auc"] = dg.MetadataValue.md(png_markdown(png, "AUC per fold by family"))
    if evidence.plan:
        metadata["cv_plan"] = dg.MetadataValue.json(evidence.plan)
    tuning = evidence.details.get("catboost_tuning")
    if tuning:
        metadata["catboost_tuning"] = dg.MetadataValue.md(
            markdown_table(tuning, ["depth", "l2_leaf_reg", "auc_mean", "folds", "chosen"])
        )
    return metadata
