"""Shared builders for the scoring and API tests: a small real model, a registry, a snapshot.

Training is cached per process (it is the slow part); every test then saves the
artifact into its own CREDIT_HOME, registers and promotes it, and publishes an
online snapshot whose rows come from `features_for_payload`, so scoring a
borrower by id and scoring the same payload inline must agree.

Imported by `test_scoring_*.py` and `test_api_*.py`; it holds no tests itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.explain import LeafShapExplainer, needs_background
from credit_assets.core.features import feature_catalogue, features_for_payload
from credit_assets.core.features.specs import FeatureSpec
from credit_assets.core.modeling import RiskBands, ScoreScale, TrainConfig, train_challenger
from credit_assets.core.modeling.artifacts import ArtifactRef, save_model_artifact
from credit_assets.core.modeling.scorecard_model import TrainedScorecard
from credit_assets.core.modeling.train import TrainedModel, catboost_pool, to_catboost_frame
from credit_assets.core.platform.db import migrated_engine, model_registry
from credit_assets.core.platform.online_store import publish_snapshot
from credit_assets.core.platform.registry import RegistryRecord, promote, register_challenger
from credit_assets.core.platform.settings import Settings
from tests.support.paths import REPO_ROOT

AS_OF = date(2024, 6, 15)
MODEL_FEATURES = (
    "loan_amount",
    "product",
    "declared_monthly_income",
    "utility_on_time_ratio_12m",
    "utility_missed_payments_12m",
    "n_alternative_sources",
    "bureau_score",
)
# What a lender's own application file alone gives a model: no alternative data, no bureau.
APPLICATION_FEATURES = ("loan_amount", "product", "declared_monthly_income")
SCALE = ScoreScale(650.0, 20.0, 40.0)


@lru_cache(maxsize=1)
def contracts() -> dict[str, Contract]:
    return load_contracts(REPO_ROOT / "contracts")


def model_specs() -> list[FeatureSpec]:
    """The model's inputs: a few catalogue features, one categorical, with reason codes."""
    catalogue = feature_catalogue(contracts())
    return [catalogue[name] for name in MODEL_FEATURES]


def training_frame(rows: int = 3000, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8.0, 0.5, rows)
    income[rng.random(rows) < 0.1] = np.nan
    bureau = rng.integers(300, 851, rows).astype(float)
    bureau[rng.random(rows) < 0.6] = np.nan
    on_time = rng.beta(5, 1.5, rows)
    missed = rng.integers(0, 6, rows)
    logit = (
        -2.0
        + 2.5 * (1 - on_time)
        + 0.4 * missed
        - 0.3 * np.nan_to_num(np.log(income) - 8.0)
        - 0.004 * np.nan_to_num(bureau - 600)
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "loan_amount": rng.uniform(500, 50_000, rows),
            "product": rng.choice(["personal_loan", "auto_loan", "credit_card", "bnpl"], rows),
            "declared_monthly_income": income,
            "utility_on_time_ratio_12m": on_time,
            "utility_missed_payments_12m": missed,
            "n_alternative_sources": rng.integers(0, 5, rows),
            "bureau_score": bureau,
            "default_flag": default.astype(int),
            "split": rng.choice(["train", "validation", "test"], rows, p=[0.6, 0.2, 0.2]),
        }
    ).with_columns(pl.col("declared_monthly_income", "bureau_score").fill_nan(None))


@dataclass(frozen=True)
class BuiltModel:
    trained: TrainedModel | TrainedScorecard
    explainer_bytes: bytes | None
    expected_value: float | None


def _built_catboost(
    frame: pl.DataFrame, specs: list[FeatureSpec], iterations: int, seed: int
) -> BuiltModel:
    trained = train_challenger(
        frame,
        specs,
        TrainConfig(
            iterations=iterations, depth=4, threads=1, seed=seed, early_stopping_rounds=1000
        ),
    )
    background = None
    if needs_background(trained.model):
        train = frame.filter(pl.col("split") == "train")
        background = catboost_pool(to_catboost_frame(train, specs), specs)
    explainer = LeafShapExplainer.from_model(trained.model, background=background)
    return BuiltModel(trained, explainer.to_bytes(), float(explainer.expected_value))


@lru_cache(maxsize=4)
def built_model(iterations: int = 60, seed: int = 42) -> BuiltModel:
    """A trained challenger and its leaf SHAP tables (cached: training is the slow part)."""
    return _built_catboost(training_frame(), model_specs(), iterations, seed)


@lru_cache(maxsize=1)
def built_application_model() -> BuiltModel:
    """A challenger on `APPLICATION_FEATURES` alone, as a lender whose contracts declare no
    alternative-data or bureau source trains one (cached)."""
    frame = training_frame().select(*APPLICATION_FEATURES, "default_flag", "split")
    specs = [spec for spec in model_specs() if spec.name in APPLICATION_FEATURES]
    return _built_catboost(frame, specs, iterations=60, seed=42)


@lru_cache(maxsize=1)
def built_scorecard(seed: int = 42) -> BuiltModel:
    """A WoE scorecard on the same rows and features (cached): no SHAP tables, its terms
    are its explanation."""
    from credit_assets.core.modeling.scorecard import train_scorecard

    return BuiltModel(train_scorecard(training_frame(), model_specs(), seed, SCALE), None, None)


_saves = iter(range(10**6))


def save_and_register(
    settings: Settings, built: BuiltModel, *, promote_it: bool = True, scale: ScoreScale = SCALE
) -> RegistryRecord:
    """Save the artifact under `settings.artifacts_dir`, register it and (by default) promote
    it. Another `scale` makes a model whose scores (and so approvals) move as a whole."""
    # Distinct timestamps keep two saves of one model in one test from colliding.
    now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_saves))
    ref: ArtifactRef = save_model_artifact(
        settings.artifacts_dir,
        built.trained,
        manifest_extra={
            "score_scale": scale.to_dict(),
            "risk_bands": RiskBands().to_dict(),
            "catalogue_version": feature_catalogue(contracts()).version,
            **({} if built.expected_value is None else {"expected_value": built.expected_value}),
        },
        extra_files={}
        if built.explainer_bytes is None
        else {"leaf_shap.npz": built.explainer_bytes},
        now=now,
    )
    engine = migrated_engine(settings.resolved_database_url)
    record = register_challenger(
        engine,
        version=ref.version,
        artifact_uri=ref.uri,
        manifest_sha256=ref.manifest_sha256,
        run_id=f"run-{ref.version[-8:]}",
        metrics={"auc": 0.71},
        lineage={"training_set_sha256": "abc123"},
    )
    if promote_it:
        record = promote(
            engine,
            ref.version,
            run_id=f"promo-{ref.version[-8:]}",
            fairness={"worst_adverse_impact_ratio": 0.93},
        )
    return record


def tamper_registry_sha(settings: Settings, version: str) -> None:
    engine = migrated_engine(settings.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(model_registry)
            .where(model_registry.c.version == version)
            .values(manifest_sha256="0" * 64)
        )


def application(borrower: str, **overrides: Any) -> dict[str, Any]:
    return {
        "application_id": f"app-{borrower}",
        "borrower_id": borrower,
        "application_date": AS_OF.isoformat(),
        "loan_amount": 8000,
        "term_months": 24,
        "product": "personal_loan",
        "declared_monthly_income": 2800,
        "employment_length_years": 3,
        "employment_type": "salaried",
        "housing_status": "rent",
        **overrides,
    }


def utility_records(months: int, late_days: int) -> list[dict[str, Any]]:
    rows = []
    for m in range(months):
        due = AS_OF - timedelta(days=30 * (m + 1))
        rows.append(
            {
                "due_date": due.isoformat(),
                "paid_date": (due + timedelta(days=late_days)).isoformat(),
                "amount_due": 60.0,
                "amount_paid": 60.0,
                "days_late": late_days,
            }
        )
    return rows


def bureau_records(score: int) -> list[dict[str, Any]]:
    return [
        {
            "report_date": (AS_OF - timedelta(days=40)).isoformat(),
            "bureau_score": score,
            "open_accounts": 2,
            "delinquencies_24m": 0,
            "credit_utilization": 0.4,
            "months_since_oldest_account": 30,
        }
    ]


def payloads() -> dict[str, dict[str, Any]]:
    """Inline payloads by borrower id; `b-thin` has no alternative data and no bureau record."""
    return {
        "b-good": {
            "application": application("b-good", declared_monthly_income=6000),
            "records": {"utility_payments": utility_records(12, 0), "bureau": bureau_records(760)},
        },
        "b-late": {
            "application": application("b-late", loan_amount=30000, declared_monthly_income=900),
            "records": {"utility_payments": utility_records(8, 20)},
        },
        "b-bureau": {
            "application": application("b-bureau", product="bnpl"),
            "records": {"bureau": bureau_records(520)},
        },
        "b-thin": {"application": application("b-thin"), "records": {}},
    }


def payload_features(payload: dict[str, Any]) -> dict[str, object]:
    return features_for_payload(payload["application"], payload["records"], AS_OF, contracts())


@lru_cache(maxsize=1)
def _borrower_rows() -> tuple[dict[str, object], ...]:
    return tuple({"borrower_id": b, **payload_features(p)} for b, p in payloads().items())


def publish_borrowers(settings: Settings) -> str:
    """Publish the `payloads()` borrowers' features as the current online snapshot."""
    frame = pl.DataFrame(list(_borrower_rows()), infer_schema_length=None)
    engine = migrated_engine(settings.resolved_database_url)
    return publish_snapshot(
        engine, frame, as_of=AS_OF, catalogue_version=feature_catalogue(contracts()).version
    )


@dataclass
class RunningApi:
    client: Any  # fastapi.testclient.TestClient
    settings: Settings
    key: str
    champion: RegistryRecord | None
    snapshot_id: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def services(self) -> Any:
        return self.client.app.state.services

    def score(self, body: dict[str, Any], **headers: str) -> Any:
        return self.client.post("/v1/scores", json=body, headers={**self.headers, **headers})

    def batch(self, items: list[dict[str, Any]], **headers: str) -> Any:
        return self.client.post(
            "/v1/scores/batch", json={"items": items}, headers={**self.headers, **headers}
        )

    def decision_rows(self) -> list[Any]:
        from credit_assets.core.platform.db import decision_log

        engine = migrated_engine(self.settings.resolved_database_url)
        with engine.connect() as conn:
            return conn.execute(
                sa.select(decision_log).order_by(decision_log.c.created_at)
            ).fetchall()


def key_headers(api: RunningApi, lender: str, *scopes: str) -> dict[str, str]:
    """Authorization headers with a new key of `lender` holding `scopes` (all when none given)."""
    from credit_assets.core.platform.apikeys import create_api_key

    engine = migrated_engine(api.settings.resolved_database_url)
    return {"Authorization": f"Bearer {create_api_key(engine, lender, scopes or None)}"}


def partner_headers(api: RunningApi, partner: str, *sources: str) -> dict[str, str]:
    """Authorization headers with a new data partner key writing `sources`."""
    from credit_assets.core.platform.apikeys import create_partner_key

    engine = migrated_engine(api.settings.resolved_database_url)
    return {"Authorization": f"Bearer {create_partner_key(engine, partner, sources)}"}


def running_api(
    monkeypatch: Any,
    *,
    champion: bool = True,
    snapshot: bool = True,
    scopes: tuple[str, ...] | None = None,
    **env: Any,
):
    """A started app (`create_app()` with settings from the environment) and a lender's key
    (with `scopes`, by default the default ones).

    `env` sets CREDIT_API_* variables by their suffix (poll every 0 s unless given).
    """
    from contextlib import contextmanager

    from fastapi.testclient import TestClient

    from credit_assets.core.platform.apikeys import create_api_key
    from scoring_api.main import create_app

    @contextmanager
    def _run():
        for name, value in {"model_poll_seconds": 0, **env}.items():
            monkeypatch.setenv(f"CREDIT_API_{name.upper()}", str(value))
        settings = Settings()
        record = save_and_register(settings, built_model()) if champion else None
        snapshot_id = publish_borrowers(settings) if snapshot else None
        engine = migrated_engine(settings.resolved_database_url)
        key = create_api_key(engine, "acme-bank", scopes)
        with TestClient(create_app()) as client:
            yield RunningApi(client, settings, key, record, snapshot_id)

    return _run()


def concurrent_requests_share_batches(api: RunningApi, requests: int = 40) -> None:
    """`requests` scored at once from as many threads: every one answered and logged, in fewer
    feature reads and commits than requests (the batchers grouped them)."""
    import threading
    from collections import Counter

    services = api.services
    batches, commits = services.scoring.decider.batches, services.scoring.commits
    barrier = threading.Barrier(requests)
    statuses: Counter[int] = Counter()
    ids: list[str] = []
    lock = threading.Lock()
    borrowers = ["b-good", "b-late", "b-thin"]

    def one(i: int) -> None:
        barrier.wait()
        response = api.score({"borrower_id": borrowers[i % len(borrowers)]})
        with lock:
            statuses[response.status_code] += 1
            ids.append(response.json()["decision_id"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {200: requests}
    assert sorted(ids) == sorted(r.decision_id for r in api.decision_rows())
    assert services.scoring.decider.batches - batches < requests
    assert services.scoring.commits - commits < requests


def wait_for(condition: Any, timeout: float = 15.0) -> bool:
    """Poll `condition` every 50 ms until it holds (True) or `timeout` seconds pass (False)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
