"""The landing-zone sensor: a new file in `landing/<source>/` (a local folder or the S3 prefix
in CREDIT_LANDING_URI) becomes an ingestion run."""

import json

import dagster as dg

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.ingestion.landing import ingest_limits, scan_landing_zone
from credit_assets.core.platform.settings import get_settings
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.defs.ingestion.assets import build_ingest_job


def build_landing_sensor(contracts: dict[str, Contract], jobs: list) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_zone_sensor",
        jobs=jobs,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Watches landing/<source>/ (CREDIT_HOME/landing, or <prefix>/<source>/ under "
            "CREDIT_LANDING_URI=s3://bucket/prefix) for CSV, JSON-lines and Parquet files and "
            "launches one ingestion run per new file. Unreadable files (wrong encoding, missing "
            "required columns) and renamed duplicates are moved to rejected/<source>/ with a reason."
        ),
    )
    def landing_zone_sensor(context: dg.SensorEvaluationContext, platform: PlatformResource):
        cursor = json.loads(context.cursor) if context.cursor else {}
        scan = scan_landing_zone(
            platform.landing,
            contracts,
            platform.engine,
            cursor,
            limits=ingest_limits(platform.settings),
        )
        for aside in scan.set_aside:
            context.log.warning("set aside %s: %s", aside.location, aside.reason)
        by_source: dict[str, list[str]] = {}
        for pending in scan.pending:
            by_source.setdefault(pending.source, []).append(pending.partition_key)
        requests = [
            dg.RunRequest(
                run_key=pending.run_key,
                job_name=f"ingest_{pending.source}",
                partition_key=pending.partition_key,
                tags={"credit/source": pending.source, "credit/file_sha256": pending.sha256},
            )
            for pending in scan.pending
        ]
        context.update_cursor(json.dumps(scan.cursor, sort_keys=True))
        if not requests:
            return dg.SensorResult(
                skip_reason=f"no new landing files ({len(scan.set_aside)} set aside)"
            )
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[
                dg.AddDynamicPartitionsRequest(f"{source}_files", keys)
                for source, keys in by_source.items()
            ],
        )

    return landing_zone_sensor


@dg.definitions
def landing_sensor_defs() -> dg.Definitions:
    contracts = load_contracts(get_settings().resolved_contracts_dir)
    jobs = [build_ingest_job(c) for c in contracts.values()]
    return dg.Definitions(jobs=jobs, sensors=[build_landing_sensor(contracts, jobs)])
