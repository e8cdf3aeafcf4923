"""Production wiring picked from the environment: the executor and the S3 resource.

Embedded mode (the default) runs steps with the multiprocess executor on one machine.
`CREDIT_EXECUTOR=celery` hands every step to Celery workers (`dagster-celery worker start
-A dagster_celery.app -y deploy/celery.yaml`) through the broker in `CREDIT_CELERY_BROKER`,
so a backfill of the borrower-bucket partitions fans out over as many machines as run a
worker. With `CREDIT_STORAGE=s3` (data and artifacts) or `CREDIT_LANDING_URI=s3://…` (the
landing zone), the platform's boto3 client comes from dagster-aws's `S3Resource`,
configured from the same CREDIT_S3_* settings the API and the CLI read.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from credit_assets.core.platform.settings import Settings

EXECUTORS = ("multiprocess", "in_process", "celery")
DEFAULT_CELERY_BROKER = "redis://127.0.0.1:6379/0"


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor named by CREDIT_EXECUTOR (default `multiprocess`, two steps at a time)."""
    name = os.environ.get("CREDIT_EXECUTOR", "multiprocess").strip().lower() or "multiprocess"
    if name == "multiprocess":
        max_concurrent = int(os.environ.get("CREDIT_MAX_CONCURRENT_STEPS", "2"))
        return dg.multiprocess_executor.configured({"max_concurrent": max_concurrent})
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        from dagster_celery import celery_executor

        broker = os.environ.get("CREDIT_CELERY_BROKER", DEFAULT_CELERY_BROKER)
        # Redis is both broker and result store unless told otherwise (no RPC back-channel).
        backend = os.environ.get("CREDIT_CELERY_BACKEND", broker)
        return celery_executor.configured({"broker": broker, "backend": backend})
    raise ValueError(f"CREDIT_EXECUTOR={name!r}: choose one of {', '.join(EXECUTORS)}")


def s3_resource(settings: Settings) -> S3Resource:
    """The dagster-aws S3 resource for the platform's bucket (credentials from the AWS chain)."""
    return S3Resource(region_name=settings.s3_region, endpoint_url=settings.s3_endpoint_url)
