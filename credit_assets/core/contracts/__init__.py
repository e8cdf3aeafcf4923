"""Data contracts: the YAML declaration of every source, and the tools around it.

- `model`: `Contract`, `ColumnSpec`, `Role`, `SourceKind`, `load_contract(s)` (re-exported here).
- `pandera_schema`: the pandera schema a contract generates (`pandera_schema`, `check_against_contract`).
- `inference`: `infer_contract` drafts a contract from a sample file (`contract infer`).
- `check`: `check_contract` lists every problem of a contract file (`contract check`).
"""

from credit_assets.core.contracts.model import (
    ALL_FORMATS,
    LINEAGE_COLUMNS,
    PAYMENT_KINDS,
    ColumnSpec,
    ColumnType,
    Contract,
    ContractError,
    FileFormat,
    Role,
    SourceKind,
    contract_of_kind,
    load_contract,
    load_contracts,
    protected_columns,
)

__all__ = [
    "ALL_FORMATS",
    "LINEAGE_COLUMNS",
    "PAYMENT_KINDS",
    "ColumnSpec",
    "ColumnType",
    "Contract",
    "ContractError",
    "FileFormat",
    "Role",
    "SourceKind",
    "contract_of_kind",
    "load_contract",
    "load_contracts",
    "protected_columns",
]
