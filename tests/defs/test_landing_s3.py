"""The landing zone on an S3 prefix, over real HTTP against moto's S3 server.

With `CREDIT_LANDING_URI=s3://<bucket>/incoming`, files dropped as `incoming/<source>/<file>`
are found by the same `landing_zone_sensor` (with a cursor), ingested by the same
`raw_<source>` runs (the object is downloaded and validated by the same code as a local
file), archived to `incoming/archive/<source>/` and, when unreadable or a renamed copy,
set aside to `incoming/rejected/<source>/` with a `<file>.reason.json` note. Data goes to
S3 as well (`CREDIT_STORAGE=s3`, prefix `credit-platform/`), as in production.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from credit_assets.core.platform.db import ingested_files, migrated_engine
from credit_assets.core.platform.settings import get_settings
from credit_assets.core.platform.storage.s3 import S3DataStore
from credit_assets.defs.common.resources import PlatformResource
from credit_assets.orchestration import load_definitions
from tests.support.production import (
    FAKE_AWS,
    new_bucket,
    s3_test_client,
    spy_on_dagster_aws_clients,
)

LANDING = "incoming"
DATA_PREFIX = "credit-platform"
HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"
GOOD_BILLS = "".join(f"b{i},B{i % 3},acme,2024-0{1 + i % 9}-01,,50,,\n" for i in range(20))
# 20 valid bills, then one without a borrower (data row 21).
UTILITY = HEADER + GOOD_BILLS + "bad,,acme,2024-01-01,,5,,\n"
# 6 valid bills as JSON lines, then one 9999 days late (line 7).
TELECOM = "".join(
    json.dumps({"bill_id": f"t{i}", "borrower_id": f"B{i}", "provider": "tel",
                "due_date": "2024-03-10", "paid_date": None, "amount_due": 30.0,
                "amount_paid": None, "days_late": 9999 if i == 6 else None}) + "\n"
    for i in range(7)
)  # fmt: skip
# due_date and amount_due missing from the header.
RENT_MISSING_COLUMNS = "bill_id,borrower_id,provider,paid_date,amount_paid,days_late\nx,B1,,,,\n"
# Windows-1252 under a contract that says UTF-8 (the default): unreadable as declared.
RENT_CP1252 = (HEADER + "r1,B1,Café,2024-01-01,,5,,\n").encode("cp1252")


@dataclass
class Bucket:
    """The test bucket, seen through boto3 as an operator would."""

    name: str
    client: Any

    def put(self, key: str, data: str | bytes) -> None:
        body = data.encode() if isinstance(data, str) else data
        self.client.put_object(Bucket=self.name, Key=key, Body=body)

    def keys(self, prefix: str) -> set[str]:
        keys: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        ):
            keys |= {obj["Key"] for obj in page.get("Contents", [])}
        return keys

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def note(self, source: str, name: str) -> dict[str, str]:
        return json.loads(self.read(f"{LANDING}/rejected/{source}/{name}.reason.json"))


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket holding the landing zone (`incoming/`) and the data (`credit-platform/`)."""
    name = new_bucket(moto_endpoint)
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    env = {
        **FAKE_AWS,
        "CREDIT_LANDING_URI": f"s3://{name}/{LANDING}",
        "CREDIT_S3_ENDPOINT_URL": moto_endpoint,
        "CREDIT_STORAGE": "s3",
        "CREDIT_S3_BUCKET": name,
        "CREDIT_S3_PREFIX": DATA_PREFIX,
    }
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return Bucket(name, s3_test_client(moto_endpoint))


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def defs() -> dg.Definitions:
    return load_definitions()


def land_the_batch(bucket: Bucket) -> None:
    """Two good files, two unreadable ones, and three objects the sensor must ignore."""
    bucket.put(f"{LANDING}/utility_payments/u1.csv", UTILITY)
    bucket.put(f"{LANDING}/telecom_payments/t1.jsonl", TELECOM)
    bucket.put(f"{LANDING}/rent_payments/r1.csv", RENT_MISSING_COLUMNS)
    bucket.put(f"{LANDING}/rent_payments/r2.csv", RENT_CP1252)
    bucket.put(f"{LANDING}/utility_payments/.u-hidden.csv", UTILITY)
    bucket.put(f"{LANDING}/utility_payments/u9.csv.part", UTILITY)
    bucket.put(f"{LANDING}/utility_payments/nested/u8.csv", UTILITY)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    """One evaluation of the landing sensor; (its result, the cursor it leaves)."""
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"platform": PlatformResource()}
    ) as context:
        result = sensor(context)
        return result, context.cursor


def run_requested(
    defs: dg.Definitions, instance: dg.DagsterInstance, result: dg.SensorResult
) -> dict[str, dg.ExecuteInProcessResult]:
    """What the daemon does with a tick: add the partitions, launch each run (in process)."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys or [])
        )
    return {
        request.partition_key: defs.resolve_job_def(request.job_name).execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags=request.tags,
            raise_on_error=False,
        )
        for request in result.run_requests or []
    }


def ingest(defs: dg.Definitions, instance: dg.DagsterInstance) -> str | None:
    """A tick and its runs, all of which must succeed; the cursor left."""
    result, cursor = tick(defs, instance, None)
    runs = run_requested(defs, instance, result)
    assert runs and all(run.success for run in runs.values()), runs
    return cursor


def stored(key: str):  # -> pl.DataFrame
    return S3DataStore.from_settings(get_settings()).read_frame(key)


def ledger() -> dict[str, tuple[int, int, int]]:
    engine = migrated_engine(get_settings().resolved_database_url)
    with engine.connect() as conn:
        return {
            r.file_name: (r.rows_read, r.rows_accepted, r.rows_rejected)
            for r in conn.execute(sa.select(ingested_files))
        }


def test_the_sensor_requests_one_run_per_new_object_and_sets_unreadable_ones_aside(
    bucket, defs, instance
):
    land_the_batch(bucket)
    result, _ = tick(defs, instance, None)
    assert sorted((r.job_name, r.partition_key) for r in result.run_requests) == [
        ("ingest_telecom_payments", "t1.jsonl"),
        ("ingest_utility_payments", "u1.csv"),
    ]
    assert {
        (r.partitions_def_name, tuple(r.partition_keys)) for r in result.dynamic_partitions_requests
    } == {("telecom_payments_files", ("t1.jsonl",)), ("utility_payments_files", ("u1.csv",))}
    assert bucket.note("rent_payments", "r1.csv")["reason"] == (
        "required column(s) missing: due_date, amount_due"
    )
    assert bucket.note("rent_payments", "r2.csv")["reason"].startswith("not valid utf-8")
    assert bucket.keys(f"{LANDING}/rejected/") == {
        f"{LANDING}/rejected/rent_payments/r1.csv",
        f"{LANDING}/rejected/rent_payments/r1.csv.reason.json",
        f"{LANDING}/rejected/rent_payments/r2.csv",
        f"{LANDING}/rejected/rent_payments/r2.csv.reason.json",
    }
    # Set aside byte for byte, not re-encoded.
    assert bucket.read(f"{LANDING}/rejected/rent_payments/r2.csv") == RENT_CP1252


def test_the_runs_write_raw_and_quarantine_and_archive_the_objects(bucket, defs, instance):
    land_the_batch(bucket)
    ingest(defs, instance)

    assert stored("raw/utility_payments/u1.csv.parquet").height == 20
    assert stored("raw/telecom_payments/t1.jsonl.parquet").height == 6
    utility_q = stored("quarantine/utility_payments/u1.csv.parquet")
    assert utility_q.select("row_number", "reason").rows() == [
        (21, "borrower_id: required value missing")
    ]
    telecom_q = stored("quarantine/telecom_payments/t1.jsonl.parquet")
    assert telecom_q.select("row_number", "reason").rows() == [
        (7, "days_late: above maximum 365: 9999")
    ]
    assert ledger() == {"u1.csv": (21, 20, 1), "t1.jsonl": (7, 6, 1)}

    # Ingested objects moved to archive/, byte for byte; the ignored ones left where they were.
    assert bucket.keys(f"{LANDING}/") - bucket.keys(f"{LANDING}/rejected/") == {
        f"{LANDING}/archive/utility_payments/u1.csv",
        f"{LANDING}/archive/telecom_payments/t1.jsonl",
        f"{LANDING}/utility_payments/.u-hidden.csv",
        f"{LANDING}/utility_payments/u9.csv.part",
        f"{LANDING}/utility_payments/nested/u8.csv",
    }
    assert bucket.read(f"{LANDING}/archive/utility_payments/u1.csv") == UTILITY.encode()
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_utility_payments"))
    metadata = event.asset_materialization.metadata
    assert metadata["archived_to"].value == (
        f"s3://{bucket.name}/{LANDING}/archive/utility_payments/u1.csv"
    )
    assert metadata["uri"].value == (
        f"s3://{bucket.name}/{DATA_PREFIX}/raw/utility_payments/u1.csv.parquet"
    )


def test_a_second_tick_requests_nothing_and_a_new_object_alone(bucket, defs, instance):
    land_the_batch(bucket)
    first, cursor = tick(defs, instance, None)
    assert len(first.run_requests) == 2

    again, cursor = tick(defs, instance, cursor)
    assert again.run_requests == []
    assert again.skip_reason.skip_message == "no new landing files (0 set aside)"

    bucket.put(f"{LANDING}/utility_payments/u2.csv", HEADER + GOOD_BILLS.replace("b", "c"))
    third, _ = tick(defs, instance, cursor)
    assert [r.partition_key for r in third.run_requests] == ["u2.csv"]


def test_a_replaced_object_under_the_same_name_is_requested_again(bucket, defs, instance):
    bucket.put(f"{LANDING}/utility_payments/u1.csv", HEADER + GOOD_BILLS)
    first, cursor = tick(defs, instance, None)
    bucket.put(f"{LANDING}/utility_payments/u1.csv", UTILITY)  # a corrected delivery
    second, _ = tick(defs, instance, cursor)
    [before], [after] = first.run_requests, second.run_requests
    assert before.partition_key == after.partition_key == "u1.csv"
    assert before.run_key != after.run_key  # the content hash is part of the run key


def test_a_renamed_copy_of_an_ingested_object_is_set_aside_as_a_duplicate(bucket, defs, instance):
    bucket.put(f"{LANDING}/utility_payments/u1.csv", UTILITY)
    cursor = ingest(defs, instance)
    bucket.put(f"{LANDING}/utility_payments/u1-copy.csv", UTILITY)
    result, _ = tick(defs, instance, cursor)
    assert result.run_requests == []
    assert result.skip_reason.skip_message == "no new landing files (1 set aside)"
    assert bucket.note("utility_payments", "u1-copy.csv")["reason"] == (
        "duplicate of u1.csv, already ingested"
    )
    assert bucket.keys(f"{LANDING}/utility_payments/") == set()
    assert ledger() == {"u1.csv": (21, 20, 1)}


def test_an_object_turned_unreadable_before_its_run_is_set_aside_by_the_run(bucket, defs, instance):
    bucket.put(f"{LANDING}/utility_payments/u1.csv", UTILITY)
    result, _ = tick(defs, instance, None)
    bucket.put(
        f"{LANDING}/utility_payments/u1.csv", UTILITY.replace("acme", "Café").encode("cp1252")
    )
    run = run_requested(defs, instance, result)["u1.csv"]
    assert not run.success
    assert bucket.note("utility_payments", "u1.csv")["reason"].startswith("not valid utf-8")
    assert bucket.keys(f"{LANDING}/") == {
        f"{LANDING}/rejected/utility_payments/u1.csv",
        f"{LANDING}/rejected/utility_payments/u1.csv.reason.json",
    }
    assert ledger() == {}
    assert S3DataStore.from_settings(get_settings()).list_keys("raw/") == []


def test_rerunning_an_archived_partition_reads_the_archive_and_adds_nothing(bucket, defs, instance):
    bucket.put(f"{LANDING}/utility_payments/u1.csv", UTILITY)
    ingest(defs, instance)
    rerun = defs.resolve_job_def("ingest_utility_payments").execute_in_process(
        instance=instance, partition_key="u1.csv"
    )
    assert rerun.success
    assert stored("raw/utility_payments/u1.csv.parquet").height == 20
    assert ledger() == {"u1.csv": (21, 20, 1)}
    assert bucket.keys(f"{LANDING}/") == {f"{LANDING}/archive/utility_payments/u1.csv"}


def test_the_quarantine_asset_lists_rows_and_the_objects_set_aside(bucket, defs, instance):
    land_the_batch(bucket)
    ingest(defs, instance)
    result = dg.materialize(
        list(defs.assets or []),
        selection=["quarantine"],
        instance=instance,
        resources={"platform": PlatformResource()},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("quarantine")[0].metadata
    assert metadata["dagster/row_count"].value == 2
    first, second = metadata["set_aside_files"].value.splitlines()
    assert first == "- `rent_payments/r1.csv`: required column(s) missing: due_date, amount_due"
    byte = len(HEADER) + len("r1,B1,Caf")
    assert second.startswith(f"- `rent_payments/r2.csv`: not valid utf-8 (byte {byte}: ")
    assert "set csv.encoding:" in second


def test_the_landing_zone_takes_its_s3_client_from_dagster_aws(bucket, monkeypatch):
    clients = spy_on_dagster_aws_clients(monkeypatch)
    zone = PlatformResource().landing
    assert clients and zone.client is clients[0]  # type: ignore[attr-defined]
    assert zone.describe() == f"s3://{bucket.name}/{LANDING}"


@pytest.mark.parametrize("uri", ["/srv/landing", "s3://", "https://bucket/landing"])
def test_a_landing_uri_that_is_not_an_s3_prefix_is_a_clear_error(uri, monkeypatch):
    monkeypatch.setenv("CREDIT_LANDING_URI", uri)
    with pytest.raises(ValueError, match="CREDIT_LANDING_URI"):
        get_settings()


def test_without_a_landing_uri_the_landing_zone_is_the_local_folder(credit_home, monkeypatch):
    monkeypatch.delenv("CREDIT_LANDING_URI", raising=False)
    assert PlatformResource().landing.describe() == str(credit_home / "landing")
