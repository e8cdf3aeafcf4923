"""Uploads over real HTTP to a served API (`credit-platform serve`), on the local landing zone
and on S3 (moto's server): a CSV file streamed without a length and a batch of Plaid-shaped
records are landed, ingested by the landing sensor's runs, and `GET /v1/uploads/{id}` reports
their exact valid and quarantined counts. Duplicates add nothing; each refusal answers its
status; the server's log (debug level, access log on) names no borrower.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.production import FAKE_AWS, new_bucket, s3_test_client
from tests.support.uploads import plaid_contracts, plaid_records, served_api, utility_csv

BORROWER = "SECRET-BORROWER-"  # every borrower id of this test starts so; no log may hold it
LANDING = "incoming"


@dataclass
class Served:
    url: str
    headers: dict[str, str]
    env: dict[str, str]
    service: Any
    bucket: str | None


@pytest.fixture(params=["local", "s3"])
def served(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    home = tmp_path / "home"
    env = {
        "CREDIT_HOME": str(home),
        "CREDIT_CONTRACTS_DIR": str(plaid_contracts(tmp_path / "contracts")),
        "CREDIT_API_SHADOW": "false",
    }
    bucket = None
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        bucket = new_bucket(endpoint)
        env |= {
            **FAKE_AWS,
            "CREDIT_LANDING_URI": f"s3://{bucket}/{LANDING}",
            "CREDIT_S3_ENDPOINT_URL": endpoint,
            "CREDIT_STORAGE": "s3",
            "CREDIT_S3_BUCKET": bucket,
        }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the test's own ingestion sees the same platform
    engine = migrated_engine(Settings().resolved_database_url)
    key = create_api_key(engine, "acme-bank", ["data:write"])
    with served_api(env, tmp_path / "logs") as (url, service):
        yield Served(url, {"Authorization": f"Bearer {key}"}, env, service, bucket)


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.timeout(300)
def test_pushed_files_and_records_are_ingested_with_their_exact_counts(served: Served) -> None:
    bills = utility_csv(400, bad=3, borrower=BORROWER)
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=30) as client:
        # Streamed in chunks, without a Content-Length (chunked transfer encoding).
        file = client.post(
            "/v1/sources/utility_payments/files",
            params={"filename": "march bills.csv"},
            content=_chunks(bills),
            headers={"Content-Type": "text/csv"},
        )
        assert file.status_code == 202, file.text
        assert file.json()["bytes"] == len(bills)
        records = client.post(
            "/v1/sources/bank_transactions/records",
            json=plaid_records(250, bad=2, borrower=BORROWER),
        )
        assert records.status_code == 202, records.text
        ids = {"bills": file.json()["upload_id"], "bank": records.json()["upload_id"]}
        for upload_id in ids.values():
            assert client.get(f"/v1/uploads/{upload_id}").json()["status"] == "received"

        if served.bucket is not None:  # landed under the S3 prefix, nothing half-written
            keys = _keys(served)
            assert {k.split("/")[1] for k in keys} == {"utility_payments", "bank_transactions"}
            assert not any(".incoming" in k or k.endswith(".part") for k in keys)

        with dg.instance_for_test() as instance:
            outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
        assert outcome.success and len(outcome.runs) == 2

        bill_status = client.get(f"/v1/uploads/{ids['bills']}").json()
        assert bill_status["status"] == "ingested" and bill_status["run_id"] in outcome.runs
        assert (bill_status["rows_accepted"], bill_status["rows_rejected"]) == (400, 3)
        bank_status = client.get(f"/v1/uploads/{ids['bank']}").json()
        assert (bank_status["rows_accepted"], bank_status["rows_rejected"]) == (250, 2)

        again = client.post("/v1/sources/bank_transactions/records", json=plaid_records(
            250, bad=2, borrower=BORROWER
        ))  # fmt: skip
        assert again.status_code == 202
        assert again.json()["upload_id"] == ids["bank"] and again.json()["duplicate"] is True
        assert again.json()["status"] == "ingested"

        # Each refusal over the wire.
        csv = {"Content-Type": "text/csv"}
        assert (
            client.post("/v1/sources/nope/files", content=b"a\n1\n", headers=csv).status_code == 404
        )
        plain = {"Content-Type": "text/plain"}
        assert client.post(
            "/v1/sources/utility_payments/files", content=b"a\n", headers=plain
        ).status_code == 415  # fmt: skip
        missing = client.post(
            "/v1/sources/utility_payments/files", content=b"bill_id\nb1\n", headers=csv
        )
        assert missing.status_code == 422 and "borrower_id" in missing.json()["detail"][0]["msg"]
        assert httpx.post(
            f"{served.url}/v1/sources/utility_payments/files", content=bills, headers=csv
        ).status_code == 401  # fmt: skip

    if served.bucket is not None:
        assert not [k for k in _keys(served) if k.split("/")[1] != "archive"]
    log = served.service.log(last=100_000)
    assert "POST /v1/sources/utility_payments/files" in log  # the access log is on
    assert BORROWER not in log


def _keys(served: Served) -> list[str]:
    client = s3_test_client(served.env["CREDIT_S3_ENDPOINT_URL"])
    listed = client.list_objects_v2(Bucket=served.bucket, Prefix=f"{LANDING}/")
    return [obj["Key"] for obj in listed.get("Contents", [])]
