"""Functions of one idea: no function in `credit_assets` or `scoring_api` is longer than
LIMIT lines (from its `def` to its last line, its docstring not counted) unless it is listed in
ONE_IDEA_AS_DATA with the reason its length is one idea (a table of specifications, a parser,
a wiring of constructors). A long function that mixes steps is split into named steps instead.

The list cannot rot: an entry that no longer exists, or is no longer over the limit, fails too.
Database migrations are left out: each is the literal DDL of one schema version, frozen once
released.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

LIMIT = 60
PACKAGES = ("credit_assets", "scoring_api")
MIGRATIONS = Path("credit_assets/core/platform/migrations")

ONE_IDEA_AS_DATA: dict[str, str] = {
    "credit_assets/core/features/bank.py::_bank_feature_specs": (
        "the literal list of open-banking feature specifications, one entry per feature"
    ),
    "credit_assets/core/features/payments.py::payment_feature_specs": (
        "the literal list of payment-history feature specifications, one entry per feature"
    ),
    "scoring_api/services/__init__.py::Services.start": (
        "the API's wiring: one constructor call per service, in start order"
    ),
}


def _body_length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from `def` to the last line, less the docstring's."""
    length = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        length -= (first.end_lineno or first.lineno) - first.lineno + 1
    return length


def function_lengths() -> dict[str, int]:
    """Every function and method in PACKAGES by `path::Qualified.name`, with its length."""
    lengths: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT)
            if MIGRATIONS in relative.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            _collect(tree, relative.as_posix(), [], lengths)
    return lengths


def _collect(node: ast.AST, path: str, scope: list[str], lengths: dict[str, int]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = ".".join([*scope, child.name])
            lengths[f"{path}::{name}"] = _body_length(child)
            _collect(child, path, [*scope, child.name], lengths)
        elif isinstance(child, ast.ClassDef):
            _collect(child, path, [*scope, child.name], lengths)
        else:
            _collect(child, path, scope, lengths)


def test_no_function_over_the_limit_mixes_ideas() -> None:
    lengths = function_lengths()
    long = {name: n for name, n in lengths.items() if n > LIMIT and name not in ONE_IDEA_AS_DATA}
    assert not long, (
        f"functions over {LIMIT} lines: split them into named steps, or list them in "
        f"ONE_IDEA_AS_DATA with the reason their length is one idea: "
        + ", ".join(f"{name} ({n})" for name, n in sorted(long.items(), key=lambda x: -x[1]))
    )


def test_every_listed_exception_is_still_long() -> None:
    lengths = function_lengths()
    stale = [name for name in ONE_IDEA_AS_DATA if lengths.get(name, 0) <= LIMIT]
    assert not stale, f"no longer over {LIMIT} lines (or gone): remove from the list: {stale}"


def test_the_measure_counts_a_long_function_and_skips_its_docstring() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    source = f'def f():\n    """One.\n\n    Two.\n    """\n{body}\n'
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    assert _body_length(function) == LIMIT + 1
    lengths: dict[str, int] = {}
    _collect(
        ast.parse(f"class C:\n    {source.replace(chr(10), chr(10) + '    ')}"), "m.py", [], lengths
    )
    assert lengths == {"m.py::C.f": LIMIT + 1}
