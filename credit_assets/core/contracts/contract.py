"""Data contracts: the YAML declaration of every source the platform ingests.

A contract names the source, its kind, the file formats accepted, its key and
timestamp columns and, per column, the type, constraints and role. Onboarding a
lender's own file means writing a contract, not code.
"""

from __future__ import annotations

import codecs
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credit_assets.core.contracts.json_paths import parse_path


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the field."""


class SourceKind(StrEnum):
    APPLICATIONS = "applications"
    OUTCOMES = "outcomes"
    UTILITY_PAYMENTS = "utility_payments"
    TELECOM_PAYMENTS = "telecom_payments"
    RENT_PAYMENTS = "rent_payments"
    BANK_TRANSACTIONS = "bank_transactions"
    GENERIC = "generic"


PAYMENT_KINDS = (SourceKind.UTILITY_PAYMENTS, SourceKind.TELECOM_PAYMENTS, SourceKind.RENT_PAYMENTS)


class Role(StrEnum):
    ID = "id"
    BORROWER_ID = "borrower_id"
    TIMESTAMP = "timestamp"
    LABEL = "label"
    FEATURE = "feature"
    PROTECTED = "protected"
    IGNORE = "ignore"
    # Inputs of the BISG race/ethnicity proxy (`surgeo`); like `protected`, kept for
    # fairness testing only: never a feature, never online, never in the decision log.
    PROXY_SURNAME = "proxy_surname"
    PROXY_FIRST_NAME = "proxy_first_name"
    PROXY_ZIP = "proxy_zip"
    PROXY_TRACT = "proxy_tract"


PROXY_ROLES = (Role.PROXY_SURNAME, Role.PROXY_FIRST_NAME, Role.PROXY_ZIP, Role.PROXY_TRACT)
PROXY_PROBABILITY_PREFIX = "bisg_"
"""Columns the platform derives from proxy inputs (`bisg_black`, ...): fairness testing only."""


LINEAGE_COLUMNS = ("_source_file", "_row_number", "_file_sha256", "_ingested_at", "_furnisher")
"""Columns ingestion adds to every accepted row; no source may declare them."""
OWN_FURNISHER = "lender"
"""`_furnisher` of what the deployment's lender furnished itself (file drops, its own keys'
uploads); a data partner's records carry `partner:<name>`."""

ColumnType = Literal["string", "int", "float", "bool", "date", "datetime", "category"]
FileFormat = Literal["csv", "jsonl", "parquet", "excel"]
# The Polars type each contract type is read into (raw, quarantine-free frames are typed so).
POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "category": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}
ALL_FORMATS: tuple[FileFormat, ...] = ("csv", "jsonl", "parquet", "excel")
EXCEL_SERIAL = "excel_serial"
"""A date `format:` for Excel's serial day numbers (days since 1899-12-30, 45296 = 2024-01-05)."""
THOUSANDS_SEPARATORS = (",", ".", " ", "'", "\u00a0", "\u202f")


class CsvOptions(BaseModel):
    """How a source's CSV files are written: what `contract infer` detects and ingestion reads.

    The defaults are RFC 4180 in UTF-8; a byte-order mark (UTF-8 or UTF-16) always wins
    over `encoding`, since it is the file saying what it is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = ","
    quote_char: str | None = '"'
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    skip_rows: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> CsvOptions:
        if len(self.delimiter) != 1 or self.delimiter in '\r\n"':
            raise ValueError(f"delimiter {self.delimiter!r} must be one character (, ; tab |)")
        if self.quote_char is not None and len(self.quote_char) != 1:
            raise ValueError(f"quote_char {self.quote_char!r} must be one character or null")
        if self.thousands is not None:
            if self.thousands not in THOUSANDS_SEPARATORS:
                shown = ", ".join(repr(t) for t in THOUSANDS_SEPARATORS)
                raise ValueError(f"thousands {self.thousands!r} must be one of {shown}")
            if self.thousands == self.decimal:
                raise ValueError("thousands and decimal separators must differ")
        if self.decimal == "," and self.delimiter == "," and self.quote_char is None:
            raise ValueError("a decimal comma in a comma-delimited file needs a quote_char")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"unknown encoding {self.encoding!r} (e.g. utf-8, cp1252, latin-1, utf-16)"
            ) from None
        return self


class ExcelOptions(BaseModel):
    """Which sheet of a workbook holds the rows, and how many lines sit above its header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sheet: str | int = 0
    skip_rows: int = Field(default=0, ge=0, le=1000)


class SignFrom(BaseModel):
    """The sign of an unsigned amount, from another column of the same row.

    `negative` lists the values (case and surrounding spaces ignored) that make the
    amount an outflow; with `positive` too, any other value is quarantined instead of
    being read as an inflow.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    negative: list[str] = Field(min_length=1)
    positive: list[str] | None = None


class ColumnSpec(BaseModel):
    """One column of a source: its type, role and the constraints a valid value meets."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    type: ColumnType
    role: Role
    description: str = ""
    nullable: bool | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | float] | None = None
    pattern: str | None = None
    labels: dict[Literal["bad", "good"], int | str] | None = None
    # For `feature` columns: how the value relates to risk and what a declined
    # applicant is told when it is a principal reason (the feature catalogue reads these).
    monotone: Literal["increasing", "decreasing", "none"] = "none"
    reason_code: str | None = None
    reason_text: str | None = None
    # For nested JSON sources: where the value sits in each record (`$.amount`,
    # `$.personal_finance_category.primary`); without it the column is the record's field
    # of the same name.
    source_path: str | None = Field(default=None, alias="from")
    # How the source's values become the contract's: `map:` replaces a delivered value (its
    # text) before it is typed, an exact key first, then the longest `PREFIX*` key (`"*"`
    # alone catches the rest; an unmatched value is kept and checked as delivered);
    # `scale:` multiplies a number after typing (`-1` turns outflow-positive amounts into
    # inflow-positive ones). Constraints (`min`, `max`, `allowed`) apply to the result.
    value_map: dict[str, str | int | float | bool] | None = Field(default=None, alias="map")
    scale: float | None = None
    # For flat files (CSV, Excel, Parquet, JSON lines): the file's name for the column when it
    # differs from the contract's (`header: Betrag` for `amount`).
    header: str | None = None
    # For date and datetime columns: how the file writes them (`%d/%m/%Y`, `%y%m%d`,
    # `%Y-%m-%dT%H:%M:%S%z`, or `excel_serial`); without it ISO 8601.
    format: str | None = None
    sign_from: SignFrom | None = None
    # Texts that mean "no value" in this column besides an empty one (`missing: [NA, "-"]`,
    # matched exactly after trimming): read as missing, so `NA` in a numeric column is a
    # null, not a reason to type the column as text.
    missing: list[str] | None = None
    # A feature the leakage screen flags (it alone nearly separates the outcome) is cleared
    # by saying it is known when the decision is made; nothing else clears it.
    known_at_decision: bool | None = None

    @property
    def map_rules(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """(exact keys, (prefix, value) longest prefix first) of `map:`, values as text."""
        exact: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        for key, value in (self.value_map or {}).items():
            target = _map_text(value)
            if key.endswith("*"):
                prefixes.append((key[:-1], target))
            else:
                exact[key] = target
        prefixes.sort(key=lambda rule: len(rule[0]), reverse=True)
        return exact, prefixes

    def mapped(self, text: str) -> str:
        """A delivered value's text after `map:` (unchanged without a matching key)."""
        exact, prefixes = self.map_rules
        if text in exact:
            return exact[text]
        return next((target for prefix, target in prefixes if text.startswith(prefix)), text)

    @property
    def file_header(self) -> str:
        """The column's name in a flat file's header."""
        return self.header if self.header is not None else self.name

    @property
    def path_steps(self) -> tuple[str | int, ...]:
        return parse_path(self.source_path) if self.source_path else (self.name,)

    @property
    def is_nullable(self) -> bool:
        """Identity, timestamp and label columns are never null unless a contract says so."""
        if self.nullable is not None:
            return self.nullable
        return self.role not in (Role.ID, Role.BORROWER_ID, Role.TIMESTAMP, Role.LABEL)

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.role is Role.LABEL and self.labels is None:
            raise ValueError(f"label column {self.name!r} needs `labels: {{bad: ..., good: ...}}`")
        if self.labels is not None and set(self.labels) != {"bad", "good"}:
            missing = " and ".join(sorted({"bad", "good"} - set(self.labels)))
            raise ValueError(
                f"label column {self.name!r}: `labels` names no {missing} value; declare both, "
                "e.g. `labels: {bad: 1, good: 0}`"
            )
        if self.labels is not None and self.role is not Role.LABEL:
            raise ValueError(f"column {self.name!r} has `labels` but its role is {self.role.value}")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError(f"column {self.name!r}: min/max apply to int or float columns only")
        if self.pattern is not None:
            re.compile(self.pattern)
        if self.source_path is not None:
            parse_path(self.source_path)
        if self.value_map is not None:
            if not self.value_map:
                raise ValueError(f"column {self.name!r}: `map:` is empty")
            stars = [k for k in self.value_map if "*" in k[:-1]]
            if stars:
                raise ValueError(
                    f"column {self.name!r}: map key {stars[0]!r}: '*' may only end a key (PREFIX*)"
                )
        if self.format is not None:
            if self.type not in ("date", "datetime"):
                raise ValueError(
                    f"column {self.name!r}: format applies to date or datetime columns"
                )
            if self.format != EXCEL_SERIAL and "%" not in self.format:
                raise ValueError(
                    f"column {self.name!r}: format {self.format!r} is neither a strftime pattern "
                    f"(%d/%m/%Y, %y%m%d, ...) nor {EXCEL_SERIAL}"
                )
        if self.sign_from is not None and self.type not in ("int", "float"):
            raise ValueError(f"column {self.name!r}: sign_from applies to int or float columns")
        if self.missing is not None and (
            not self.missing or any(not str(m).strip() for m in self.missing)
        ):
            raise ValueError(
                f"column {self.name!r}: `missing:` lists the texts that mean no value "
                "(e.g. [NA, n/a]); it may not be empty or hold an empty text"
            )
        if self.scale is not None:
            if self.type not in ("int", "float"):
                raise ValueError(f"column {self.name!r}: scale applies to int or float columns")
            if self.scale == 0 or self.scale != self.scale:
                raise ValueError(f"column {self.name!r}: scale must be a non-zero number")
            if self.type == "int" and not float(self.scale).is_integer():
                raise ValueError(f"column {self.name!r}: an int column's scale must be whole")
        return self


def _map_text(value: str | int | float | bool) -> str:
    """A `map:` target as the text a delivered value would have (YAML reads `yes` as True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Contract(BaseModel):
    """A source's data contract as declared in `contracts/<name>.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: SourceKind
    description: str = ""
    formats: list[FileFormat] = Field(default_factory=lambda: list(ALL_FORMATS))
    keys: list[str] = Field(default_factory=list)
    timestamp: str | None = None
    columns: dict[str, ColumnSpec]
    # For nested JSON: the array of each document whose elements are the rows
    # (`$.transactions`); without it every JSON line is one row.
    records: str | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    excel: ExcelOptions = Field(default_factory=ExcelOptions)
    # `required`: the records are consumer-permissioned (open banking, CFPB section 1033):
    # they count only for borrowers with a live consent to this source (docs/PRIVACY.md).
    consent: Literal["required"] | None = None
    path: Path | None = Field(default=None, exclude=True)

    @property
    def is_nested(self) -> bool:
        """Whether JSON records are mapped by paths (`records:` or a column's `from:`)."""
        return self.records is not None or any(
            c.source_path is not None for c in self.columns.values()
        )

    @model_validator(mode="before")
    @classmethod
    def _name_columns(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("columns"), dict):
            columns = {}
            for name, spec in data["columns"].items():
                if not isinstance(name, str):
                    raise ValueError(
                        f"column name {name!r} was read by YAML as {type(name).__name__}: "
                        f'quote it ("{name}": ...)'
                    )
                if name in LINEAGE_COLUMNS:
                    raise ValueError(f"column name {name!r} is reserved for lineage")
                if not isinstance(spec, dict):
                    raise ValueError(f"column {name!r} must be a mapping with type and role")
                columns[str(name)] = {"name": str(name), **spec}
            data = {**data, "columns": columns}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        if self.consent == "required" and self.borrower_column is None:
            raise ValueError(
                "`consent: required` needs a column with role borrower_id: a consent is a "
                "borrower's, so the records must say whose they are"
            )
        if self.is_nested:
            if self.records is not None:
                parse_path(self.records)
            if "jsonl" not in self.formats:
                raise ValueError(
                    "`records:` and `from:` paths read JSON: formats must include jsonl"
                )
        headers: dict[str, str] = {}
        for spec in self.columns.values():
            if spec.sign_from is not None and spec.sign_from.column not in self.columns:
                raise ValueError(
                    f"column {spec.name!r}: sign_from column {spec.sign_from.column!r} is not "
                    "among the columns (declare it, with role ignore if it is not used otherwise)"
                )
            header = spec.file_header
            if header in headers:
                raise ValueError(
                    f"columns {headers[header]!r} and {spec.name!r} both read header {header!r}"
                )
            headers[header] = spec.name
        for key in self.keys:
            if key not in self.columns:
                raise ValueError(f"key column {key!r} is not among the columns")
        if self.timestamp is not None:
            ts = self.columns.get(self.timestamp)
            if ts is None:
                raise ValueError(f"timestamp column {self.timestamp!r} is not among the columns")
            if ts.type not in ("date", "datetime"):
                raise ValueError(f"timestamp column {self.timestamp!r} must be a date or datetime")
        if self.kind is not SourceKind.GENERIC or any(
            c.role is Role.FEATURE for c in self.columns.values()
        ):
            borrower = [c for c in self.columns.values() if c.role is Role.BORROWER_ID]
            if self.kind is not SourceKind.APPLICATIONS and not borrower:
                raise ValueError(f"a {self.kind.value} source needs a column with role borrower_id")
        for role in PROXY_ROLES:
            declared = [c.name for c in self.columns.values() if c.role is role]
            if len(declared) > 1:
                raise ValueError(f"at most one {role.value} column per source: {declared}")
        labels = [c for c in self.columns.values() if c.role is Role.LABEL]
        if len(labels) > 1:
            raise ValueError("at most one label column per source")
        if self.kind is SourceKind.OUTCOMES and not labels:
            raise ValueError("an outcomes source needs a label column")
        return self

    def columns_with(self, *roles: Role) -> list[ColumnSpec]:
        return [c for c in self.columns.values() if c.role in roles]

    @property
    def asset_name(self) -> str:
        return f"raw_{self.name}"

    @property
    def id_column(self) -> str | None:
        ids = self.columns_with(Role.ID)
        return ids[0].name if ids else None

    @property
    def borrower_column(self) -> str | None:
        cols = self.columns_with(Role.BORROWER_ID)
        return cols[0].name if cols else None

    @property
    def label_column(self) -> ColumnSpec | None:
        cols = self.columns_with(Role.LABEL)
        return cols[0] if cols else None

    @property
    def protected_columns(self) -> list[str]:
        return [c.name for c in self.columns_with(Role.PROTECTED)]

    @property
    def proxy_columns(self) -> dict[Role, str]:
        """The BISG inputs this source declares, by role (at most one column per role)."""
        return {c.role: c.name for c in self.columns_with(*PROXY_ROLES)}

    @property
    def feature_columns(self) -> list[ColumnSpec]:
        return self.columns_with(Role.FEATURE)

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.required]

    @property
    def required_headers(self) -> list[str]:
        """The header names a flat file must have (`header:` where a column declares one)."""
        return [c.file_header for c in self.columns.values() if c.required]

    @property
    def header_renames(self) -> dict[str, str]:
        """File header -> contract column, for columns whose `header:` differs from the name."""
        return {
            c.header: c.name
            for c in self.columns.values()
            if c.header is not None and c.header != c.name
        }

    @property
    def record_key(self) -> list[str]:
        """Columns that identify a record: its keys within its furnisher's namespace (a data
        partner re-sending another furnisher's ids adds records, never overwrites); files
        without keys use the landing row identity."""
        return ["_furnisher", *self.keys] if self.keys else ["_source_file", "_row_number"]


def load_contract(path: Path) -> Contract:
    """Parse and check one contract file; every problem names the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: cannot read contract: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a YAML mapping, got {type(raw).__name__}")
    try:
        contract = Contract.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ContractError(f"{path}: invalid contract: {problems}") from exc
    if contract.name != path.stem:
        raise ContractError(f"{path}: contract name {contract.name!r} must match the file name")
    return contract.model_copy(update={"path": path})


def load_contracts(directory: Path) -> dict[str, Contract]:
    """All contracts directly in `directory` (not its sub-folders), by source name."""
    if not directory.is_dir():
        raise ContractError(f"contracts folder {directory} does not exist")
    contracts = {}
    for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
        contract = load_contract(path)
        contracts[contract.name] = contract
    return contracts


def protected_columns(contracts: dict[str, Contract]) -> list[str]:
    """Every column any contract declares `protected` (fairness testing only, never an input)."""
    return [c for contract in contracts.values() for c in contract.protected_columns]


def fairness_only_columns(contracts: dict[str, Contract]) -> list[str]:
    """Every column declared `protected` or a proxy input: what must never be a model input."""
    return [
        c.name
        for contract in contracts.values()
        for c in contract.columns_with(Role.PROTECTED, *PROXY_ROLES)
    ]


def contract_of_kind(contracts: dict[str, Contract], kind: SourceKind) -> Contract | None:
    """The single contract of a kind, if any; two of one kind (but generic) is an error."""
    found = [c for c in contracts.values() if c.kind is kind]
    if len(found) > 1 and kind is not SourceKind.GENERIC:
        names = ", ".join(c.name for c in found)
        raise ContractError(f"more than one {kind.value} source declared: {names}")
    return found[0] if found else None


def known_at_decision(contracts: dict[str, Contract]) -> frozenset[str]:
    """Columns declared `known_at_decision: true`: what the leakage screen may not hold back."""
    return frozenset(
        c.name
        for contract in contracts.values()
        for c in contract.columns.values()
        if c.known_at_decision
    )
