"""Reading many Parquet objects as one frame, whatever schema each was written with."""

from __future__ import annotations

from typing import Any

import polars as pl


def schema_options(schema: dict[str, pl.DataType] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"schema": schema, "missing_columns": "insert", "extra_columns": "ignore"}
