"""Sustained uploads: lenders push files and record batches for a bounded time to a served
API on PostgreSQL while ingestion runs beside them, as the landing sensor would. Nothing is
lost: every row landed is ingested or quarantined, exactly once, and every upload says so.

Bounded and loopback only: at most UPLOADS_PER_THREAD uploads from each of THREADS threads
within UPLOAD_SECONDS (5 s timeouts), then one last ingestion pass; the API process is stopped when the test ends.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from credit_assets.core.contracts import load_contracts
from credit_assets.core.ingestion.landing import scan_quarantine, scan_source
from credit_assets.core.platform.apikeys import create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.local import data_store
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.uploads import plaid_contracts, plaid_records, served_api, utility_csv

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

UPLOAD_SECONDS = 20.0
THREADS = 3
UPLOADS_PER_THREAD = 12  # each becomes an in-process ingestion run (~1 s): keep the total small
PAUSE_SECONDS = 0.4


@pytest.mark.timeout(400)
def test_rows_landed_equal_rows_ingested_plus_rows_quarantined(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "CREDIT_HOME": str(tmp_path / "home"),
        "CREDIT_DATABASE_URL": postgres_url,
        "CREDIT_CONTRACTS_DIR": str(plaid_contracts(tmp_path / "contracts")),
        "CREDIT_API_SHADOW": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    key = create_api_key(migrated_engine(settings.resolved_database_url), "acme", ["data:write"])
    sent: list[dict] = []  # per 202: upload id, source, the keys of its good and bad rows
    errors: list[str] = []
    lock = threading.Lock()

    def push(url: str, thread: int, until: float) -> None:
        rng = random.Random(thread)
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
            n = 0
            while time.monotonic() < until and n < UPLOADS_PER_THREAD:
                time.sleep(PAUSE_SECONDS * rng.random())
                n += 1
                prefix = f"t{thread}n{n}_"
                rows, bad = rng.randint(10, 60), rng.randint(0, 2)  # within CREDIT_MAX_REJECT_SHARE
                # Each row's key, as the helpers write it: bill_id or transaction_id.
                good_keys = [f"{prefix}{i}" for i in range(rows)]
                if n % 2:
                    source, bad_keys = "utility_payments", [f"{prefix}x{i}" for i in range(bad)]
                    response = client.post(
                        "/v1/sources/utility_payments/files",
                        content=utility_csv(rows, bad, prefix=prefix),
                        headers={"Content-Type": "text/csv"},
                    )
                else:
                    source, bad_keys = "bank_transactions", [f"{prefix}bad{i}" for i in range(bad)]
                    response = client.post(
                        "/v1/sources/bank_transactions/records",
                        json=plaid_records(rows, bad, prefix=prefix),
                    )
                with lock:
                    if response.status_code != 202:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                    elif not response.json()["duplicate"]:
                        sent.append(
                            {
                                "id": response.json()["upload_id"],
                                "source": source,
                                "rows": rows + bad,
                                "good": good_keys,
                                "bad": bad_keys,
                            }
                        )

    with served_api(env, tmp_path / "logs") as (url, _service), dg.instance_for_test() as instance:
        until = time.monotonic() + UPLOAD_SECONDS
        threads = [threading.Thread(target=push, args=(url, t, until)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        passes = 0
        while any(t.is_alive() for t in threads):  # ingestion beside the uploads
            ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
            passes += 1
        for thread in threads:
            thread.join()
        ingest_landing_zone(load_definitions(), instance, log=lambda _: None)

        headers = {"Authorization": f"Bearer {key}"}
        statuses = [
            httpx.get(f"{url}/v1/uploads/{s['id']}", headers=headers, timeout=5).json()
            for s in sent
        ]

    assert not errors, errors[:5]
    assert len(sent) == THREADS * UPLOADS_PER_THREAD and passes >= 1
    assert {s["status"] for s in statuses} == {"ingested"}
    landed = sum(s["rows"] for s in sent)
    accepted = sum(s["rows_accepted"] for s in statuses)
    quarantined = sum(s["rows_rejected"] for s in statuses)
    assert landed == accepted + quarantined
    # Upload by upload: exactly its good rows accepted and its bad rows quarantined.
    assert [(s["rows_accepted"], s["rows_rejected"]) for s in statuses] == [
        (len(s["good"]), len(s["bad"])) for s in sent
    ]
    print(
        f"\n{len(sent)} uploads, {landed} rows: {accepted} ingested + {quarantined} quarantined "
        f"({passes} ingestion passes beside the uploads)"
    )

    # The stores agree with what the uploads report, row for row.
    contracts = load_contracts(settings.resolved_contracts_dir)
    store = data_store(settings)
    stored = sum(
        scan_source(store, contracts[source]).select(pl.len()).collect().item()
        for source in ("utility_payments", "bank_transactions")
    )
    quarantine = scan_quarantine(store)
    assert quarantine is not None
    assert stored == accepted
    assert quarantine.select(pl.len()).collect().item() == quarantined

    # Row by row, by key: every good row stored once and never quarantined, every bad row
    # quarantined once (for the problem planted in it) and never stored.
    rejected = quarantine.select("source", "reason", "record").collect()
    for source, key, problem in (
        ("utility_payments", "bill_id", "borrower_id"),
        ("bank_transactions", "transaction_id", "amount"),
    ):
        good = sorted(k for s in sent if s["source"] == source for k in s["good"])
        bad = sorted(k for s in sent if s["source"] == source for k in s["bad"])
        assert good and bad, source  # both kinds of row were sent to both sources
        stored_keys = scan_source(store, contracts[source]).select(key).collect()[key]
        assert sorted(stored_keys.to_list()) == good, source
        here = rejected.filter(pl.col("source") == source)
        assert sorted(json.loads(r)[key] for r in here["record"]) == bad, source
        assert all(reason.startswith(f"{problem}:") for reason in here["reason"]), (
            source,
            here["reason"].unique().to_list(),
        )
