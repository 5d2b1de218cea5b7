"""The packages that export lazily (PEP 562, `_lazy.py`) export what they list, as the imports mypy reads
say: each name in `__all__` and `dir()`, and the same object as its module's."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

LAZY = ("momentum_search.trainers", "momentum_search.store", "momentum_search.studies", "momentum_search.dashboards")


def _imported(package: str) -> dict[str, tuple[str, str]]:
    """Every name the package's source imports from its own modules (or re-exports from the store): name → (module, attribute)."""
    tree = ast.parse(Path(importlib.import_module(package).__file__ or "").read_text())
    return {
        alias.asname or alias.name: (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith((f"{package}.", "momentum_search.store"))
        for alias in node.names
    }


@pytest.mark.parametrize("package", LAZY)
def test_every_listed_name_is_exported_as_its_module_has_it(package: str) -> None:
    module = importlib.import_module(package)
    imported = _imported(package)
    assert sorted(imported) == sorted(module.__all__)
    assert set(module.__all__) <= set(dir(module))
    for name, (source, attribute) in imported.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), attribute), name
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018


def test_the_studies_a_list_reads_leave_out_launch_and_ablation() -> None:
    # What the lazy package buys `studies list`: the storage, the spec and the lifecycle, not the rest.
    probe = "import sys; from momentum_search import studies; studies.list_studies; print(*sys.modules)"
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split())
    assert "momentum_search.studies._summary" in loaded
    left_out = {f"momentum_search.studies.{name}" for name in ("_launch", "_workers", "_ablation", "_export")} | {
        "momentum_search.store._proxy_server",
        "multiprocessing",
    }
    assert not left_out & loaded
