"""Lender API keys: `ck_<key_id>_<secret>`, stored as a salted scrypt hash, shown once.

The key id is public (it finds the row); the secret never touches the database:
only `salt$hash` (hex) is stored, with a fresh salt per key. Verification
recomputes the hash and compares in constant time. Scrypt is deliberately slow
(~tens of ms), so the API keeps `ApiKeyVerifier`, an in-process cache keyed by
the SHA-256 of the presented key, never the key itself: a secret is proven once
per process, and whether its key is still live is re-read (an indexed look-up,
no scrypt) when the entry expires, so a revoked key stops working within the TTL.

Each key carries scopes (`SCOPES`), fixed when it is created: what a lender's
system may do with it. To change a key's scopes, create a new key and revoke the
old one; the cache therefore never holds stale scopes, only a revocation delay.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import api_keys

KEY_PREFIX = "ck"
# What a key may do. Stored space-separated (as in OAuth 2.0 `scope`); order is this order.
SCOPES: tuple[str, ...] = (
    "scores:write",
    "decisions:read",
    "models:read",
    "data:write",
    "borrowers:read",
    "consents:write",
    "borrowers:erase",
)
# What a key gets when no scope is named: a scoring system's. The others are granted only by
# name: `data:write` (pushing files and records into the landing zone), and the borrower
# rights, which a scoring system has no need of: `borrowers:read` (everything held about a
# borrower, GDPR access), `consents:write` (granting and revoking consents to consent-based
# sources) and `borrowers:erase` (erasure from every store).
DEFAULT_SCOPES: tuple[str, ...] = ("scores:write", "decisions:read", "models:read")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
# Hashed when a key id is unknown, so a wrong id costs as long as a wrong secret.
_DUMMY_SALT = bytes(16)


PARTNER_SCOPES: tuple[str, ...] = ("data:write",)
LENDER, PARTNER = "lender", "partner"


class UnknownScopeError(ValueError):
    """A scope that is not in `SCOPES`; the message names it and lists the valid ones."""


class TenantError(ValueError):
    """A key for a lender this deployment does not serve (one deployment per lender)."""


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    """Who a verified key belongs to and what it may do.

    `lender` is the name on the key: the lender's, or for a data partner's key (`kind`
    `partner`) the partner's, whose `sources` are the only ones it may write."""

    key_id: str
    lender: str
    scopes: frozenset[str]
    kind: str = LENDER
    sources: frozenset[str] | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_partner(self) -> bool:
        return self.kind == PARTNER

    @property
    def furnisher(self) -> str:
        """Who furnishes what this key writes: the lender, or `partner:<name>`."""
        return f"{PARTNER}:{self.lender}" if self.is_partner else self.lender  # uploads.lender

    def may_write(self, source: str) -> bool:
        """A lender's key with `data:write` writes every source; a partner's its own."""
        return self.allows("data:write") and (self.sources is None or source in self.sources)


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """A key as `apikey list` shows it: never the secret, nor its hash."""

    key_id: str
    lender: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    kind: str = LENDER
    sources: tuple[str, ...] | None = None


def _hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def normalize_scopes(scopes: Iterable[str] | None) -> tuple[str, ...]:
    """The scopes in `SCOPES` order without duplicates; None means `DEFAULT_SCOPES`.

    Raises UnknownScopeError naming the first unknown scope, ValueError for none at all."""
    if scopes is None:
        return DEFAULT_SCOPES
    wanted = {scope.strip() for scope in scopes}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise UnknownScopeError(f"unknown scope {unknown[0]!r}: choose from {', '.join(SCOPES)}")
    if not wanted:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted)


def _parse_scopes(stored: str) -> tuple[str, ...]:
    return tuple(stored.split())


def create_api_key(
    engine: Engine,
    lender: str,
    scopes: Iterable[str] | None = None,
    *,
    tenant: str | None = None,
) -> str:
    """A new key for `lender` with `scopes` (default: `DEFAULT_SCOPES`); the returned string
    is the only place the secret ever appears.

    A deployment serves one lender: `tenant` (CREDIT_TENANT) when configured, else the lender
    of the first key ever created here. A key for any other lender raises TenantError: a
    second lender gets its own deployment (docs/DEPLOY.md), never a key on this one."""
    lender = _name(lender, "lender")
    if lender.startswith(f"{PARTNER}:"):
        raise ValueError(f"lender: {PARTNER}: names a data partner's records; choose another name")
    served = tenant.strip() if tenant else served_lender(engine)
    if served is not None and lender != served:
        raise TenantError(
            f"this deployment serves lender {served!r}, not {lender!r}: a second lender gets "
            "its own deployment (its own database, bucket prefix and Dagster instance; see "
            "docs/DEPLOY.md), and a data partner a key of its own (apikey create --partner)"
        )
    return _insert_key(engine, lender, normalize_scopes(scopes), LENDER, None)


def create_partner_key(engine: Engine, partner: str, sources: Iterable[str]) -> str:
    """A new key for data partner `partner`: it may only push files and records
    (`data:write`) to `sources`, and what it furnishes is namespaced by it."""
    partner = _name(partner, "partner")
    granted = sorted({s.strip() for s in sources if s.strip()})
    if not granted:
        raise ValueError("a partner key needs at least one source (--source NAME)")
    return _insert_key(engine, partner, PARTNER_SCOPES, PARTNER, tuple(granted))


def served_lender(engine: Engine) -> str | None:
    """The lender this deployment's keys belong to (its first lender key, revoked or not)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(api_keys.c.lender)
            .where(api_keys.c.kind == LENDER)
            .order_by(api_keys.c.created_at, api_keys.c.key_id)
            .limit(1)
        ).scalar()


def _name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ValueError(f"{what}: give a name of 1 to 100 printable characters")
    return name


def _insert_key(
    engine: Engine, name: str, scopes: tuple[str, ...], kind: str, sources: tuple[str, ...] | None
) -> str:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(api_keys).values(
                key_id=key_id,
                lender=name,
                key_hash=f"{salt.hex()}${_hash_secret(secret, salt).hex()}",
                scopes=" ".join(scopes),
                created_at=_now(),
                kind=kind,
                sources=" ".join(sources) if sources is not None else None,
            )
        )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def _verified(key_id: str, row: Any) -> VerifiedKey:
    sources = frozenset(row.sources.split()) if row.sources is not None else None
    return VerifiedKey(key_id, row.lender, frozenset(_parse_scopes(row.scopes)), row.kind, sources)


def parse_api_key(presented: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 16 or not parts[2]:
        return None
    return parts[1], parts[2]


def _live_key(engine: Engine, key_id: str) -> Any:
    """The key's row (lender, key_hash, scopes) unless it is revoked or unknown."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(
                api_keys.c.lender,
                api_keys.c.key_hash,
                api_keys.c.scopes,
                api_keys.c.kind,
                api_keys.c.sources,
            ).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        ).first()


def verify_api_key(engine: Engine, presented: str) -> VerifiedKey | None:
    """The lender and scopes of a key, or None for a malformed, unknown, wrong or revoked key."""
    parsed = parse_api_key(presented)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = _live_key(engine, key_id)
    if row is None:
        _hash_secret(secret, _DUMMY_SALT)
        return None
    salt_hex, _, stored_hex = row.key_hash.partition("$")
    computed = _hash_secret(secret, bytes.fromhex(salt_hex))
    if not hmac.compare_digest(computed, bytes.fromhex(stored_hex)):
        return None
    return _verified(key_id, row)


def revoke_api_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key by its id (the part after `ck_`); True if a live key was revoked."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    return bool(result.rowcount)


def list_api_keys(engine: Engine, lender: str | None = None) -> list[ApiKeyInfo]:
    """Every key (revoked ones too), oldest first; of one lender when `lender` is given."""
    query = sa.select(
        api_keys.c.key_id,
        api_keys.c.lender,
        api_keys.c.scopes,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
        api_keys.c.kind,
        api_keys.c.sources,
    ).order_by(api_keys.c.created_at, api_keys.c.key_id)
    if lender is not None:
        query = query.where(api_keys.c.lender == lender)
    with engine.connect() as conn:
        rows = conn.execute(query).fetchall()
    return [
        ApiKeyInfo(
            r.key_id,
            r.lender,
            _parse_scopes(r.scopes),
            r.created_at,
            r.revoked_at,
            r.kind,
            tuple(r.sources.split()) if r.sources is not None else None,
        )
        for r in rows
    ]


class ApiKeyVerifier:
    """`verify_api_key` behind an in-process cache keyed by the SHA-256 of the presented key
    (never the key itself), with the two costs of verification kept apart:

    - proving the secret (scrypt, tens of milliseconds) happens once per presented key and
      process: a proven fingerprint is remembered (up to `max_entries`, least recently used
      first out);
    - knowing the key is still live (not revoked; its lender and scopes) is an indexed read,
      repeated every `ttl_seconds`, so a revoked key stops working within that time.

    Re-proving the secret on every expiry would stall every request of that lender for an
    scrypt, once a minute per process (seen in the API benchmark as a 100-150 ms spike).

    Misses wait for one another only when they present the same key: when an entry expires
    under load the first request re-checks and the others find it cached, instead of every
    worker thread reading (or, for a new key, allocating scrypt's 16 MB) at once (measured:
    +64 MB RSS per herd); a flood of other, wrong keys does not queue a valid key behind it
    (the API also stops such a flood after a few failures: `scoring_api.services.callers`)."""

    def __init__(
        self, engine: Engine, ttl_seconds: float = 60.0, max_entries: int = 10_000
    ) -> None:
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        # fingerprint -> (key, time its liveness was last read); the key id of a proven
        # secret stays here after expiry, so a re-check needs no scrypt.
        self._cache: OrderedDict[bytes, tuple[VerifiedKey, float]] = OrderedDict()
        self._lock = threading.Lock()
        # fingerprint -> [its lock, requests holding or waiting for it]: one miss per key.
        self._misses: dict[bytes, list[Any]] = {}
        # Fingerprints refused (a wrong secret, an unknown, revoked or malformed key): a key
        # refused once is refused for good, so presenting it again costs no scrypt.
        self._refused: OrderedDict[bytes, None] = OrderedDict()

    @staticmethod
    def fingerprint(presented: str) -> bytes:
        return hashlib.sha256(presented.encode()).digest()

    def cached(self, presented: str) -> VerifiedKey | None:
        """The key's lender and scopes if its liveness was read within the TTL (no database,
        no scrypt)."""
        fingerprint = self.fingerprint(presented)
        with self._lock:
            entry = self._cache.get(fingerprint)
            if entry is None or entry[1] + self.ttl_seconds < time.monotonic():
                return None
            return entry[0]

    def proven(self, presented: str) -> bool:
        """Whether this process has proven the key's secret (checking it again costs no scrypt,
        at most an indexed read)."""
        fingerprint = self.fingerprint(presented)
        with self._lock:
            return fingerprint in self._cache

    def refused(self, presented: str) -> bool:
        """Whether this process has refused the key before (it is refused again for free)."""
        fingerprint = self.fingerprint(presented)
        with self._lock:
            return fingerprint in self._refused

    def verify(self, presented: str) -> VerifiedKey | None:
        verified = self.cached(presented)
        if verified is not None:
            return verified
        fingerprint = self.fingerprint(presented)
        with self._one_miss(fingerprint):
            verified = self.cached(presented)
            if verified is not None:
                return verified
            with self._lock:
                if fingerprint in self._refused:
                    return None
                proven = self._cache.get(fingerprint)
            if proven is not None:
                verified = self._recheck(proven[0].key_id)
            else:
                verified = verify_api_key(self.engine, presented)
            with self._lock:
                if verified is None:
                    self._cache.pop(fingerprint, None)
                    self._refused[fingerprint] = None
                    while len(self._refused) > self.max_entries:
                        self._refused.popitem(last=False)
                    return None
                self._cache[fingerprint] = (verified, time.monotonic())
                self._cache.move_to_end(fingerprint)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
            return verified

    @contextmanager
    def _one_miss(self, fingerprint: bytes) -> Iterator[None]:
        """Held by one request at a time per presented key; forgotten when nobody waits."""
        with self._lock:
            entry = self._misses.setdefault(fingerprint, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._misses[fingerprint]

    def _recheck(self, key_id: str) -> VerifiedKey | None:
        """A proven key as the database has it now; None once it is revoked or gone."""
        row = _live_key(self.engine, key_id)
        if row is None:
            return None
        return _verified(key_id, row)
