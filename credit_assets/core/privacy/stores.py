"""Every store the platform writes, by name: whether it holds data about a borrower, and what
an erasure does to it. `tests/core/privacy/test_stores.py` fails when a table or a data-store
key exists that this list does not name, so a new store cannot be forgotten by the erasure.
"""

from __future__ import annotations

from dataclasses import dataclass

from credit_assets.core.platform.storage import keys


@dataclass(frozen=True)
class Store:
    name: str
    where: str
    """A data-store key or prefix (under CREDIT_HOME/data or the S3 prefix), a landing-zone
    area, a database table, or the artifact store."""
    holds_borrower_data: bool
    erasure: str
    """What `erase_borrower` does to it (or why nothing needs doing)."""


LANDING = "landing zone"
TABLE = "table"

STORES: tuple[Store, ...] = (
    Store("landing files", f"{LANDING}: landing/<source>/ (and .incoming/)", True,
          "the borrower's rows removed from every delivered file, in its own format"),
    Store("archived files", f"{LANDING}: archive/<source>/", True,
          "the borrower's rows removed (a re-materialized partition reads the redacted file)"),
    Store("rejected files", f"{LANDING}: rejected/<source>/", True,
          "the borrower's rows removed; values in the reason notes replaced by [erased]"),
    Store("raw rows", keys.RAW_PREFIX, True, "the borrower's and their applications' rows removed"),
    Store("quarantined rows", keys.QUARANTINE_PREFIX, True,
          "rows whose record names the borrower or their applications removed"),
    Store("quarantine report", keys.QUARANTINE_REPORT, True, "the same rows removed"),
    Store("borrower features", keys.BORROWER_FEATURES_PREFIX, True, "the borrower's rows removed"),
    Store("training set", keys.TRAINING_SET, True,
          "the borrower's applications removed (registered models trained on it are listed "
          "in the erasure request and on their model cards)"),
    Store("batch scores", keys.BATCH_SCORES_PREFIX, True, "the borrower's rows removed"),
    Store("demographic proxies", keys.DEMOGRAPHIC_PROXIES, True,
          "the borrower's applications removed"),
    Store("proxy coverage", keys.DEMOGRAPHIC_PROXIES_COVERAGE, False,
          "aggregate counts of the BISG tables' coverage"),
    Store("reports", "reports/", False,
          "aggregates per model version, day or experiment; the explainability waterfall "
          "shows one test applicant's feature values without an identifier and is redrawn "
          "at the next run"),
    Store("scorecards", "scorecards/", False, "bins and points, no rows"),
    Store("candidate fits", "candidates/", False, "fitted model parameters, no rows"),
    Store("model artifacts", "artifact store: models/<version>/", False,
          "parameters only, write-once; models trained on the borrower are named in the "
          "request, and the next training set excludes them"),
    Store("ingestion ledger", f"{TABLE}: ingested_files", False, "file names and hashes"),
    Store("online features", f"{TABLE}: online_features", True,
          "the borrower's row deleted from every snapshot (scoring by id answers 404)"),
    Store("online snapshots", f"{TABLE}: online_feature_snapshots", False, "snapshot metadata"),
    Store("online pointer", f"{TABLE}: online_feature_current", False, "one row"),
    Store("model registry", f"{TABLE}: model_registry", False, "versions, metrics, lineage"),
    Store("decision log", f"{TABLE}: decision_log", True,
          "within CREDIT_DECISION_RETENTION_DAYS: decision, score, reasons and model version "
          "kept against the keyed pseudonym; inputs, request digest and idempotency key "
          "cleared; older rows deleted"),
    Store("shadow decisions", f"{TABLE}: shadow_decisions", False,
          "scores by decision id only; deleted with decisions past retention"),
    Store("API keys", f"{TABLE}: api_keys", False, "lenders' and partners' keys"),
    Store("uploads", f"{TABLE}: uploads", False, "file names, hashes and counts"),
    Store("experiments", f"{TABLE}: experiments", False,
          "arms are keyed hashes computed at scoring, never stored per borrower"),
    Store("alerts", f"{TABLE}: alerts", False, "run failures"),
    Store("consents", f"{TABLE}: borrower_consents", True, "the borrower's consents deleted"),
    Store("tombstones", f"{TABLE}: erased_borrowers", False,
          "keyed pseudonyms only: what keeps an erased borrower out of a file sent again"),
    Store("borrower-rights requests", f"{TABLE}: privacy_requests", False,
          "keyed pseudonyms and what was touched, never a value of the borrower's"),
)  # fmt: skip


def tables() -> set[str]:
    return {s.where.split(": ", 1)[1] for s in STORES if s.where.startswith(f"{TABLE}: ")}


def data_keys() -> set[str]:
    """The data-store keys and prefixes named (not landing areas, tables or artifacts)."""
    return {s.where for s in STORES if ":" not in s.where}
