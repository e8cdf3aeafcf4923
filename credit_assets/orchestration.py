"""Materializing the asset graph from the command line, as real runs on the Dagster instance.

Runs land in DAGSTER_HOME like runs launched from the UI, so `make demo` shows
their history, metadata and check results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dagster as dg

from credit_assets.core.ingestion.landing import ingest_limits, scan_landing_zone
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.experiments import (
    Experiment,
    ExperimentError,
    get_experiment,
    list_experiments,
)
from credit_assets.core.platform.settings import Settings, get_settings
from credit_assets.core.reports.text import printable
from credit_assets.defs.common.experiment_reports import (
    EXPERIMENT_REPORT,
    EXPERIMENTS,
    MeasuredReport,
    newest_report,
    outcomes_ingested_at,
    report_due,
    reports_due,
)
from credit_assets.defs.common.outcomes import named_outcomes
from credit_assets.defs.common.reports import read_report
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.modeling.lda_adoption import (
    ADOPTION_SELECTION,
    adoption_run_config,
    chosen_candidate,
)

# The console logger otherwise prints every DEBUG event of every step, and a failed step
# with Dagster's stack trace; a failure is said here in one plain line per step instead
# (`_failure_messages`), the full trace staying in the run's event log.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

GROUP_ORDER = ("ingestion", "features", "modeling", "compliance", "scoring", "monitoring")


@dataclass
class MaterializeOutcome:
    """What a `materialize` did: its runs, the runs that failed, and every promotion decision.

    A challenger held back by a gate is an outcome, not a failure: `success` stays true and
    `held_back` carries one plain sentence per held-back challenger. A run the data ended
    (no labelled rows) is not a success, but not a crash either: `stopped` carries its
    named outcome's sentence.
    """

    runs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failures


def ensure_dagster_home(settings: Settings) -> str:
    """DAGSTER_HOME (absolute) with the repository's dagster.yaml; returns the path."""
    from credit_assets.core.platform.settings import REPO_ROOT

    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        template = REPO_ROOT / "dagster.yaml"
        config.write_text(
            template.read_text() if template.exists() else "telemetry:\n  enabled: false\n"
        )
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def load_definitions() -> dg.Definitions:
    from credit_assets.definitions import defs

    return defs() if callable(defs) else defs  # type: ignore[no-any-return]


def ingest_landing_zone(
    definitions: dg.Definitions, instance: dg.DagsterInstance, log: Callable[[str], None]
) -> MaterializeOutcome:
    """What the landing sensor does, synchronously: one ingestion run per new file."""
    platform = PlatformResource()
    scan = scan_landing_zone(
        platform.landing,
        platform.contracts(),
        platform.engine,
        cursor={},
        limits=ingest_limits(platform.settings),
    )
    outcome = MaterializeOutcome()
    for aside in scan.set_aside:
        log(f"set aside {aside.location}: {aside.reason}")
    for pending in scan.pending:
        instance.add_dynamic_partitions(f"{pending.source}_files", [pending.partition_key])
        job = definitions.resolve_job_def(f"ingest_{pending.source}")
        result = job.execute_in_process(
            instance=instance,
            partition_key=pending.partition_key,
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
            tags={"credit/source": pending.source, "credit/launched_by": "cli"},
        )
        outcome.runs.append(result.run_id)
        status = "ok" if result.success else "FAILED"
        log(
            f"ingest {pending.source}/{pending.file_name}: {status}{ingestion_summary(result)} "
            f"(run {result.run_id[:8]})"
        )
        if not result.success:
            outcome.failures.append(f"{pending.source}/{pending.file_name}")
            for message in _failure_messages(result):
                log(f"  {message}")
    return outcome


def ingestion_summary(result: dg.ExecuteInProcessResult) -> str:
    """`: 1 002 rows read, 998 ingested, 4 quarantined (amount: not a valid float ×3)`, from
    the raw asset's materialization (also when a blocking check then failed the run)."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        if "rows_read" not in metadata:
            continue
        text = (
            f": {_spaced(metadata['rows_read'])} rows read, "
            f"{_spaced(metadata['rows_accepted'])} ingested, "
            f"{_spaced(metadata['rows_rejected'])} quarantined"
        )
        problems = metadata.get("top_problems") or []
        if problems:
            shown = "; ".join(
                f"{printable(str(p['problem']))} ×{_spaced(p['rows'])}" for p in problems[:3]
            )
            text += f" ({shown})"
        return text
    return ""


def _spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")


@dataclass
class SelectedAssets:
    """The assets a group selection materializes: its groups' assets and, per group, those
    of other groups that lie between two of its own (`pulled_in`)."""

    keys: set[dg.AssetKey]
    pulled_in: dict[str, set[dg.AssetKey]]


class SelectionError(ValueError):
    """`--select` named something that is not an asset group; the message lists the groups."""


def check_selection(graph: dg.AssetGraph, groups: Iterable[str]) -> None:
    """Raise SelectionError for a name that is not a group of the graph, saying which group
    an asset of that name belongs to (selecting nothing is never a silent success)."""
    known = {graph.get(k).group_name for k in graph.materializable_asset_keys}
    for name in groups:
        if name in known:
            continue
        listed = ", ".join(g for g in GROUP_ORDER if g in known)
        message = f"unknown group {name!r}: --select takes asset groups ({listed})"
        asset = dg.AssetKey(name)
        if graph.has(asset):
            message += f"; {name} is an asset of group {graph.get(asset).group_name}"
        raise SelectionError(message)


def selected_asset_keys(graph: dg.AssetGraph, groups: Iterable[str]) -> SelectedAssets:
    """The selected groups' materializable assets, plus every asset that is downstream of one
    asset of a selected group and upstream of another (`modeling` pulls in the compliance
    reports its promotion gates read on the new challenger: without them, `champion_model`
    would judge it on the previous model's reports and hold it back for lack of evidence)."""
    groups = list(groups)
    materializable = set(graph.materializable_asset_keys)
    keys = dg.AssetSelection.groups(*groups).resolve(graph) & materializable
    pulled_in: dict[str, set[dg.AssetKey]] = {}
    for group in groups:
        members = dg.AssetSelection.groups(group)
        between = (members.downstream() & members.upstream()).resolve(graph)
        between = (between & materializable) - keys
        if between:
            pulled_in[group] = between
            keys |= between
    return SelectedAssets(keys, pulled_in)


def _segments(
    definitions: dg.Definitions, keys: Iterable[dg.AssetKey]
) -> list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]]:
    """Consecutive runs of topologically sorted keys that share a partitioning."""
    graph = definitions.resolve_asset_graph()
    wanted = set(keys)
    segments: list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]] = []
    for key in graph.toposorted_asset_keys:
        if key not in wanted:
            continue
        partitions = graph.get(key).partitions_def
        if segments and segments[-1][0] == partitions:
            segments[-1][1].append(key)
        else:
            segments.append((partitions, [key]))
    return segments


def materialize_all(
    groups: list[str] | None = None, log: Callable[[str], None] = print
) -> MaterializeOutcome:
    """Ingest new landing files, then materialize the selected groups in dependency order."""
    settings = get_settings()
    ensure_dagster_home(settings)
    definitions = load_definitions()
    groups = groups or list(GROUP_ORDER)
    check_selection(definitions.resolve_asset_graph(), groups)
    with dg.DagsterInstance.get() as instance:
        outcome = MaterializeOutcome()
        if "ingestion" in groups:
            outcome = ingest_landing_zone(definitions, instance, log)
        graph = definitions.resolve_asset_graph()
        keys = _keys_to_materialize(graph, groups, log)
        run = _Materialization(definitions, instance, graph, keys, outcome, log)
        for partitions, segment in _segments(definitions, keys):
            if not run.segment(partitions, segment):
                break
        return outcome


def _keys_to_materialize(
    graph: dg.AssetGraph, groups: list[str], log: Callable[[str], None]
) -> list[dg.AssetKey]:
    """The selected assets (saying which were pulled in between a group's own), but the
    partitioned ingestion assets: their runs are `ingest_landing_zone`'s, one per file."""
    selected = selected_asset_keys(graph, groups)
    for group, between in selected.pulled_in.items():
        names = ", ".join(sorted(k.to_user_string() for k in between))
        log(f"==> {group}: also {names} (between its assets, so none reads a stale input)")
    return [
        key
        for key in selected.keys
        if not (graph.get(key).partitions_def and graph.get(key).group_name == "ingestion")
    ]


def _planned_runs(
    graph: dg.AssetGraph,
    partitions: dg.PartitionsDefinition | None,
    segment: list[dg.AssetKey],
    partition_keys: list[str | None],
) -> list[tuple[str | None, dict[str, str]]]:
    """`(partition key, range tags)` of each run of a segment: one per partition key, or one
    over the whole range when every asset of the segment takes a range in one run."""
    if partitions and all(_single_run(graph.get(k)) for k in segment) and len(partition_keys) > 1:
        # One run over the whole range: the assets read their inputs once.
        return [
            (
                None,
                {
                    "dagster/asset_partition_range_start": str(partition_keys[0]),
                    "dagster/asset_partition_range_end": str(partition_keys[-1]),
                },
            )
        ]
    return [(k, {}) for k in partition_keys]


@dataclass
class _Materialization:
    """One `materialize_all` on one instance: its assets run segment by segment, what every
    run did recorded in `outcome` and said in `log`."""

    definitions: dg.Definitions
    instance: dg.DagsterInstance
    graph: dg.AssetGraph
    keys: list[dg.AssetKey]
    outcome: MaterializeOutcome
    log: Callable[[str], None]

    def segment(
        self, partitions: dg.PartitionsDefinition | None, segment: list[dg.AssetKey]
    ) -> bool:
        """Run one segment; False when a run failed and nothing more is to run."""
        partition_keys = self._partition_keys(partitions)
        for partition_key, range_tags in _planned_runs(
            self.graph, partitions, segment, partition_keys
        ):
            tags = dict(range_tags)
            if partitions == EXPERIMENTS and partition_key:
                tags["credit/experiment"] = partition_key
            result = _run(
                self.definitions, self.instance, segment, partition_key=partition_key, tags=tags
            )
            if range_tags:
                partition_key = f"{partition_keys[0]}..{partition_keys[-1]}"
            if not self._recorded(result, segment, partition_key):
                return False
            if not self._followed_up(result, segment, partition_key):
                return False
        return True

    def _partition_keys(self, partitions: dg.PartitionsDefinition | None) -> list[str | None]:
        """The partitions to run: every one, the experiments whose report is due, or today's
        window of a time-partitioned asset; `[None]` when unpartitioned."""
        partition_keys: list[str | None] = (
            list(partitions.get_partition_keys(dynamic_partitions_store=self.instance))
            if partitions
            else [None]
        )
        if partitions == EXPERIMENTS:
            # One partition per experiment: what the guardrail sensor adds and requests
            # with the daemon, added and measured here by the same rule without it.
            partition_keys = list(_experiments_to_measure(self.instance, self.log))
        if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
            partition_keys = partition_keys[-1:]  # today's window, not the whole history
        return partition_keys

    def _recorded(
        self,
        result: dg.ExecuteInProcessResult,
        segment: list[dg.AssetKey],
        partition_key: str | None,
    ) -> bool:
        """Log a run and add it to the outcome; False (its failure recorded) when it failed."""
        names = ", ".join(k.to_user_string() for k in segment)
        where = f" [{partition_key}]" if partition_key else ""
        status = "ok" if result.success else "FAILED"
        self.log(f"materialize {names}{where}: {status} (run {result.run_id[:8]})")
        self.outcome.runs.append(result.run_id)
        if result.success:
            return True
        self.outcome.failures.append(names + where)
        self.outcome.stopped.extend(named_outcomes(result))
        for message in _failure_messages(result):
            self.log(f"  {message}")
        return False

    def _followed_up(
        self,
        result: dg.ExecuteInProcessResult,
        segment: list[dg.AssetKey],
        partition_key: str | None,
    ) -> bool:
        """What the daemon's sensors would do after a successful run: say the promotion
        decision, adopt a discovered LDA alternative, give an experiment's recommendation.
        False when the adoption failed."""
        if CHAMPION_KEY in segment:
            card_follows = MODEL_CARD_KEY in self.keys
            _record_decision(self.instance, result.run_id, self.outcome, self.log, card_follows)
        if LDA_KEY in segment and not _adopt_discovery(
            self.definitions, self.instance, self.outcome, self.log
        ):
            return False
        if EXPERIMENT_REPORT in segment and partition_key:
            measured = newest_report(self.instance, partition_key)
            if measured is not None:
                self.log(f"==> {recommendation_line(partition_key, measured)}")
        return True


def _experiments_to_measure(instance: dg.DagsterInstance, log: Callable[[str], None]) -> list[str]:
    """The experiments whose report is due (`report_due`), their partitions added; when there
    is none, one line saying why, so a selection of the report never silently does nothing."""
    platform = PlatformResource()
    every = list_experiments(platform.engine)
    due = [e.experiment_id for e in reports_due(instance, platform, every)]
    if due:
        instance.add_dynamic_partitions(EXPERIMENTS.name or "experiments", due)
    elif not every:
        log("experiment_report: nothing to measure: no experiment has been started")
    else:
        log(
            "experiment_report: nothing to measure: no experiment is running, and every "
            "stopped one was measured after its stop and its latest outcomes "
            "(`credit-platform experiment report --experiment ID` measures one again)"
        )
    return due


def recommendation_line(experiment_id: str, measured: MeasuredReport) -> str:
    """`experiment exp_…: run_longer: too few matured outcomes …; report …/exp_….html`."""
    return (
        f"experiment {experiment_id}: {measured.recommendation}: {measured.reason}; "
        f"report {measured.html}"
    )


CHAMPION_KEY = dg.AssetKey("champion_model")
MODEL_CARD_KEY = dg.AssetKey("model_card")
LDA_KEY = dg.AssetKey("lda_search")


def _run(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey],
    *,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    ops: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """One real run of `selection` on the instance, tagged as launched from the command line;
    a failed step is in the result, not raised."""
    return dg.materialize(
        list(definitions.assets or []),
        selection=selection,
        instance=instance,
        partition_key=partition_key,
        raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, **({"ops": ops} if ops else {})},
        tags={"credit/launched_by": "cli", **(tags or {})},
        resources={"platform": PlatformResource()},
    )


def experiment_report(experiment_id: str) -> dict | None:
    """The newest `experiment_report` of an experiment, or None before its first."""
    return read_report(PlatformResource(), "experiments", experiment_id)


def chosen_experiment(experiment_id: str | None) -> Experiment:
    """The experiment of that id, or the newest one; ExperimentError when there is none."""
    engine = migrated_engine(get_settings().resolved_database_url)
    if experiment_id:
        return get_experiment(engine, experiment_id)
    every = list_experiments(engine)
    if not every:
        raise ExperimentError(
            "there is no experiment: start one with `credit-platform experiment start`"
        )
    return every[0]


@dataclass
class ReportOutcome:
    """What `measure_experiment` did: its run, the report measured (None if the run failed)
    and one line per failed step."""

    run_id: str
    measured: MeasuredReport | None
    failures: list[str]


def measure_experiment(experiment_id: str) -> ReportOutcome:
    """Materialize `experiment_report` for one experiment now (its partition added): one real
    run on the instance, as the guardrail sensor would request it."""
    ensure_dagster_home(get_settings())
    definitions = load_definitions()
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(EXPERIMENTS.name or "experiments", [experiment_id])
        result = _run(
            definitions,
            instance,
            [EXPERIMENT_REPORT],
            partition_key=experiment_id,
            tags={"credit/experiment": experiment_id},
        )
        measured = newest_report(instance, experiment_id) if result.success else None
        return ReportOutcome(result.run_id, measured, _failure_messages(result))


def report_out_of_date(experiment: Experiment) -> bool:
    """Whether the experiment's newest report predates its stop or its latest outcomes (or
    it has none): `report_due`, the rule that decides when a report is measured."""
    ensure_dagster_home(get_settings())
    with dg.DagsterInstance.get() as instance:
        platform = PlatformResource()
        measured = newest_report(instance, experiment.experiment_id)
        return report_due(experiment, measured, outcomes_ingested_at(instance, platform))


def promote_after_experiment(
    experiment_id: str, override_reason: str = "", log: Callable[[str], None] = print
) -> MaterializeOutcome:
    """Judge an experiment's challenger by `champion_model`'s gates, quality on the
    experiment's live outcomes, and write its model card: one real run, as from the UI."""
    config = {"experiment_id": experiment_id, "override_reason": override_reason}
    return _judge(config, {"credit/experiment": experiment_id}, log)


def promote_with_override(
    override_reason: str, log: Callable[[str], None] = print
) -> MaterializeOutcome:
    """Judge the newest evaluated challenger again by every gate with a written override
    reason (recorded in the registry and on its model card): what a held-back model needs,
    e.g. when its evidence is too thin, once someone accountable signs for it. A gate that
    still says no is shown as overridden, never hidden."""
    if not override_reason.strip():
        raise ValueError("an override needs a written reason (--override-reason TEXT)")
    return _judge({"override_reason": override_reason}, {"credit/override": "true"}, log)


def _judge(config: dict, tags: dict[str, str], log: Callable[[str], None]) -> MaterializeOutcome:
    """One real run of `champion_model` (with `config`) and the model card, as from the UI."""
    ensure_dagster_home(get_settings())
    definitions = load_definitions()
    outcome = MaterializeOutcome()
    with dg.DagsterInstance.get() as instance:
        result = _run(
            definitions,
            instance,
            [CHAMPION_KEY, MODEL_CARD_KEY],
            ops={"champion_model": {"config": config}},
            tags=tags,
        )
        outcome.runs.append(result.run_id)
        _record_decision(instance, result.run_id, outcome, log)  # even if the card failed
        outcome.failures.extend(_failure_messages(result))
    return outcome


def adopt_lda_alternative(
    lda_of: str = "", candidate: str = "", log: Callable[[str], None] = print
) -> MaterializeOutcome:
    """Register the less discriminatory alternative the LDA search of `lda_of` (default: the
    newest search) found, or its `candidate`, as a challenger: one real run of
    `challenger_model` refitting its recorded configuration, every report and gate on it,
    `champion_model`'s decision and the model card. AdoptionError (nothing run) when there
    is no such search or candidate, or it cannot be served."""
    ensure_dagster_home(get_settings())
    definitions = load_definitions()
    with dg.DagsterInstance.get() as instance:
        if not lda_of:
            lda_of = str(_latest_values(instance, LDA_KEY).get("model_version") or "")
        report = read_report(PlatformResource(), "lda", lda_of) if lda_of else None
        name, _config, _row = chosen_candidate(report, lda_of or "(none yet)", candidate, None)
        log(f"==> registering '{name}' from the LDA search of {lda_of} as a challenger")
        return _adoption_run(definitions, instance, lda_of, name, log)


def _adoption_run(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    lda_of: str,
    candidate: str,
    log: Callable[[str], None],
) -> MaterializeOutcome:
    graph = definitions.resolve_asset_graph()
    keys = sorted(ADOPTION_SELECTION.resolve(graph), key=lambda k: k.to_user_string())
    result = dg.materialize(
        list(definitions.assets or []),
        selection=keys,
        instance=instance,
        raise_on_error=False,
        run_config={**QUIET_RUN_CONFIG, **adoption_run_config(lda_of, candidate)},
        tags={"credit/launched_by": "cli", "credit/lda_of": lda_of},
        resources={"platform": PlatformResource()},
    )
    outcome = MaterializeOutcome(runs=[result.run_id])
    status = "ok" if result.success else "FAILED"
    log(f"adopt {candidate} from the LDA search of {lda_of}: {status} (run {result.run_id[:8]})")
    _record_decision(instance, result.run_id, outcome, log)
    if not result.success:
        outcome.failures.append(f"adopting {candidate} from {lda_of}")
        for message in _failure_messages(result):
            log(f"  {message}")
    return outcome


def _adopt_discovery(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    outcome: MaterializeOutcome,
    log: Callable[[str], None],
) -> bool:
    """What the lda_alternative_sensor does, synchronously: a search that discovered a
    servable alternative has it registered as a challenger (CREDIT_LDA_ADOPT). False only
    when that adoption run failed (earlier failures of the materialize are not its own)."""
    values = _latest_values(instance, LDA_KEY)
    candidate, version = values.get("adoptable"), values.get("model_version")
    if not candidate or candidate == "none" or not version:
        return True
    if not get_settings().lda_adopt:
        log(
            f"==> the LDA search of {version} discovered '{candidate}'; register it with "
            f"`credit-platform models adopt-lda --from {version}` (CREDIT_LDA_ADOPT is off)"
        )
        return True
    log(f"==> the LDA search of {version} discovered '{candidate}': registering it as a challenger")
    adopted = _adoption_run(definitions, instance, str(version), str(candidate), log)
    outcome.runs += adopted.runs
    outcome.decisions += adopted.decisions
    outcome.held_back += adopted.held_back
    outcome.failures += adopted.failures
    return adopted.success


def _latest_values(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _record_decision(
    instance: dg.DagsterInstance,
    run_id: str,
    outcome: MaterializeOutcome,
    log: Callable[[str], None],
    card_follows: bool = True,
) -> None:
    """The promotion decision of a run that materialized `champion_model`, as one plain line
    (`card_follows`: the model card is among what is being materialized)."""
    event = instance.get_latest_materialization_event(CHAMPION_KEY)
    if event is None or event.run_id != run_id or event.asset_materialization is None:
        return
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    version = meta.get("challenger_version", "?")
    path = meta.get("model_card", "")
    see, card = f"see {path}", f"model card {path}"
    if not card_follows:  # a card written before documents an earlier decision
        see = card = "see its model card once the compliance group runs (`--select compliance`)"
    if meta.get("decision") == "held back":
        line = f"challenger {version} held back: {meta.get('summary')}; {see}"
        outcome.held_back.append(line)
    else:
        line = f"challenger {version} {meta.get('decision', 'decided')}; {card}"
    outcome.decisions.append(line)
    log(line)


def _single_run(node: object) -> bool:
    policy = getattr(node, "backfill_policy", None)
    return policy is not None and policy.max_partitions_per_run is None


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """One plain line per failed step: a `dg.Failure`'s description as it is; for an error,
    the exception that caused it and where it was raised (the full trace is in the run's
    event log, shown in the UI)."""
    messages = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.event_specific_data
        failure = getattr(data, "user_failure_data", None)
        if failure is not None and failure.description:
            messages.append(f"{event.step_key}: {failure.description}")
            continue
        error = getattr(data, "error", None)
        if error is None:
            messages.append(f"{event.step_key}: failed")
            continue
        raised = error
        while raised.cause is not None:  # the user code's exception behind Dagster's
            raised = raised.cause
        detail = ""
        if raised is not error and raised.stack:
            where = raised.stack[-1].strip().splitlines()[0]
            detail = f" ({where}; full trace in run {result.run_id[:8]})"
        messages.append(f"{event.step_key}: {' '.join(raised.message.split())}{detail}")
    return messages
