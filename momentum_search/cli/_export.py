"""`export`: a study's best configuration(s) as trainer configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
import yaml

from momentum_search.cli import _render as render
from momentum_search.cli._common import StorageOption, fail, os_error, reported, study_errors

if TYPE_CHECKING:
    from momentum_search.studies import ExportedConfig


def export(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(help="Export the best K trials.")] = 1,
    per_cell: Annotated[bool, typer.Option("--per-cell", help="Export each cell kind's best trial.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    out: Annotated[Optional[Path], typer.Option(help="File for one config; a folder (one file each) for several.")] = None,
) -> None:
    """Export the best configuration(s) as complete trainer configs that `train --config` retrains.

    Two-objective studies export their Pareto front.
    """
    from momentum_search import studies

    if fmt not in ("yaml", "json"):
        fail(f"--format must be yaml or json, got {fmt!r}")
    with reported(*study_errors(), studies.NothingToExportError):
        exported = studies.export_study(study, storage=storage, top=top, per_cell=per_cell)
    if out is None:
        if fmt == "json":
            render.print_json([item.document() for item in exported])
        else:
            sys.stdout.write("---\n".join(_document(item, fmt) for item in exported))
        return
    with os_error(f"cannot write {out}"):
        if len(exported) == 1 and out.suffix in (".yaml", ".yml", ".json"):
            out.write_text(_document(exported[0], fmt))
            written = [out]
        else:
            out.mkdir(parents=True, exist_ok=True)
            written = []
            for item in exported:
                path = out / f"{study}-trial{item.provenance['trial']}.{fmt}"
                path.write_text(_document(item, fmt))
                written.append(path)
    for path in written:
        render.line(f"wrote {path}")


def _document(item: ExportedConfig, fmt: str) -> str:
    """One exported config as a file's text: JSON, or YAML under a comment that says where it came from."""
    if fmt == "json":
        return json.dumps(item.document(), indent=2) + "\n"
    return item.comment() + yaml.safe_dump(item.document(), sort_keys=False, allow_unicode=True)
