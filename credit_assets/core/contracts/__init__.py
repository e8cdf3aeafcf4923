"""Data contracts: the YAML declaration of every source, and the schema it generates.

Drafting and checking a contract against a lender's file is `core/onboarding`, which
reads the file with the ingestion rules.

- `contract`: `Contract`, `ColumnSpec`, `Role`, `SourceKind`, `POLARS_TYPES`, `load_contract(s)`
  (re-exported here).
- `pandera_schema`: the pandera schema a contract generates (`pandera_schema`, `check_against_contract`).
"""

from credit_assets.core.contracts.contract import (
    ALL_FORMATS,
    EXCEL_SERIAL,
    LINEAGE_COLUMNS,
    OWN_FURNISHER,
    PAYMENT_KINDS,
    POLARS_TYPES,
    PROXY_PROBABILITY_PREFIX,
    PROXY_ROLES,
    ColumnSpec,
    ColumnType,
    Contract,
    ContractError,
    CsvOptions,
    ExcelOptions,
    FileFormat,
    Role,
    SourceKind,
    contract_of_kind,
    fairness_only_columns,
    known_at_decision,
    load_contract,
    load_contracts,
    protected_columns,
)

__all__ = [
    "ALL_FORMATS",
    "EXCEL_SERIAL",
    "LINEAGE_COLUMNS",
    "OWN_FURNISHER",
    "PAYMENT_KINDS",
    "POLARS_TYPES",
    "PROXY_PROBABILITY_PREFIX",
    "PROXY_ROLES",
    "ColumnSpec",
    "ColumnType",
    "Contract",
    "ContractError",
    "CsvOptions",
    "ExcelOptions",
    "FileFormat",
    "Role",
    "SourceKind",
    "contract_of_kind",
    "fairness_only_columns",
    "known_at_decision",
    "load_contract",
    "load_contracts",
    "protected_columns",
]
