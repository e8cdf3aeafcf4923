"""What `make demo` prints for the scoring API: a fresh demo key and a curl that works."""

from __future__ import annotations

import json

import sqlalchemy as sa

from credit_assets.core.platform.apikeys import SCOPES, create_api_key
from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.online_store import current_snapshot
from credit_assets.core.platform.settings import get_settings


def _sample_borrower(engine: sa.Engine) -> str | None:
    from credit_assets.core.platform.db import online_features

    snapshot = current_snapshot(engine)
    if snapshot is None:
        return None
    with engine.connect() as conn:
        return conn.execute(
            sa.select(online_features.c.borrower_id)
            .where(online_features.c.snapshot_id == snapshot["snapshot_id"])
            .order_by(online_features.c.borrower_id)
            .limit(1)
        ).scalar()


def print_demo_curl(port: int) -> None:
    engine = migrated_engine(get_settings().resolved_database_url)
    key = create_api_key(engine, "demo-lender", SCOPES)  # the demo may push data too
    borrower = _sample_borrower(engine) or "B00000001"
    body = json.dumps({"borrower_id": borrower})
    print(f"Demo API key (every scope; shown once, stored hashed): {key}")
    print("Try it:")
    print(
        f"  curl -s -X POST http://127.0.0.1:{port}/v1/scores "
        f"-H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{body}'"
    )
    print("Push a file for the landing sensor (then GET /v1/uploads/<upload_id>):")
    print(
        f"  curl -s -X POST 'http://127.0.0.1:{port}/v1/sources/utility_payments/files"
        f"?filename=bills.csv' -H 'Authorization: Bearer {key}' -H 'Content-Type: text/csv' "
        "--data-binary @bills.csv"
    )
