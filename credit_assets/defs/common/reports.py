"""Reports of a model version in the data store, as JSON (keys: `core/platform/storage/keys`)."""

import json
from typing import Any

from credit_assets.core.platform.storage.keys import report_key
from credit_assets.defs.common.resources import PlatformResource


def read_report(platform: PlatformResource, kind: str, name: str) -> dict[str, Any] | None:
    """The report, or None when none was written for `name` (a model version or a day)."""
    key = report_key(kind, name)
    store = platform.store
    return json.loads(store.get_bytes(key)) if store.exists(key) else None


def write_report(platform: PlatformResource, kind: str, name: str, payload: dict) -> str:
    """Write (or replace) the report; returns its URI."""
    return platform.store.put_bytes(
        report_key(kind, name), json.dumps(payload, indent=2, default=str).encode()
    )
