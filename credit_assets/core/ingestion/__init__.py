"""Ingestion: landing files read, validated against their contract and recorded.

- `readers`: how a file is written (format, compression, encoding, CSV dialect, banner
  lines, workbook sheet, header names), read lazily.
- `values`: a delivered text typed by its contract column (numbers, dates, labels, signs).
- `files`: reading a landing file as its contract says (`scan_delivered`, `read_landing_file`,
  `inspect_landing_file`, `UnreadableFileError`) and judging its rows (`checked_rows`,
  `validate_records`).
- `stream`: a file of any size ingested in bounded memory into accepted and quarantined
  Parquet (`ingest_to_files`; `ingest_file` for one that fits in memory, `IngestResult`).
- `quarantine`: rejected rows counted by kind of problem.
- `landing`: what the landing sensor does: `scan_landing_zone` (pending files, files set
  aside), `store_result`, `record_ingestion`, `scan_source`, `scan_quarantine`.
- `zones`: where landing files arrive: `LocalLandingZone`, `S3LandingZone`, `landing_zone`.

Modules are imported by their own path (an ingestion run does not need S3, the API none of it).
"""
