"""The platform's adapters to the outside: settings, database, registry, stores, storage.

- `settings`: `Settings` (every CREDIT_* variable), `get_settings`, `REPO_ROOT`.
- `db`: the SQLAlchemy tables, `migrate` (alembic, `migrations/`), `migrated_engine`.
- `registry`: the model registry (`register_challenger`, `promote`, `hold_back`,
  `current_champion`, `list_models`).
- `online_store`: feature snapshots for real-time scoring (`publish_snapshot`, `read_features`).
- `decision_log`: every decision appended and read back (`insert_decisions`,
  `load_decisions`, `load_shadow_pairs`).
- `apikeys`: lenders' API keys, stored hashed, with scopes.
- `alerts`: run-failure alerts (`record_alert`).
- `storage/`: data and artifact stores, local and S3, and `keys` (every storage key).

Modules are imported by their own path, so the scoring API loads none of what it does not use.
"""
