"""`train`: one configuration on one or more seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import parse_pairs, read_yaml, reported

TRAIN_FIELDS = (
    "task",
    "cell",
    "mu",
    "s",
    "beta",
    "eps",
    "restart",
    "hidden_size",
    "num_layers",
    "init",
    "t_max",
    "forget_bias",
    "dtriv_k",
    "lr_orth",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "grad_clip",
    "seed",
    "threads",
    "device",
)


def train(
    config_file: Annotated[Optional[Path], typer.Option("--config", help="YAML file of settings; options override it.")] = None,
    task: Annotated[
        Optional[str], typer.Option(help="copy, adding, digits, pdigits, mnist, pmnist, smnist5k, pmnist5k, timit, ptb, data.")
    ] = None,
    task_param: Annotated[list[str], typer.Option(help="Task parameter KEY=VALUE (repeatable), e.g. length=100.")] = [],
    data_dir: Annotated[Optional[Path], typer.Option(help="Data folder of mnist, pmnist, timit and ptb.")] = None,
    data: Annotated[
        Optional[Path], typer.Option(help="Your own data: an .npz of x_train, y_train, x_valid, y_valid (task data).")
    ] = None,
    cell: Annotated[Optional[str], typer.Option(help="Cell kind, e.g. lstm, momentum-lstm, adam-gru, sr-exprnn.")] = None,
    mu: Annotated[Optional[float], typer.Option(help="Momentum μ, 0 ≤ μ < 1.")] = None,
    s: Annotated[Optional[float], typer.Option(help="Step size s > 0.")] = None,
    beta: Annotated[Optional[float], typer.Option(help="Adam/RMSProp β, 0 ≤ β < 1.")] = None,
    eps: Annotated[Optional[float], typer.Option(help="Adam/RMSProp ε > 0.")] = None,
    restart: Annotated[Optional[int], typer.Option(help="Restart frequency F ≥ 0 of sr and nesterov kinds (0: never).")] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help="Hidden units per layer.")] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="Stacked layers.")] = None,
    init: Annotated[
        Optional[str], typer.Option(help="paper, identity, pytorch, chrono (LSTM, GRU, JANET) or cayley (exprnn).")
    ] = None,
    t_max: Annotated[Optional[float], typer.Option(help="Chrono's time scale T_max ≥ 2; default: the sequence length.")] = None,
    forget_bias: Annotated[
        Optional[float], typer.Option(help="LSTM forget-gate bias of the paper init (default 1; TIMIT -4).")
    ] = None,
    dtriv_k: Annotated[
        Optional[int], typer.Option(help="exprnn: re-base U every K optimiser steps (default: never, K = ∞).")
    ] = None,
    lr_orth: Annotated[
        Optional[float], typer.Option(help="exprnn: learning rate of the skew parameters (default: --lr).")
    ] = None,
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

    from momentum_search.trainers import ObjectiveError, TrainConfig, train as train_one
    from momentum_search.trainers.tasks import DATA_TASK
    from momentum_search.trainers.tasks import resolve_data_params as resolve_params

    settings = read_yaml(config_file) if config_file is not None else {}
    # An exported study config carries its trainer settings under "config", next to provenance.
    settings = dict(settings.get("config", settings))
    given = {name: value for name, value in locals().items() if name in TRAIN_FIELDS and value is not None}
    settings.update(given)
    task_params = {**settings.get("task_params", {}), **parse_pairs(task_param, "--task-param")}
    if data_dir is not None:
        task_params["data_dir"] = str(data_dir)
    if data is not None:
        settings["task"], task_params["path"] = DATA_TASK, str(data)
    if settings.get("task") == DATA_TASK:
        # The file is read and checked before torch loads; what it implies is printed and then trained.
        with reported(ValueError):
            task_params = resolve_params(task_params)
        if not as_json:
            render.task_inferred(DATA_TASK, task_params)
    settings["task_params"] = task_params
    with reported(ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        base = TrainConfig(**settings)

    results = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=render.err_console,
        transient=True,
        disable=as_json,
    ) as progress:
        for offset in range(seeds):
            config = base.model_copy(update={"seed": base.seed + offset})
            epochs_bar = progress.add_task(f"seed {config.seed} epochs", total=config.resolved().epochs, info="")
            batches_bar = progress.add_task("  batches", total=None, info="")

            def on_batch(index: int, total: int) -> None:
                progress.update(batches_bar, completed=index, total=total)

            def on_epoch(epoch: int, value: float) -> bool:
                progress.update(epochs_bar, completed=epoch, info=f"valid {value:.4f}")
                return False

            with reported(ValueError, FileNotFoundError, ObjectiveError):
                results.append(train_one(config, on_epoch=on_epoch, on_batch=on_batch))
            progress.remove_task(batches_bar)
            progress.remove_task(epochs_bar)
    render.train_results(results, as_json=as_json)
