"""Keyed pseudonyms: what the platform keeps of an erased borrower's identifier.

An erased borrower's id is replaced by HMAC-SHA256 under a deployment secret
(CREDIT_PSEUDONYM_KEY), in the decision log rows that retention law requires to keep, in the
tombstone list ingestion honours, and in the audit of requests. Without the key, nobody can
tell which borrower a pseudonym stands for, nor test a guessed id against it (an unkeyed hash
of a short id is reversed by trying every id); with it, the platform can recognise the same
borrower again, which is what keeps an erased borrower out of a re-ingested file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from credit_assets.core.platform.settings import Settings

PREFIX = "pz_"
MIN_KEY_CHARACTERS = 32
KEY_FILE = Path("secrets") / "pseudonym.key"


class PseudonymKeyError(ValueError):
    """The configured key cannot be used; the message says how to fix it."""


def pseudonym_key(settings: Settings) -> bytes:
    """The deployment's pseudonymisation key: CREDIT_PSEUDONYM_KEY, else (embedded mode) a
    random key generated once under CREDIT_HOME/secrets/ with owner-only permissions."""
    if settings.pseudonym_key is not None:
        value = settings.pseudonym_key.get_secret_value()
        if len(value) < MIN_KEY_CHARACTERS:
            raise PseudonymKeyError(
                f"CREDIT_PSEUDONYM_KEY has {len(value)} characters; use at least "
                f"{MIN_KEY_CHARACTERS} (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value.encode()
    path = settings.home / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonym(key: bytes, borrower_id: str) -> str:
    """The keyed pseudonym of a borrower id (`pz_` and 40 hex digits)."""
    digest = hmac.new(key, str(borrower_id).strip().encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:40]
