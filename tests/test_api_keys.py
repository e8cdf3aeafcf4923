"""Lender API keys: shown once, hashed with a per-key salt at rest, verified in constant time."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.apikeys import (
    ApiKeyVerifier,
    create_api_key,
    revoke_api_key,
    verify_api_key,
)
from credit_assets.core.db import api_keys, platform_engine
from credit_assets.core.settings import Settings


@pytest.fixture
def engine() -> sa.Engine:
    return platform_engine(Settings().resolved_database_url)


def test_keys_are_stored_as_salted_hashes_never_in_plaintext(engine: sa.Engine) -> None:
    keys = [create_api_key(engine, "acme-bank") for _ in range(2)]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys)).fetchall()
    stored = " ".join(str(value) for row in rows for value in row)
    for key in keys:
        assert key.startswith("ck_")
        secret = key.split("_", 2)[2]
        assert key not in stored and secret not in stored
    salts = [row.key_hash.split("$")[0] for row in rows]
    assert len(set(salts)) == 2 and all(len(row.key_hash.split("$")[1]) == 64 for row in rows)


def test_a_key_verifies_as_its_lender_and_nothing_else_does(engine: sa.Engine) -> None:
    key = create_api_key(engine, "acme-bank")
    assert verify_api_key(engine, key) == "acme-bank"
    key_id = key.split("_")[1]
    assert verify_api_key(engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert verify_api_key(engine, f"ck_{'0' * 16}_{key.split('_', 2)[2]}") is None
    assert verify_api_key(engine, "not-a-key") is None
    assert verify_api_key(engine, f"ck_{key_id}_") is None


def test_a_revoked_key_stops_working(engine: sa.Engine) -> None:
    key = create_api_key(engine, "acme-bank")
    assert revoke_api_key(engine, key.split("_")[1])
    assert verify_api_key(engine, key) is None
    assert ApiKeyVerifier(engine).verify(key) is None


def test_the_verifier_caches_by_digest_and_not_by_key(engine: sa.Engine) -> None:
    key = create_api_key(engine, "acme-bank")
    verifier = ApiKeyVerifier(engine, ttl_seconds=60)
    assert verifier.cached(key) is None
    assert verifier.verify(key) == "acme-bank"
    assert verifier.cached(key) == "acme-bank"
    assert key not in repr(verifier._cache)


def test_the_cli_prints_a_working_key_once(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    assert main(["apikey", "create", "--lender", "north-credit-union"]) == 0
    key = capsys.readouterr().out.strip()
    assert verify_api_key(engine, key) == "north-credit-union"
