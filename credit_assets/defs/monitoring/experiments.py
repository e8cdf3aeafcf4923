"""Experiments in the graph: the guardrail sensor and the `experiment_report` asset.

Every minute it judges the running experiment, if any: `--max-days` or `--max-decisions`
reached, a new champion promoted since the start (the champion arm would mix two models), or
the challenger arm outside its bounds against the champion arm over the
rolling window (approval rate, mean PD, worst adverse impact ratio on the protected
attributes the platform holds for the borrowers decided, and on the BISG most-likely group
where `demographic_proxies` exists). A stop is recorded on the
experiment (by `experiment_guardrail_sensor`, with the reason) and as an alert; the API
sends everyone to the champion from its next model poll.

`experiment_report` (one partition per experiment) compares the arms, on decisions from the
start and on outcomes as they mature, and ends with a recommendation
(`core/monitoring/experiment_report.py`); the sensor adds the partitions and requests the
report daily while an experiment runs, once when it stops, and again whenever new outcomes
have been ingested (outcomes mature months after the decisions, long after a stop). Without
the daemon, `credit-platform materialize` does the same by the same rule
(`defs/common/experiment_reports.py`). It is a table and plots in the UI and a
self-contained HTML file (`reports/experiments/<experiment id>.html`).
"""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
from matplotlib.figure import Figure

from credit_assets.core.compliance.proxy_fairness import most_likely_labels
from credit_assets.core.contracts import Role
from credit_assets.core.features.applications import applications_contract
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.monitoring.experiment_report import (
    ExperimentEvidence,
    experiment_evidence,
    score_histogram_data,
)
from credit_assets.core.monitoring.experiments import (
    GuardrailBounds,
    arm_summaries,
    guardrail_breaches,
)
from credit_assets.core.platform.alerts import record_alert
from credit_assets.core.platform.experiments import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    Experiment,
    decisions_by_arm,
    experiment_decisions,
    get_experiment,
    limit_reached,
    list_experiments,
    running_experiment,
    stop_experiment,
)
from credit_assets.core.platform.registry import current_champion
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import report_key
from credit_assets.core.reports.metadata import md_escape, png_markdown
from credit_assets.core.reports.render import (
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    figure_png,
    markdown_table,
    render_html,
)
from credit_assets.defs.common.experiment_reports import (
    EXPERIMENTS,
    outcomes_contracts,
    outcomes_ingested_at,
    reports_due,
)
from credit_assets.defs.common.loaders import with_proxies
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.monitoring.assets import MONITORING_OWNERS, matured_outcomes

GUARDRAIL = "experiment_guardrail_sensor"


def proxied_groups(platform: PlatformResource) -> pl.DataFrame | None:
    """borrower_id and the BISG most-likely group (>= 0.8, else null) of the borrower's latest
    application, where `demographic_proxies` exists: race/ethnicity is not collected."""
    applications = applications_contract(platform.contracts())
    if applications is None or applications.borrower_column is None:
        return None
    if applications.id_column is None:
        return None
    frame = (
        scan_source(platform.store, applications)
        .select(
            pl.col(applications.id_column).cast(pl.String).alias("application_id"),
            pl.col(applications.borrower_column).cast(pl.String).alias("borrower_id"),
        )
        .unique("borrower_id", keep="last")
        .collect()
    )
    proxies = with_proxies(platform, frame)
    if proxies is None or not proxies.rows_with_proxy:
        return None
    return proxies.frame.select("borrower_id", most_likely_labels(proxies.frame))


def protected_attributes(platform: PlatformResource) -> pl.DataFrame | None:
    """borrower_id and every protected attribute the platform's sources hold (latest row),
    with the BISG most-likely group where proxies exist."""
    frames = []
    for contract in platform.contracts().values():
        protected = [c.name for c in contract.columns_with(Role.PROTECTED)]
        borrower = contract.borrower_column
        if not protected or borrower is None:
            continue
        frame = (
            scan_source(platform.store, contract)
            .select(pl.col(borrower).cast(pl.String).alias("borrower_id"), *protected)
            .unique("borrower_id", keep="last")
            .collect()
        )
        frames.append(frame)
    proxied = proxied_groups(platform)
    if proxied is not None:
        frames.append(proxied)
    if not frames:
        return None
    merged = frames[0]
    for frame in frames[1:]:
        merged = merged.join(frame, on="borrower_id", how="full", coalesce=True)
    return merged


def judge_running_experiment(platform: PlatformResource) -> str:
    """Stop the running experiment if a limit or a guardrail says so; what was decided."""
    engine, settings = platform.engine, platform.settings
    experiment = running_experiment(engine)
    if experiment is None:
        return "no experiment is running"
    decided = sum(decisions_by_arm(engine, experiment.experiment_id).values())
    reason = limit_reached(experiment, decided)
    champion = current_champion(engine)
    if reason is None and champion is not None and champion.version != experiment.champion_version:
        # The champion arm would mix two models: what was started can no longer be compared.
        reason = (
            f"the champion changed ({experiment.champion_version} -> {champion.version}): "
            "start a new experiment against the new champion"
        )
    summaries = None
    if reason is None:
        now = datetime.now(UTC).replace(tzinfo=None)
        since = max(experiment.started_at, now - timedelta(hours=settings.experiment_window_hours))
        summaries = arm_summaries(
            experiment_decisions(engine, experiment.experiment_id, since),
            cutoff=settings.approval_cutoff_score,
            protected=protected_attributes(platform),
            min_group_size=settings.fairness_min_group_size,
        )
        bounds = GuardrailBounds(
            min_decisions=settings.experiment_min_decisions,
            max_approval_gap=settings.experiment_max_approval_gap,
            max_pd_gap=settings.experiment_max_pd_gap,
            max_air_drop=settings.experiment_max_air_drop,
            min_air=settings.min_adverse_impact_ratio,
            min_group_size=settings.fairness_min_group_size,
        )
        breaches = guardrail_breaches(summaries, bounds)
        if breaches:
            reason = "guardrail: " + "; ".join(breaches)
    if reason is None:
        return f"experiment {experiment.experiment_id} within its guardrails ({decided} decisions)"
    stopped = stop_experiment(
        engine, stopped_by=GUARDRAIL, reason=reason, experiment_id=experiment.experiment_id
    )
    record_alert(
        engine,
        "experiment_stopped",
        f"experiment {stopped.experiment_id} stopped: {reason}",
        None,
        {
            "experiment_id": stopped.experiment_id,
            "challenger": stopped.challenger_version,
            "arms": {arm: s.as_dict() for arm, s in (summaries or {}).items()},
        },
        webhook_url=settings.alert_webhook_url,
    )
    return f"stopped experiment {stopped.experiment_id}: {reason}"


def _arm_rows(evidence: ExperimentEvidence) -> list[dict[str, object]]:
    rows = []
    for arm in (CHAMPION_ARM, CHALLENGER_ARM):
        a, o = evidence.arms[arm], evidence.outcomes[arm]
        rows.append(
            {
                "arm": arm,
                "decisions": a.decisions,
                "scorable": a.scorable,
                "approval rate": a.approval_rate,
                "mean PD": a.mean_pd,
                "score p10 / p50 / p90": " / ".join(
                    f"{evidence.quantiles[arm].get(f'score p{q}', float('nan')):.0f}"
                    for q in (10, 50, 90)
                ),
                "PD p10 / p50 / p90": " / ".join(
                    f"{evidence.quantiles[arm].get(f'pd p{q}', float('nan')):.3f}"
                    for q in (10, 50, 90)
                ),
                "worst AIR": a.worst_air,
                "worst AIR group": a.worst_air_group,
                "matured outcomes": o.matured,
                "bad rate": o.bad_rate,
                "bad rate 95% interval": o.bad_rate_interval,
                "AUC": o.auc,
                "AUC 95% interval": o.auc_interval,
            }
        )
    return rows


def _score_plot(decisions: pl.DataFrame) -> bytes:
    edges, shares = score_histogram_data(decisions)
    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    width = (edges[1] - edges[0]) * 0.45
    ax.bar(edges[:-1], shares[CHAMPION_ARM], width=width, align="edge", label="champion arm")
    ax.bar(
        edges[:-1] + width,
        shares[CHALLENGER_ARM],
        width=width,
        align="edge",
        label="challenger arm",
    )
    ax.set_xlabel("score")
    ax.set_ylabel("share of scorable decisions")
    ax.legend()
    fig.tight_layout()
    return figure_png(fig)


def _bad_rate_plot(evidence: ExperimentEvidence) -> bytes | None:
    arms = [evidence.outcomes[a] for a in (CHAMPION_ARM, CHALLENGER_ARM)]
    if any(o.bad_rate is None or o.bad_rate_interval is None for o in arms):
        return None
    fig = Figure(figsize=(4.5, 3.2))
    ax = fig.add_subplot()
    rates = [o.bad_rate or 0.0 for o in arms]
    errors = [
        [r - (o.bad_rate_interval or (r, r))[0] for r, o in zip(rates, arms, strict=True)],
        [(o.bad_rate_interval or (r, r))[1] - r for r, o in zip(rates, arms, strict=True)],
    ]
    ax.bar([o.arm for o in arms], rates, yerr=errors, capsize=6, color=["#4c72b0", "#dd8452"])
    ax.set_ylabel("bad rate (95% interval)")
    fig.tight_layout()
    return figure_png(fig)


def _recommendation(evidence: ExperimentEvidence) -> str:
    """The recommendation as words ("keep champion"), capitalised."""
    return evidence.recommendation.replace("_", " ").capitalize()


def report_sections(
    experiment: Experiment, evidence: ExperimentEvidence, plots: dict[str, bytes | None]
) -> list[Section]:
    traffic = {
        "experiment": experiment.experiment_id,
        "challenger": experiment.challenger_version,
        "champion at start": experiment.champion_version,
        "share to the challenger": f"{experiment.share:.0%}",
        "assignment": "HMAC-SHA256 of (lender, borrower id | application id | inputs digest) "
        "under the experiment's own key: a borrower always gets the same arm",
        "started": f"{experiment.started_at:%Y-%m-%d %H:%M:%S} by {experiment.started_by}",
        "status": experiment.status,
    }
    if experiment.stopped_at is not None:
        traffic["stopped"] = (
            f"{experiment.stopped_at:%Y-%m-%d %H:%M:%S} by {experiment.stopped_by}: "
            f"{experiment.stop_reason}"
        )
    if experiment.fallback_reason:
        traffic["fallback"] = experiment.fallback_reason
    tests = {
        "bad rate difference (challenger - champion)": evidence.bad_rate_difference,
        "bad rate p-value (two-proportion z-test)": evidence.bad_rate_p_value,
        "AUC difference (challenger - champion)": evidence.auc_difference,
        "AUC p-value (z-test, independent arms)": evidence.auc_p_value,
        "matured outcomes still needed per arm": evidence.outcomes_needed_per_arm,
    }
    sections = [
        Section(
            "recommendation",
            "Recommendation",
            [Paragraph(f"{_recommendation(evidence)}: {evidence.reason}")],
        ),
        Section("traffic", "How traffic was split", [KeyValues(traffic)]),
        Section("arms", "The arms", [Table(_arm_rows(evidence))]),
        Section("tests", "Tests", [KeyValues(tests)]),
        Section(
            "reasons",
            "Principal reasons by arm (share of scorable decisions)",
            [Table(evidence.reasons, ["code", CHAMPION_ARM, CHALLENGER_ARM])]
            if evidence.reasons
            else [Paragraph("No reasons given yet.")],
        ),
    ]
    images = [Image(png, alt) for alt, png in plots.items() if png is not None]
    if images:
        sections.append(Section("plots", "Distributions", images))
    return sections


@dg.asset(
    name="experiment_report",
    group_name="monitoring",
    partitions_def=EXPERIMENTS,
    owners=MONITORING_OWNERS,
    kinds={"html", "polars"},
    description="One champion/challenger experiment measured to a decision: decisions, "
    "approval rate, score and PD distributions, reasons mix and fairness by arm from the "
    "start; bad rate and AUC by arm with intervals and tests as outcomes mature, and the "
    "matured outcomes still needed for the configured power; a recommendation (promote, "
    "keep the champion, run longer) with the figures behind it. Promotion itself still goes "
    "through champion_model's gates.",
)
def experiment_report(context: dg.AssetExecutionContext, platform: PlatformResource):
    settings = platform.settings
    experiment = get_experiment(platform.engine, context.partition_key)
    decisions = experiment_decisions(platform.engine, experiment.experiment_id)
    outcomes_contract = next(iter(outcomes_contracts(platform)), None)
    outcomes = matured_outcomes(platform, outcomes_contract) if outcomes_contract else None
    evidence = experiment_evidence(
        decisions,
        outcomes,
        cutoff=settings.approval_cutoff_score,
        protected=protected_attributes(platform),
        min_group_size=settings.fairness_min_group_size,
        alpha=settings.experiment_alpha,
        power=settings.experiment_power,
        min_effect=settings.experiment_min_auc_effect,
    )
    plots = {
        "score distribution by arm": _score_plot(decisions),
        "bad rate by arm": _bad_rate_plot(evidence),
    }
    sections = report_sections(experiment, evidence, plots)
    title = f"Experiment {experiment.experiment_id}: {experiment.challenger_version} against the champion"
    html_uri = platform.store.put_bytes(
        report_key("experiments", experiment.experiment_id, "html"),
        render_html(title, sections).encode(),
    )
    json_uri = platform.store.put_bytes(
        report_key("experiments", experiment.experiment_id, "json"),
        json.dumps(
            {"experiment": experiment.public(), **evidence.as_dict()}, default=str, indent=2
        ).encode(),
    )
    markdown = "\n\n".join(
        [
            f"**{_recommendation(evidence)}**: {md_escape(evidence.reason)}",
            markdown_table(_arm_rows(evidence)),
            *(png_markdown(png, alt) for alt, png in plots.items() if png is not None),
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "recommendation": evidence.recommendation,
            "reason": evidence.reason,
            "status": experiment.status,
            "decisions": decisions.height,
            "matured_outcomes": sum(o.matured for o in evidence.outcomes.values()),
            "outcomes_needed_per_arm": evidence.outcomes_needed_per_arm,
            "report": dg.MetadataValue.md(markdown),
            "html": dg.MetadataValue.path(html_uri),
            "json": dg.MetadataValue.path(json_uri),
        }
    )


def outcomes_marker(instance: dg.DagsterInstance, platform: PlatformResource) -> str:
    """When outcomes were last ingested (milliseconds of the newest materialization of an
    outcomes source), or `none`: part of a stopped experiment's run key."""
    ingested_at = outcomes_ingested_at(instance, platform)
    return "none" if ingested_at is None else f"{ingested_at * 1000:.0f}"


experiment_report_job = dg.define_asset_job(
    name="experiment_report_job",
    selection=dg.AssetSelection.assets("experiment_report"),
    partitions_def=EXPERIMENTS,
    description="The report of one experiment.",
)


@dg.sensor(
    name=GUARDRAIL,
    job=experiment_report_job,
    minimum_interval_seconds=get_settings().experiment_guardrail_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Stops the running champion/challenger experiment when --max-days or "
    "--max-decisions is reached, or when the challenger arm's approval rate, mean PD or "
    "worst adverse impact ratio leaves its bounds against the champion arm over "
    "CREDIT_EXPERIMENT_WINDOW_HOURS (CREDIT_EXPERIMENT_MAX_APPROVAL_GAP, _MAX_PD_GAP, "
    "_MAX_AIR_DROP). The stop is recorded with its reason and raised as an alert. Adds a "
    "partition of experiment_report per experiment and requests the report daily while it "
    "runs, once when it has stopped, and again when new outcomes have been ingested. "
    "Evaluated every CREDIT_EXPERIMENT_GUARDRAIL_SECONDS (60).",
)
def experiment_guardrail_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource):
    outcome = judge_running_experiment(platform)
    if outcome.startswith("stopped"):
        context.log.warning(outcome)
    known = set(context.instance.get_dynamic_partitions(EXPERIMENTS.name or "experiments"))
    every = list_experiments(platform.engine)
    new = [e.experiment_id for e in every if e.experiment_id not in known]
    today = datetime.now(UTC).date().isoformat()
    outcomes = outcomes_marker(context.instance, platform)
    # The run key keeps a running experiment to one report a day, and a stopped one to one
    # per ingestion of outcomes; `reports_due` skips what the command line already measured.
    requests = [
        dg.RunRequest(
            run_key=f"{e.experiment_id}-{today if e.status == 'running' else 'final'}-"
            f"outcomes-{outcomes}",
            partition_key=e.experiment_id,
            tags={"credit/experiment": e.experiment_id},
        )
        for e in reports_due(context.instance, platform, every)
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[EXPERIMENTS.build_add_request(new)] if new else [],
        skip_reason=None if requests else outcome,
    )
