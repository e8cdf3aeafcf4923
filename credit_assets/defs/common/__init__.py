"""What several layers of the Dagster wiring share; a layer never imports a sibling layer.

- `resources`: `PlatformResource` (settings, database, data store, landing zone).
- `production`: the executor and the S3 resource picked from the environment.
- `lineage`: `latest_metadata`, what an upstream asset's latest materialization recorded.
- `loaders`: the training set, the challenger under review, the score scale, the
  challenger's training configuration and the policy.
- `checks`: a promotion gate as a (never blocking) asset check.
- `reports`: reading and writing a model version's reports in the data store.
- `partitions`: the borrower-hash buckets and the daily monitoring window.
"""
