"""Consents, tombstones, the audit and pseudonyms: the records that prove a borrower's
request was honoured without keeping who they are."""

from __future__ import annotations

import sqlalchemy as sa

from credit_assets.core.platform.db import migrated_engine, privacy_requests
from credit_assets.core.platform.settings import Settings
from credit_assets.core.privacy.pseudonyms import PseudonymKeyError, pseudonym, pseudonym_key
from credit_assets.core.privacy.records import (
    ERASURE,
    ConsentError,
    add_tombstone,
    any_tombstones,
    consenting_borrowers,
    consents_of,
    grant_consent,
    record_request,
    requests_for,
    revocations_due,
    revoke_consent,
    tombstoned,
)


def engine():
    return migrated_engine(Settings().resolved_database_url)


def test_a_pseudonym_is_keyed_stable_and_not_the_plain_hash(credit_home, monkeypatch) -> None:
    key = pseudonym_key(Settings())
    assert pseudonym_key(Settings()) == key  # generated once, then read back
    assert (credit_home / "secrets/pseudonym.key").stat().st_mode & 0o777 == 0o600
    name = pseudonym(key, "B-000123")
    assert name == pseudonym(key, " B-000123 ") and name.startswith("pz_") and len(name) == 43
    assert pseudonym(b"another key of thirty-two characters!", "B-000123") != name
    import hashlib

    assert hashlib.sha256(b"B-000123").hexdigest()[:40] not in name


def test_a_short_configured_key_is_refused_with_how_to_make_one(monkeypatch) -> None:
    monkeypatch.setenv("CREDIT_PSEUDONYM_KEY", "short")
    try:
        pseudonym_key(Settings())
    except PseudonymKeyError as exc:
        assert "at least 32" in str(exc) and "token_hex" in str(exc)
    else:
        raise AssertionError("a 5-character key was accepted")


def test_consent_is_granted_once_revoked_once_and_counts_only_while_live() -> None:
    db = engine()
    first = grant_consent(db, "acme", "B1", "open_banking", "ops")
    assert grant_consent(db, "acme", "B1", "open_banking", "ops").consent_id == first.consent_id
    grant_consent(db, "acme", "B2", "open_banking", "ops")
    assert consenting_borrowers(db, "open_banking") == {"B1", "B2"}
    revoked = revoke_consent(db, "acme", "B1", "open_banking", "borrower")
    assert revoked.revoked_by == "borrower" and not revoked.live
    assert consenting_borrowers(db, "open_banking") == {"B2"}
    try:
        revoke_consent(db, "acme", "B1", "open_banking", "borrower")
    except ConsentError as exc:
        assert "no live consent" in str(exc)
    else:
        raise AssertionError("a second revocation was accepted")
    assert [c.live for c in consents_of(db, "acme", "B1")] == [False]
    # Due for erasure only once the period has passed.
    assert revocations_due(db, days=30) == []
    assert [c.consent_id for c in revocations_due(db, days=0)] == [first.consent_id]


def test_tombstones_hold_pseudonyms_and_recognise_the_ids_they_stand_for() -> None:
    db = engine()
    key = b"k" * 32
    assert not any_tombstones(db) and tombstoned(db, key, ["B1"]) == set()
    add_tombstone(db, "acme", pseudonym(key, "B1"), "r1")
    add_tombstone(db, "acme", pseudonym(key, "B1"), "r1")  # idempotent
    assert tombstoned(db, key, ["B1", "B2", "B1"]) == {"B1"}
    with db.connect() as conn:
        stored = conn.execute(sa.text("select pseudonym from erased_borrowers")).scalars().all()
    assert stored == [pseudonym(key, "B1")] and "B1" not in stored[0]


def test_the_audit_records_who_when_and_what_never_the_id() -> None:
    db = engine()
    name = pseudonym(b"k" * 32, "B1")
    request = record_request(
        db, lender="acme", kind=ERASURE, name=name, by="dpo", reason="Art. 17 request",
        touched={"raw: applications": {"rows": 2}},
    )  # fmt: skip
    [row] = requests_for(db, name)
    assert row["request_id"] == request and row["requested_by"] == "dpo"
    assert row["touched"] == {"raw: applications": {"rows": 2}}
    with db.connect() as conn:
        text = " ".join(str(v) for v in conn.execute(sa.select(privacy_requests)).one())
    assert "B1" not in text.replace(name, "")
