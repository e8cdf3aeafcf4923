"""A borrower's rights end to end, as in production: PostgreSQL, data and landing zone in S3
(moto over real HTTP), a whole pipeline run, decisions from the real API.

Once per module: 600 generated borrowers land in S3 (open-banking transactions declared
`consent: required`, every borrower with transactions consenting), the graph runs through
scoring, and the API scores two borrowers. Then one revokes their consent (their score
changes at once) and the other is erased; every object in the bucket, every table in
PostgreSQL and every file of the Dagster instance and CREDIT_HOME is searched for the erased
borrower's identifiers and distinctive values.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from credit_assets.cli import main
from credit_assets.core.platform.apikeys import SCOPES, create_api_key
from credit_assets.core.platform.db import metadata, migrated_engine
from credit_assets.core.platform.settings import Settings
from credit_assets.core.privacy.context import PrivacyContext
from credit_assets.core.privacy.records import grant_consent
from credit_assets.core.tools.synthetic import generate
from credit_assets.orchestration import materialize_all, promote_with_override
from tests.conftest import fresh_postgres_database
from tests.support.paths import REPO_ROOT
from tests.support.production import FAKE_AWS, new_bucket, s3_test_client

BORROWERS = 600
LANDING = "incoming"
PREFIX = "credit-platform"
SURNAME, FIRST_NAME = "Qwertyuiopsen", "Zebulonia"
GROUPS = ["ingestion", "features", "modeling", "compliance", "scoring"]


@dataclass
class Workspace:
    env: dict[str, str]
    bucket: str
    client: Any
    home: Path
    erased: str  # the borrower who is erased
    applications: list[str]  # their application ids
    revoking: str  # the borrower who revokes a consent
    original_applications: bytes  # the applications file as delivered

    def objects(self) -> dict[str, bytes]:
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                found[key] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return found


def consent_contracts(target: Path) -> Path:
    """The repository's contracts, with open-banking transactions consent-based."""
    shutil.copytree(REPO_ROOT / "contracts", target, ignore=shutil.ignore_patterns("examples"))
    path = target / "bank_transactions.yaml"
    contract = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**contract, "consent": "required"}, sort_keys=False))
    return target


def pick_borrowers(landing: Path) -> tuple[str, str]:
    """Two borrowers with an application and open-banking transactions."""
    apps = pl.read_csv(next((landing / "applications").glob("*.csv")), infer_schema=False)
    bank = pl.read_parquet(next((landing / "bank_transactions").glob("*.parquet")))
    busiest = bank.group_by("borrower_id").len().sort("len", descending=True)["borrower_id"]
    both = [b for b in busiest.to_list() if b in set(apps["borrower_id"].to_list())]
    return both[0], both[1]


def mark_erased_borrower(landing: Path, borrower: str) -> tuple[list[str], bytes]:
    """Give the borrower names nobody else has (so a search finds only theirs)."""
    path = next((landing / "applications").glob("*.csv"))
    apps = pl.read_csv(path, infer_schema=False)
    mine = pl.col("borrower_id") == borrower
    apps = apps.with_columns(
        pl.when(mine).then(pl.lit(SURNAME)).otherwise(pl.col("surname")).alias("surname"),
        pl.when(mine).then(pl.lit(FIRST_NAME)).otherwise(pl.col("first_name")).alias("first_name"),
    )
    apps.write_csv(path)
    return apps.filter(mine)["application_id"].to_list(), path.read_bytes()


@pytest.fixture(scope="module")
def workspace(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("rights")
    home, local = root / "home", root / "generated"
    bucket = new_bucket(moto_endpoint)
    with fresh_postgres_database() as url, pytest.MonkeyPatch.context() as patch:
        env = {
            **FAKE_AWS,
            "CREDIT_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "CREDIT_DATABASE_URL": url,
            "CREDIT_STORAGE": "s3",
            "CREDIT_S3_BUCKET": bucket,
            "CREDIT_S3_PREFIX": PREFIX,
            "CREDIT_S3_ENDPOINT_URL": moto_endpoint,
            "CREDIT_LANDING_URI": f"s3://{bucket}/{LANDING}",
            "CREDIT_CONTRACTS_DIR": str(consent_contracts(root / "contracts")),
            "CREDIT_SNAPSHOT_DATE": "2026-10-01",
            "CREDIT_FEATURE_BUCKETS": "2",
            "CREDIT_CV_REPEATS": "1",
            "CREDIT_CV_TUNE_MAX_ROWS": "0",
            "CREDIT_EVIDENCE_MIN_BADS": "5",
            "CREDIT_LDA_MAX_CANDIDATES": "2",
            "CREDIT_LDA_MAX_CANDIDATES_WHEN_FAIR": "0",
            "CREDIT_PSEUDONYM_KEY": "an-end-to-end-test-key-of-enough-length-0123",
            "CREDIT_API_MODEL_POLL_SECONDS": "0",
        }
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        generate(BORROWERS, local / "landing", local / "truth", seed=11, end_date=date(2026, 9, 30))
        erased, revoking = pick_borrowers(local / "landing")
        applications, original = mark_erased_borrower(local / "landing", erased)
        client = s3_test_client(moto_endpoint)
        for path in sorted((local / "landing").rglob("*.*")):
            key = f"{LANDING}/{path.relative_to(local / 'landing').as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        engine = migrated_engine(url)
        bank = pl.read_parquet(next((local / "landing/bank_transactions").glob("*.parquet")))
        for borrower in bank["borrower_id"].unique().to_list():
            grant_consent(engine, "acme-bank", borrower, "bank_transactions", "onboarding")
        log: list[str] = []
        outcome = materialize_all(groups=GROUPS, log=log.append)
        assert outcome.success, "\n".join(log)
        if outcome.held_back:  # this test is about data, not about the gates
            assert promote_with_override("end-to-end test of borrower rights").success
            assert materialize_all(groups=["scoring"], log=log.append).success
        yield Workspace(env, bucket, client, home, erased, applications, revoking, original)


@pytest.fixture(autouse=True)
def in_workspace(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the pipeline's environment (the autouse fixture gave it a fresh home)."""
    for name, value in workspace.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def api(workspace: Workspace) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from scoring_api.main import create_app

    engine = migrated_engine(Settings().resolved_database_url)
    key = create_api_key(engine, "acme-bank", tuple(SCOPES))
    with TestClient(create_app()) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


def score(api: Any, borrower: str) -> Any:
    return api.post("/v1/scores", json={"borrower_id": borrower})


# ---------------------------------------------------------------- the search


def token(value: str) -> re.Pattern[str]:
    """`value` as a whole token: B-12 is not found inside B-123."""
    return re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(value)}(?![A-Za-z0-9_-])")


def texts_of(name: str, data: bytes) -> list[str]:
    """Every text a file holds: Parquet cells, (de)compressed bytes decoded leniently."""
    if name.endswith(".parquet"):
        frame = pl.read_parquet(io.BytesIO(data))
        return [json.dumps(row, default=str) for row in frame.iter_rows(named=True)]
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [archive.read(n).decode("latin-1") for n in archive.namelist()]
    return [data.decode("latin-1")]


def found_in(texts: dict[str, list[str]], values: list[str]) -> list[str]:
    patterns = [token(v) for v in values]
    return sorted(
        {f"{where}: {p.pattern}" for where, parts in texts.items() for t in parts for p in patterns if p.search(t)}
    )  # fmt: skip


def everywhere(ws: Workspace) -> dict[str, list[str]]:
    """Every object in the bucket, every PostgreSQL table, every file under CREDIT_HOME
    (the Dagster instance's SQLite databases and logs included)."""
    texts = {f"s3://{k}": texts_of(k, v) for k, v in ws.objects().items()}
    engine = migrated_engine(Settings().resolved_database_url)
    with engine.connect() as conn:
        names = sa.inspect(engine).get_table_names()
        for table in names:
            rows = conn.execute(sa.text(f'select * from "{table}"')).all()
            texts[f"table {table}"] = [json.dumps([str(v) for v in r]) for r in rows]
    for path in ws.home.rglob("*"):
        if path.is_file():
            texts[f"file {path.relative_to(ws.home)}"] = texts_of(path.name, path.read_bytes())
    assert set(metadata.tables) <= set(names)
    return texts


# ---------------------------------------------------------------- tests


@pytest.mark.slow
@pytest.mark.postgres
def test_a_revoked_consent_changes_the_next_score(workspace: Workspace, api: Any) -> None:
    before = score(api, workspace.revoking)
    assert before.status_code == 200, before.text
    revoked = api.delete(f"/v1/borrowers/{workspace.revoking}/consents/bank_transactions")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["online_row_recomputed"] is True
    after = score(api, workspace.revoking)
    assert after.status_code == 200
    assert after.json()["score"] != before.json()["score"]
    ctx = PrivacyContext(Settings())
    from credit_assets.core.platform.online_store import read_features

    features = read_features(ctx.engine, workspace.revoking).features
    # The open-banking records no longer count: coverage 0, every bank aggregate empty.
    assert features["has_bank"] in (0, None)
    assert all(features[n] is None for n in features if n.startswith("bank_"))


@pytest.mark.slow
@pytest.mark.postgres
def test_an_erased_borrower_is_nowhere_but_in_pseudonymised_decisions(
    workspace: Workspace, api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first = score(api, workspace.erased)
    assert first.status_code == 200, first.text
    values = [workspace.erased, *workspace.applications, SURNAME, FIRST_NAME]
    assert found_in(everywhere(workspace), values)  # the search finds them before

    capsys.readouterr()
    code = main(
        ["borrower", "erase", "--borrower", workspace.erased, "--reason", "Art. 17", "--by", "dpo"]
    )
    assert code == 0, capsys.readouterr().err
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["rows_removed"] > 0 and outcome["stores"]["decision log"]["pseudonymised"] >= 1

    assert found_in(everywhere(workspace), values) == []
    assert score(api, workspace.erased).status_code == 404
    engine = migrated_engine(Settings().resolved_database_url)
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text("select borrower_id, score, reasons, model_version from decision_log "
                    "where decision_id = :d"), {"d": first.json()["decision_id"]},
        ).one()  # fmt: skip
    assert kept.borrower_id == outcome["pseudonym"] and kept.score == first.json()["score"]
    assert kept.model_version == first.json()["model_version"]
    assert main(["borrower", "export", "--borrower", workspace.erased]) == 2


@pytest.mark.slow
@pytest.mark.postgres
def test_sending_the_old_file_again_does_not_bring_the_borrower_back(
    workspace: Workspace, api: Any
) -> None:
    if score(api, workspace.erased).status_code != 404:  # run alone: erase first
        assert (
            main(["borrower", "erase", "--borrower", workspace.erased, "--reason", "Art. 17"]) == 0
        )
    resent = workspace.original_applications + b"\n"  # other bytes, the same rows
    workspace.client.put_object(
        Bucket=workspace.bucket, Key=f"{LANDING}/applications/applications-resent.csv", Body=resent
    )
    log: list[str] = []
    assert materialize_all(groups=["ingestion", "features"], log=log.append).success, log
    values = [workspace.erased, *workspace.applications, SURNAME, FIRST_NAME]
    assert found_in(everywhere(workspace), values) == []
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_applications"))
    left_out = event.asset_materialization.metadata["erased_borrowers_rows_left_out"].value
    assert left_out == len(workspace.applications)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_revoked_consents_records_are_erased_when_due(
    workspace: Workspace, api: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The revoked borrower's open-banking records stay (unused) until the period ends,
    then the purge removes them from the delivered file and the raw rows, and only them."""
    # Revoked by the revocation test, or here when this test runs alone (then 200, else 409).
    revoked = api.delete(f"/v1/borrowers/{workspace.revoking}/consents/bank_transactions")
    assert revoked.status_code in (200, 409), revoked.text
    bank = f"s3://{PREFIX}/raw/bank_transactions"
    capsys.readouterr()
    assert main(["borrower", "purge-revoked"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # not due: revoked seconds ago
    monkeypatch.setenv("CREDIT_CONSENT_ERASURE_DAYS", "0")
    before = {k: v for k, v in everywhere(workspace).items() if k.startswith(bank)}
    assert found_in(before, [workspace.revoking])
    assert main(["borrower", "purge-revoked"]) == 0
    [done] = json.loads(capsys.readouterr().out)
    assert done["source"] == "bank_transactions" and done["rows"] > 0
    texts = everywhere(workspace)
    assert (
        found_in({k: v for k, v in texts.items() if "bank_transactions" in k}, [workspace.revoking])
        == []
    )
    # Other sources of the borrower are untouched: only the revoked consent's records go.
    assert found_in(
        {k: v for k, v in texts.items() if "/raw/applications" in k}, [workspace.revoking]
    )
