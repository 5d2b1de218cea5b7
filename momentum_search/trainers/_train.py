"""Train one configuration; report each epoch's validation metric through a callback.

`Trainer` holds one run and advances it an epoch at a time, so that an engine can checkpoint it,
restore it and change μ, s between epochs (population-based training). `train` is the plain loop
over it with three explicit exits: the epochs run out, the loss diverges, or the callback asks to
stop (this is how pruners stop trials). Knows nothing of Optuna or Ray.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from momentum_search.trainers._config import TrainConfig, TrainResult, check_device
from momentum_search.trainers._memory import keep_freed_memory
from momentum_search.trainers._model import SequenceModel, detach_state
from momentum_search.trainers.cells import StreamState, build_cell, gradient_flow
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
        t_max=config.t_max,
        forget_bias=config.forget_bias,
        **config.hyperparameters(),
    )
    return SequenceModel(task, cell, config.hidden_size).to(config.device)


def _optimizer(config: TrainConfig, model: SequenceModel) -> torch.optim.Optimizer:
    assert config.lr is not None  # resolved
    params: list[Any] = list(model.parameters())
    if config.lr_orth is not None:
        # The authors' DTRIV runs train exprnn's skew parameters at their own rate (--lr_orth).
        skew = model.cell.skew_parameters()
        others = [p for p in params if all(p is not q for q in skew)]
        params = [{"params": others}, {"params": skew, "lr": config.lr_orth}]
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
    total, count, state = 0.0, 0, _fresh_state(task)
    for batch in task.batches(split, batch_size):
        batch = _to(batch, device)
        output, state = model(batch.x, state if task.stateful else None, mask=batch.mask)
        batch_sum, batch_count = task.metric_sums(output, batch)
        total += batch_sum
        count += batch_count
    return task.finalize(total / count)


FLOW_BATCH = 32  # validation examples the gradient-flow diagnostic takes its loss over
FLOW_POINTS = 128  # time steps a record keeps of it (evenly spaced): long sequences would bloat every trial


def measure_gradient_flow(model: SequenceModel, task: Task, device: torch.device) -> dict[str, Any]:
    """‖∂L/∂h_t‖ of the last layer over time (the paper's Fig. 2) and the loss L it is taken of, on the
    first validation batch: ``{"t": [...], "norms": [...], "loss": L}``, at most ``FLOW_POINTS`` steps.

    Uses no random numbers, so measuring it leaves the run's results as they were."""
    batch = _to(next(iter(task.batches("valid", FLOW_BATCH))), device)
    model.eval()
    x = batch.x if model.embedding is None else model.embedding(batch.x)

    def loss(out: Tensor) -> Tensor:
        return task.loss(model.decoder(model.read_out(out, batch.mask)), batch)

    norms = gradient_flow(model.cell, x, loss).tolist()
    with torch.no_grad():
        value = float(loss(model.cell(x)[0]))
    steps = (
        sorted({round(i * (len(norms) - 1) / (FLOW_POINTS - 1)) for i in range(FLOW_POINTS)})
        if len(norms) > FLOW_POINTS
        else range(len(norms))
    )
    return {"t": [t + 1 for t in steps], "norms": [norms[t] for t in steps], "loss": value}


def _fresh_state(task: Task) -> StreamState | None:
    """The state a pass over a split starts from: a stateful task's batches are consecutive segments of
    one stream, whose hidden and drive states (v, m, the step count) carry over, detached."""
    return StreamState() if task.stateful else None


def _better(value: float, best: float, direction: str) -> bool:
    return value > best if direction == "maximize" else value < best


class Trainer:
    """One training run, advanced an epoch at a time.

    Args:
        config: the run; `None` fields take the task's defaults.
        task: the task, if already built (it is built from the config otherwise); lets several
            runs on one process share loaded data.
    """

    def __init__(self, config: TrainConfig, *, task: Task | None = None) -> None:
        check_device(config.device)
        keep_freed_memory()
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.task = task if task is not None else get_task(config.task, **config.task_params)
        self.config = config.resolved(self.task.defaults)
        self.device = torch.device(self.config.device)
        if self.config.init == "chrono" and self.config.t_max is None:
            steps = next(iter(self.task.batches("train", self.batch_size))).x.size(0)
            self.config = self.config.model_copy(update={"t_max": float(steps)})
        self.model = build_model(self.config, self.task)
        self.flow_init = measure_gradient_flow(self.model, self.task, self.device)
        self.optimizer = _optimizer(self.config, self.model)
        # Shuffling has its own generator so that it does not depend on how much randomness init used.
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.epoch = 0
        self.steps = 0  # optimiser steps, for dynamic trivialisation's every-K re-basing
        self.history: list[float] = []
        self.best_value, self.best_epoch = math.nan, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.diverged = False
        self.wall_time = 0.0

    @property
    def batch_size(self) -> int:
        assert self.config.batch_size is not None
        return self.config.batch_size

    @property
    def done(self) -> bool:
        return self.diverged or self.epoch >= (self.config.epochs or 0)

    def set_hyperparameters(self, **values: float | int) -> None:
        """Change the cell's μ, s, β, ε or F from the next batch on; the config follows."""
        self.model.cell.set_hyperparameters(**values)
        self.config = self.config.model_copy(update=dict(self.model.cell.hyperparameters))

    def run_epoch(self, on_batch: BatchCallback | None = None) -> float:
        """Train one epoch and return its validation metric (NaN when the run diverged)."""
        start = time.perf_counter()
        self.epoch += 1
        self.model.train()
        state = _fresh_state(self.task)
        num_batches = self.task.num_batches("train", self.batch_size)
        for index, batch in enumerate(self.task.batches("train", self.batch_size, generator=self.generator), 1):
            batch = _to(batch, self.device)
            output, state = self.model(batch.x, state if self.task.stateful else None, mask=batch.mask)
            if self.task.stateful:
                state = detach_state(state)
            loss = self.task.loss(output, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip or math.inf)
            # A non-finite loss or gradient ends the run before it can corrupt the weights.
            if not (torch.isfinite(loss) and torch.isfinite(norm)):
                self.diverged = True
                break
            try:
                self.optimizer.step()
            except RuntimeError as error:
                # A step size beyond the weights' float range (SGD at lr 1e300) cannot even be applied:
                # torch refuses to convert it. Such a run has diverged.
                if "overflow" not in str(error):
                    raise
                self.diverged = True
                break
            self.steps += 1
            if self.config.dtriv_k is not None and self.steps % self.config.dtriv_k == 0:
                self.model.cell.rebase()
            if on_batch is not None:
                on_batch(index, num_batches)
        value = math.nan
        if not self.diverged:
            value = evaluate(self.model, self.task, "valid", self.batch_size, self.device)
            self.diverged = not math.isfinite(value)
        if not self.diverged:
            self.history.append(value)
            if self.best_state is None or _better(value, self.best_value, self.task.metric.direction):
                self.best_value, self.best_epoch = value, self.epoch
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.wall_time += time.perf_counter() - start
        return value

    def result(self, *, stopped: bool = False) -> TrainResult:
        """The run so far, with the test metric (and learned μ, s) of the best validation epoch's model."""
        test_value, learned, flow = math.nan, self.model.cell.learned(), {"init": self.flow_init}
        if self.best_state is not None:
            current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.model.load_state_dict(self.best_state)
            test_value = evaluate(self.model, self.task, "test", self.batch_size, self.device)
            learned = self.model.cell.learned()
            flow["trained"] = measure_gradient_flow(self.model, self.task, self.device)
            self.model.load_state_dict(current)
        return TrainResult(
            best_value=self.best_value,
            best_epoch=self.best_epoch,
            test_value=test_value,
            epochs_run=len(self.history),
            wall_time=self.wall_time,
            diverged=self.diverged,
            stopped=stopped,
            history=tuple(self.history),
            metric=self.task.metric.name,
            direction=self.task.metric.direction,
            config=self.config,
            learned=learned,
            gradient_flow=flow,
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the run where it is: model, optimiser, shuffling, progress."""
        return {
            "config": self.config.model_dump(mode="json"),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "steps": self.steps,
            "history": list(self.history),
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "diverged": self.diverged,
            "wall_time": self.wall_time,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`, including the μ, s the checkpointed run had."""
        config = TrainConfig(**state["config"])
        self.set_hyperparameters(**config.hyperparameters())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.epoch, self.history = state["epoch"], list(state["history"])
        self.steps = state.get("steps", 0)  # absent from checkpoints written before DTRIV
        self.best_value, self.best_epoch, self.best_state = state["best_value"], state["best_epoch"], state["best_state"]
        self.diverged, self.wall_time = state["diverged"], state["wall_time"]


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

    A config with an `objective` (the user's own loop) calls that function instead (`_user_loop.py`).
    """
    if config.objective is not None:
        from momentum_search.trainers._user_loop import run_objective

        return run_objective(config, on_epoch=on_epoch)
    trainer = Trainer(config)
    while not trainer.done:
        value = trainer.run_epoch(on_batch)
        if trainer.diverged:
            break
        if on_epoch is not None and on_epoch(trainer.epoch, value):
            return trainer.result(stopped=True)
    return trainer.result()
