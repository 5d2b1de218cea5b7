"""`presets`: the study specs shipped with the package."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import JsonOption, reported


def presets(
    name: Annotated[Optional[str], typer.Argument(help="Print this preset's YAML (to copy and edit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the study presets shipped with the package, or print one."""
    from momentum_search import studies

    if name is None:
        render.presets(studies.list_presets(), as_json=as_json)
        return
    with reported(studies.SpecError):
        sys.stdout.write(studies.preset_text(name))
