"""`credit-platform`: the command line for people who do not open the Dagster UI.

credit-platform generate --borrowers 50000      synthetic data into the landing zone
credit-platform materialize [--select GROUP...] ingest new files, then refresh the graph
credit-platform serve                           the scoring API
credit-platform apikey create --lender NAME     prints a new API key once (--scope S...)
credit-platform apikey list|revoke [KEY_ID]     the keys (never a secret); revoke one
credit-platform models list|show [--json]       the model inventory
credit-platform experiment start|stop|status|report|promote   champion/challenger experiments
credit-platform simulate-traffic --requests N   scores a population through the API
credit-platform db upgrade                      applies the platform database migrations
credit-platform contract infer FILE --name N    drafts a data contract from a sample file
credit-platform contract check PATH --sample F  every problem of a contract (exit 1 if any)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from credit_assets.borrower_cli import add_borrower_parser, operator, shown
from credit_assets.core.platform.settings import Settings, get_settings
from credit_assets.core.reports.text import printable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    _Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def _cmd_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from credit_assets.core.tools.synthetic import PlantedDisparity, generate

    settings = get_settings()
    try:
        planted = PlantedDisparity.parse(args.plant_disparity) if args.plant_disparity else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tqdm(total=args.borrowers, unit="borrower", desc="generating", unit_scale=True) as bar:
        summary = generate(
            args.borrowers,
            settings.landing_dir,
            settings.ground_truth_dir,
            seed=args.seed,
            end_date=date.fromisoformat(args.end_date),
            dirty_rate=args.dirty_rate,
            bad_files=args.bad_files,
            chunk_borrowers=args.chunk_borrowers,
            progress=bar.update,
            planted_disparity=planted,
        )
    print(f"landing zone: {settings.landing_dir}")
    for source, rows in sorted(summary.rows.items()):
        print(f"  {source:<20} {rows:>12,} rows")
    print(
        f"default rate (matured) {summary.default_rate:.3f} · thin-file share "
        f"{summary.thin_file_share:.3f} · Bayes-optimal AUC {summary.bayes_auc:.3f}"
    )
    return 0


def _contract_error(exc: BaseException) -> BaseException | None:
    """The ContractError behind an exception (Dagster wraps errors raised while loading)."""
    from credit_assets.core.contracts import ContractError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ContractError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# `materialize` exits 0 when done (a held-back challenger included), 1 when a step failed,
# 2 when a contract cannot be loaded, 3 with --strict when a challenger is held back and
# EXIT_NO_LABELLED_ROWS when the data left nothing to model (the files and why are named).
EXIT_NO_LABELLED_ROWS = 4


def _cmd_materialize(args: argparse.Namespace) -> int:
    from credit_assets.orchestration import SelectionError, materialize_all

    try:
        outcome = materialize_all(groups=args.select or None, log=lambda line: print(shown(line)))
    except SelectionError as exc:
        print(f"materialize: {shown(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        problem = _contract_error(exc)
        if problem is None:
            raise
        print(f"materialize: {shown(problem)}", file=sys.stderr)
        print(
            "(`credit-platform contract check PATH` lists every problem of a contract)",
            file=sys.stderr,
        )
        return 2
    if outcome.stopped:
        for line in outcome.stopped:
            print(f"materialize: {shown(line)}", file=sys.stderr)
        return EXIT_NO_LABELLED_ROWS
    if not outcome.success:
        return 1
    for line in outcome.decisions:
        print(f"==> {shown(line)}")
    if outcome.held_back and args.strict:
        return 3
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from credit_assets.core.platform.db import current_revision, migrate

    url = get_settings().resolved_database_url
    migrate(url)
    print(f"platform database at revision {current_revision(url)}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from scoring_api.serve import options_from, serve

    return serve(options_from(args))


def _cmd_apikey(args: argparse.Namespace) -> int:
    from credit_assets.core.platform.db import migrated_engine

    engine = migrated_engine(get_settings().resolved_database_url)
    actions = {"create": _apikey_create, "list": _apikey_list, "revoke": _apikey_revoke}
    return actions[args.action](engine, args)


def _apikey_create(engine: Engine, args: argparse.Namespace) -> int:
    from credit_assets.core.contracts import load_contracts
    from credit_assets.core.platform.apikeys import (
        PARTNER_SCOPES,
        create_api_key,
        create_partner_key,
        normalize_scopes,
    )

    settings = get_settings()
    if (args.lender is None) == (args.partner is None):
        print("apikey create: give --lender NAME or --partner NAME", file=sys.stderr)
        return 2
    try:
        if args.partner is not None:
            if args.scope:
                raise ValueError(f"a partner key holds {' '.join(PARTNER_SCOPES)} only")
            known = load_contracts(settings.resolved_contracts_dir)
            unknown = sorted(set(args.source or []) - set(known))
            if unknown:
                raise ValueError(
                    f"no source {unknown[0]!r} in {settings.resolved_contracts_dir}: "
                    f"choose from {', '.join(sorted(known))}"
                )
            key = create_partner_key(engine, args.partner, args.source or [])
            who = f"data partner {args.partner.strip()}, writing {' '.join(sorted(args.source))}"
            scopes = PARTNER_SCOPES
        else:
            if args.source:
                raise ValueError(
                    "--source is for partner keys (a lender's key writes every source)"
                )
            scopes = normalize_scopes(args.scope)
            key = create_api_key(engine, args.lender, scopes, tenant=settings.tenant)
            who = args.lender.strip()
    except ValueError as exc:  # an unknown scope or source, a bad name, another lender
        print(f"apikey create: {exc}", file=sys.stderr)
        return 2
    # Only the key on stdout, so `KEY=$(credit-platform apikey create ...)` works.
    print(key)
    print(
        f"key for {who} with scopes {' '.join(scopes)}; shown once, stored hashed",
        file=sys.stderr,
    )
    return 0


def _apikey_list(engine: Engine, args: argparse.Namespace) -> int:
    from credit_assets.core.platform.apikeys import list_api_keys

    keys = list_api_keys(engine, args.lender)
    if args.json:
        rows = [
            {
                "key_id": k.key_id,
                "lender": k.lender,
                "kind": k.kind,
                "sources": list(k.sources) if k.sources is not None else None,
                "scopes": list(k.scopes),
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in keys
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not keys:
        print("no API keys: create one with `credit-platform apikey create --lender NAME`")
        return 0
    print(f"{'KEY ID':<17} {'LENDER / PARTNER':<32} {'SCOPES':<52} {'CREATED':<20} REVOKED")
    for k in keys:
        revoked = f"{k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked_at else "-"
        who = printable(k.lender)
        if k.kind == "partner":
            who = f"partner {who} ({' '.join(k.sources or ())})"
        print(
            f"{k.key_id:<17} {who:<32} {' '.join(k.scopes):<52} "
            f"{k.created_at:%Y-%m-%d %H:%M:%S}  {revoked}"
        )
    return 0


def _apikey_revoke(engine: Engine, args: argparse.Namespace) -> int:
    from credit_assets.core.platform.apikeys import revoke_api_key

    if not revoke_api_key(engine, args.key_id):
        print(f"no live API key with id {args.key_id!r}", file=sys.stderr)
        return 1
    print(
        f"revoked {args.key_id}; the API refuses it within its key cache time "
        "(CREDIT_API_KEY_CACHE_SECONDS, default 60 s)"
    )
    return 0


def _report_command(experiment_id: str) -> str:
    return f"credit-platform experiment report --experiment {experiment_id}"


def _experiment_report(args: argparse.Namespace) -> int:
    """Measure one experiment's report now (default: the newest experiment's), without the
    daemon; print its recommendation and where its HTML is."""
    from credit_assets.orchestration import (
        chosen_experiment,
        measure_experiment,
        recommendation_line,
    )

    experiment = chosen_experiment(args.experiment)
    outcome = measure_experiment(experiment.experiment_id)
    if outcome.measured is None:
        for failure in outcome.failures or ["the report's run failed"]:
            print(f"experiment report: {shown(failure)}", file=sys.stderr)
        return 1
    print(shown(recommendation_line(experiment.experiment_id, outcome.measured)))
    return 0


def _experiment_promote(engine: Engine, args: argparse.Namespace) -> int:
    """`champion_model`'s gates on the experiment's challenger (default: the newest
    experiment's), quality judged on its live outcomes. A gate that says no is an outcome:
    exit 0, or 3 with --strict. Without a report (and without an override) nothing is run:
    the command that measures it is named, exit 2."""
    from credit_assets.core.platform.experiments import (
        ExperimentError,
        get_experiment,
        list_experiments,
    )
    from credit_assets.orchestration import (
        experiment_report,
        promote_after_experiment,
        report_out_of_date,
    )

    experiment_id = args.experiment
    if not experiment_id:
        newest = list_experiments(engine)
        if not newest:
            raise ExperimentError("there is no experiment to promote from")
        experiment_id = newest[0].experiment_id
    try:
        experiment = get_experiment(engine, experiment_id)
    except ExperimentError as exc:  # no such experiment: nothing run (as `report` answers)
        print(f"experiment promote: {shown(exc)}", file=sys.stderr)
        return 2
    if experiment_report(experiment_id) is None:
        if not args.override_reason:
            print(
                f"experiment promote: experiment {experiment_id} has no report yet, and its "
                f"quality is judged on it: measure it first with `{_report_command(experiment_id)}`"
                " (or `credit-platform materialize --select monitoring`)",
                file=sys.stderr,
            )
            return 2
    elif experiment.status != "running" and report_out_of_date(experiment):
        print(
            f"experiment promote: note: the newest report of {experiment_id} predates its stop "
            f"or its latest outcomes; `{_report_command(experiment_id)}` measures it again",
            file=sys.stderr,
        )
    outcome = promote_after_experiment(
        experiment_id, args.override_reason or "", log=lambda line: print(shown(line))
    )
    if not outcome.success:
        for failure in outcome.failures:
            print(f"experiment promote: {shown(failure)}", file=sys.stderr)
        return 1
    return 3 if args.strict and outcome.held_back else 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from credit_assets.core.platform.db import migrated_engine
    from credit_assets.core.platform.experiments import ExperimentError

    settings = get_settings()
    engine = migrated_engine(settings.resolved_database_url)
    try:
        if args.action == "start":
            return _experiment_start(engine, settings, args)
        if args.action == "promote":
            return _experiment_promote(engine, args)
        if args.action == "report":
            return _experiment_report(args)
        if args.action == "stop":
            return _experiment_stop(engine, args)
    except ExperimentError as exc:
        print(f"experiment {args.action}: {shown(exc)}", file=sys.stderr)
        return 2
    return _experiment_status(engine, args)


def _experiment_start(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    from credit_assets.core.platform.experiments import start_experiment

    if not args.challenger or args.share is None:
        print("experiment start: give --challenger VERSION and --share", file=sys.stderr)
        return 2
    experiment = start_experiment(
        engine,
        challenger_version=args.challenger,
        share=args.share,
        started_by=operator(args.by),
        max_share=settings.experiment_max_share,
        max_days=args.max_days,
        max_decisions=args.max_decisions,
    )
    print(experiment.experiment_id)
    print(
        f"experiment {experiment.experiment_id}: challenger {experiment.challenger_version}"
        f" decides {experiment.share:.0%} of borrowers against champion "
        f"{experiment.champion_version}, from the API's next model poll",
        file=sys.stderr,
    )
    return 0


def _experiment_stop(engine: Engine, args: argparse.Namespace) -> int:
    from credit_assets.core.platform.experiments import stop_experiment

    experiment = stop_experiment(
        engine, stopped_by=operator(args.by), reason=args.reason or "stopped by operator"
    )
    print(f"experiment {experiment.experiment_id} stopped: {shown(experiment.stop_reason)}")
    return 0


def _experiment_status(engine: Engine, args: argparse.Namespace) -> int:
    """Every experiment with its decisions by arm and its newest report's recommendation:
    as JSON, or a few lines each."""
    from credit_assets.core.platform.experiments import decisions_by_arm, list_experiments
    from credit_assets.orchestration import experiment_report

    rows = []
    for experiment in list_experiments(engine):
        row = experiment.public()
        row["decisions"] = decisions_by_arm(engine, experiment.experiment_id)
        report = experiment_report(experiment.experiment_id) or {}
        row["recommendation"] = report.get("recommendation")
        row["recommendation_reason"] = report.get("reason")
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no experiments: start one with `credit-platform experiment start`")
        return 0
    for row in rows:
        _print_experiment(row)
    return 0


def _print_experiment(row: dict[str, Any]) -> None:
    """One experiment of `experiment status`: arms and share, who started (and stopped) it,
    its decisions and its report."""
    counts = ", ".join(f"{arm}: {n}" for arm, n in sorted(row["decisions"].items())) or "none"
    limits = []
    if row["max_days"] is not None:
        limits.append(f"max {row['max_days']:g} days")
    if row["max_decisions"] is not None:
        limits.append(f"max {row['max_decisions']} decisions")
    print(
        f"{row['experiment_id']}  {row['status']:<8} challenger {row['challenger_version']} "
        f"at {row['share']:.0%} vs champion {row['champion_version']}"
    )
    print(
        f"  started {row['started_at']:%Y-%m-%d %H:%M:%S} by {shown(row['started_by'])}"
        + (f" ({', '.join(limits)})" if limits else "")
    )
    if row["stopped_at"] is not None:
        print(
            f"  stopped {row['stopped_at']:%Y-%m-%d %H:%M:%S} by {shown(row['stopped_by'])}: "
            f"{shown(row['stop_reason'])}"
        )
    if row["fallback_reason"]:
        print(f"  fallback: {shown(row['fallback_reason'])}")
    print(f"  decisions: {shown(counts)}")
    if row["recommendation"]:
        print(f"  report: {row['recommendation']}: {shown(row['recommendation_reason'])}")
    else:
        print(f"  report: none yet (`{_report_command(row['experiment_id'])}` measures it)")


def _cmd_models(args: argparse.Namespace) -> int:
    from credit_assets.core.platform.db import migrated_engine
    from credit_assets.core.platform.registry import list_models

    if args.action == "promote":
        return _models_promote(args)
    if args.action == "adopt-lda":
        return _models_adopt_lda(args)

    engine = migrated_engine(get_settings().resolved_database_url)
    records = list_models(engine)
    if args.action == "show":
        records = [r for r in records if r["version"] == args.version or args.version is None][:1]
        if not records:
            print(f"no model version {args.version!r} in the registry", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(records, indent=2, default=str))
        return 0
    if not records:
        print("the registry is empty: materialize the modeling group first")
        return 0
    for record in records:
        metrics = record.get("metrics") or {}
        decision = record.get("decision") or {}
        failed = ", ".join(decision.get("failed") or []) or "-"
        print(
            shown(
                f"{record['version']:<28} {record['status']:<10} "
                f"AUC {_auc(metrics)}  promoted {record.get('promoted_at') or '-'}"
                + (f"  failed gates: {failed}" if record["status"] == "held_back" else "")
            )
        )
        if args.action == "show":
            _print_evaluation(metrics.get("evaluation"))
            _print_decision(decision)
            print(json.dumps(record, indent=2, default=str))
    return 0


def _models_promote(args: argparse.Namespace) -> int:
    """`models promote --override-reason TEXT`: the held-back challenger, promoted with a
    recorded reason (exit 2 without one; 1 if the run failed)."""
    from credit_assets.orchestration import promote_with_override

    reason = (args.override_reason or "").strip()
    if not reason:
        print(
            "models promote: an override needs a written reason: --override-reason TEXT "
            "(it is recorded in the registry and on the model card)",
            file=sys.stderr,
        )
        return 2
    outcome = promote_with_override(reason, log=lambda line: print(shown(line)))
    for failure in outcome.failures:
        print(shown(f"models promote: {failure}"), file=sys.stderr)
    return 0 if outcome.success else 1


def _models_adopt_lda(args: argparse.Namespace) -> int:
    """`models adopt-lda [--from VERSION] [--candidate NAME]`: the alternative an LDA search
    found, registered as a challenger and judged by every gate (exit 2 when there is no
    such search or candidate, or it cannot be served; 1 if the run failed)."""
    from credit_assets.defs.modeling.lda_adoption import AdoptionError
    from credit_assets.orchestration import adopt_lda_alternative

    try:
        outcome = adopt_lda_alternative(
            args.lda_of or "", args.candidate or "", log=lambda line: print(shown(line))
        )
    except AdoptionError as exc:
        print(shown(f"models adopt-lda: {exc}"), file=sys.stderr)
        return 2
    for failure in outcome.failures:
        print(shown(f"models adopt-lda: {failure}"), file=sys.stderr)
    return 0 if outcome.success else 1


def _auc(metrics: dict) -> str:
    value = metrics.get("auc")
    return f"{value:.4f}" if isinstance(value, int | float) else "  n/a "


def _print_evaluation(evaluation: dict | None) -> None:
    """Every candidate family's AUC with its interval, as `model_evaluation` recorded it."""
    if not evaluation:
        print("no candidate evaluation recorded")
        return
    method = evaluation.get("method")
    print(f"evaluation: {shown(evaluation.get('summary'))}")
    print(f"  {'family':<12} {'AUC':>7} {'sd':>7} {'95 % interval':>18}")
    for name, figures in (evaluation.get("models") or {}).items():
        sd = figures.get("auc_sd")
        print(
            f"  {name:<12} {figures['auc']:>7.4f} {f'{sd:.4f}' if sd is not None else '-':>7} "
            f"  [{figures['auc_low']:.4f}, {figures['auc_high']:.4f}]"
        )
    for c in evaluation.get("comparisons") or []:
        print(
            f"  {c['other']} - {c['challenger']}: {c['difference']:+.4f} "
            f"[{c['low']:+.4f}, {c['high']:+.4f}], p = {c['p_value']:.3g} ({c['test']})"
        )
    selection = evaluation.get("selection") or {}
    if selection:
        print(f"  chosen: {evaluation.get('family')}: {shown(selection.get('reason'))}")
        print(f"  rule: {shown(selection.get('rule'))}")
    counts = evaluation.get("test_counts") or {}
    if counts:
        interval = (
            f", AUC {counts['interval']} interval [{counts['auc_low']:.4f}, {counts['auc_high']:.4f}]"
            if counts.get("auc_low") is not None and counts.get("auc_high") is not None
            else ", AUC interval undefined"
        )
        print(
            f"  gates judged on the test split: {counts['rows']:,} rows, {counts['bads']:,} "
            f"bads{interval}"
        )
    if evaluation.get("fitted"):
        print(f"  fitted: {shown(evaluation['fitted'])}")
    elif method == "cross_validation":
        print("  (the challenger itself was fitted once, on the train split)")


def _print_decision(decision: dict) -> None:
    """The gate table of a recorded decision, as `models show` prints it."""
    if not decision:
        print("no promotion decision recorded")
        return
    print(f"decision: {decision.get('outcome')} ({shown(decision.get('summary'))})")
    for gate in decision.get("gates", []):
        verdict = (
            "not assessed"
            if not gate.get("assessed", True)
            else (
                "pass"
                if gate.get("passed")
                else "FAIL"
                if gate.get("deciding", True)
                else "FAIL (advisory)"
            )
        )
        # A gate's figure and detail name the lender's groups and features.
        print(f"  {gate['name']:<38} {verdict:<16} {shown(gate.get('figure', ''))}")
        print(f"  {'':<38} {shown(gate.get('detail', ''))}")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from credit_assets.core.tools.traffic import TRAFFIC_FIRST_BORROWER, simulate_traffic

    try:
        report = simulate_traffic(
            base_url=args.url,
            api_key=args.api_key,
            requests=args.requests,
            shift=args.shift,
            seed=args.seed,
            first_borrower=(
                TRAFFIC_FIRST_BORROWER if args.first_borrower is None else args.first_borrower
            ),
            outcomes_dir=Path(args.outcomes_to) if args.outcomes_to else None,
        )
    except ValueError as exc:
        print(f"simulate-traffic: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from credit_assets.demo import run_demo

    return run_demo(args.borrowers, serve=not args.no_serve)


def _cmd_contract(args: argparse.Namespace) -> int:
    from pathlib import Path

    from credit_assets.core.contracts import load_contract
    from credit_assets.core.onboarding.check import WARNING, check_contract, role_summary
    from credit_assets.core.onboarding.inference import infer_contract

    given = [Path(args.file)] if args.action == "infer" else [Path(args.path)]
    given += [Path(args.sample)] if getattr(args, "sample", None) else []
    missing = [str(p) for p in given if not p.is_file()]
    if missing:
        print(f"contract {args.action}: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.action == "check":
        path = given[0]
        problems = check_contract(path, given[1] if len(given) > 1 else None)
        for problem in problems:
            print(f"{shown(path)}: {shown(problem)}")  # problems quote the file
        if any(not p.startswith(WARNING) for p in problems):
            return 1
        contract = load_contract(path)
        print(shown(f"ok: {path} ({len(contract.columns)} columns, {role_summary(contract)})"))
        return 0
    try:
        draft = infer_contract(
            given[0],
            args.name,
            label=args.label,
            bad=args.bad,
            sample_rows=args.sample_rows,
            kind=args.kind,
        )
    except ValueError as exc:  # a bad name, label or bad value; a file ingestion cannot read
        print(f"contract infer: {shown(exc)}", file=sys.stderr)
        return 2
    if args.output is None:
        print(shown(draft.to_yaml()), end="")  # its comments name the sample file
        return 0
    output = Path(args.output)
    output = output / f"{args.name}.yaml" if output.is_dir() else output
    if output.name != f"{args.name}.yaml":
        print(f"contract infer: the file must be named {args.name}.yaml", file=sys.stderr)
        return 2
    if output.exists() and not args.force:
        print(f"contract infer: {output} exists; --force overwrites it", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(draft.to_yaml(), encoding="utf-8")
    print(
        f"wrote {output}; review it, then: "
        f"credit-platform contract check {output} --sample {given[0]}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The `credit-platform` parser: one builder per command group, in the order help lists them."""
    parser = argparse.ArgumentParser(
        prog="credit-platform",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    _add_generate_command(sub)
    _add_materialize_command(sub)
    _add_serve_command(sub)
    _add_apikey_commands(sub)
    add_borrower_parser(sub)
    _add_models_command(sub)
    _add_experiment_command(sub)
    _add_simulate_command(sub)
    _add_demo_command(sub)
    _add_contract_commands(sub)
    _add_db_command(sub)
    return parser


def _add_generate_command(sub: _Commands) -> None:
    gen = sub.add_parser("generate", help="write synthetic alternative data into the landing zone")
    gen.add_argument("--borrowers", type=int, default=50_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--end-date", default="2026-09-30", help="last date of the generated history")
    gen.add_argument("--dirty-rate", type=float, default=0.0, help="share of dirty rows (0-1)")
    gen.add_argument("--bad-files", action="store_true", help="also write unreadable files")
    gen.add_argument("--chunk-borrowers", type=int, default=100_000)
    gen.add_argument(
        "--plant-disparity",
        metavar="GROUP:SHIFT",
        help="lower one ethnicity group's creditworthiness by SHIFT standard deviations "
        "(e.g. group_b:1.0), for fairness evidence to find",
    )
    gen.set_defaults(func=_cmd_generate)


def _add_materialize_command(sub: _Commands) -> None:
    mat = sub.add_parser(
        "materialize",
        help="ingest new landing files, then materialize the graph",
        description="Ingest new landing files, then materialize the graph. Exit codes: 0 done "
        "(a held-back challenger included), 1 a step failed, 2 a contract cannot be loaded, "
        "3 with --strict a challenger held back, 4 no labelled rows (the files and why named).",
    )
    mat.add_argument(
        "--select", nargs="*", metavar="GROUP", help="asset groups to materialize (default: all)"
    )
    mat.add_argument(
        "--strict",
        action="store_true",
        help="exit 3 when a gate holds a challenger back (for CI pipelines); "
        "by default a held-back challenger is an outcome and the exit is 0",
    )
    mat.set_defaults(func=_cmd_materialize)


def _add_serve_command(sub: _Commands) -> None:
    from scoring_api.serve import add_serve_arguments

    serve = sub.add_parser("serve", help="run the scoring API")
    add_serve_arguments(serve)
    serve.set_defaults(func=_cmd_serve)


def _add_apikey_commands(sub: _Commands) -> None:
    """The `apikey` command and its actions: create, list, revoke."""
    from credit_assets.core.platform.apikeys import DEFAULT_SCOPES, SCOPES

    key = sub.add_parser("apikey", help="manage lender API keys")
    key_sub = key.add_subparsers(dest="action", required=True)
    create = key_sub.add_parser("create", help="create a key; it is printed once")
    create.add_argument("--lender", help="the lender this deployment serves (CREDIT_TENANT)")
    create.add_argument(
        "--partner", help="a data partner's name: its key may only write its --source(s)"
    )
    create.add_argument(
        "--source",
        action="extend",
        nargs="+",
        metavar="SOURCE",
        help="with --partner: the source(s) it may push files and records to",
    )
    create.add_argument(
        "--scope",
        action="extend",
        nargs="+",
        metavar="SCOPE",
        help=f"what the key may do, one or more of {', '.join(SCOPES)} "
        f"(default: {' '.join(DEFAULT_SCOPES)}; "
        f"{', '.join(s for s in SCOPES if s not in DEFAULT_SCOPES)} only when named)",
    )
    listing = key_sub.add_parser("list", help="every key: id, lender, scopes, created, revoked")
    listing.add_argument("--lender", help="only this lender's keys")
    listing.add_argument("--json", action="store_true")
    revoke = key_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the id shown by `apikey list` (the part after `ck_`)")
    key.set_defaults(func=_cmd_apikey)


def _add_models_command(sub: _Commands) -> None:
    models = sub.add_parser("models", help="the model inventory")
    models.add_argument("action", choices=["list", "show", "promote", "adopt-lda"])
    models.add_argument("version", nargs="?")
    models.add_argument("--json", action="store_true")
    models.add_argument(
        "--override-reason",
        help="promote: judge the newest evaluated challenger again and promote it past the "
        "gates that say no, recording this reason (required)",
    )
    models.add_argument(
        "--from",
        dest="lda_of",
        help="adopt-lda: the model version whose LDA search found the alternative (default: "
        "the newest search)",
    )
    models.add_argument(
        "--candidate",
        help="adopt-lda: which candidate of that search (default: its servable discovery)",
    )
    models.set_defaults(func=_cmd_models)


def _add_experiment_command(sub: _Commands) -> None:
    exp = sub.add_parser("experiment", help="champion/challenger experiments on live traffic")
    exp.add_argument("action", choices=["start", "stop", "status", "report", "promote"])
    exp.add_argument("--challenger", help="start: the registered challenger's version")
    exp.add_argument(
        "--share",
        type=float,
        help="start: the share of borrowers it decides (at most CREDIT_EXPERIMENT_MAX_SHARE)",
    )
    exp.add_argument("--max-days", type=float, help="start: stop by itself after this long")
    exp.add_argument("--max-decisions", type=int, help="start: stop after this many decisions")
    exp.add_argument("--by", help="who starts or stops it (default: the login name)")
    exp.add_argument("--reason", help="stop: why (recorded)")
    exp.add_argument("--json", action="store_true", help="status: as JSON")
    exp.add_argument(
        "--experiment",
        help="report, promote: the experiment's id (default: the newest experiment)",
    )
    exp.add_argument("--override-reason", help="promote: promote even if a gate says no (recorded)")
    exp.add_argument(
        "--strict", action="store_true", help="promote: exit 3 when the gates hold it back"
    )
    exp.set_defaults(func=_cmd_experiment)


def _add_simulate_command(sub: _Commands) -> None:
    sim = sub.add_parser("simulate-traffic", help="score a population through the API")
    sim.add_argument("--url", default="http://127.0.0.1:8000")
    sim.add_argument("--api-key", required=True)
    sim.add_argument("--requests", type=int, default=1000)
    sim.add_argument("--shift", default=None, help="e.g. income_shock")
    sim.add_argument(
        "--outcomes-to",
        help="write the generator's outcomes of the decided applications (from their true "
        "default probabilities) as a CSV into this folder, e.g. $CREDIT_HOME/landing/outcomes",
    )
    sim.add_argument("--seed", type=int, default=7, help="the synthetic population's seed")
    sim.add_argument(
        "--first-borrower",
        type=int,
        help="number of the first synthetic borrower (default 90000000); start a second "
        "simulation where the first ended to score borrowers nobody has seen",
    )
    sim.set_defaults(func=_cmd_simulate)


def _add_demo_command(sub: _Commands) -> None:
    demo = sub.add_parser("demo", help="generate, materialize, then serve the UI and the API")
    demo.add_argument("--borrowers", type=int, default=50_000)
    demo.add_argument("--no-serve", action="store_true", help="stop after materializing")
    demo.set_defaults(func=_cmd_demo)


def _add_contract_commands(sub: _Commands) -> None:
    """The `contract` command and its actions: infer, check."""
    con = sub.add_parser("contract", help="draft a data contract from a file, or check one")
    con_sub = con.add_subparsers(dest="action", required=True)
    infer = con_sub.add_parser("infer", help="draft a contract from a CSV, JSONL or Parquet file")
    infer.add_argument("file")
    infer.add_argument("--name", required=True, help="the source name (^[a-z][a-z0-9_]*$)")
    infer.add_argument("--label", help="the outcome column (default: guessed)")
    infer.add_argument("--bad", help="the label value meaning bad (default: the minority)")
    infer.add_argument("--kind", default="applications", help="source kind (applications)")
    infer.add_argument("--output", help="write the draft here (a <name>.yaml or a folder)")
    infer.add_argument("--force", action="store_true", help="overwrite an existing --output")
    infer.add_argument("--sample-rows", type=int, default=10_000)
    check = con_sub.add_parser("check", help="list every problem of a contract file")
    check.add_argument("path")
    check.add_argument("--sample", help="also check what ingesting this file would do")
    con.set_defaults(func=_cmd_contract)


def _add_db_command(sub: _Commands) -> None:
    db = sub.add_parser("db", help="platform database")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=_cmd_db)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
