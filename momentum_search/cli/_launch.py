"""`launch`, `worker` and `confirm`: the commands that train a study's trials."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import JsonOption, StorageOption, fail, reported


def launch(
    spec_file: Annotated[Optional[Path], typer.Argument(metavar="SPEC", help="Study spec (YAML).")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Launch a shipped preset instead (see `presets`).")] = None,
    study: Annotated[Optional[str], typer.Option(help="Study name (default: the spec's); alone, resumes that study.")] = None,
    storage: StorageOption = None,
    trials: Annotated[Optional[int], typer.Option(help="Total trials, earlier launches' finished ones included.")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds after which no new trial starts.")] = None,
    workers: Annotated[
        int, typer.Option(help="Local workers (one runs here, more as processes); the cores are split among them.")
    ] = 1,
    engine: Annotated[
        str, typer.Option(help="optuna (local workers, or `worker` on other machines) or ray (Ray Tune).")
    ] = "optuna",
    ray_address: Annotated[
        Optional[str], typer.Option(help="Ray only: a running cluster (e.g. 127.0.0.1:6379); default a local runtime.")
    ] = None,
    cpus_per_trial: Annotated[
        Optional[int], typer.Option(help="Ray only: CPUs per trial, also its torch threads (default 1).")
    ] = None,
    gpus_per_trial: Annotated[
        Optional[float], typer.Option(help="Ray only: GPUs per trial; fractions share one (default 0).")
    ] = None,
) -> None:
    """Create (or resume) a study and run it until its budget of trials is spent."""
    from momentum_search import studies

    if spec_file is not None and preset is not None:
        fail("give a spec file or --preset, not both")
    with reported():
        spec = (
            studies.load_spec(spec_file) if spec_file is not None else studies.load_preset(preset) if preset is not None else None
        )
        with render.live_progress() as on_progress:
            result = studies.launch(
                spec,
                study=study,
                storage=storage,
                trials=trials,
                timeout=timeout,
                workers=workers,
                engine=engine,  # type: ignore[arg-type]
                ray_address=ray_address,
                cpus_per_trial=cpus_per_trial,
                gpus_per_trial=gpus_per_trial,
                on_progress=on_progress,
            )
    if spec is not None:  # after the launch, so that a refused one prints its error alone
        render.task_inferred(spec.task, spec.task_params)
    render.launched(result)
    render.best(studies.show_study(result.study, storage=storage))
    errors, interrupted = list(result.errors), result.interrupted
    confirmed = result.confirmation
    if confirmed is not None:
        render.confirmation(confirmed.confirmation)
        if confirmed.launch is not None:
            errors += confirmed.launch.errors
            interrupted = interrupted or confirmed.launch.interrupted
    _end_of_run(errors, interrupted, hint=f"run `momentum-search launch --study {result.study}` to resume")


def _end_of_run(errors: list[str], interrupted: bool, *, hint: str) -> None:
    """The workers' errors, one line each; exit 130 if interrupted (with ``hint``: how to go on), 1 on errors."""
    for message in errors:
        render.error(message)
    if interrupted:
        render.err_console.print(f"interrupted: {hint}", highlight=False)
        raise typer.Exit(code=130)
    if errors:
        raise typer.Exit(code=1)


def worker(
    study: Annotated[str, typer.Option(help="Name of the study to work on.")],
    storage: StorageOption = None,
    threads: Annotated[Optional[int], typer.Option(help="Torch threads (default: torch's).")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds after which no new trial starts.")] = None,
) -> None:
    """Run the waiting trials of a launched study from this shell or machine, until none are left."""
    from momentum_search import studies

    try:
        with reported():
            ran = studies.run_worker(study, storage=storage, threads=threads, timeout=timeout)
    except KeyboardInterrupt:
        render.err_console.print("interrupted: the current trial is failed and queued again", highlight=False)
        raise typer.Exit(code=130) from None
    render.console.print(f"worker ran {ran} trials of study {study}", highlight=False)


def confirm(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    top: Annotated[
        Optional[int], typer.Option(help="Confirm the best K configurations (default: the spec's confirm.top, else 3).")
    ] = None,
    seeds: Annotated[
        Optional[int], typer.Option(help="Held-out seeds per configuration (default: the spec's confirm.seeds, else 5).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Local workers, as for launch.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Retrain the best configurations, each cell kind's best and the baselines on held-out seeds.

    Held-out seeds are seeds no search trial used (1000, 1001, ...). What is confirmed already trains
    nothing; every view then leads with the confirmed values, their 95 % intervals and verdicts.
    """
    from momentum_search import studies

    with reported(), render.live_progress() as on_progress:
        result = studies.confirm(study, storage=storage, top=top, seeds=seeds, workers=workers, on_progress=on_progress)
    render.confirmed(study, result.queued, result.confirmation, as_json=as_json)
    if result.launch is not None:
        _end_of_run(result.launch.errors, result.launch.interrupted, hint=f"run `momentum-search confirm {study}` to go on")
