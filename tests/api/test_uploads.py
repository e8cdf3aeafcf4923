"""Uploads: files and records pushed to /v1/sources/{source}/..., checked on receipt, landed
whole, followed by GET /v1/uploads/{id} through a real ingestion (Dagster runs in process).

The app runs in process (TestClient) on the local landing zone; `test_uploads_http.py` does
the same over real HTTP to a served API, locally and on S3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from credit_assets.orchestration import ingest_landing_zone, load_definitions
from tests.support.scoring import RunningApi, key_headers, partner_headers, running_api
from tests.support.uploads import files_under, plaid_contracts, plaid_records, utility_csv

CSV = {"Content-Type": "text/csv"}
LANDED = re.compile(r"^\d{8}T\d{6}Z_up_[0-9a-f]{24}_[A-Za-z0-9_-]+\.(csv|jsonl|parquet)$")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, credit_home: Path) -> Iterator[RunningApi]:
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(plaid_contracts(credit_home / "contracts")))
    monkeypatch.setenv("CREDIT_INGEST_MAX_BYTES", str(64 * 1024))
    with running_api(monkeypatch, champion=False, snapshot=False, max_records=50) as running:
        yield running


@pytest.fixture
def writer(api: RunningApi) -> dict[str, str]:
    return key_headers(api, "acme-bank", "data:write")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def post_file(api, headers, source, body, content_type="text/csv", filename="bills.csv"):
    return api.client.post(
        f"/v1/sources/{source}/files",
        params={"filename": filename} if filename is not None else None,
        content=body,
        headers={**headers, "Content-Type": content_type},
    )


def landing(home: Path, source: str) -> list[str]:
    folder = home / "landing" / source
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_a_file_and_records_are_followed_to_their_exact_counts(api, writer, credit_home, instance):
    receipt = post_file(api, writer, "utility_payments", utility_csv(20, bad=2))
    assert receipt.status_code == 202, receipt.text
    upload = receipt.json()
    assert upload["status"] == "received" and upload["duplicate"] is False
    assert upload["source"] == "utility_payments" and upload["bytes"] == len(utility_csv(20, 2))
    [name] = landing(credit_home, "utility_payments")
    assert LANDED.match(name) and name.endswith("_bills.csv")

    pushed = api.client.post(
        "/v1/sources/bank_transactions/records", json=plaid_records(30, bad=1), headers=writer
    )
    assert pushed.status_code == 202, pushed.text
    assert (
        api.client.get(f"/v1/uploads/{upload['upload_id']}", headers=writer).json()["status"]
        == "received"
    )

    outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    assert outcome.success and len(outcome.runs) == 2

    bills = api.client.get(f"/v1/uploads/{upload['upload_id']}", headers=writer).json()
    assert bills["status"] == "ingested"
    assert (bills["rows_accepted"], bills["rows_rejected"]) == (20, 2)
    assert bills["run_id"] in outcome.runs and bills["reason"] is None
    bank = api.client.get(f"/v1/uploads/{pushed.json()['upload_id']}", headers=writer).json()
    assert (bank["status"], bank["rows_accepted"], bank["rows_rejected"]) == ("ingested", 30, 1)
    run = instance.get_run_by_id(bank["run_id"])
    assert run is not None and run.job_name == "ingest_bank_transactions"
    assert run.tags["dagster/partition"] == bank["file_name"]

    # The same content again: the same upload, already ingested; nothing new lands.
    again = post_file(api, writer, "utility_payments", utility_csv(20, bad=2), filename="copy.csv")
    assert again.status_code == 202
    assert again.json() | {"duplicate": False} == {**upload, "status": "ingested"}
    assert again.json()["duplicate"] is True
    assert landing(credit_home, "utility_payments") == []
    assert not ingest_landing_zone(load_definitions(), instance, log=lambda _: None).runs


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def excel_api(monkeypatch: pytest.MonkeyPatch, credit_home: Path) -> Iterator[RunningApi]:
    """The app on contracts whose utility bills may also come as an Excel workbook."""
    contracts = plaid_contracts(credit_home / "contracts")
    utility = contracts / "utility_payments.yaml"
    utility.write_text(
        utility.read_text().replace("formats: [csv, jsonl, parquet]", "formats: [csv, excel]")
    )
    monkeypatch.setenv("CREDIT_CONTRACTS_DIR", str(contracts))
    with running_api(monkeypatch, champion=False, snapshot=False) as running:
        yield running


def test_an_excel_workbook_is_received_followed_and_ingested(excel_api, instance, tmp_path):
    """A workbook as a lender's back office saves it: landed as .xlsx, followed by its upload
    id (format `excel`) to its exact counts."""
    import io

    import polars as pl

    api = excel_api
    writer = key_headers(api, "acme-bank", "data:write")
    frame = pl.read_csv(io.BytesIO(utility_csv(12, bad=1)), infer_schema=False)
    path = tmp_path / "bills.xlsx"
    frame.write_excel(path)
    receipt = post_file(api, writer, "utility_payments", path.read_bytes(), XLSX, "bills.xlsx")
    assert receipt.status_code == 202, receipt.text
    upload_id = receipt.json()["upload_id"]
    followed = api.client.get(f"/v1/uploads/{upload_id}", headers=writer)
    assert followed.status_code == 200, followed.text
    assert followed.json()["format"] == "excel"
    assert followed.json()["file_name"].endswith("_bills.xlsx")
    assert ingest_landing_zone(load_definitions(), instance, log=lambda _: None).success
    ingested = api.client.get(f"/v1/uploads/{upload_id}", headers=writer).json()
    assert (ingested["status"], ingested["rows_accepted"], ingested["rows_rejected"]) == (
        "ingested",
        12,
        1,
    )


def test_each_refusal_answers_its_status_and_writes_nothing(api, writer, credit_home):
    before = files_under(credit_home)
    scorer = key_headers(api, "acme-bank")  # the default scopes: scoring, not data
    body = utility_csv(3)
    assert post_file(api, {}, "utility_payments", body).status_code == 401
    refused = post_file(api, scorer, "utility_payments", body)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this API key lacks the scope data:write"}
    assert post_file(api, writer, "payroll_feed", body).status_code == 404
    assert post_file(api, writer, "utility_payments", body, "text/plain").status_code == 415
    plaid_csv = post_file(api, writer, "bank_transactions", b"transaction_id\nt1\n")
    assert plaid_csv.status_code == 415 and "accepts jsonl, not csv" in plaid_csv.json()["detail"]
    too_big = post_file(api, writer, "utility_payments", utility_csv(4000))
    assert too_big.status_code == 413 and "CREDIT_INGEST_MAX_BYTES" in too_big.json()["detail"]

    missing = post_file(api, writer, "utility_payments", b"bill_id,borrower_id\nb1,B1\n")
    assert missing.status_code == 422
    [error] = missing.json()["detail"]
    assert error["msg"].startswith("required column(s) missing: provider, due_date")
    windows = utility_csv(2).decode().replace("acme", "Café").encode("cp1252")
    cp1252 = post_file(api, writer, "utility_payments", windows)
    assert cp1252.status_code == 422 and "not valid utf-8" in cp1252.json()["detail"][0]["msg"]
    empty = post_file(api, writer, "utility_payments", b"")
    assert empty.status_code == 422

    records = "/v1/sources/bank_transactions/records"
    assert api.client.post(records, json=[], headers=writer).status_code == 422
    assert api.client.post(records, json=[1, 2], headers=writer).json()["detail"][0]["loc"] == [
        "body",
        0,
    ]
    assert api.client.post(records, json=plaid_records(51), headers=writer).status_code == 413
    as_csv = api.client.post(records, content=b"[{}]", headers={**writer, **CSV})
    assert as_csv.status_code == 415
    assert api.client.post(records, content=b"[{", headers={
        **writer, "Content-Type": "application/json"
    }).status_code == 422  # fmt: skip

    assert files_under(credit_home) - before <= {Path("platform.db-shm"), Path("platform.db-wal")}


def test_nothing_an_upload_names_can_write_outside_its_source_folder(api, writer, credit_home):
    tricks = [
        "../../etc/passwd.csv",
        "..\\..\\windows\\system.ini",
        "/etc/cron.d/evil.csv",
        "a/../../b.csv",
        ".hidden.csv",
        "....//....//x.csv",
        "con\x00.csv",
        "%2e%2e%2fescape.csv",
        "../archive/utility_payments/u1.csv",
        "ok name (1).tar.gz",
        "",
        "x" * 255,
    ]
    before = files_under(credit_home)
    for index, name in enumerate(tricks):
        response = post_file(
            api, writer, "utility_payments", utility_csv(2, prefix=f"p{index}_"), filename=name
        )
        assert response.status_code == 202, (name, response.text)
    created = files_under(credit_home) - before - {Path("platform.db-shm"), Path("platform.db-wal")}
    assert len(created) == len(tricks)
    for path in created:
        assert path.parent == Path("landing/utility_payments"), path
        assert LANDED.match(path.name), path.name
    assert not any((credit_home / "landing/utility_payments/.incoming").iterdir())


def test_only_the_uploading_furnisher_can_follow_an_upload(api, writer):
    upload = post_file(api, writer, "utility_payments", utility_csv(3)).json()
    partner = partner_headers(api, "acme-utility", "utility_payments")
    hidden = api.client.get(f"/v1/uploads/{upload['upload_id']}", headers=partner)
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": "no upload with this id for your lender"}
    assert api.client.get("/v1/uploads/up_nope", headers=writer).status_code == 404
    # The partner's identical content is its own upload (and the lender cannot follow it).
    twin = post_file(api, partner, "utility_payments", utility_csv(3)).json()
    assert twin["upload_id"] != upload["upload_id"] and twin["duplicate"] is False
    assert api.client.get(f"/v1/uploads/{twin['upload_id']}", headers=writer).status_code == 404


def test_a_partner_writes_only_the_sources_granted_to_it(api):
    partner = partner_headers(api, "acme-utility", "utility_payments")
    refused = post_file(api, partner, "rent_payments", utility_csv(2))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this partner key may write only to: utility_payments"}
    scoring = api.client.post("/v1/scores", json={"borrower_id": "b-good"}, headers=partner)
    assert scoring.status_code == 403


def test_a_copy_set_aside_by_the_sensor_names_the_twin_only_to_its_furnisher(api, writer, instance):
    first = post_file(api, writer, "utility_payments", utility_csv(5)).json()
    ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    again = post_file(api, writer, "utility_payments", utility_csv(5) + b"\n").json()
    partner = partner_headers(api, "acme-utility", "utility_payments")
    copy = post_file(api, partner, "utility_payments", utility_csv(5)).json()
    outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    first_name = api.client.get(f"/v1/uploads/{first['upload_id']}", headers=writer).json()[
        "file_name"
    ]
    status = api.client.get(f"/v1/uploads/{copy['upload_id']}", headers=partner).json()
    assert status["status"] == "rejected"
    # Another furnisher's file name carries its upload id and time: never told.
    assert status["reason"] == (
        "identical to a file another furnisher already delivered; not ingested twice"
    )
    assert first_name not in status["reason"] and first["upload_id"] not in status["reason"]
    assert again["duplicate"] is False and len(outcome.runs) == 1


def test_a_nested_document_pushed_as_a_file_maps_by_the_contract(api, writer, instance):
    document = json.dumps(plaid_records(12), indent=2).encode()
    receipt = post_file(
        api, writer, "bank_transactions", document, "application/json", "plaid-response.json"
    )
    assert receipt.status_code == 202, receipt.text
    ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    status = api.client.get(f"/v1/uploads/{receipt.json()['upload_id']}", headers=writer).json()
    assert (status["status"], status["rows_accepted"], status["rows_rejected"]) == (
        "ingested",
        12,
        0,
    )
    assert status["file_name"].endswith("_plaid-response.jsonl")


def test_a_file_over_the_reject_share_is_ingested_and_says_features_wait(api, writer, instance):
    receipt = post_file(api, writer, "utility_payments", utility_csv(6, bad=4)).json()
    outcome = ingest_landing_zone(load_definitions(), instance, log=lambda _: None)
    assert outcome.failures  # the blocking reject-share check held the run
    status = api.client.get(f"/v1/uploads/{receipt['upload_id']}", headers=writer).json()
    assert (status["status"], status["rows_accepted"], status["rows_rejected"]) == (
        "ingested",
        6,
        4,
    )
    assert status["reason"].startswith("40.0% of rows quarantined, over the limit of 20%")


def test_the_upload_routes_are_rate_limited_like_the_scoring_routes(monkeypatch, credit_home):
    with running_api(
        monkeypatch, champion=False, snapshot=False, rate_limit_per_second=0.01, rate_limit_burst=2
    ) as limited:
        writer = key_headers(limited, "acme-bank", "data:write")
        statuses = [
            post_file(
                limited, writer, "utility_payments", utility_csv(2, prefix=f"r{i}_")
            ).status_code
            for i in range(3)
        ]
        assert statuses == [202, 202, 429]
        refused = post_file(limited, writer, "utility_payments", utility_csv(2, prefix="r9_"))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert len(landing(credit_home, "utility_payments")) == 2  # a refused body lands nothing
