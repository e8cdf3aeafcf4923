"""Two lenders and two data partners on one platform, over real HTTP, on PostgreSQL: the
findings of an attacker's test, replayed.

The tenancy model (README, docs/DEPLOY.md): one deployment per lender (its own database,
landing zone and keys), data partners furnishing records into a lender's deployment with
keys of their own, their records namespaced by furnisher. Lender A's deployment is served
(`credit-platform serve`); lender B has a deployment of its own (its own PostgreSQL database)
with the same customer numbers, and tries A's API with its key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from credit_assets.cli import main
from credit_assets.core.contracts import load_contracts
from credit_assets.core.ingestion.landing import scan_source
from credit_assets.core.platform.apikeys import SCOPES, create_api_key, create_partner_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.local import data_store
from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.production import (
    free_port,
    http_status,
    process_env,
    running,
    scoring_api_command,
)
from tests.support.scoring import built_model, publish_borrowers, save_and_register

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

HEADER = "bill_id,borrower_id,provider,due_date,paid_date,amount_due,amount_paid,days_late\n"
FAST = 2.0  # seconds: a refusal costs no more than this, a fast 4xx


@dataclass
class Platform:
    url: str
    lender: dict[str, str]  # lender A's key
    intruder: dict[str, str]  # lender B's key, valid in B's own deployment
    partner_1: dict[str, str]
    partner_2: dict[str, str]
    settings: Settings


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def deployment(home: Path, database: str, tenant: str) -> dict[str, str]:
    return {
        "CREDIT_HOME": str(home),
        "CREDIT_DATABASE_URL": database,
        "CREDIT_TENANT": tenant,
        "CREDIT_API_SHADOW": "false",
    }


@pytest.fixture
def platform(
    tmp_path: Path, postgres_url: str, another_postgres_url: str, monkeypatch
) -> Iterator[Platform]:
    # Lender B's deployment: its own database, the same customer numbers as A's.
    b_env = deployment(tmp_path / "b", another_postgres_url, "north-credit-union")
    for name, value in b_env.items():
        monkeypatch.setenv(name, value)
    b_settings = Settings()
    publish_borrowers(b_settings)
    intruder = create_api_key(migrated_engine(another_postgres_url), "north-credit-union")

    a_env = deployment(tmp_path / "a", postgres_url, "acme-bank")
    for name, value in a_env.items():
        monkeypatch.setenv(name, value)  # this test's own ingestion and CLI act on A
    settings = Settings()
    save_and_register(settings, built_model())
    publish_borrowers(settings)
    engine = migrated_engine(postgres_url)
    lender = create_api_key(engine, "acme-bank", SCOPES, tenant="acme-bank")
    partner_1 = create_partner_key(engine, "acme-utility", ["utility_payments"])
    partner_2 = create_partner_key(engine, "cheap-utility", ["utility_payments"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(a_env)
    with running("api", scoring_api_command(port), tmp_path / "logs", env=env) as api:
        api.wait_until(lambda: http_status(f"{url}/readyz") == 200, timeout=90, what="/readyz")
        yield Platform(
            url,
            bearer(lender),
            bearer(intruder),
            bearer(partner_1),
            bearer(partner_2),
            settings,
        )


def timed(request) -> tuple[httpx.Response, float]:  # request: a no-argument callable
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def bills(borrower: str, paid: bool) -> bytes:
    rows = [
        f"bill-{i},{borrower},acme,2024-0{i}-01,{'2024-0' + str(i) + '-02' if paid else ''},"
        f"50,{'50' if paid else ''},{'1' if paid else ''}\n"
        for i in (1, 2, 3)
    ]
    return (HEADER + "".join(rows)).encode()


def test_another_lender_gets_no_key_here(platform: Platform, capsys) -> None:
    assert main(["apikey", "create", "--lender", "north-credit-union"]) == 2
    refusal = capsys.readouterr().err
    assert "this deployment serves lender 'acme-bank', not 'north-credit-union'" in refusal
    assert "docs/DEPLOY.md" in refusal


def test_another_lender_cannot_score_or_probe_this_lenders_borrowers(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url, timeout=10) as client:
        own = client.post("/v1/scores", json={"borrower_id": "b-good"}, headers=platform.lender)
        assert own.status_code == 200
        decision = own.json()["decision_id"]
        probes = {
            "existing borrower": lambda: client.post(
                "/v1/scores", json={"borrower_id": "b-good"}, headers=platform.intruder
            ),
            "unknown borrower": lambda: client.post(
                "/v1/scores", json={"borrower_id": "b-nobody"}, headers=platform.intruder
            ),
            "existing decision": lambda: client.get(
                f"/v1/decisions/{decision}", headers=platform.intruder
            ),
            "unknown decision": lambda: client.get(
                f"/v1/decisions/{'0' * 32}", headers=platform.intruder
            ),
        }
        answers = {}
        for what, probe in probes.items():
            response, seconds = timed(probe)
            assert response.status_code == 401, what
            assert seconds < FAST, (what, seconds)
            answers[what] = response.json()
        # 401 for an id that exists and one that does not: nothing to tell them apart.
        assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1


def test_a_partner_resending_another_partners_bill_ids_overwrites_nothing(
    platform: Platform,
) -> None:
    route = "/v1/sources/utility_payments/files"
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        missed = client.post(
            route,
            content=bills("b-late", paid=False),
            headers={**platform.partner_1, "Content-Type": "text/csv"},
        )
        assert missed.status_code == 202
        # The other partner re-sends the same bill ids as paid on time.
        paid = client.post(
            route,
            content=bills("b-late", paid=True),
            headers={**platform.partner_2, "Content-Type": "text/csv"},
        )
        assert paid.status_code == 202
        with dg.instance_for_test() as instance:
            outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
        assert outcome.success and len(outcome.runs) == 2
        contract = load_contracts(platform.settings.resolved_contracts_dir)["utility_payments"]
        rows = scan_source(data_store(platform.settings), contract).collect()
        mine = rows.filter(pl.col("_furnisher") == "partner:acme-utility")
        theirs = rows.filter(pl.col("_furnisher") == "partner:cheap-utility")
        assert mine.height == theirs.height == 3
        assert mine["paid_date"].null_count() == 3  # acme-utility's missed bills stand
        assert theirs["paid_date"].null_count() == 0

        # Neither partner can follow the other's upload: 404, exactly as for an unknown id.
        hidden = client.get(f"/v1/uploads/{missed.json()['upload_id']}", headers=platform.partner_2)
        unknown = client.get("/v1/uploads/up_000000000000", headers=platform.partner_2)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json() == unknown.json()


def test_a_partner_writes_only_its_sources_and_reads_nothing(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url, timeout=10) as client:
        checks = {
            "another source": (
                lambda: client.post(
                    "/v1/sources/rent_payments/files",
                    content=bills("b-late", paid=False),
                    headers={**platform.partner_1, "Content-Type": "text/csv"},
                ),
                403,
            ),
            "scoring": (
                lambda: client.post(
                    "/v1/scores", json={"borrower_id": "b-good"}, headers=platform.partner_1
                ),
                403,
            ),
            "the model": (
                lambda: client.get("/v1/models/current", headers=platform.partner_1),
                403,
            ),
        }
        for what, (check, status) in checks.items():
            response, seconds = timed(check)
            assert response.status_code == status, (what, response.text)
            assert seconds < FAST, (what, seconds)


def test_a_copy_of_another_furnishers_file_is_set_aside_without_naming_it(
    platform: Platform,
) -> None:
    route = "/v1/sources/utility_payments/files"
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        first = client.post(
            route,
            content=bills("b-late", paid=False),
            headers={**platform.lender, "Content-Type": "text/csv"},
            params={"filename": "acme-march"},
        ).json()
        assert first["status"] == "received"
        with dg.instance_for_test() as instance:
            ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
            copy = client.post(
                route,
                content=bills("b-late", paid=False),
                headers={**platform.partner_1, "Content-Type": "text/csv"},
            ).json()
            ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
        status = client.get(f"/v1/uploads/{copy['upload_id']}", headers=platform.partner_1).json()
        assert status["status"] == "rejected"
        assert first["upload_id"] not in status["reason"] and "acme-march" not in status["reason"]
        assert status["reason"] == (
            "identical to a file another furnisher already delivered; not ingested twice"
        )
