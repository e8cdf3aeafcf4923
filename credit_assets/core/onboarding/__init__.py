"""Onboarding a lender's file: a contract drafted from it, and a contract checked against it.

- `inference`: `infer_contract` drafts a contract from a sample file (`contract infer`).
- `check`: `check_contract` lists every problem of a contract file, and what its sample file
  would do under it (`contract check`).

Both read the file with the ingestion rules themselves (`core/ingestion`), so a draft can
never quarantine its own file.
"""
