"""Settings of the scoring API, read from `CREDIT_API_*` environment variables and `.env`.

The platform's own settings (`CREDIT_HOME`, `CREDIT_DATABASE_URL`, storage) come
from `credit_assets.core.platform.settings`; these are the knobs only the service has.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """The field name in upper case with the prefix CREDIT_API_ is the env var."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_API_", env_file=".env", extra="ignore", frozen=True
    )

    model_poll_seconds: float = Field(
        default=10.0,
        ge=0.0,
        description="How often the registry is checked for a newly promoted champion (0: never).",
    )
    max_batch: int = Field(
        default=1000,
        ge=1,
        description="Most items one POST /v1/scores/batch may carry (413 above).",
    )
    max_records: int = Field(
        default=10_000,
        ge=1,
        description="Most records one POST /v1/sources/{source}/records may carry (413 above).",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API reads into memory: POST /v1/scores, "
        "/v1/scores/batch and /v1/sources/{source}/records (the smaller of this and "
        "CREDIT_INGEST_MAX_BYTES), and any other route. 10 MiB holds a full batch of about "
        "1 000 inline applications with a year of payment records each, or 10 000 records of "
        "1 kB. A declared Content-Length above it is 413 at once; a streamed body is 413 as "
        "soon as it passes it. File uploads stream to disk, bounded by CREDIT_INGEST_MAX_BYTES.",
    )
    failed_key_limit: int = Field(
        default=10,
        ge=1,
        description="Failed API-key attempts allowed per client address, and per key id, "
        "within CREDIT_API_FAILED_KEY_WINDOW_SECONDS; beyond that a key not yet proven in "
        "this process is refused with 429 and Retry-After without being checked (no scrypt).",
    )
    failed_key_window_seconds: float = Field(
        default=60.0,
        gt=0.0,
        description="The sliding window over which failed API-key attempts are counted.",
    )
    rate_limit_per_second: float = Field(
        default=200.0,
        gt=0.0,
        description="Sustained requests per second per lender, per API process (token bucket).",
    )
    rate_limit_burst: int = Field(
        default=400, ge=1, description="Requests a lender may send at once before the rate applies."
    )
    key_cache_seconds: float = Field(
        default=60.0,
        ge=0.0,
        description="How long a verified API key is trusted without re-checking (revocation delay).",
    )
    db_pool_size: int = Field(
        default=8,
        ge=1,
        description="Synchronous database connections per API process (PostgreSQL), plus as "
        "many on overflow: model polling, readiness, API-key checks, decision look-ups and the "
        "shadow writer. The scoring path has its own asyncpg pool of at most "
        "CREDIT_API_SCORING_DB_CONNECTIONS.",
    )
    scoring_db_connections: int = Field(
        default=4,
        ge=2,
        description="asyncpg connections per API process for the scoring path (PostgreSQL): the "
        "decider and the log writer each hold one while they work, a replay look-up another.",
    )
    scoring_max_batch: int = Field(
        default=256,
        ge=1,
        description="Most single-borrower requests decided together (one feature read, one "
        "scoring pass); requests that arrive while a batch is decided wait for the next one.",
    )
    scoring_linger_ms: float = Field(
        default=2.0,
        ge=0.0,
        le=50.0,
        description="While requests arrive more often than once per this interval, a batch "
        "of fewer than 8 waits up to this long for more before it is decided: fewer, larger "
        "batches (each pays a feature read, a scoring call and a commit) for at most this much "
        "added latency. A lone request at low load never waits. 0 disables.",
    )
    decision_log_max_batch: int = Field(
        default=500, ge=1, description="Most decisions the log writer commits in one transaction."
    )
    decision_log_timeout_seconds: float = Field(
        default=30.0,
        gt=0.0,
        description="A request fails (503) if its decision is not durable by then.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry spans, metrics and logs, sent to the "
        "globally configured providers (OTEL_* environment). Off, FastAPI skips its per-request "
        "provider lookups; Prometheus metrics at /metrics are always on.",
    )
    shadow: bool = Field(
        default=True,
        description="Also score the newest unpromoted challenger in shadow, off the response "
        "path, into shadow_decisions (false: never).",
    )
    shadow_queue_size: int = Field(
        default=10_000,
        ge=1,
        description="Most decisions waiting for the shadow model; beyond that they are dropped "
        "(counted in /metrics), never waited for.",
    )
    shadow_max_batch: int = Field(
        default=500, ge=1, description="Most shadow decisions scored and written in one batch."
    )


def get_api_settings() -> ApiSettings:
    return ApiSettings()
