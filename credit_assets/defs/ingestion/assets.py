"""Ingestion: one `raw_<source>` asset per data contract, and the `quarantine` they feed.

The assets are generated from the contracts in CREDIT_HOME's contracts folder,
so onboarding a source means writing a contract, not code.
"""

import tempfile
from pathlib import Path

import dagster as dg
import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.contracts.pandera_schema import check_parquet_against_contract
from credit_assets.core.ingestion.files import UnreadableFileError
from credit_assets.core.ingestion.landing import (
    ingest_limits,
    record_ingestion,
    scan_quarantine,
    store_result,
)
from credit_assets.core.ingestion.quarantine import problem_counts
from credit_assets.core.ingestion.stream import ingest_to_files
from credit_assets.core.ingestion.uploads import furnisher_of, mark_upload
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.keys import QUARANTINE_REPORT
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.tombstones import honour_tombstones
from credit_assets.core.reports.metadata import (
    column_profile,
    markdown_table,
    md_code,
    md_escape,
)
from credit_assets.defs.common.resources import PlatformResource

INGESTION_OWNERS = ["team:data-engineering"]


def source_partitions(contract: Contract) -> dg.DynamicPartitionsDefinition:
    """One partition per landing file of the source (key: the file name)."""
    return dg.DynamicPartitionsDefinition(name=f"{contract.name}_files")


def column_schema(contract: Contract) -> dg.TableSchema:
    def describe(spec) -> str:  # type: ignore[no-untyped-def]
        limits = [f"role: {spec.role.value}"]
        if spec.min is not None or spec.max is not None:
            limits.append(f"range [{spec.min}, {spec.max}]")
        if spec.allowed is not None:
            limits.append(f"one of {spec.allowed}")
        return "; ".join(filter(None, [spec.description, *limits]))

    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=spec.name,
                type=spec.type,
                description=describe(spec),
                constraints=dg.TableColumnConstraints(
                    nullable=spec.is_nullable, unique=contract.keys == [spec.name]
                ),
            )
            for spec in contract.columns.values()
        ]
    )


def reason_counts(rejected: pl.DataFrame | pl.LazyFrame, limit: int = 10) -> str:
    """Rejected rows per problem (the text before the value), most frequent first."""
    rows = [
        {"problem": problem, "rows": n}
        for problem, n in problem_counts(rejected.lazy()).head(limit).collect().iter_rows()
    ]
    return markdown_table(rows, ["problem", "rows"])


def build_raw_asset(contract: Contract) -> dg.AssetsDefinition:
    """The `raw_<source>` asset of one contract."""
    key = dg.AssetKey(contract.asset_name)

    @dg.asset(
        name=contract.asset_name,
        group_name="ingestion",
        partitions_def=source_partitions(contract),
        owners=INGESTION_OWNERS,
        kinds={"polars", "parquet"},
        description=(
            f"{contract.description}\n\nValidated rows of source `{contract.name}` "
            f"({contract.kind.value}), one partition per landing file; rows that break the "
            "contract go to `quarantine` with the file, row number and reason."
        ),
        metadata={
            "contract": str(contract.path) if contract.path else contract.name,
            "dagster/column_schema": column_schema(contract),
        },
        check_specs=[
            dg.AssetCheckSpec(
                "conforms_to_contract",
                asset=key,
                blocking=True,
                description="The accepted rows pass the pandera schema generated from the contract.",
            ),
            dg.AssetCheckSpec(
                "reject_share_within_limit",
                asset=key,
                blocking=True,
                description="The share of quarantined rows stays under CREDIT_MAX_REJECT_SHARE.",
            ),
        ],
    )
    def raw_source(context: dg.AssetExecutionContext, platform: PlatformResource):
        settings = platform.settings
        zone = platform.landing
        landing_file = zone.locate(contract, context.partition_key)
        name = landing_file.name
        mark_upload(platform.engine, contract.name, name, "ingesting", run_id=context.run_id)
        with tempfile.TemporaryDirectory(prefix="credit-ingest-") as workdir:
            try:
                # On S3 the object is downloaded for the block: the same reading and
                # validation. The file streams into two local Parquet files (bounded memory).
                with zone.local_copy(landing_file) as path:
                    try:
                        result = ingest_to_files(
                            path,
                            contract,
                            Path(workdir),
                            furnisher=furnisher_of(platform.engine, contract.name, name),
                            limits=ingest_limits(settings),
                        )
                    except UnreadableFileError as exc:
                        aside = zone.set_aside(landing_file, exc.reason)
                        mark_upload(
                            platform.engine, contract.name, name, "rejected", reason=exc.reason
                        )
                        raise dg.Failure(
                            description=f"{contract.name}/{name} cannot be ingested: {exc.reason}",
                            metadata={"set_aside_to": aside.location, "reason": exc.reason},
                        ) from exc
                raw_uri, quarantine_uri = store_result(
                    platform.store, result, context.partition_key
                )
                record_ingestion(platform.engine, result, context.run_id)  # and the upload's
            except dg.Failure:
                raise
            except Exception as exc:
                # A retried run (or the next materialization) moves the upload on again.
                mark_upload(
                    platform.engine,
                    contract.name,
                    name,
                    "failed",
                    reason=f"{type(exc).__name__}: {exc}",
                )
                raise
            archived = zone.archive(landing_file)
            # Rows of erased borrowers in a file sent again: removed, never ingested back.
            erased_rows = honour_tombstones(
                PrivacyContext.of(
                    settings, engine=platform.engine, store=platform.store, landing=zone
                ),
                contract,
                context.partition_key,
            )
            limit = settings.max_reject_share
            if result.reject_share > limit:  # the blocking check below holds downstream back
                mark_upload(
                    platform.engine,
                    contract.name,
                    name,
                    "ingested",
                    reason=f"{result.reject_share:.1%} of rows quarantined, over the limit of "
                    f"{limit:.0%} (CREDIT_MAX_REJECT_SHARE): features wait for a corrected file",
                )
            context.log.info(
                "%s: %d rows read, %d accepted, %d quarantined",
                landing_file.name,
                result.rows_read,
                result.rows_accepted,
                result.rows_rejected,
            )
            schema_report = check_parquet_against_contract(result.accepted_path, contract)
            preview = result.accepted().head(10_000).collect()  # a profile, bounded
            rejections = reason_counts(result.rejected()) if result.rows_rejected else "_(none)_"
            top_problems = (
                problem_counts(result.rejected()).head(5).collect().to_dicts()
                if result.rows_rejected
                else []
            )
        yield dg.AssetCheckResult(
            check_name="conforms_to_contract",
            passed=schema_report.passed,
            metadata={
                "failure_cases": schema_report.failure_count,
                "details": dg.MetadataValue.md(schema_report.markdown()),
            },
        )
        yield dg.AssetCheckResult(
            check_name="reject_share_within_limit",
            passed=result.reject_share <= limit,
            metadata={"reject_share": round(result.reject_share, 6), "limit": limit},
        )
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows_accepted,
                "rows_read": result.rows_read,
                "rows_accepted": result.rows_accepted,
                "rows_rejected": result.rows_rejected,
                "erased_borrowers_rows_left_out": erased_rows,
                "source_file": landing_file.name,
                "file_sha256": result.file_sha256,
                "archived_to": archived,
                "uri": dg.MetadataValue.path(raw_uri),
                "quarantine_uri": dg.MetadataValue.path(quarantine_uri),
                "header_renamed": dg.MetadataValue.md(
                    "\n".join(f"- {md_escape(note)}" for note in result.header_notes) or "_(none)_"
                ),
                "columns": dg.MetadataValue.md(column_profile(preview)),
                "rejections": dg.MetadataValue.md(rejections),
                "top_problems": dg.MetadataValue.json(top_problems),
            }
        )

    return raw_source


def build_ingest_job(contract: Contract):  # an unresolved asset job, bound by Definitions
    """One job per source: the landing sensor launches it for each new file."""
    return dg.define_asset_job(
        name=f"ingest_{contract.name}",
        selection=dg.AssetSelection.assets(contract.asset_name),
        partitions_def=source_partitions(contract),
        executor_def=dg.in_process_executor,
        description=f"Ingest one landing file of source {contract.name}.",
    )


def build_quarantine_asset(contracts: dict[str, Contract]) -> dg.AssetsDefinition:
    @dg.asset(
        name="quarantine",
        group_name="ingestion",
        deps=[dg.AssetKey(c.asset_name) for c in contracts.values()],
        owners=INGESTION_OWNERS,
        kinds={"polars", "parquet"},
        automation_condition=dg.AutomationCondition.eager(),
        description=(
            "Every row any landing file delivered that broke its source's contract: source, "
            "file, row number, the raw record and the reason naming the column. Nothing a "
            "source delivers is dropped silently; files that could not be read at all are "
            "listed under `set_aside_files`."
        ),
    )
    def quarantine(context: dg.AssetExecutionContext, platform: PlatformResource):
        scanned = scan_quarantine(platform.store)
        rows = scanned.collect() if scanned is not None else pl.DataFrame()
        uri = platform.store.write_frame(QUARANTINE_REPORT, rows)
        by_source = rows.group_by("source").len().sort("source").to_dicts() if rows.height else []
        aside = platform.landing.set_aside_notes(contracts)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows.height,
                "uri": dg.MetadataValue.path(uri),
                "rows_by_source": dg.MetadataValue.md(markdown_table(by_source, ["source", "len"])),
                "problems": dg.MetadataValue.md(reason_counts(rows) if rows.height else "_(none)_"),
                "set_aside_files": dg.MetadataValue.md(
                    "\n".join(
                        f"- {md_code(f'{n.source}/{n.name}')}: {md_escape(n.reason)}" for n in aside
                    )
                    or "_(none)_"
                ),
                "columns": dg.MetadataValue.md(column_profile(rows) if rows.height else "_(none)_"),
            }
        )

    return quarantine


@dg.definitions
def ingestion_defs() -> dg.Definitions:
    contracts = _contracts()
    return dg.Definitions(
        assets=[build_raw_asset(c) for c in contracts.values()]
        + [build_quarantine_asset(contracts)],
    )


def _contracts() -> dict[str, Contract]:
    from credit_assets.core.contracts import load_contracts

    return load_contracts(get_settings().resolved_contracts_dir)
