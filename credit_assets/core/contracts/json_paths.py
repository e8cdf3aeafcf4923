"""Where a value sits in a nested JSON record: the `from:` paths of a contract.

A small, strict subset of JSONPath, enough for aggregators' objects: `$` is the record,
`.name` (or `["name"]`) a field, `[n]` an array element. `$.amount`,
`$.personal_finance_category.primary`, `$.category[0]`, `$["merchant name"]`. A contract's
`records:` path names the array whose elements are the rows (`$.transactions`, with or
without a trailing `[*]`).
"""

from __future__ import annotations

import json
import re
from typing import Any

Step = str | int
_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')
_MISSING = object()


def parse_path(text: str) -> tuple[Step, ...]:
    """`$.a.b[0]` -> ("a", "b", 0); raises ValueError naming what is wrong."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"path {text!r} must start with '$' (the record), as in '$.amount'")
    body = text[1:].removesuffix("[*]")
    steps: list[Step] = []
    position = 0
    while position < len(body):
        match = _STEP.match(body, position)
        if match is None:
            raise ValueError(
                f'path {text!r}: cannot read {body[position:]!r} (use .field, ["field"] or [index])'
            )
        field, index, quoted = match.groups()
        steps.append(int(index) if index is not None else field if field is not None else quoted)
        position = match.end()
    return tuple(steps)


def extract(record: Any, steps: tuple[Step, ...]) -> Any:
    """The value at `steps` in `record`, or None where any step is absent."""
    value = record
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step, _MISSING)
            if value is _MISSING:
                return None
    return value


def as_text(value: Any) -> str:
    """A JSON value as the text a contract column reads (`true`, `12.5`, objects as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
