"""S3 (or any S3-compatible endpoint) as the data and artifact store, and its client."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl

from credit_assets.core.platform.settings import Settings
from credit_assets.core.platform.storage.scans import schema_options


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured endpoint and region (credentials: the AWS chain).

    Dagster code gets its client from dagster-aws's `S3Resource` instead
    (`credit_assets.defs.common.production.s3_resource`), configured from the same settings.
    """
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region)


class S3DataStore:
    """Objects under `s3://bucket/prefix/`. A PUT is atomic, so readers never see half an object."""

    def __init__(
        self, client: Any, bucket: str, prefix: str, storage_options: dict[str, str]
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.storage_options = storage_options

    @classmethod
    def from_settings(cls, settings: Settings, client: Any | None = None) -> S3DataStore:
        if not settings.s3_bucket:
            raise ValueError("CREDIT_STORAGE=s3 needs CREDIT_S3_BUCKET")
        client = client or s3_client(settings)
        options = {"aws_region": settings.s3_region}
        if settings.s3_endpoint_url:
            options["aws_endpoint_url"] = settings.s3_endpoint_url
            options["aws_allow_http"] = str(settings.s3_endpoint_url.startswith("http://")).lower()
        return cls(client, settings.s3_bucket, settings.s3_prefix, options)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def write_frame(self, key: str, frame: pl.DataFrame) -> str:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, statistics=True)
        return self.put_bytes(key, buffer.getvalue())

    def read_frame(self, key: str) -> pl.DataFrame:
        return pl.read_parquet(io.BytesIO(self.get_bytes(key)))

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys += [obj["Key"][strip:] for obj in page.get("Contents", [])]
        return sorted(keys)

    def scan(
        self, prefix: str, schema: dict[str, pl.DataType] | None = None
    ) -> pl.LazyFrame | None:
        keys = [k for k in self.list_keys(prefix) if k.endswith(".parquet")]
        if not keys:
            return None
        return pl.scan_parquet(
            [self.uri(k) for k in keys],
            storage_options=self.storage_options,
            **schema_options(schema),
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError:
            return False
        return True

    def put_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def put_file(self, key: str, path: Path) -> str:
        """A local file stored under `key`: a multipart upload for a large one, which
        appears only when complete."""
        self.client.upload_file(str(path), self.bucket, self._key(key))
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
