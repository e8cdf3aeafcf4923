"""Ingestion: landing files read, validated against their contract and recorded.

- `files`: reading a CSV / JSON-lines / Parquet landing file and splitting its rows into
  accepted and quarantined (`ingest_file`, `read_landing_file`, `validate_records`,
  `inspect_landing_file`, `UnreadableFileError`, `IngestResult`).
- `landing`: what the landing sensor does: `scan_landing_zone` (pending files, files set
  aside), `store_result`, `record_ingestion`, `scan_source`, `scan_quarantine`.
- `zones`: where landing files arrive: `LocalLandingZone`, `S3LandingZone`, `landing_zone`.

Modules are imported by their own path (an ingestion run does not need S3, the API none of it).
"""
