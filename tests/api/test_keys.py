"""Lender API keys: shown once, hashed with a per-key salt at rest, verified in constant time,
each with the scopes it was created with (all by default)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from credit_assets.cli import main
from credit_assets.core.platform import apikeys
from credit_assets.core.platform.apikeys import (
    DEFAULT_SCOPES,
    SCOPES,
    ApiKeyVerifier,
    UnknownScopeError,
    create_api_key,
    revoke_api_key,
    verify_api_key,
)
from credit_assets.core.platform.db import api_keys, migrated_engine
from credit_assets.core.platform.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """The platform database of this test's workspace: SQLite, then PostgreSQL (the CLI too)."""
    if request.param == "postgres":
        monkeypatch.setenv("CREDIT_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return migrated_engine(Settings().resolved_database_url)


def _key_id(key: str) -> str:
    return key.split("_")[1]


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
    verified = verify_api_key(engine, key)
    assert verified is not None
    assert (verified.lender, verified.key_id) == ("acme-bank", _key_id(key))
    assert verify_api_key(engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert verify_api_key(engine, f"ck_{'0' * 16}_{key.split('_', 2)[2]}") is None
    assert verify_api_key(engine, "not-a-key") is None
    assert verify_api_key(engine, f"ck_{_key_id(key)}_") is None


def test_a_key_gets_the_scoring_scopes_unless_given_some(engine: sa.Engine) -> None:
    default = verify_api_key(engine, create_api_key(engine, "acme-bank"))
    assert default is not None and default.scopes == frozenset(DEFAULT_SCOPES)
    assert not default.allows("data:write")  # pushing data is granted only by name
    # So are the borrower rights: a scoring system has no need of them.
    assert set(SCOPES) - set(DEFAULT_SCOPES) == {
        "data:write",
        "borrowers:read",
        "consents:write",
        "borrowers:erase",
    }
    some = verify_api_key(
        engine, create_api_key(engine, "acme-bank", ["models:read", "decisions:read"])
    )
    assert some is not None and some.scopes == {"models:read", "decisions:read"}
    assert some.allows("models:read") and not some.allows("scores:write")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_keys.c.scopes).order_by(api_keys.c.created_at))
        assert sorted(stored.scalars()) == [
            "decisions:read models:read",
            "scores:write decisions:read models:read",
        ]


def test_an_unknown_scope_is_refused_by_name_and_no_key_is_made(engine: sa.Engine) -> None:
    with pytest.raises(UnknownScopeError, match="unknown scope 'scores:admin'"):
        create_api_key(engine, "acme-bank", ["models:read", "scores:admin"])
    with pytest.raises(ValueError, match="at least one scope"):
        create_api_key(engine, "acme-bank", [])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar() == 0


def test_a_revoked_key_stops_working(engine: sa.Engine) -> None:
    key = create_api_key(engine, "acme-bank")
    assert revoke_api_key(engine, _key_id(key))
    assert verify_api_key(engine, key) is None
    assert ApiKeyVerifier(engine).verify(key) is None


def test_the_verifier_caches_lender_and_scopes_by_digest_and_not_by_key(
    engine: sa.Engine,
) -> None:
    key = create_api_key(engine, "acme-bank", ["scores:write"])
    verifier = ApiKeyVerifier(engine, ttl_seconds=60)
    assert verifier.cached(key) is None
    assert verifier.verify(key) == verify_api_key(engine, key)
    cached = verifier.cached(key)
    assert cached is not None
    assert (cached.lender, cached.scopes) == ("acme-bank", frozenset({"scores:write"}))
    assert key not in repr(verifier._cache)


def test_the_cli_prints_a_working_key_once(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    assert main(["apikey", "create", "--lender", "north-credit-union"]) == 0
    key = capsys.readouterr().out.strip()
    verified = verify_api_key(engine, key)
    assert verified is not None
    assert verified.lender == "north-credit-union"
    assert verified.scopes == frozenset(DEFAULT_SCOPES)


def test_the_cli_creates_a_key_with_the_scopes_given(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    argv = ["apikey", "create", "--lender", "acme-bank", "--scope", "models:read"]
    assert main([*argv, "--scope", "decisions:read"]) == 0
    out = capsys.readouterr()
    verified = verify_api_key(engine, out.out.strip())
    assert verified is not None and verified.scopes == {"models:read", "decisions:read"}
    assert "decisions:read models:read" in out.err


def test_the_cli_refuses_an_unknown_scope_naming_it(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    argv = ["apikey", "create", "--lender", "acme-bank", "--scope", "scores:admin"]
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "unknown scope 'scores:admin'" in out.err
    assert "scores:write, decisions:read, models:read, data:write" in out.err
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(api_keys)).scalar() == 0


def test_the_cli_lists_keys_without_secrets_and_revokes_by_id(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    kept = create_api_key(engine, "acme-bank", ["scores:write"])
    revoked = create_api_key(engine, "acme-bank")
    assert main(["apikey", "revoke", _key_id(revoked)]) == 0
    assert main(["apikey", "revoke", _key_id(revoked)]) == 1  # already revoked
    capsys.readouterr()

    assert main(["apikey", "list", "--json"]) == 0
    listed = {row["key_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed[_key_id(kept)]["scopes"] == ["scores:write"]
    assert listed[_key_id(kept)]["revoked_at"] is None
    assert listed[_key_id(revoked)]["scopes"] == list(DEFAULT_SCOPES)
    assert listed[_key_id(revoked)]["revoked_at"] is not None
    assert verify_api_key(engine, revoked) is None and verify_api_key(engine, kept) is not None

    assert main(["apikey", "list"]) == 0
    table = capsys.readouterr().out
    assert _key_id(kept) in table and "acme-bank" in table and "scores:write" in table
    for key in (kept, revoked):
        assert key.split("_", 2)[2] not in table
    with engine.connect() as conn:
        hashes = conn.execute(sa.select(api_keys.c.key_hash)).scalars().all()
    assert not any(h.split("$")[1] in table for h in hashes)


def test_an_expired_entry_is_rechecked_without_scrypt_and_a_revocation_lands(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = create_api_key(engine, "acme-bank", ["scores:write"])
    verifier = ApiKeyVerifier(engine, ttl_seconds=0.0)  # every look-up is past the TTL
    assert verifier.verify(key) is not None
    hashed: list[str] = []
    monkeypatch.setattr(apikeys, "_hash_secret", lambda secret, salt: hashed.append(secret))
    again = verifier.verify(key)
    assert again is not None and again.lender == "acme-bank"
    assert hashed == []  # liveness was re-read; the secret was not re-proven
    assert revoke_api_key(engine, _key_id(key))
    assert verifier.verify(key) is None
    assert verifier._cache == {}  # the revoked key's fingerprint is forgotten


def test_the_cli_creates_a_partner_key_for_known_sources_only(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine
) -> None:
    argv = ["apikey", "create", "--partner", "acme-utility", "--source", "utility_payments"]
    assert main(argv) == 0
    key = capsys.readouterr().out.strip()
    verified = verify_api_key(engine, key)
    assert verified is not None and verified.is_partner
    assert verified.scopes == frozenset({"data:write"})
    assert verified.sources == frozenset({"utility_payments"})
    assert verified.furnisher == "partner:acme-utility"
    assert main(["apikey", "create", "--partner", "p", "--source", "nope"]) == 2
    assert "no source 'nope'" in capsys.readouterr().err
    assert main(["apikey", "create", "--partner", "p"]) == 2  # at least one source
    assert main(["apikey", "list"]) == 0
    assert "partner acme-utility (utility_payments)" in capsys.readouterr().out


def test_a_second_lender_is_refused_a_key_on_this_deployment(
    capsys: pytest.CaptureFixture[str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["apikey", "create", "--lender", "acme-bank"]) == 0
    capsys.readouterr()
    assert main(["apikey", "create", "--lender", "north-credit-union"]) == 2
    assert "serves lender 'acme-bank', not 'north-credit-union'" in capsys.readouterr().err
    # With CREDIT_TENANT the deployment's lender is named, first key or not.
    monkeypatch.setenv("CREDIT_TENANT", "north-credit-union")
    assert main(["apikey", "create", "--lender", "acme-bank"]) == 2
    assert main(["apikey", "create", "--lender", "north-credit-union"]) == 0


def test_a_lender_name_cannot_pose_as_a_data_partner(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="names a data partner's records"):
        create_api_key(engine, "partner:acme-utility")
