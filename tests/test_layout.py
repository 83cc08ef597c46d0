"""The packages' import graph has no cycle, counting imports inside functions too.

A late import inside a function hides a circle from Python at load time, not from a reader: the modules
still depend on each other. Each import is an edge to the most specific module it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("converso", "crm_tools")


def _module_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found = []
        for alias in node.names:
            # `from pkg import sub` imports the module pkg.sub when there is one.
            candidate = f"{node.module}.{alias.name}"
            found.append(candidate if candidate in modules else node.module)
        return [name for name in found if name in modules]
    return []


def import_graph() -> dict[str, set[str]]:
    modules = _module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            graph[name].update(target for target in _imported(node, modules) if target != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_in_either_package() -> None:
    assert cycles(import_graph()) == []


def test_the_engine_never_imports_the_crm() -> None:
    graph = import_graph()
    offending = {
        name: sorted(target for target in targets if target.startswith("crm_tools"))
        for name, targets in graph.items()
        if name.startswith("converso")
    }
    assert {name: targets for name, targets in offending.items() if targets} == {}


@pytest.mark.parametrize(
    ("engine_module"), [name for name in import_graph() if name.startswith("converso.form_agent")]
)
def test_the_engine_needs_no_surface(engine_module: str) -> None:
    surfaces = ("converso.cli", "converso.server", "converso.testing")
    assert not [target for target in import_graph()[engine_module] if target.startswith(surfaces)]
