"""The import graph of `scoring_api` and `credit_assets`, read from the source: no module is on
an import cycle, the platform's packages import one another one way only (as the README's
architecture section lists them), and nothing the scoring API imports, however indirectly,
imports dagster.

Every `import x` and `from x import y` counts, inside functions too (a lazy import still
runs); what sits under `if TYPE_CHECKING:` does not (it never runs). An import names the
longest project module it reaches: `from pkg import mod` is `pkg.mod`, `from pkg import name`
is `pkg`. Packages a module sits in are not edges for the cycle check (Python runs them
first, whoever imports them), but they are for dagster: importing `a.b.c` runs `a` and `a.b`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGES = ("scoring_api", "credit_assets")
Graph = dict[str, set[str]]


def project_modules() -> dict[str, Path]:
    """Every module under PACKAGES by dotted name (a package by its own name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    """Dotted names a module's imports can bind: `x` for `import x`; for `from x import y`
    both `x` and `x.y` (y may be a submodule). Relative imports resolved against `module`."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph() -> tuple[Graph, Graph]:
    """(module -> the project modules it imports, module -> the top-level outside packages)."""
    modules = project_modules()
    internal: Graph = {}
    external: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        internal[name], external[name] = set(), set()
        for imported in imported_names(tree, name, path.name == "__init__.py"):
            parts = imported.split(".")
            if parts[0] not in PACKAGES:
                external[name].add(parts[0])
                continue
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                internal[name].add(".".join(parts))
    return internal, external


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Tarjan's components with more than one module: every import cycle lies in one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def path_between(graph: Graph, start: str, goal: str, within: set[str]) -> list[str]:
    """A shortest import chain start -> ... -> goal through `within` (breadth first)."""
    previous: dict[str, str] = {}
    frontier, seen = [start], {start}
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & within):
                if target == goal:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), goal]
                if target not in seen:
                    seen.add(target)
                    previous[target] = node
                    following.append(target)
        frontier = following
    return []


def described(graph: Graph, components: list[list[str]]) -> str:
    """Each component as one of its cycles, `a -> b -> a`, and all its modules."""
    lines = []
    for component in components:
        first = component[0]
        cycle = path_between(graph, first, first, set(component))
        lines.append(" -> ".join(cycle) + f"\n    (all on cycles together: {', '.join(component)})")
    return "\n".join(lines)


ROOT_PACKAGES = ("credit_assets", "credit_assets.core", "credit_assets.defs")


def unit_of(module: str) -> str:
    """The part of the house a module belongs to: `core/<name>` and `defs/<name>` (a package
    or a module), `scoring_api`, or a module of credit_assets by its name (`cli`)."""
    parts = module.split(".")
    if parts[0] == "scoring_api":
        return "scoring_api"
    if parts[1] in ("core", "defs"):
        return f"{parts[1]}/{parts[2]}"
    return parts[1]


def unit_graph(internal: Graph) -> Graph:
    """part -> the other parts it imports (the root packages' `__init__`s are nobody's)."""
    graph: Graph = {}
    for module, targets in internal.items():
        if module in ROOT_PACKAGES:
            continue
        source = unit_of(module)
        graph.setdefault(source, set())
        graph[source] |= {unit_of(t) for t in targets if t not in ROOT_PACKAGES} - {source}
    return graph


def readme_arrows() -> Graph:
    """The README's architecture block, one `unit -> a, b` line per part (`-> nothing`)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    marker = "<!-- architecture: checked by tests/test_architecture.py -->"
    block = text[text.index(marker) :].split("```")[1]
    graph: Graph = {}
    for line in block.splitlines()[1:]:  # the first line is the fence's language
        if "->" in line:
            unit, _, targets = line.partition("->")
            graph[unit.strip()] = {t.strip() for t in targets.split(",")} - {"nothing", ""}
    return graph


def test_the_platforms_parts_import_one_another_one_way_only() -> None:
    graph = unit_graph(import_graph()[0])
    components = strongly_connected(graph)
    assert not components, "two-way arrows between parts:\n" + described(graph, components)


def test_the_readme_architecture_section_lists_every_arrow_there_is() -> None:
    assert readme_arrows() == unit_graph(import_graph()[0])


def test_the_reader_counts_lazy_and_relative_imports_but_not_type_checking_ones() -> None:
    source = """
from typing import TYPE_CHECKING
from . import sibling
from ..core import thing
import scoring_api.errors
if TYPE_CHECKING:
    from scoring_api.services import Services
else:
    from scoring_api.schemas import Health
def later():
    from scoring_api.services.pool import Connections
"""
    names = imported_names(ast.parse(source), "scoring_api.routes.health", is_package=False)
    assert {
        "scoring_api.routes.sibling",
        "scoring_api.core.thing",
        "scoring_api.errors",
        "scoring_api.schemas.Health",
        "scoring_api.services.pool.Connections",
    } <= names
    assert not any(name.startswith("scoring_api.services.Services") for name in names)
    assert "scoring_api.services" not in names


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert described(graph, components).splitlines()[0] == "a -> b -> c -> a"


def test_the_graph_covers_every_module_and_the_imports_inside_functions() -> None:
    internal, external = import_graph()
    assert {"scoring_api.main", "scoring_api.services.callers", "credit_assets.cli"} <= set(
        internal
    )
    assert "scoring_api.fastpath" in internal["scoring_api.main"]
    assert "scoring_api.serve" in internal["credit_assets.cli"]  # imported inside a command
    assert "asyncpg" in external["scoring_api.services.pool"]  # imported on first connect


def test_no_scoring_api_module_is_on_an_import_cycle() -> None:
    internal, _ = import_graph()
    components = [
        c for c in strongly_connected(internal) if any(m.startswith("scoring_api") for m in c)
    ]
    assert not components, "import cycles through scoring_api:\n" + described(internal, components)


def test_no_module_at_all_is_on_an_import_cycle() -> None:
    internal, _ = import_graph()
    components = strongly_connected(internal)
    assert not components, "import cycles:\n" + described(internal, components)


def test_nothing_the_scoring_api_imports_imports_dagster() -> None:
    internal, external = import_graph()

    def packages_of(module: str) -> set[str]:
        """The module and the packages it sits in: importing it runs them all."""
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & internal.keys()

    root = "<the scoring API>"
    runs: Graph = {
        module: set().union(packages_of(module), *(packages_of(t) for t in targets)) - {module}
        for module, targets in internal.items()
    }
    runs[root] = {m for m in internal if m.split(".")[0] == "scoring_api"}
    reached, frontier = {root}, [root]
    while frontier:
        for target in runs[frontier.pop()] - reached:
            reached.add(target)
            frontier.append(target)
    offenders = sorted(
        module
        for module in reached - {root}
        if any(name == "dagster" or name.startswith("dagster_") for name in external[module])
    )
    chains = [" -> ".join(path_between(runs, root, m, reached)[1:]) for m in offenders]
    assert not offenders, "the scoring API reaches dagster through:\n" + "\n".join(chains)


def test_no_export_is_shadowed_by_a_submodule_of_the_same_name() -> None:
    """Importing `pkg.name` for the first time rebinds `pkg.name` to the module: a function the
    package exports under that name (`compliance.lda_search`, before `lda_discovery` was
    renamed) then becomes a module for every later caller. Every submodule imported, every
    name a package exports is still what it exported."""
    import importlib
    import pkgutil
    import types

    import credit_assets
    import scoring_api

    for root in (credit_assets, scoring_api):
        for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            if ".migrations" not in info.name:  # alembic's env scripts run only under alembic
                importlib.import_module(info.name)
    shadowed = []
    for root in (credit_assets, scoring_api):
        for info in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            if not info.ispkg:
                continue
            package = importlib.import_module(info.name)
            for name in getattr(package, "__all__", []):
                if isinstance(getattr(package, name, None), types.ModuleType):
                    shadowed.append(f"{info.name}.{name}")
    assert not shadowed, shadowed
