"""Ingestion: one `raw_<source>` asset per data contract, and the `quarantine` they feed.

The assets are generated from the contracts in CREDIT_HOME's contracts folder,
so onboarding a source means writing a contract, not code.
"""

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from credit_assets.core.contracts import Contract
from credit_assets.core.contracts.pandera_schema import (
    SchemaReport,
    check_parquet_against_contract,
    quotable_columns,
)
from credit_assets.core.ingestion.files import UnreadableFileError
from credit_assets.core.ingestion.landing import (
    ingest_limits,
    record_ingestion,
    scan_quarantine,
    store_result,
)
from credit_assets.core.ingestion.quarantine import problem_counts
from credit_assets.core.ingestion.stream import IngestedFiles, ingest_to_files
from credit_assets.core.ingestion.uploads import furnisher_of, mark_upload
from credit_assets.core.ingestion.zones import LandingFile, LandingZone
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
        check_specs=_raw_check_specs(dg.AssetKey(contract.asset_name)),
    )
    def raw_source(context: dg.AssetExecutionContext, platform: PlatformResource):
        ingested = _ingest_landing_file(contract, context, platform)
        yield from _raw_check_results(ingested, contract, platform.settings.max_reject_share)
        yield _raw_materialization(ingested)

    return raw_source


def _raw_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The blocking checks of a `raw_<source>` asset."""
    return [
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
    ]


@dataclass(frozen=True)
class _IngestedFile:
    """One landing file ingested, stored, archived and summarised. The summaries are taken
    while the file's local Parquet files exist; `result`'s paths are gone afterwards."""

    result: IngestedFiles
    source_file: str
    raw_uri: str
    quarantine_uri: str
    archived_to: str
    erased_rows: int
    schema_report: SchemaReport
    preview: pl.DataFrame
    rejections: str
    top_problems: list[dict[str, Any]]


def _ingest_landing_file(
    contract: Contract, context: dg.AssetExecutionContext, platform: PlatformResource
) -> _IngestedFile:
    """Ingest the partition's landing file: read and validate it, store the rows and the
    ledger row, archive the file, honour tombstones, flag a reject share over the limit,
    and summarise what was accepted and rejected."""
    zone = platform.landing
    landing_file = zone.locate(contract, context.partition_key)
    name = landing_file.name
    mark_upload(platform.engine, contract.name, name, "ingesting", run_id=context.run_id)
    with tempfile.TemporaryDirectory(prefix="credit-ingest-") as workdir:
        result, raw_uri, quarantine_uri = _read_and_store(
            contract, context, platform, zone, landing_file, Path(workdir)
        )
        archived = zone.archive(landing_file)
        # Rows of erased borrowers in a file sent again: removed, never ingested back.
        erased_rows = honour_tombstones(
            PrivacyContext.of(
                platform.settings, engine=platform.engine, store=platform.store, landing=zone
            ),
            contract,
            context.partition_key,
        )
        _flag_reject_share(platform, contract, name, result)
        context.log.info(
            "%s: %d rows read, %d accepted, %d quarantined",
            landing_file.name,
            result.rows_read,
            result.rows_accepted,
            result.rows_rejected,
        )
        return _IngestedFile(
            result=result,
            source_file=landing_file.name,
            raw_uri=raw_uri,
            quarantine_uri=quarantine_uri,
            archived_to=archived,
            erased_rows=erased_rows,
            schema_report=check_parquet_against_contract(result.accepted_path, contract),
            preview=result.accepted().head(10_000).collect(),  # a profile, bounded
            rejections=reason_counts(result.rejected()) if result.rows_rejected else "_(none)_",
            top_problems=(
                problem_counts(result.rejected()).head(5).collect().to_dicts()
                if result.rows_rejected
                else []
            ),
        )


def _read_and_store(
    contract: Contract,
    context: dg.AssetExecutionContext,
    platform: PlatformResource,
    zone: LandingZone,
    landing_file: LandingFile,
    workdir: Path,
) -> tuple[IngestedFiles, str, str]:
    """The file read into `workdir`, its rows stored and its ledger row (and upload) recorded:
    `(result, raw_uri, quarantine_uri)`. A file that cannot be read is set aside (dg.Failure);
    any other error marks the upload failed and propagates."""
    name = landing_file.name
    try:
        result = _read_landing_file(contract, platform, zone, landing_file, workdir)
        raw_uri, quarantine_uri = store_result(platform.store, result, context.partition_key)
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
    return result, raw_uri, quarantine_uri


def _read_landing_file(
    contract: Contract,
    platform: PlatformResource,
    zone: LandingZone,
    landing_file: LandingFile,
    workdir: Path,
) -> IngestedFiles:
    """The file streamed into two local Parquet files in `workdir` (bounded memory); a file
    that cannot be read at all is set aside and the upload rejected (dg.Failure)."""
    name = landing_file.name
    # On S3 the object is downloaded for the block: the same reading and validation.
    with zone.local_copy(landing_file) as path:
        try:
            return ingest_to_files(
                path,
                contract,
                workdir,
                furnisher=furnisher_of(platform.engine, contract.name, name),
                limits=ingest_limits(platform.settings),
            )
        except UnreadableFileError as exc:
            aside = zone.set_aside(landing_file, exc.reason)
            mark_upload(platform.engine, contract.name, name, "rejected", reason=exc.reason)
            raise dg.Failure(
                description=f"{contract.name}/{name} cannot be ingested: {exc.reason}",
                metadata={"set_aside_to": aside.location, "reason": exc.reason},
            ) from exc


def _flag_reject_share(
    platform: PlatformResource, contract: Contract, name: str, result: IngestedFiles
) -> None:
    """Note on the upload a reject share over CREDIT_MAX_REJECT_SHARE (the blocking check
    holds downstream back)."""
    limit = platform.settings.max_reject_share
    if result.reject_share > limit:
        mark_upload(
            platform.engine,
            contract.name,
            name,
            "ingested",
            reason=f"{result.reject_share:.1%} of rows quarantined, over the limit of "
            f"{limit:.0%} (CREDIT_MAX_REJECT_SHARE): features wait for a corrected file",
        )


def _raw_check_results(
    ingested: _IngestedFile, contract: Contract, limit: float
) -> Iterator[dg.AssetCheckResult]:
    """The results of the two checks `_raw_check_specs` declares (a failure case is quoted
    only from a feature, label or date column: run history outlives an erasure)."""
    report = ingested.schema_report
    yield dg.AssetCheckResult(
        check_name="conforms_to_contract",
        passed=report.passed,
        metadata={
            "failure_cases": report.failure_count,
            "details": dg.MetadataValue.md(report.markdown(shown=quotable_columns(contract))),
        },
    )
    share = ingested.result.reject_share
    yield dg.AssetCheckResult(
        check_name="reject_share_within_limit",
        passed=share <= limit,
        metadata={"reject_share": round(share, 6), "limit": limit},
    )


def _raw_materialization(ingested: _IngestedFile) -> dg.MaterializeResult:
    """The materialization's metadata: counts, file, where the rows went, the profile."""
    result = ingested.result
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.rows_accepted,
            "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted,
            "rows_rejected": result.rows_rejected,
            "erased_borrowers_rows_left_out": ingested.erased_rows,
            "source_file": ingested.source_file,
            "file_sha256": result.file_sha256,
            "archived_to": ingested.archived_to,
            "uri": dg.MetadataValue.path(ingested.raw_uri),
            "quarantine_uri": dg.MetadataValue.path(ingested.quarantine_uri),
            "header_renamed": dg.MetadataValue.md(
                "\n".join(f"- {md_escape(note)}" for note in result.header_notes) or "_(none)_"
            ),
            "columns": dg.MetadataValue.md(column_profile(ingested.preview)),
            "rejections": dg.MetadataValue.md(ingested.rejections),
            "top_problems": dg.MetadataValue.json(ingested.top_problems),
        }
    )


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
