"""The `momentum-search` command line: parse, call the library, print.

Heavy imports (torch, optuna, ray, plotly) happen inside the commands so that `--help` stays fast.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from momentum_search.trainers import TrainResult

app = typer.Typer(
    name="momentum-search",
    help="Measured hyperparameter search for the momentum coefficients of MomentumRNNs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a storage URL may hold a password
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit 1: the CLI's only way to report bad input."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error_message(exc: Exception) -> str:
    """One line for a bad-input exception; pydantic errors name the field."""
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)
    return str(exc)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {str(exc).splitlines()[0]}")
    if not isinstance(data, dict):
        fail(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    return data


# ---- train ------------------------------------------------------------------------------------

TRAIN_FIELDS = (
    "task", "cell", "mu", "s", "beta", "eps", "restart", "hidden_size", "num_layers", "init", "t_max", "forget_bias",
    "dtriv_k", "lr_orth",
    "optimizer", "lr", "batch_size", "epochs", "grad_clip", "seed", "threads", "device",
)  # fmt: skip


def _parse_task_params(pairs: list[str], option: str = "--task-param") -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option} takes KEY=VALUE, got {pair!r}")
        params[key] = yaml.safe_load(value)  # "50" -> 50, "true" -> True, "a.txt" -> "a.txt"
    return params


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0


def _result_table(results: list[TrainResult]) -> Table:
    first = results[0]
    table = Table(title=f"{first.config.cell} on {first.config.task}  ({first.metric}, {first.direction})")
    for column in ("seed", "best valid", "epoch", "test at best", "epochs run", "time [s]", "status"):
        table.add_column(escape(column), justify="right")  # escaped: rich reads "[s]" as strike-through markup
    for r in results:
        status = "diverged" if r.diverged else "stopped" if r.stopped else "ok"
        table.add_row(
            str(r.config.seed), f"{r.best_value:.4f}", str(r.best_epoch), f"{r.test_value:.4f}",
            str(r.epochs_run), f"{r.wall_time:.1f}", status,
        )  # fmt: skip
    if len(results) > 1:
        (vm, vs), (tm, ts) = (_mean_std([getattr(r, k) for r in results]) for k in ("best_value", "test_value"))
        table.add_section()
        table.add_row("mean ± std", f"{vm:.4f} ± {vs:.4f}", "", f"{tm:.4f} ± {ts:.4f}", "", "", "")
    return table


@app.command()
def train(
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML file of settings; options override it.")] = None,
    task: Annotated[Optional[str], typer.Option(help="copy, adding, digits, pdigits, mnist, pmnist, timit, ptb.")] = None,
    task_param: Annotated[list[str], typer.Option(help="Task parameter KEY=VALUE (repeatable), e.g. length=100.")] = [],
    data_dir: Annotated[Optional[Path], typer.Option(help="Data folder of mnist, pmnist, timit and ptb.")] = None,
    cell: Annotated[Optional[str], typer.Option(help="Cell kind, e.g. lstm, momentum-lstm, adam-gru, sr-exprnn.")] = None,
    mu: Annotated[Optional[float], typer.Option(help="Momentum μ, 0 ≤ μ < 1.")] = None,
    s: Annotated[Optional[float], typer.Option(help="Step size s > 0.")] = None,
    beta: Annotated[Optional[float], typer.Option(help="Adam/RMSProp β, 0 ≤ β < 1.")] = None,
    eps: Annotated[Optional[float], typer.Option(help="Adam/RMSProp ε > 0.")] = None,
    restart: Annotated[Optional[int], typer.Option(help="Restart frequency F ≥ 0 of sr and nesterov kinds (0: never).")] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help="Hidden units per layer.")] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="Stacked layers.")] = None,
    init: Annotated[Optional[str], typer.Option(help="paper, identity, pytorch, chrono (LSTM, GRU, JANET) or cayley (exprnn).")] = None,
    t_max: Annotated[Optional[float], typer.Option(help="Chrono's time scale T_max ≥ 2; default: the sequence length.")] = None,
    forget_bias: Annotated[Optional[float], typer.Option(help="LSTM forget-gate bias of the paper init (default 1; TIMIT -4).")] = None,
    dtriv_k: Annotated[Optional[int], typer.Option(help="exprnn: re-base U every K optimiser steps (default: never, K = ∞).")] = None,
    lr_orth: Annotated[Optional[float], typer.Option(help="exprnn: learning rate of the skew parameters (default: --lr).")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="rmsprop, adam or sgd.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs.")] = None,
    grad_clip: Annotated[Optional[float], typer.Option(help="Gradient-norm clip; 0 turns it off.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of initialisation and shuffling.")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Train on this many seeds, seed, seed+1, …; report mean ± std.")] = 1,
    threads: Annotated[Optional[int], typer.Option(help="Torch threads.")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu (default), cuda, cuda:1, …")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train one configuration and print its validation and test metric."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from momentum_search.trainers import TrainConfig, train as train_one

    settings = read_yaml(config_file) if config_file is not None else {}
    # An exported study config carries its trainer settings under "config", next to provenance.
    settings = dict(settings.get("config", settings))
    given = {name: value for name, value in locals().items() if name in TRAIN_FIELDS and value is not None}
    settings.update(given)
    task_params = {**settings.get("task_params", {}), **_parse_task_params(task_param)}
    if data_dir is not None:
        task_params["data_dir"] = str(data_dir)
    settings["task_params"] = task_params
    try:
        base = TrainConfig(**settings)
    except (ValidationError, ValueError, TypeError) as exc:
        fail(error_message(exc))

    results = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), console=err_console, transient=True, disable=as_json,
    ) as progress:  # fmt: skip
        for offset in range(seeds):
            config = base.model_copy(update={"seed": base.seed + offset})
            epochs_bar = progress.add_task(f"seed {config.seed} epochs", total=config.resolved().epochs, info="")
            batches_bar = progress.add_task("  batches", total=None, info="")

            def on_batch(index: int, total: int) -> None:
                progress.update(batches_bar, completed=index, total=total)

            def on_epoch(epoch: int, value: float) -> bool:
                progress.update(epochs_bar, completed=epoch, info=f"valid {value:.4f}")
                return False

            try:
                results.append(train_one(config, on_epoch=on_epoch, on_batch=on_batch))
            except (ValueError, FileNotFoundError) as exc:
                fail(error_message(exc))
            progress.remove_task(batches_bar)
            progress.remove_task(epochs_bar)

    if as_json:
        summary = {
            key: {name: v if math.isfinite(v) else None for name, v in zip(("mean", "std"), _mean_std([getattr(r, key) for r in results]))}
            for key in ("best_value", "test_value")
        }  # fmt: skip
        print_json({"metric": results[0].metric, "direction": results[0].direction, **summary, "runs": [r.to_dict() for r in results]})
    else:
        console.print(_result_table(results))


# ---- studies ----------------------------------------------------------------------------------

StorageOption = Annotated[
    Optional[str],
    typer.Option(
        "--storage",
        envvar="MOMENTUM_SEARCH_STORAGE",
        help="SQLAlchemy URL of the study storage; default sqlite:///momentum-search.db in this folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
HostOption = Annotated[str, typer.Option(help="Address to bind; anything but localhost exposes the studies to the network.")]

studies_app = typer.Typer(help="List, show and delete the studies in a storage.", no_args_is_help=True)
app.add_typer(studies_app, name="studies")


def _study_errors() -> tuple[type[Exception], ...]:
    from momentum_search.studies import SpecError, StorageError, StudyNotFoundError

    return (SpecError, StorageError, StudyNotFoundError, ValueError)


def _format_values(values: list[float] | None) -> str:
    if not values:
        return "–"
    return " / ".join(f"{v:.4g}" for v in values)


def _format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _progress_view(progress: Any) -> Table:
    counts = progress.counts
    view = Table.grid()
    view.add_row(
        f"{progress.study}: {counts.finished}/{progress.budget} finished ({counts.complete} complete, "
        f"{counts.pruned} pruned), {counts.failed} failed, best {_format_values(progress.best_values)}, "
        f"{progress.elapsed:.0f} s"
    )
    if progress.running:
        running = Table(box=None, header_style="bold")
        for column in ("running", "cell", "parameters", "epoch", "valid"):
            running.add_column(column, justify="left" if column in ("cell", "parameters") else "right")
        for trial in progress.running:
            params = dict(trial.params)
            running.add_row(
                "–" if trial.number is None else str(trial.number), str(params.pop("cell", "…")), _format_params(params),
                "–" if trial.epoch is None else str(trial.epoch), "–" if trial.value is None else f"{trial.value:.4g}",
            )  # fmt: skip
        view.add_row(running)
    return view


# Rich lays out every cell of a table (about 1 ms a row here, 15 s for 10,000 trials), so longer trial lists
# print as plain aligned columns.
RICH_TABLE_ROWS = 500
_NUMERIC_COLUMNS = ("trial", "epochs", "time [s]")


def _trial_columns(metric: str, rows: list[Any]) -> list[str]:
    columns = ["trial", "state", "cell", "parameters", f"{metric} ± std", "test", "epochs", "time [s]"]
    return columns + ["reason"] if any(row.reason for row in rows) else columns


def _trial_cells(row: Any, reasons: bool) -> list[str]:
    value = _format_values(row.values)
    if row.values is not None and row.value_std:
        value += f" ± {row.value_std:.2g}"
    cells = [
        str(row.number), row.state.lower(), row.cell or "–", _format_params(row.params), value,
        "–" if row.test_value is None else f"{row.test_value:.4g}",
        "–" if row.epochs_run is None else str(row.epochs_run),
        "–" if row.wall_time is None else f"{row.wall_time:.1f}",
    ]  # fmt: skip
    return cells + [row.reason or ""] if reasons else cells


def _trial_table(title: str, rows: list[Any], metric: str) -> Table:
    table = Table(title=title, title_justify="left")
    columns = _trial_columns(metric, rows)
    for column in columns:
        # Only short numbers refuse to wrap: on a narrow terminal the text columns share the width
        # instead of the parameters being squeezed to nothing.
        numeric = column in _NUMERIC_COLUMNS
        table.add_column(escape(column), justify="right" if numeric else "left", no_wrap=numeric)  # "[s]" is markup
    for row in rows:
        table.add_row(*(escape(cell) for cell in _trial_cells(row, "reason" in columns)))
    return table


def _print_trials(title: str, rows: list[Any], metric: str) -> None:
    if len(rows) <= RICH_TABLE_ROWS:
        console.print(_trial_table(title, rows, metric))
        return
    columns = _trial_columns(metric, rows)
    lines = [columns] + [_trial_cells(row, "reason" in columns) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    aligned = (
        "  ".join(cell.rjust(w) if c in _NUMERIC_COLUMNS else cell.ljust(w) for c, cell, w in zip(columns, line, widths))
        for line in lines
    )
    typer.echo("\n".join([title, *(line.rstrip() for line in aligned)]))


def _print_best(summary: Any) -> None:
    if len(summary.best) == 1 and len(summary.directions) == 1:
        best = summary.best[0]
        spread = f" ± {best.value_std:.2g}" if best.value_std else ""
        test = "" if best.test_value is None else f" (test {best.test_value:.4g})"
        params = f", {_format_params(best.params)}" if best.params else ""
        console.print(
            f"search best (optimistic: the best of the search's runs): trial {best.number}, {best.cell}{params}: "
            f"{summary.metric} {_format_values(best.values)}{spread}{test}",
            highlight=False,
        )
    elif summary.best:
        title = "Pareto front" if len(summary.directions) > 1 else "best (tied)"
        _print_trials(title, summary.best, summary.metric)


def _best_cell(summary: Any) -> str:
    """The best value for `studies list`: confirmed, with its interval, or marked as the search's."""
    if not summary.best or summary.confirmation is None:  # nothing yet, two objectives, or itself a confirmation
        return _format_values(summary.best[0].values) if summary.best else "–"
    top = summary.confirmation.with_role("top 1")
    if top is not None and top.confirmed and top.interval is not None:
        low, high = top.interval
        return f"{top.mean:.4g} [{low:.4g}, {high:.4g}] ({len(top.seeds)} held-out seeds)"
    return f"{_format_values(summary.best[0].values)} (search, not confirmed)"


def _confirmation_info(confirmation: Any) -> Any:
    from momentum_search import dashboards

    return None if confirmation is None else dashboards.get_confirmation_info(confirmation)


def _print_confirmation(info: Any) -> None:
    """The candidates on held-out seeds with intervals and verdicts; or why their values are optimistic."""
    from momentum_search import dashboards

    console.print(escape(dashboards.headline(info)), highlight=False)
    table = Table(title="confirmation (held-out seeds)", title_justify="left")
    for column in dashboards.confirmation_columns(info):
        table.add_column(escape(column))
    for row in dashboards.confirmation_cells(info):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    for verdict in info.verdicts:
        console.print(f"- {escape(verdict.sentence)}", highlight=False)


@app.command()
def launch(
    spec_file: Annotated[Optional[Path], typer.Argument(metavar="SPEC", help="Study spec (YAML).")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Launch a shipped preset instead (see `presets`).")] = None,
    study: Annotated[Optional[str], typer.Option(help="Study name (default: the spec's); alone, resumes that study.")] = None,
    storage: StorageOption = None,
    trials: Annotated[Optional[int], typer.Option(help="Total trials, earlier launches' finished ones included.")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds after which no new trial starts.")] = None,
    workers: Annotated[int, typer.Option(help="Local workers (one runs here, more as processes); the cores are split among them.")] = 1,
    engine: Annotated[str, typer.Option(help="optuna (local workers, or `worker` on other machines) or ray (Ray Tune).")] = "optuna",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray only: a running cluster (e.g. 127.0.0.1:6379); default a local runtime.")] = None,
    cpus_per_trial: Annotated[Optional[int], typer.Option(help="Ray only: CPUs per trial, also its torch threads (default 1).")] = None,
    gpus_per_trial: Annotated[Optional[float], typer.Option(help="Ray only: GPUs per trial; fractions share one (default 0).")] = None,
) -> None:
    """Create (or resume) a study and run it until its budget of trials is spent."""
    from rich.live import Live

    from momentum_search import studies

    if spec_file is not None and preset is not None:
        fail("give a spec file or --preset, not both")
    try:
        spec = (
            studies.load_spec(spec_file) if spec_file is not None
            else studies.load_preset(preset) if preset is not None
            else None
        )  # fmt: skip
        with Live(console=err_console, transient=True, refresh_per_second=4) as live:
            result = studies.launch(
                spec, study=study, storage=storage, trials=trials, timeout=timeout, workers=workers,
                engine=engine, ray_address=ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,  # type: ignore[arg-type]
                on_progress=lambda progress: live.update(_progress_view(progress)),
            )  # fmt: skip
    except _study_errors() as exc:
        fail(str(exc))
    counts = result.progress.counts
    verb = "resumed" if result.resumed else "created"
    ran_on = (
        f"Ray: {result.workers} trial(s) at once × {result.threads} CPU(s)" if result.engine == "ray"
        else f"{result.workers} worker(s) × {result.threads} thread(s)"
    )  # fmt: skip
    console.print(
        f"study [bold]{result.study}[/] ({verb}) in {result.storage}: {counts.finished}/{result.progress.budget} "
        f"finished ({counts.complete} complete, {counts.pruned} pruned), {counts.failed} failed, "
        f"{ran_on}, {result.progress.elapsed:.0f} s",
        highlight=False,
    )
    summary = studies.show_study(result.study, storage=storage)
    _print_best(summary)
    errors, interrupted = list(result.errors), result.interrupted
    confirmed = result.confirmation
    if confirmed is not None:
        _print_confirmation(_confirmation_info(confirmed.confirmation))
        if confirmed.launch is not None:
            errors += confirmed.launch.errors
            interrupted = interrupted or confirmed.launch.interrupted
    _end_of_run(errors, interrupted, hint=f"run `momentum-search launch --study {result.study}` to resume")


def _end_of_run(errors: list[str], interrupted: bool, *, hint: str) -> None:
    """The workers' errors, one line each; exit 130 if interrupted (with ``hint``: how to go on), 1 on errors."""
    for message in errors:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if interrupted:
        err_console.print(f"interrupted: {hint}", highlight=False)
        raise typer.Exit(code=130)
    if errors:
        raise typer.Exit(code=1)


@app.command()
def worker(
    study: Annotated[str, typer.Option(help="Name of the study to work on.")],
    storage: StorageOption = None,
    threads: Annotated[Optional[int], typer.Option(help="Torch threads (default: torch's).")] = None,
    timeout: Annotated[Optional[float], typer.Option(help="Seconds after which no new trial starts.")] = None,
) -> None:
    """Run the waiting trials of a launched study from this shell or machine, until none are left."""
    from momentum_search import studies

    try:
        ran = studies.run_worker(study, storage=storage, threads=threads, timeout=timeout)
    except KeyboardInterrupt:
        err_console.print("interrupted: the current trial is failed and queued again", highlight=False)
        raise typer.Exit(code=130) from None
    except _study_errors() as exc:
        fail(str(exc))
    console.print(f"worker ran {ran} trials of study {study}", highlight=False)


@app.command()
def confirm(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    top: Annotated[Optional[int], typer.Option(help="Confirm the best K configurations (default: the spec's confirm.top, else 3).")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="Held-out seeds per configuration (default: the spec's confirm.seeds, else 5).")] = None,
    workers: Annotated[int, typer.Option(help="Local workers, as for launch.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Retrain the best configurations, each cell kind's best and the baselines on held-out seeds.

    Held-out seeds are seeds no search trial used (1000, 1001, ...). What is confirmed already trains
    nothing; every view then leads with the confirmed values, their 95 % intervals and verdicts.
    """
    from rich.live import Live

    from momentum_search import studies

    try:
        with Live(console=err_console, transient=True, refresh_per_second=4) as live:
            result = studies.confirm(study, storage=storage, top=top, seeds=seeds, workers=workers,
                                     on_progress=lambda progress: live.update(_progress_view(progress)))  # fmt: skip
    except _study_errors() as exc:
        fail(str(exc))
    info = _confirmation_info(result.confirmation)
    if as_json:
        from momentum_search import dashboards

        print_json({"trained": result.queued, **dashboards.confirmation_json(info)})
    else:
        trained = (f"trained {result.queued} configuration(s) on {len(info.held_out)} held-out seeds" if result.queued
                   else "nothing to train: every candidate is confirmed or queued already")  # fmt: skip
        console.print(f"study [bold]{escape(study)}[/]: {trained}", highlight=False)
        _print_confirmation(info)
    if result.launch is not None:
        _end_of_run(result.launch.errors, result.launch.interrupted, hint=f"run `momentum-search confirm {study}` to go on")


@app.command()
def presets(
    name: Annotated[Optional[str], typer.Argument(help="Print this preset's YAML (to copy and edit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the study presets shipped with the package, or print one."""
    from momentum_search import studies

    if name is not None:
        try:
            sys.stdout.write(studies.preset_text(name))
        except studies.SpecError as exc:
            fail(str(exc))
        return
    infos = studies.list_presets()
    if as_json:
        print_json([info.__dict__ for info in infos])
        return
    table = Table(title="presets (launch with --preset NAME)", title_justify="left")
    for column in ("name", "task", "cells", "trials", "description"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name, info.task, ", ".join(info.cells), str(info.trials), info.description)
    console.print(table)


@studies_app.command("list")
def studies_list(storage: StorageOption = None, as_json: JsonOption = False) -> None:
    """List the studies in the storage."""
    from momentum_search import studies

    try:
        summaries = studies.list_studies(storage)
    except _study_errors() as exc:
        fail(str(exc))
    if as_json:
        print_json([summary.to_json(with_trials=False) for summary in summaries])
        return
    table = Table(title=f"studies in {studies.mask_url(studies.resolve_url(storage))}", title_justify="left")
    for column in ("name", "task", "cells", "finished", "failed", "pending", "best"):
        table.add_column(column)
    for summary in summaries:
        counts = summary.counts
        table.add_row(
            summary.name, summary.task, ", ".join(summary.cells), f"{counts.finished}/{summary.budget}",
            str(counts.failed), str(counts.pending), escape(_best_cell(summary)),
        )  # fmt: skip
    console.print(table)


@studies_app.command("show")
def studies_show(name: Annotated[str, typer.Argument(help="Study name.")], storage: StorageOption = None,
                 as_json: JsonOption = False) -> None:  # fmt: skip
    """Show a study: its spec, budget, best trial(s) and every trial."""
    from momentum_search import studies

    try:
        summary = studies.show_study(name, storage=storage)
    except _study_errors() as exc:
        fail(str(exc))
    info = _confirmation_info(summary.confirmation)
    if as_json:
        from momentum_search import dashboards

        print_json({**summary.to_json(with_trials=True), "confirmation": info and dashboards.confirmation_json(info)})
        return
    counts = summary.counts
    console.print(
        f"study [bold]{summary.name}[/]: {summary.task}, cells {', '.join(summary.cells)}, "
        f"{summary.metric} ({' / '.join(summary.directions)}); {counts.finished}/{summary.budget} finished "
        f"({counts.complete} complete, {counts.pruned} pruned), {counts.failed} failed, {counts.pending} pending",
        highlight=False,
    )
    if info is not None:
        _print_confirmation(info)
    _print_best(summary)
    _print_trials("trials", summary.trials, summary.metric)


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
    try:
        studies.delete_study(name, storage=storage)
    except _study_errors() as exc:
        fail(str(exc))
    console.print(f"deleted study {name}", highlight=False)


# ---- export -----------------------------------------------------------------------------------


@app.command()
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
    try:
        exported = studies.export_study(study, storage=storage, top=top, per_cell=per_cell)
    except (*_study_errors(), studies.NothingToExportError) as exc:
        fail(str(exc))

    def render(item: Any) -> str:
        if fmt == "json":
            return json.dumps(item.document(), indent=2) + "\n"
        return item.comment() + yaml.safe_dump(item.document(), sort_keys=False, allow_unicode=True)

    if out is None:
        if fmt == "json":
            print_json([item.document() for item in exported])
        else:
            sys.stdout.write("---\n".join(render(item) for item in exported))
        return
    try:
        if len(exported) == 1 and out.suffix in (".yaml", ".yml", ".json"):
            out.write_text(render(exported[0]))
            written = [out]
        else:
            out.mkdir(parents=True, exist_ok=True)
            written = []
            for item in exported:
                path = out / f"{study}-trial{item.provenance['trial']}.{fmt}"
                path.write_text(render(item))
                written.append(path)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    for path in written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)


# ---- figures ----------------------------------------------------------------------------------

GradientFlowOption = Annotated[
    bool,
    typer.Option(
        "--gradient-flow/--no-gradient-flow",
        help="Draw ‖∂L/∂h_t‖ over time for each cell kind's best config: one batch through the untrained model.",
    ),
]


@app.command()
def plot(
    study: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default: STUDY.html).")] = None,
    png: Annotated[Optional[Path], typer.Option("--png", metavar="DIR", help="Also write each figure as DIR/NAME.png (needs Chrome or Chromium).")] = None,
    gradient_flow: GradientFlowOption = True,
    axes: Annotated[Optional[str], typer.Option(help="Draw the drive scale as s or as gain, g = s/(1−μ) per trial (default: the one the study searched).")] = None,
) -> None:
    """Write a study's report: a summary table and every figure, in one HTML file that opens offline."""
    from momentum_search import dashboards

    # Check before the (possibly slow) report, not after it.
    if png is not None and dashboards.find_browser() is None:
        fail("--png needs Chrome or Chromium and none was found (install one, e.g. apt-get install chromium, or set BROWSER_PATH)")
    try:
        report = dashboards.report_study(study, storage=storage, gradient_flow=gradient_flow, axes=axes)  # type: ignore[arg-type]
    except _study_errors() as exc:
        fail(str(exc))
    out = out or Path(f"{study}.html")
    try:
        dashboards.write_html(report, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    drawn = [s for s in report.sections if s.figure is not None]
    console.print(f"wrote {out}: {len(drawn)} figures", highlight=False, soft_wrap=True)
    for section in report.sections:
        if section.figure is None:
            console.print(f"  not drawn: {section.title}: {section.reason}", highlight=False, soft_wrap=True)
    if png is not None:
        try:
            paths = dashboards.write_pngs(report, png)
        except (dashboards.BrowserNotFoundError, OSError) as exc:
            fail(str(exc))
        console.print(f"wrote {len(paths)} PNG files to {png}", highlight=False, soft_wrap=True)


@app.command()
def ablate(
    task: Annotated[str, typer.Option(help="Task, e.g. pdigits or adding.")],
    cell: Annotated[str, typer.Option(help="The momentum kind to dissect, e.g. momentum-lstm.")],
    name: Annotated[Optional[str], typer.Option(help="Name of the study set (default: ablate-TASK-CELL); its studies are NAME.ARM.")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds every arm trains on (0..k-1); verdicts need ≥ 2.")] = 3,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per seed (default: the task's).")] = None,
    mu: Annotated[Optional[list[float]], typer.Option(help="μ of a momentum arm at the held gain (repeatable; default 0.3 0.6 0.9).")] = None,
    gain: Annotated[Optional[float], typer.Option(help="Hold this gain g = s/(1−μ) instead of searching (μ, g) for it.")] = None,
    search_trials: Annotated[int, typer.Option(help="Trials of the (μ, g) search that picks the gain.")] = 16,
    task_param: Annotated[list[str], typer.Option(help="Task parameter KEY=VALUE (repeatable).")] = [],
    fixed: Annotated[list[str], typer.Option("--set", help="Trainer setting for every arm, KEY=VALUE (repeatable), e.g. hidden_size=64.")] = [],
    optimizer: Annotated[Optional[str], typer.Option(help="One optimiser for every arm alike (sgd, adam, rmsprop); default the task's.")] = None,
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
    from rich.live import Live

    from momentum_search import dashboards, studies

    if method not in dashboards.METHODS:
        fail(f"--method must be {' or '.join(dashboards.METHODS)}, got {method!r}")
    settings = _parse_task_params(fixed, "--set")
    if optimizer is not None:
        if "optimizer" in settings:
            fail("give the optimiser with --optimizer or --set optimizer=..., not both")
        settings["optimizer"] = optimizer  # the trainer's own check names the allowed values
    try:
        plan = studies.plan_ablation(
            task=task, cell=cell, name=name, task_params=_parse_task_params(task_param), seeds=seeds, epochs=epochs,
            fixed=settings, mus=mu or studies.DEFAULT_MUS, search_trials=search_trials,
        )  # fmt: skip
    except _study_errors() as exc:
        fail(str(exc))
    try:
        with Live(console=err_console, transient=True, refresh_per_second=4) as live:
            run = studies.run_ablation(
                plan, storage=storage, gain=gain, workers=workers,
                on_start=lambda arm: err_console.print(f"{arm.spec.name}: {arm.label}", highlight=False),
                on_progress=lambda progress: live.update(_progress_view(progress)),
            )  # fmt: skip
        info = dashboards.get_ablation_info(studies.open_storage(storage), plan.name, method=method)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run the same command to resume the set {plan.name}", highlight=False)
        raise typer.Exit(code=130) from None
    except (*_study_errors(), LookupError) as exc:
        fail(str(exc))
    out = out or Path(f"{plan.name}.html")
    try:
        dashboards.write_ablation_report(info, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    times = [dashboards.compare_times(arm, reference, unit="epochs") for arm, reference in info.times]
    if as_json:
        print_json({"name": info.name, "gain": run.gain, "gain_source": run.gain_source, "report": str(out),
                    "arms": [arm._asdict() for arm in info.arms], "verdicts": [v.__dict__ for v in info.verdicts],
                    "skipped": info.skipped, "time_to_plain": [v.__dict__ for v in times]})  # fmt: skip
        return
    table = Table(title=f"ablation {info.name}: test {info.metric} per arm, g = {run.gain:.4g} ({run.gain_source})",
                  title_justify="left")  # fmt: skip
    # The terminal gets the columns that decide; the report has them all (cell, validation values).
    shown = [0, 2, 3, 4, 6, 7, 9]
    if any(arm.state != "COMPLETE" for arm in info.arms):
        shown.insert(4, 5)
    for index in shown:
        table.add_column(dashboards.ARM_COLUMNS[index], justify="left" if index in (0, 5) else "right")
    for row in dashboards.arm_rows(info):
        table.add_row(*(row[index] for index in shown))
    console.print(table)
    for verdict in info.verdicts:
        console.print(f"• {verdict.sentence}", highlight=False, soft_wrap=True)
    for line in info.skipped:
        console.print(f"  not compared: {line}", highlight=False, soft_wrap=True)
    for verdict in times:
        console.print(f"• {verdict.sentence}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out}", highlight=False)
    errors = [message for _, result in run.launches for message in result.errors]
    for message in errors:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    if errors:
        raise typer.Exit(code=1)


@app.command()
def dashboard(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    gradient_flow: GradientFlowOption = True,
    read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every request but GET and HEAD: no study can be changed or deleted.")] = False,
) -> None:
    """Serve optuna-dashboard on the storage, with each study's figures and summary saved next to Optuna's views."""
    from momentum_search import dashboards

    try:
        published = dashboards.publish_all(storage, gradient_flow=gradient_flow)
    except _study_errors() as exc:
        fail(str(exc))
    for item in published:
        err_console.print(f"study {item.study}: {item.figures} figures saved, {item.missing} not drawn (see its note)", highlight=False, soft_wrap=True)
    _warn_if_exposed(host, "optuna-dashboard", "read the studies" if read_only else "edit and delete studies")
    mode = " read-only" if read_only else ""
    err_console.print(f"optuna-dashboard{mode} on http://{host}:{port}/dashboard/ (Ctrl-C stops it)", highlight=False, soft_wrap=True)
    try:
        dashboards.serve(storage, host=host, port=port, read_only=read_only)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@app.command("storage-proxy")
def storage_proxy(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 13000,
    threads: Annotated[int, typer.Option(min=1, help="Requests served at once, each with at most one database connection.")] = 10,
) -> None:
    """Serve the storage to workers through Optuna's gRPC proxy (they use --storage grpc://HOST:PORT);
    it also fails and re-queues the trials of workers that died."""
    from momentum_search import studies


    def ready(database: str) -> None:
        _warn_if_exposed(host, "the storage proxy", "read, change and delete studies")
        err_console.print(f"storage proxy for {database} on grpc://{host}:{port} (Ctrl-C stops it)", highlight=False, soft_wrap=True)

    try:
        studies.serve_proxy(storage, host=host, port=port, threads=threads, on_ready=ready)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None
    except _study_errors() as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _warn_if_exposed(host: str, service: str, can: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"warning: listening on {host}: {service} has no login, anyone who reaches it can {can}", highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
