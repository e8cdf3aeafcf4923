"""Alerts: a row in the platform database, and a webhook POST when one is configured."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import alerts


def record_alert(
    engine: Engine,
    kind: str,
    message: str,
    run_id: str | None,
    payload: dict[str, Any],
    webhook_url: str | None = None,
) -> None:
    """Store the alert; then POST it to `webhook_url` if given (a webhook outage never hides it)."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(alerts).values(
                created_at=datetime.now(UTC).replace(tzinfo=None),
                kind=kind,
                message=message[:4000],
                run_id=run_id,
                payload=json.dumps(payload, default=str),
            )
        )
    if webhook_url:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                webhook_url,
                json={"kind": kind, "message": message, "run_id": run_id, **payload},
                timeout=5,
            )
