"""A JSON request body as the API accepts it: strict JSON (RFC 8259), bounded, and safe to log.

`checked_json` parses with orjson and refuses, with a 422 naming where:
- anything that is not JSON, including NaN, Infinity and numbers too large for a double
  (JSON has no such numbers; send null for a missing value): the field is named;
- arrays and objects nested more than `MAX_DEPTH` deep: no request of this API needs more
  than a handful of levels, and a deeply nested body is a way to exhaust a parser's stack;
- a NUL character (U+0000) in any string or key: no field means one, and PostgreSQL refuses
  it in text, so it would fail the decision-log write it shares with other requests.

The request gate (`scoring_api.gate`) runs it on every JSON body a route reads into memory,
before the route sees the body.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from scoring_api.errors import FieldError

MAX_DEPTH = 64  # arrays and objects within one another

NOT_A_NUMBER = (
    "{token} is not a JSON number: JSON has no NaN or Infinity (send null for a missing value)"
)
TOO_DEEP = f"arrays and objects are nested more than {MAX_DEPTH} deep"
NUL = "text may not contain the NUL character (U+0000)"


class _NonFinite(str):
    """Where a lenient parse met NaN, Infinity or a number too large for a double."""


def checked_json(body: bytes) -> Any:
    """The parsed body; FieldError (422) naming what is wrong and where (see the module)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _not_json(body, exc) from None
    # A body with fewer than MAX_DEPTH brackets in all cannot nest deeper (the common case).
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH or b"\\u0000" in body:
        problem = first_problem(value)
        if problem is not None:
            raise problem
    return value


def first_problem(value: Any) -> FieldError | None:
    """The first thing, in document order, a checked body may not hold: nesting deeper than
    MAX_DEPTH, a NUL in a string or key, a non-finite number. Iterative: any depth is safe."""
    stack: list[tuple[Any, list[str | int], int]] = [(value, ["body"], 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return FieldError(path, TOO_DEEP)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            children = []
            for key, child in pairs:
                if isinstance(key, str) and "\x00" in key:
                    return FieldError([*path, key], NUL)
                children.append((child, [*path, key], depth + 1))
            stack.extend(reversed(children))
        elif isinstance(item, _NonFinite):
            return FieldError(path, NOT_A_NUMBER.format(token=str(item)))
        elif isinstance(item, str) and "\x00" in item:
            return FieldError(path, NUL)
        elif isinstance(item, float) and not math.isfinite(item):
            return FieldError(path, NOT_A_NUMBER.format(token=repr(item)))
    return None


def _not_json(body: bytes, exc: orjson.JSONDecodeError) -> FieldError:
    """Why orjson refused the body; for NaN, Infinity or a huge number, the field that has it."""
    if "depth" in exc.msg or "recursion" in exc.msg.lower():
        return FieldError(["body"], TOO_DEEP)
    if b"NaN" in body or b"Infinity" in body or "infinity" in exc.msg:
        named = _non_finite_field(body)
        if named is not None:
            return named
    return FieldError(["body", exc.pos], f"not valid JSON: {exc.msg}", "json_invalid")


def _non_finite_field(body: bytes) -> FieldError | None:
    """Parse leniently (Python's json takes NaN and Infinity) to find where they are."""

    def number(text: str) -> float | _NonFinite:
        parsed = float(text)
        return parsed if math.isfinite(parsed) else _NonFinite(text)

    try:
        lenient = json.loads(body, parse_constant=_NonFinite, parse_float=number)
    except (ValueError, RecursionError):
        return None
    return first_problem(lenient)
