"""What the routes call, built once per app when it starts (`Services.start`): the model
holder, the key verifier with its brake on failed attempts, the rate limiter, scoring with its decision log, when shadow
scoring is on the challenger's shadow scorer, the contracts and landing zone that
uploads are received into, and the borrower-rights operations."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.contracts import Contract, load_contracts
from credit_assets.core.ingestion.zones import LandingZone, landing_zone
from credit_assets.core.platform.apikeys import ApiKeyVerifier
from credit_assets.core.platform.db import engine_for
from credit_assets.core.platform.settings import Settings
from credit_assets.core.scoring import ScoringModel
from scoring_api.services.model_holder import ModelHolder
from scoring_api.services.prometheus import ApiMetrics
from scoring_api.services.ratelimit import FailedKeyLimiter, RateLimiter
from scoring_api.services.rights import BorrowerRights
from scoring_api.services.scoring import ScoringService
from scoring_api.services.shadow import ShadowScorer
from scoring_api.services.store import open_store
from scoring_api.settings import ApiSettings

log = logging.getLogger("scoring_api")


def api_engine(url: str, pool_size: int) -> Engine:
    """The request path's engine. SQLite shares the platform's (WAL pragmas); a server database
    gets a pool without pre-ping, which would cost a round trip per checkout: a connection
    dropped by a database restart fails one request with 503 and the pool is refreshed."""
    if url.startswith("sqlite"):
        return engine_for(url)
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def swapped(metrics: ApiMetrics, model: ScoringModel) -> None:
    metrics.serving(model.version)
    gc.freeze()  # the new model's objects join the permanent generation (see main.settle_heap)


@dataclass
class Services:
    settings: Settings
    api_settings: ApiSettings
    engine: Engine
    holder: ModelHolder
    verifier: ApiKeyVerifier
    key_failures: FailedKeyLimiter  # failed key attempts per client address and key id
    limiter: RateLimiter
    metrics: ApiMetrics
    scoring: ScoringService
    contracts: dict[str, Contract]
    landing: LandingZone  # where POST /v1/sources/{source}/... lands what it receives
    rights: BorrowerRights  # /v1/borrowers/{borrower_id}/..., /v1/decisions/{id}/explanation

    @classmethod
    async def start(
        cls,
        settings: Settings,
        api_settings: ApiSettings,
        contracts: dict[str, Contract] | None = None,
    ) -> Services:
        """Build everything, load the champion (if any) and the challenger to score in shadow
        (with CREDIT_API_SHADOW), start the poller, the shadow scorer and the scoring path (on
        the running event loop)."""
        metrics = ApiMetrics()
        url = settings.resolved_database_url
        engine = api_engine(url, api_settings.db_pool_size)
        holder = ModelHolder(
            settings,
            api_settings.model_poll_seconds,
            on_swap=lambda model: swapped(metrics, model),
            on_refuse=lambda _refusal: metrics.model_refusals.inc(),
            shadow_enabled=api_settings.shadow,
        )
        shadow = (
            ShadowScorer(
                engine,
                holder,
                metrics.registry,
                capacity=api_settings.shadow_queue_size,
                max_batch=api_settings.shadow_max_batch,
            )
            if api_settings.shadow
            else None
        )
        if contracts is None:
            contracts = load_contracts(settings.resolved_contracts_dir)
        store = await open_store(
            engine,
            url,
            api_settings.scoring_db_connections,
            api_settings.decision_log_timeout_seconds,
        )
        scoring = ScoringService(
            engine,
            store,
            contracts,
            metrics,
            shadow=shadow,
            max_batch=api_settings.scoring_max_batch,
            linger=api_settings.scoring_linger_ms / 1000,
            log_max_batch=api_settings.decision_log_max_batch,
            experiment_of=lambda: holder.experiment,
        ).start()
        metrics.log_commits.set_function(lambda: scoring.commits)
        landing = landing_zone(settings)
        services = cls(
            settings=settings,
            api_settings=api_settings,
            engine=engine,
            holder=holder,
            verifier=ApiKeyVerifier(engine, ttl_seconds=api_settings.key_cache_seconds),
            key_failures=FailedKeyLimiter(
                api_settings.failed_key_limit, api_settings.failed_key_window_seconds
            ),
            limiter=RateLimiter(api_settings.rate_limit_per_second, api_settings.rate_limit_burst),
            metrics=metrics,
            scoring=scoring,
            contracts=contracts,
            landing=landing,
            rights=BorrowerRights(settings, engine, landing),
        )
        holder.reload()  # migrates the database on first contact; resolves the shadow model too
        holder.start()
        if shadow is not None:
            shadow.start()
        return services

    async def stop(self) -> None:
        self.holder.stop()
        await self.scoring.close()  # decides what is queued and logs it before stopping
        if self.scoring.shadow is not None:
            self.scoring.shadow.close()
        await self.scoring.store.close()
        if self.engine is not engine_for(self.settings.resolved_database_url):
            self.engine.dispose()
