"""`studies list|show|delete`: read a storage's studies, or delete one."""

from __future__ import annotations

from typing import Annotated

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import JsonOption, StorageOption, reported

studies_app = typer.Typer(help="List, show and delete the studies in a storage.", no_args_is_help=True)


@studies_app.command("list")
def studies_list(storage: StorageOption = None, as_json: JsonOption = False) -> None:
    """List the studies in the storage."""
    from momentum_search import studies

    with reported():
        summaries = studies.list_studies(storage)
    render.study_list(summaries, location=studies.mask_url(studies.resolve_url(storage)), as_json=as_json)


@studies_app.command("show")
def studies_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    all_trials: Annotated[bool, typer.Option("--all", help="List every trial, also of a study of more than 500.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a study: its spec, budget, best trial(s) and its trials (the best 50 of a study of more than 500)."""
    from momentum_search import studies

    with reported():
        summary = studies.show_study(name, storage=storage, all_trials=all_trials)
    render.study(summary, as_json=as_json)


@studies_app.command("delete")
def studies_delete(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a study and all its trials."""
    from momentum_search import studies

    if not yes:
        typer.confirm(f"delete study {name!r} and all its trials?", abort=True, err=True)
    with reported():
        studies.delete_study(name, storage=storage)
    render.console.print(f"deleted study {name}", highlight=False)
