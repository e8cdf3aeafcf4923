"""What the routes call: the model holder, scoring and the decision log, built once per app."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_assets.core.apikeys import ApiKeyVerifier
from credit_assets.core.contracts import load_contracts
from credit_assets.core.db import engine_for
from credit_assets.core.decision_log import DecisionLogWriter
from credit_assets.core.settings import Settings
from scoring_api.services.metrics import ApiMetrics
from scoring_api.services.model_holder import ModelHolder
from scoring_api.services.ratelimit import RateLimiter
from scoring_api.services.scoring import ScoringService
from scoring_api.settings import ApiSettings

log = logging.getLogger("scoring_api")


def api_engine(url: str, pool_size: int) -> Engine:
    """The request path's engine. SQLite shares the platform's (WAL pragmas); a server database
    gets a pool without pre-ping, which would cost a round trip per checkout: a connection
    dropped by a database restart fails one request with 503 and the pool is refreshed."""
    if url.startswith("sqlite"):
        return engine_for(url)
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


@dataclass
class Services:
    settings: Settings
    api_settings: ApiSettings
    engine: Engine
    holder: ModelHolder
    writer: DecisionLogWriter
    verifier: ApiKeyVerifier
    limiter: RateLimiter
    metrics: ApiMetrics
    scoring: ScoringService

    @classmethod
    def start(cls, settings: Settings, api_settings: ApiSettings) -> Services:
        """Build everything, load the champion (if any), start the poller and the log writer."""
        metrics = ApiMetrics()
        engine = api_engine(settings.resolved_database_url, api_settings.db_pool_size)
        holder = ModelHolder(
            settings,
            api_settings.model_poll_seconds,
            on_swap=lambda model: metrics.serving(model.version),
            on_refuse=lambda _refusal: metrics.model_refusals.inc(),
        )
        writer = DecisionLogWriter(
            engine,
            max_batch=api_settings.decision_log_max_batch,
            wait_timeout=api_settings.decision_log_timeout_seconds,
        ).start()
        metrics.log_commits.set_function(lambda: writer.commits)
        services = cls(
            settings=settings,
            api_settings=api_settings,
            engine=engine,
            holder=holder,
            writer=writer,
            verifier=ApiKeyVerifier(engine, ttl_seconds=api_settings.key_cache_seconds),
            limiter=RateLimiter(api_settings.rate_limit_per_second, api_settings.rate_limit_burst),
            metrics=metrics,
            scoring=ScoringService(
                engine,
                load_contracts(settings.resolved_contracts_dir),
                writer,
                metrics,
                max_batch=api_settings.scoring_max_batch,
            ).start(),
        )
        holder.reload()  # migrates the database on first contact
        holder.start()
        return services

    def stop(self) -> None:
        self.holder.stop()
        self.scoring.close()  # decides what is queued, hands it to the writer...
        self.writer.close()  # ...which commits it before stopping
        if self.engine is not engine_for(self.settings.resolved_database_url):
            self.engine.dispose()
