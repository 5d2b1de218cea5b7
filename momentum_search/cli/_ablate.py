"""`ablate`: the study set that asks whether a momentum cell's gains come from momentum."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import JsonOption, StorageOption, fail, os_error, parse_pairs, reported, study_errors


def ablate(
    task: Annotated[str, typer.Option(help="Task, e.g. pdigits or adding.")],
    cell: Annotated[str, typer.Option(help="The momentum kind to dissect, e.g. momentum-lstm.")],
    name: Annotated[
        Optional[str], typer.Option(help="Name of the study set (default: ablate-TASK-CELL); its studies are NAME.ARM.")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds every arm trains on (0..k-1); verdicts need ≥ 2.")] = 3,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per seed (default: the task's).")] = None,
    mu: Annotated[
        Optional[list[float]], typer.Option(help="μ of a momentum arm at the held gain (repeatable; default 0.3 0.6 0.9).")
    ] = None,
    gain: Annotated[Optional[float], typer.Option(help="Hold this gain g = s/(1−μ) instead of searching (μ, g) for it.")] = None,
    search_trials: Annotated[int, typer.Option(help="Trials of the (μ, g) search that picks the gain.")] = 16,
    task_param: Annotated[list[str], typer.Option(help="Task parameter KEY=VALUE (repeatable).")] = [],
    fixed: Annotated[
        list[str], typer.Option("--set", help="Trainer setting for every arm, KEY=VALUE (repeatable), e.g. hidden_size=64.")
    ] = [],
    optimizer: Annotated[
        Optional[str], typer.Option(help="One optimiser for every arm alike (sgd, adam, rmsprop); default the task's.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local workers of the search; arms run one at a time on every core.")] = 1,
    method: Annotated[str, typer.Option(help="Confidence intervals: welch or bootstrap.")] = "welch",
    storage: StorageOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML report to write (default: NAME.html).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the study set that asks whether a momentum cell's gains come from momentum, and give verdicts.

    Arms: the plain cell; the plain cell with its input scaled by the gain g (μ = 0, s = g); the
    momentum cell at each μ with g held; learnable momentum; the chrono-initialised plain cell.
    Running it again resumes the set and writes the report again.
    """
    from momentum_search import dashboards, studies

    if method not in dashboards.METHODS:
        fail(f"--method must be {' or '.join(dashboards.METHODS)}, got {method!r}")
    settings = parse_pairs(fixed, "--set")
    if optimizer is not None:
        if "optimizer" in settings:
            fail("give the optimiser with --optimizer or --set optimizer=..., not both")
        settings["optimizer"] = optimizer  # the trainer's own check names the allowed values
    with reported():
        plan = studies.plan_ablation(
            task=task,
            cell=cell,
            name=name,
            task_params=parse_pairs(task_param, "--task-param"),
            seeds=seeds,
            epochs=epochs,
            fixed=settings,
            mus=mu or studies.DEFAULT_MUS,
            search_trials=search_trials,
        )
    try:
        with reported(*study_errors(), LookupError):
            with render.live_progress() as on_progress:
                run = studies.run_ablation(
                    plan,
                    storage=storage,
                    gain=gain,
                    workers=workers,
                    on_start=lambda arm: render.note(f"{arm.spec.name}: {arm.label}"),
                    on_progress=on_progress,
                )
            info = dashboards.get_ablation_info(studies.open_storage(storage), plan.name, method=method)
    except KeyboardInterrupt:
        render.err_console.print(f"interrupted: run the same command to resume the set {plan.name}", highlight=False)
        raise typer.Exit(code=130) from None
    out = out or Path(f"{plan.name}.html")
    with os_error(f"cannot write {out}"):
        dashboards.write_ablation_report(info, out)
    times = [dashboards.compare_times(arm, reference, unit="epochs") for arm, reference in info.times]
    render.ablation(info, gain=run.gain, gain_source=run.gain_source, times=times, out=out, as_json=as_json)
    errors = [message for _, result in run.launches for message in result.errors]
    for message in errors:
        render.error(message)
    if errors:
        raise typer.Exit(code=1)
