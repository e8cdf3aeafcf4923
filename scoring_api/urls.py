"""API keys never belong in a URL: the request gate refuses one there, and the access log
never shows one. Nor does it show a borrower id from a borrower-rights path
(`/v1/borrowers/{borrower_id}/...`): an erased borrower's id would outlive them there.

A URL is written to access logs, proxies' logs and browser histories, so a key sent as
`?api_key=...` is exposed even when the request is refused. `credential_in_query` finds
one (a parameter named like a credential, or any value shaped like a key); `redacted`
blanks the secrets in a URL, and `install_access_log_redaction` applies it to uvicorn's
access log, whatever the request was answered.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

CREDENTIAL_PARAMETERS = frozenset(
    {"api_key", "apikey", "api-key", "x-api-key", "key", "access_token", "token", "authorization"}
)
# `ck_<key id>_<secret>` (apikeys.KEY_PREFIX): the key id is public, the secret is not.
_KEY = re.compile(r"ck_([0-9a-fA-F]{16})_[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"
# The borrower id of a borrower-rights path (`routes/rights.py`), up to the next `/` or `?`.
_BORROWER_PATH = re.compile(r"^(/v1/borrowers/)[^/?]+")

URL_CREDENTIAL_REFUSED = (
    "an API key in the URL is refused: URLs are logged. Send it in the header "
    "Authorization: Bearer <key> (or X-API-Key), and treat a key that was sent in a URL as "
    "exposed: revoke it and create another"
)


def _pairs(query: str) -> list[tuple[str, str]]:
    return [(name, value) for name, _, value in (p.partition("=") for p in re.split("[&;]", query))]


def _is_credential(name: str) -> bool:
    return unquote_plus(name).strip().lower() in CREDENTIAL_PARAMETERS


def credential_in_query(query_string: bytes) -> bool:
    """Whether a query string carries a credential: a parameter named like one, or a value
    shaped like an API key (percent-encoding undone)."""
    query = query_string.decode("latin-1")
    for name, value in _pairs(query):
        if _is_credential(name):
            return True
        if _KEY.search(unquote_plus(value)):
            return True
    return False


def redacted(url: str) -> str:
    """`url` with every credential's value replaced by `[redacted]` (a key's id is kept), and
    the borrower id of a borrower-rights path too."""
    url = _BORROWER_PATH.sub(lambda m: f"{m[1]}{REDACTED}", url)
    path, question, query = url.partition("?")
    if question:
        parts = re.split("([&;])", query)  # separators kept, so the rest reads as sent
        for i, part in enumerate(parts):
            name, equals, value = part.partition("=")
            if equals and value and _is_credential(name):
                parts[i] = f"{name}={REDACTED}"
        url = f"{path}?{''.join(parts)}"
    url = _KEY.sub(lambda m: f"ck_{m[1]}_{REDACTED}", url)
    # A key percent-encoded in the URL is a key too.
    if "%" in url and _KEY.search(unquote_plus(url)):
        url = _KEY.sub(lambda m: f"ck_{m[1]}_{REDACTED}", unquote_plus(url))
    return url


class AccessLogRedaction(logging.Filter):
    """Redacts the URL of uvicorn's access log records (args: client, method, path with
    query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redacted(args[2]), args[3], args[4])
        return True


def install_access_log_redaction(logger_name: str = "uvicorn.access") -> None:
    """Add the redaction to the access logger of this process (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, AccessLogRedaction) for f in logger.filters):
        logger.addFilter(AccessLogRedaction())
