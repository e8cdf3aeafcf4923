"""The online feature store publishes whole snapshots and switches them atomically."""

import threading
from datetime import date

import polars as pl
import pytest

from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.online_store import (
    NoSnapshotError,
    UnknownBorrowerError,
    current_snapshot,
    publish_snapshot,
    read_features,
    read_many,
)

BORROWERS = [f"B{i:06d}" for i in range(3000)]


def snapshot(value: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "borrower_id": BORROWERS,
            "utility_on_time_ratio_12m": [value] * len(BORROWERS),
            "product": ["bnpl"] * len(BORROWERS),
            "rent_days_late_mean_12m": [None] * len(BORROWERS),
        }
    )


def _publish_and_read_concurrently(url: str) -> None:
    engine = migrated_engine(url)
    with pytest.raises(NoSnapshotError):
        read_features(engine, BORROWERS[0])
    first = publish_snapshot(
        engine, snapshot(1.0), as_of=date(2026, 1, 1), catalogue_version="c1", chunk_rows=500
    )
    seen: list[tuple[str, float]] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def reader() -> None:
        i = 0
        while not stop.is_set():
            try:
                batch = read_many(engine, BORROWERS[i % 2900 : i % 2900 + 100])
                snapshot_ids = {f.snapshot_id for f in batch.values()}
                values = {f.features["utility_on_time_ratio_12m"] for f in batch.values()}
                assert len(batch) == 100 and len(snapshot_ids) == 1 and len(values) == 1
                seen.append((snapshot_ids.pop(), values.pop()))
            except Exception as exc:
                errors.append(exc)
            i += 37

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    second = publish_snapshot(
        engine, snapshot(2.0), as_of=date(2026, 2, 1), catalogue_version="c1", chunk_rows=500
    )
    stop.set()
    for t in threads:
        t.join()

    assert errors == []
    expected = {first: 1.0, second: 2.0}
    assert seen and all(expected[sid] == value for sid, value in seen)
    latest = read_features(engine, BORROWERS[5])
    assert latest.snapshot_id == second and latest.features["utility_on_time_ratio_12m"] == 2.0
    assert latest.features["rent_days_late_mean_12m"] is None
    assert current_snapshot(engine)["rows"] == len(BORROWERS)
    with pytest.raises(UnknownBorrowerError):
        read_features(engine, "nobody")


def test_readers_see_a_whole_snapshot_during_a_publish_on_sqlite(credit_home):
    _publish_and_read_concurrently(f"sqlite:///{credit_home / 'platform.db'}")


@pytest.mark.postgres
def test_readers_see_a_whole_snapshot_during_a_publish_on_postgres(postgres_url):
    _publish_and_read_concurrently(postgres_url)


def test_a_snapshot_needs_one_row_per_borrower(credit_home):
    engine = migrated_engine(f"sqlite:///{credit_home / 'platform.db'}")
    doubled = pl.concat([snapshot(1.0).head(2), snapshot(1.0).head(1)])
    with pytest.raises(ValueError, match="one row per borrower_id"):
        publish_snapshot(engine, doubled, as_of=date(2026, 1, 1), catalogue_version="c1")


def test_old_snapshots_are_pruned(credit_home):
    engine = migrated_engine(f"sqlite:///{credit_home / 'platform.db'}")
    ids = [
        publish_snapshot(
            engine, snapshot(float(v)).head(10), as_of=date(2026, 1, v), catalogue_version="c1"
        )
        for v in (1, 2, 3)
    ]
    import sqlalchemy as sa

    from credit_assets.core.platform.db import online_features

    with engine.connect() as conn:
        kept = {r[0] for r in conn.execute(sa.select(online_features.c.snapshot_id).distinct())}
    assert kept == set(ids[1:])
