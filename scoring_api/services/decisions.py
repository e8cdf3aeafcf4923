"""Reading back a logged decision: what a lender was told, for adverse action notices and disputes."""

from __future__ import annotations

import json
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.platform.db import decision_log


def logged_decision_json(engine: Engine, lender: str, decision_id: str) -> str | None:
    """The response `lender` received for `decision_id`, as JSON with `logged_at` added.

    None when the id is unknown or belongs to another lender: the caller cannot tell the two
    apart, so a decision id reveals nothing about other lenders' decisions."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(decision_log.c.response, decision_log.c.created_at).where(
                decision_log.c.decision_id == decision_id,
                decision_log.c.lender == lender,
                # Every decision the API logs carries its response; a row without one has
                # nothing to show as "what the lender was told".
                decision_log.c.response.is_not(None),
            )
        ).first()
    if row is None:
        return None
    body = json.loads(row.response)
    # The log stores naive UTC; the API promises RFC 3339 with an offset, as `scored_at` has.
    body["logged_at"] = row.created_at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(body, separators=(",", ":"))
