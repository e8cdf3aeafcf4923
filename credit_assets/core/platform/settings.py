"""Platform settings, read from environment variables and `.env`.

Every path a run writes lives under `CREDIT_HOME`, so two workspaces never mix.
The embedded defaults need no setup: SQLite and local files under `CREDIT_HOME`.
Production points `CREDIT_DATABASE_URL` at PostgreSQL, `CREDIT_STORAGE` at S3 and,
optionally, `CREDIT_LANDING_URI` at an S3 prefix for the landing zone.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_assets.core import promotion

REPO_ROOT = Path(__file__).resolve().parents[3]
# Bucket names as S3 allows them (3-63 lower-case letters, digits, dots, hyphens).
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.+)?")


class Settings(BaseSettings):
    """All knobs of the platform; the field name in upper case is the env var (prefix CREDIT_)."""

    model_config = SettingsConfigDict(
        env_prefix="CREDIT_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default=REPO_ROOT / ".credit_home",
        description="Workspace root (CREDIT_HOME): landing zone, data, artifacts, SQLite db.",
    )
    database_url: str | None = Field(
        default=None,
        description="Platform database (CREDIT_DATABASE_URL). Default: SQLite under CREDIT_HOME.",
    )
    contracts_dir: Path | None = Field(
        default=None, description="Data contracts folder. Default: the repository's contracts/."
    )
    storage: Literal["local", "s3"] = Field(
        default="local", description="Where data and artifacts live (CREDIT_STORAGE)."
    )
    s3_bucket: str | None = None
    s3_prefix: str = "credit-platform"
    s3_endpoint_url: str | None = Field(
        default=None, description="Custom S3 endpoint (MinIO, moto). Empty for AWS."
    )
    s3_region: str = "us-east-1"
    landing_uri: str | None = Field(
        default=None,
        description=(
            "Landing zone on S3 (CREDIT_LANDING_URI=s3://bucket/prefix), files under "
            "<prefix>/<source>/; same endpoint and region as the S3 store. "
            "Default: the local folder CREDIT_HOME/landing."
        ),
    )

    seed: int = 42
    threads: int = Field(default=2, ge=1, description="Threads for CatBoost and Polars jobs.")
    feature_buckets: int = Field(
        default=8, ge=1, le=256, description="Borrower hash buckets for partitioned features."
    )
    snapshot_date: date | None = Field(
        default=None,
        description="As-of date of the borrower feature snapshot (CREDIT_SNAPSHOT_DATE). Default: today.",
    )
    ingest_max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1,
        description="Largest file or records batch POST /v1/sources/{source}/... accepts "
        "(CREDIT_INGEST_MAX_BYTES; 413 above).",
    )
    ingest_max_uncompressed_bytes: int = Field(
        default=20 * 1024**3,
        ge=1,
        description="A compressed landing file expanding past this is set aside as a bomb.",
    )
    ingest_max_expansion: float = Field(
        default=200.0,
        gt=1,
        description="A compressed landing file expanding past this many times its size is set "
        "aside as a bomb.",
    )
    ingest_max_rows: int = Field(
        default=200_000_000, ge=1, description="Most rows one Parquet landing file may hold."
    )
    ingest_max_rows_per_byte: float = Field(
        default=5.0,
        gt=0,
        description="Most rows per byte of a Parquet landing file (a bomb of identical rows "
        "has tens).",
    )
    tenant: str | None = Field(
        default=None,
        description=(
            "The lender this deployment serves (one deployment per lender, docs/DEPLOY.md). "
            "Keys can be created for it and for data partners only; unset, the lender of the "
            "first key created here."
        ),
    )
    max_reject_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="A landing file with more rejected rows than this share fails its check.",
    )

    # Score scaling (points to double the odds): a borrower at base odds (good:bad)
    # scores the base score; every PDO points doubles the odds of being good.
    score_base: float = 650.0
    score_base_odds: float = 20.0
    score_pdo: float = 40.0
    approval_cutoff_score: int = Field(
        default=600,
        description="Scores at or above this are approved (API decisions, reason accuracy); set "
        "explicitly, the fairness gate also judges at it.",
    )
    fairness_approval_rate: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="The lender's approval rate (historical or planned): the fairness gate "
        "judges approval parity at the cut-off approving this share of the evaluated "
        "applicants. Unset: CREDIT_APPROVAL_CUTOFF_SCORE if set explicitly, else the good rate "
        "of the development rows (1 - bad rate).",
    )
    experiment_max_share: float = Field(
        default=0.2,
        gt=0.0,
        le=0.5,
        description="Largest share of borrowers an experiment may send to its challenger "
        "(CREDIT_EXPERIMENT_MAX_SHARE).",
    )
    experiment_window_hours: float = Field(
        default=24.0, gt=0.0, description="The guardrails' rolling window of decisions."
    )
    experiment_min_decisions: int = Field(
        default=100,
        ge=1,
        description="Decisions each arm needs in the window before the guardrails judge it.",
    )
    experiment_max_approval_gap: float = Field(
        default=0.10,
        gt=0.0,
        description="Guardrail: the challenger arm's approval rate may differ from the "
        "champion arm's by at most this (absolute).",
    )
    experiment_max_pd_gap: float = Field(
        default=0.05,
        gt=0.0,
        description="Guardrail: the arms' mean PD may differ by at most this (absolute).",
    )
    experiment_max_air_drop: float = Field(
        default=0.10,
        gt=0.0,
        description="Guardrail: the challenger arm's worst adverse impact ratio may fall at "
        "most this far below the champion arm's (and below the fairness gate's threshold).",
    )
    experiment_guardrail_seconds: int = Field(
        default=60,
        ge=5,
        description="How often the daemon evaluates experiment_guardrail_sensor (read when "
        "the code location loads).",
    )
    experiment_alpha: float = Field(
        default=0.05, gt=0.0, lt=0.5, description="The experiment report's significance level."
    )
    experiment_power: float = Field(
        default=0.8, gt=0.0, lt=1.0, description="The power the report's outcomes-needed aims at."
    )
    experiment_min_auc_effect: float = Field(
        default=0.02,
        gt=0.0,
        description="The smallest AUC difference an experiment is meant to detect.",
    )
    challenger_iterations: int = Field(
        default=2000,
        ge=1,
        description="Upper bound on boosting rounds (early stopping picks fewer).",
    )
    evaluation: Literal["auto", "cross_validation", "holdout"] = Field(
        default="auto",
        description="How model families are judged: auto cross-validates when the training "
        "set has no out-of-time split (no application dates), else uses the out-of-time "
        "validation split, or time-ordered cross-validation when that split holds fewer than "
        "CREDIT_EVIDENCE_MIN_BADS bads or goods.",
    )
    cv_folds: int = Field(default=5, ge=2, description="Folds of the repeated stratified CV.")
    cv_repeats: int = Field(default=3, ge=1, description="Repeats of the stratified CV.")
    cv_max_rows: int = Field(
        default=20_000,
        ge=100,
        description="Cross-validation runs on a stratified sample of at most this many rows "
        "(15 fits per family must stay within minutes).",
    )
    cv_tune_max_rows: int = Field(
        default=5_000,
        ge=0,
        description="On files of at most this many rows, CatBoost's depth and L2 "
        "regularisation are chosen on the folds of the first repeat (0: never).",
    )
    model_families: str = Field(
        default="catboost,scorecard",
        description="Families that may become the challenger, comma-separated (catboost, "
        "scorecard); logistic regression is always evaluated as the benchmark.",
    )
    prefer_family: Literal["", "catboost", "scorecard"] = Field(
        default="",
        description="A family to prefer: it is chosen unless the best family beats it by "
        "more than CREDIT_PREFER_MARGIN AUC (empty: the best family wins).",
    )
    prefer_margin: float = Field(
        default=0.01,
        ge=0.0,
        description="AUC by which another family must beat the preferred one to be chosen.",
    )
    performance_tolerance: float = Field(
        default=0.05,
        description="Live AUC may fall this far below validation before it is flagged.",
    )
    alert_webhook_url: str | None = Field(
        default=None, description="Run failures are POSTed here as JSON (optional)."
    )
    # The promotion policy (credit_assets.core.promotion holds the rule and the defaults).
    promotion_auc_tolerance: float = Field(
        default=promotion.AUC_TOLERANCE,
        description="Test AUC a challenger may lose against the champion.",
    )
    promotion_requires_experiment: bool = Field(
        default=False,
        description="A challenger replaces a champion only on a champion/challenger "
        "experiment's live outcomes (`credit-platform experiment promote`); the offline "
        "comparison is reported, and it is held back until then.",
    )
    promotion_quality_alpha: float = Field(
        default=promotion.QUALITY_ALPHA,
        gt=0.0,
        le=1.0,
        description="A loss against the champion holds a challenger back only when DeLong's "
        "paired test gives p below this (1.0: the point estimate alone decides).",
    )
    first_model_auc_floor: float = Field(
        default=promotion.FIRST_MODEL_AUC_FLOOR, description="Test AUC the first model needs."
    )
    evidence_min_bads: int = Field(
        default=promotion.EVIDENCE_MIN_BADS,
        ge=1,
        description="Fewest bads (and goods) behind a figure a gate or the family choice uses: "
        "a test split with fewer is 'evidence too thin' and holds the model back unless "
        "overridden; a thinner out-of-time validation split gives way to time-ordered "
        "cross-validation.",
    )
    reason_accuracy_target: float = Field(
        default=promotion.REASON_ACCURACY_TARGET,
        ge=0.0,
        le=1.0,
        description="Share of sampled declines whose risk falls when the top reason is neutralised.",
    )
    min_adverse_impact_ratio: float = Field(
        default=promotion.FOUR_FIFTHS,
        ge=0.0,
        le=1.0,
        description="Adverse impact ratio below which a disparity is practically significant.",
    )
    fairness_alpha: float = Field(
        default=promotion.FAIRNESS_ALPHA,
        gt=0.0,
        lt=1.0,
        description="Significance level of the test on approval rates (Fisher's exact).",
    )
    fairness_min_group_size: int = Field(
        default=promotion.FAIRNESS_MIN_GROUP_SIZE,
        ge=1,
        description="Groups smaller than this are reported and flagged, not deciding.",
    )
    fairness_require_significance: bool = Field(
        default=True,
        description="A disparity holds a model back only when it is also statistically significant.",
    )
    fairness_missing_group_decides: bool = Field(
        default=False, description="Whether the (missing) group can hold a model back."
    )
    fairness_small_groups_decide: bool = Field(
        default=False, description="Whether groups below the minimum size can hold a model back."
    )
    # Borrower rights (credit_assets/core/privacy, docs/PRIVACY.md).
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Secret key of the keyed hash that replaces an erased borrower's id in the "
        "decision log and the tombstone list (hex or text, at least 32 characters). Unset: a "
        "random key generated once under CREDIT_HOME/secrets/ (embedded mode only; set it in "
        "production and keep it apart from the data).",
    )
    consent_erasure_days: float = Field(
        default=30.0,
        ge=0.0,
        description="Days after a consent is revoked by which the borrower's records from "
        "that source are erased (`credit-platform borrower purge-revoked`, daily schedule).",
    )
    decision_retention_days: int = Field(
        default=762,
        ge=0,
        description="Days an erased borrower's pseudonymised decisions are kept (Regulation B: "
        "25 months for applications and notices); older ones are deleted at erasure and by "
        "the purge.",
    )
    # The less-discriminatory-alternative search (`lda_search`, docs/LDA.md).
    lda_max_candidates: int = Field(
        default=24,
        ge=0,
        description="Candidates the LDA search may fit when the fairness gate holds the "
        "challenger back (or cannot judge it).",
    )
    lda_max_candidates_when_fair: int = Field(
        default=4,
        ge=0,
        description="Candidates the LDA search fits when the fairness gate passes (0: no "
        "search then).",
    )
    lda_max_seconds: float = Field(
        default=600.0,
        gt=0.0,
        description="Seconds after which the LDA search starts no further candidate.",
    )
    lda_workers: int = Field(
        default=1, ge=1, description="Candidates the LDA search fits at once (processes)."
    )
    lda_auc_tolerance: float = Field(
        default=promotion.LDA_AUC_TOLERANCE,
        gt=0.0,
        description="AUC an alternative may lose against the challenger and still count as "
        "serving the same business need.",
    )
    lda_adopt: bool = Field(
        default=True,
        description="Register a discovered, servable alternative as a challenger at once "
        "(`materialize` and the lda_alternative_sensor); off: `credit-platform models "
        "adopt-lda` does it on request.",
    )

    @property
    def resolved_snapshot_date(self) -> date:
        return self.snapshot_date or date.today()

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("landing_uri", mode="after")
    @classmethod
    def _s3_landing_uri(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not _S3_URI.fullmatch(value):
            raise ValueError(
                f"CREDIT_LANDING_URI={value!r}: expected s3://bucket or s3://bucket/prefix "
                "(leave it unset for the local landing zone, CREDIT_HOME/landing)"
            )
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'platform.db'}"

    @property
    def resolved_contracts_dir(self) -> Path:
        return (self.contracts_dir or REPO_ROOT / "contracts").resolve()

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def rejected_dir(self) -> Path:
        return self.home / "rejected"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def ground_truth_dir(self) -> Path:
        """Generator ground truth (true PD); only evaluation reads it, never a model."""
        return self.home / "ground_truth"

    @property
    def dagster_home(self) -> Path:
        import os

        configured = os.environ.get("DAGSTER_HOME")
        return Path(configured).resolve() if configured else self.home / "dagster"


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; tests change the env between calls)."""
    return Settings()
