"""Where data and artifacts live.

- `local`: the `DataStore` protocol and `LocalDataStore` (Parquet and bytes under CREDIT_HOME/data).
- `s3`: `S3DataStore` (the same protocol in a bucket) and `s3_client`.
- `artifacts`: write-once artifact storage (`LocalArtifactStorage`, `DataStoreArtifactStorage`,
  `artifact_storage`).
- `keys`: every storage key the platform writes (`report_key`, `raw_key`, ...), in one place.
"""
