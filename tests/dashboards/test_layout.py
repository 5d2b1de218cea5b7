"""The dashboards' modules import one another without a circle (deferred imports count: they only hide one),
and take from other packages only what those export."""

from __future__ import annotations

import ast
from pathlib import Path

import momentum_search.dashboards

PACKAGE = "momentum_search.dashboards"
ROOT = Path(momentum_search.dashboards.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Each module of the package (``_report``, ...; not ``__init__``, which lists them all) and every module
    its source imports, at any depth."""
    found: dict[str, set[str]] = {}
    for path in sorted(path for path in ROOT.glob("_*.py") if path.name != "__init__.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                if node.module == PACKAGE:  # `from momentum_search.dashboards import _html`
                    names |= {f"{PACKAGE}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        found[path.stem] = names
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    imports = _imports()
    within = {module: {name.removeprefix(f"{PACKAGE}.") for name in names} & set(imports) for module, names in imports.items()}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(within[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += within[module]
        return seen

    assert {module for module in within if module in reach(module)} == set()
    # The figures share style and HTML helpers from modules of their own, never from the report that assembles them.
    assert {module for module, names in within.items() if "_report" in names} <= {"_dashboard"}


def test_other_packages_are_used_through_their_exports() -> None:
    private = {
        (module, name)
        for module, names in _imports().items()
        for name in names
        if name.startswith("momentum_search.") and not name.startswith(f"{PACKAGE}.")
        and any(part.startswith("_") for part in name.split(".")[1:])
    }  # fmt: skip
    assert private == set()
