"""Features for one borrower from an inline payload, through the batch code path.

The payload's application and records become tiny frames typed by their
contracts and go through the same `compute_features` as the batch assets, so a
borrower scored online gets exactly the features the model was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from credit_assets.core.contracts import ColumnSpec, Contract
from credit_assets.core.contracts.json_paths import as_text, extract
from credit_assets.core.features.applications import (
    application_feature_names,
    application_key,
    applications_contract,
)
from credit_assets.core.features.build import compute_features
from credit_assets.core.features.catalogue import feature_catalogue
from credit_assets.core.features.frames import (
    APPLICATION_ID,
    AS_OF,
    BORROWER,
    KIND_COLUMNS,
    generic_feature_contracts,
    kind_columns,
    polars_dtype,
)
from credit_assets.core.features.generic import generic_feature_columns

PAYLOAD_BORROWER = "payload"


def features_for_payload(
    application: Mapping[str, Any],
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    as_of: date,
    contracts: dict[str, Contract],
) -> dict[str, object]:
    """Every catalogue feature for one application as of `as_of`.

    `records` maps a source name to that borrower's records (their borrower_id
    field, if any, is ignored: every record belongs to this payload). Raises
    ValueError naming the source, record index and field of the first bad value.
    """
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    if not isinstance(as_of, date):
        raise ValueError(f"as_of: expected a date, got {as_of!r}")
    if not isinstance(application, Mapping):
        raise ValueError("application: expected an object of attribute values")

    frames: dict[str, pl.LazyFrame] = {}
    spine: dict[str, list[object]] = {AS_OF: [as_of]}
    apps = applications_contract(contracts)
    borrower = PAYLOAD_BORROWER
    if apps is not None:
        if apps.borrower_column and application.get(apps.borrower_column) is not None:
            borrower = str(application[apps.borrower_column])
        app_frame = _application_frame(application, apps, borrower, as_of)
        key = app_frame.lazy().select(application_key(apps)).collect(engine="in-memory")
        spine[APPLICATION_ID] = [key.item()]
        frames[apps.name] = app_frame.lazy()
    spine[BORROWER] = [borrower]

    allowed = {c.name for c in _record_contracts(contracts)}
    for name, rows in records.items():
        contract = contracts.get(name)
        if contract is None or name not in allowed:
            raise ValueError(
                f"records: {name!r} is not a source of behavioural records; "
                f"expected one of {sorted(allowed)}"
            )
        frames[name] = _records_frame(name, rows, contract, borrower).lazy()

    schema = {BORROWER: pl.String(), AS_OF: pl.Date()}
    if APPLICATION_ID in spine:
        schema[APPLICATION_ID] = pl.String()
    features = compute_features(pl.LazyFrame(spine, schema=schema), frames, contracts)
    # The in-memory engine has the lowest fixed cost for a one-row query.
    row = features.collect(engine="in-memory").row(0, named=True)
    return {name: row[name] for name in feature_catalogue(contracts).names}


def _record_contracts(contracts: dict[str, Contract]) -> list[Contract]:
    fixed = [c for c in contracts.values() if c.kind in KIND_COLUMNS]
    return fixed + generic_feature_contracts(contracts)


def _record_columns(contract: Contract) -> list[str]:
    if contract.kind in KIND_COLUMNS:
        return [c for c in kind_columns(contract) if c != BORROWER]
    assert contract.timestamp is not None
    return [contract.timestamp, *generic_feature_columns(contract)]


def _records_frame(
    name: str, rows: Sequence[Mapping[str, Any]], contract: Contract, borrower: str
) -> pl.DataFrame:
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Sequence):
        raise ValueError(f"{name}: expected a list of records")
    columns = _record_columns(contract)
    values: dict[str, list[object]] = {c: [] for c in columns}
    for index, record in enumerate(rows):
        if not isinstance(record, Mapping):
            raise ValueError(f"{name}[{index}]: a record must be an object")
        for column in columns:
            spec = contract.columns[column]
            values[column].append(
                coerce_value(extract(record, spec.path_steps), spec, f"{name}[{index}].{column}")
            )
    schema = {c: polars_dtype(contract, c) for c in columns}
    borrower_column = contract.borrower_column or BORROWER
    values[borrower_column] = [borrower] * len(rows)
    schema[borrower_column] = pl.String()
    return pl.DataFrame(values, schema=schema)


def _application_frame(
    application: Mapping[str, Any], contract: Contract, borrower: str, as_of: date
) -> pl.DataFrame:
    values: dict[str, object] = {}
    schema: dict[str, pl.DataType] = {}
    for column in application_feature_names(contract):
        values[column] = [
            coerce_value(
                application.get(column), contract.columns[column], f"{contract.name}.{column}"
            )
        ]
        schema[column] = polars_dtype(contract, column)
    if contract.id_column is not None:
        identifier = application.get(contract.id_column)
        values[contract.id_column] = [str(identifier) if identifier is not None else "payload"]
        schema[contract.id_column] = pl.String()
    else:
        values |= {"_source_file": ["payload"], "_row_number": [1]}
        schema |= {"_source_file": pl.String(), "_row_number": pl.Int64()}
    if contract.borrower_column is not None:
        values[contract.borrower_column] = [borrower]
        schema[contract.borrower_column] = pl.String()
    if contract.timestamp is not None:
        values[contract.timestamp] = [as_of]
        schema[contract.timestamp] = pl.Date()
    return pl.DataFrame(values, schema=schema)


def coerce_value(value: object, column: ColumnSpec, where: str) -> object:
    """`value` as the contract's type, or ValueError naming `where`.

    Accepts what JSON carries: numbers, strings (ISO dates), booleans, null. The column's
    `map:` and `scale:` apply as ingestion applies them (`ingestion.values.typed_value`), so
    a record scored inline and the same record pushed as a file give the same feature.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        if not column.is_nullable:
            raise ValueError(f"{where}: a value is required")
        return None
    if column.value_map is not None:
        value = column.mapped(as_text(value).strip())
    typed = _typed(value, column.type, where)
    if column.scale is not None:
        typed = typed * column.scale  # type: ignore[operator]
        typed = int(typed) if column.type == "int" else typed
    if column.min is not None and typed < column.min:  # type: ignore[operator]
        raise ValueError(f"{where}: {value!r} is below the minimum {column.min:g}")
    if column.max is not None and typed > column.max:  # type: ignore[operator]
        raise ValueError(f"{where}: {value!r} is above the maximum {column.max:g}")
    if column.allowed is not None and str(typed) not in {str(a) for a in column.allowed}:
        raise ValueError(f"{where}: {value!r} is not one of {column.allowed}")
    return typed


def _typed(value: object, kind: str, where: str) -> object:
    problem = f"{where}: {value!r} is not a valid {kind}"
    if isinstance(value, bool) and kind != "bool":
        raise ValueError(problem)
    try:
        match kind:
            case "date":
                if isinstance(value, datetime):
                    return value.date()
                if isinstance(value, date):
                    return value
                if isinstance(value, str):
                    return date.fromisoformat(value.strip()[:10])
            case "datetime":
                if isinstance(value, datetime):
                    return value
                if isinstance(value, str):
                    return datetime.fromisoformat(value.strip())
            case "int":
                if isinstance(value, int):
                    return value
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                if isinstance(value, str):
                    number = float(value)
                    if number.is_integer():
                        return int(number)
            case "float":
                if isinstance(value, int | float) and math.isfinite(value):
                    return float(value)
                if isinstance(value, str) and math.isfinite(float(value)):
                    return float(value)
            case "bool":
                if isinstance(value, bool):
                    return value
                if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                    return value.strip().lower() == "true"
            case _:
                if isinstance(value, str):
                    return value
                if isinstance(value, int):
                    return str(value)
    except ValueError:
        pass
    raise ValueError(problem)
