"""The model registry: challengers, one champion, retirement, on SQLite and PostgreSQL."""

import pytest

from credit_assets.core.platform.db import migrated_engine
from credit_assets.core.platform.registry import (
    current_champion,
    get_model,
    list_models,
    promote,
    register_challenger,
)


def _register(engine, version, sha="a" * 64):
    return register_challenger(
        engine,
        version=version,
        artifact_uri=f"/models/{version}",
        manifest_sha256=sha,
        run_id=f"run-{version}",
        metrics={"auc": 0.8},
        lineage={"training_set_sha256": "x"},
    )


def _lifecycle(url: str) -> None:
    engine = migrated_engine(url)
    assert current_champion(engine) is None
    _register(engine, "v1")
    assert get_model(engine, "v1").status == "challenger"
    assert current_champion(engine) is None
    promote(engine, "v1", run_id="promo-1")
    _register(engine, "v2")
    assert current_champion(engine).version == "v1"
    promoted = promote(
        engine,
        "v2",
        run_id="promo-2",
        fairness={"worst_adverse_impact_ratio": 0.91},
        override_reason=None,
    )
    assert promoted.status == "champion" and promoted.run_id == "promo-2"
    assert get_model(engine, "v1").status == "retired"
    assert current_champion(engine).version == "v2"
    assert [m["version"] for m in list_models(engine)] == ["v2", "v1"]
    assert current_champion(engine).fairness == {"worst_adverse_impact_ratio": 0.91}
    # Registering the same version again is idempotent; with another checksum it is refused.
    assert _register(engine, "v2").status == "champion"
    with pytest.raises(ValueError, match="another checksum"):
        _register(engine, "v2", sha="b" * 64)
    with pytest.raises(LookupError):
        promote(engine, "v9", run_id=None)


def test_registry_lifecycle_on_sqlite(credit_home):
    _lifecycle(f"sqlite:///{credit_home / 'platform.db'}")


@pytest.mark.postgres
def test_registry_lifecycle_on_postgres(postgres_url):
    _lifecycle(postgres_url)
