"""The package's import graph, read from the source with ``ast``: every import counts, at any depth (a
deferred import or one for type checking only hides an edge, it does not remove it).

- Floors: a package imports only packages on floors below its own (cli > dashboards > studies > search >
  store > trainers); the package root's private helpers (``_lazy.py``, ``_quiet.py``) lie below them all.
- No circles between modules.
- A private module (``_x.py``) is imported only from inside the package that holds it, and a private
  name (``_x``) only from inside its own module.
- A dashboard figure's module never imports the report that assembles the figures.

(This replaces ``tests/dashboards/test_layout.py``, which checked the dashboards alone.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import momentum_search

ROOT = Path(momentum_search.__file__).parent
FLOORS = ("trainers", "store", "search", "studies", "dashboards", "cli")  # bottom to top
EXEMPT = {"momentum_search", "momentum_search.__main__"}  # the top: it may name what it exports from any floor


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, str | None]]:
    """Each module of the package that ``module`` imports, with the name taken from it (None: the module itself)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ._y import z
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:  # from momentum_search.cli import _render
                    yield f"{base}.{alias.name}", None
                elif base in MODULES:
                    yield base, alias.name


GRAPH = {module: {target for target, _ in _imports(module)} - {module} for module in MODULES}


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.index(parts[1]) if len(parts) > 1 and parts[1] in FLOORS else -1


def _upward() -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module not in EXEMPT
        for target in targets
        if target not in EXEMPT and _floor(target) > _floor(module)
    )


def _circles() -> list[str]:
    """The edges within each circle. Tarjan's strongly connected components: each of more than one module is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return sorted(f"{m} -> {t}" for circle in circles for m in circle for t in GRAPH[m] if t in circle)


def _crossing() -> list[str]:
    crossing = set()
    for module in MODULES:
        for target, name in _imports(module):
            private = [p for p in target.split(".") if p.startswith("_") and p != "__main__"]
            if private:
                owner = target.split(f".{private[0]}")[0]  # the package that holds the private module
                if module != owner and not module.startswith(f"{owner}."):
                    crossing.add(f"{module} -> {target}")
            if name is not None and name.startswith("_") and not name.startswith("__") and target != module:
                crossing.add(f"{module} -> {target}.{name}")
    return sorted(crossing)


def test_no_floor_imports_a_floor_above_it() -> None:
    assert _upward() == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _circles() == []


def test_private_modules_and_names_stay_in_their_package() -> None:
    assert _crossing() == []


def test_no_figure_imports_the_report_that_assembles_the_figures() -> None:
    # The figures share style and HTML helpers from modules of their own; only the dashboard launcher takes the report.
    report = "momentum_search.dashboards._report"
    takers = {module for module, targets in GRAPH.items() if report in targets}
    assert takers <= {"momentum_search.dashboards", "momentum_search.dashboards._dashboard"}  # its exports, the launcher
