"""Train one configuration; report each epoch's validation metric through a callback.

The loop reads top to bottom: resolve the config, build task, model and optimiser, then one loop
over epochs with three explicit exits — the epochs run out, the loss diverges, or the callback asks
to stop (this is how pruners stop trials). Knows nothing of Optuna or Ray.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from momentum_search.trainers._config import TrainConfig, TrainResult
from momentum_search.trainers._model import SequenceModel, detach_state
from momentum_search.trainers.cells import build_cell
from momentum_search.trainers.tasks import Batch, Split, Task, get_task

EpochCallback = Callable[[int, float], bool]
BatchCallback = Callable[[int, int], None]


def build_model(config: TrainConfig, task: Task) -> SequenceModel:
    """The model of a resolved config, initialised from `config.seed`."""
    assert config.hidden_size is not None and config.num_layers is not None and config.init is not None
    torch.manual_seed(config.seed)
    cell = build_cell(
        config.cell,
        task.input_size,
        config.hidden_size,
        num_layers=config.num_layers,
        init=config.init,
        **config.hyperparameters(),
    )
    return SequenceModel(task, cell, config.hidden_size).to(config.device)


def _optimizer(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        # α = 0.9 is the paper's RMSprop setting for (P)MNIST.
        return torch.optim.RMSprop(params, lr=config.lr, alpha=0.9)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr)


def _to(batch: Batch, device: torch.device) -> Batch:
    mask = None if batch.mask is None else batch.mask.to(device)
    return Batch(batch.x.to(device), batch.y.to(device), mask)


@torch.no_grad()
def evaluate(model: SequenceModel, task: Task, split: Split, batch_size: int, device: torch.device) -> float:
    """The task's metric over a whole split."""
    model.eval()
    total, count, state = 0.0, 0, None
    for batch in task.batches(split, batch_size):
        batch = _to(batch, device)
        output, state = model(batch.x, state if task.stateful else None)
        batch_sum, batch_count = task.metric_sums(output, batch)
        total += batch_sum
        count += batch_count
    return task.finalize(total / count)


def _better(value: float, best: float, direction: str) -> bool:
    return value > best if direction == "maximize" else value < best


def train(
    config: TrainConfig,
    *,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
) -> TrainResult:
    """Train `config` and return the best validation metric with the test metric at that epoch.

    Args:
        config: the run; `None` fields take the task's defaults.
        on_epoch: called as `on_epoch(epoch, validation_metric)` after every epoch (epochs count
            from 1); returning True stops the run, which is then reported with `stopped=True`.
        on_batch: called as `on_batch(batch_index, num_batches)` after every training batch
            (indices count from 1), for progress bars.
    """
    config = config.resolved()
    assert config.epochs is not None and config.batch_size is not None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    task = get_task(config.task, **config.task_params)
    model = build_model(config, task)
    optimizer = _optimizer(config, list(model.parameters()))
    # Shuffling has its own generator so that it does not depend on how much randomness init used.
    generator = torch.Generator().manual_seed(config.seed)
    num_batches = task.num_batches("train", config.batch_size)

    history: list[float] = []
    best_value, best_epoch, best_state = math.nan, 0, None
    diverged = stopped = False
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        state = None
        for index, batch in enumerate(task.batches("train", config.batch_size, generator=generator), start=1):
            batch = _to(batch, device)
            output, state = model(batch.x, state if task.stateful else None)
            if task.stateful:
                state = detach_state(state)
            loss = task.loss(output, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip or math.inf)
            # A non-finite loss or gradient ends the run before it can corrupt the weights.
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                diverged = True
                break
            optimizer.step()
            if on_batch is not None:
                on_batch(index, num_batches)
        if diverged:
            break
        value = evaluate(model, task, "valid", config.batch_size, device)
        if not math.isfinite(value):
            diverged = True
            break
        history.append(value)
        if best_state is None or _better(value, best_value, task.metric.direction):
            best_value, best_epoch = value, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if on_epoch is not None and on_epoch(epoch, value):
            stopped = True
            break
    wall_time = time.perf_counter() - start

    test_value = math.nan
    if best_state is not None:
        model.load_state_dict(best_state)
        test_value = evaluate(model, task, "test", config.batch_size, device)
    return TrainResult(
        best_value=best_value,
        best_epoch=best_epoch,
        test_value=test_value,
        epochs_run=len(history),
        wall_time=wall_time,
        diverged=diverged,
        stopped=stopped,
        history=tuple(history),
        metric=task.metric.name,
        direction=task.metric.direction,
        config=config,
    )
