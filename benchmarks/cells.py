"""Forward + backward time of every cell kind, against PyTorch's modules and a per-step reference.

    python benchmarks/cells.py                                  # all 43 kinds, both paper shapes, CPU
    python benchmarks/cells.py --kinds lstm,momentum-lstm,adam-lstm --shapes 784x64x1x128 --repeats 5
    python benchmarks/cells.py --device cuda
    python benchmarks/cells.py --task pmnist5k --shapes 784x128x1x64 --kinds lstm,momentum-lstm,adam-lstm,nesterov-lstm \
        --no-reference --threads 1 --repeats 7 --stat median        # seconds per epoch at 784 steps, real digits
    MOMENTUM_SEARCH_KEEP_FREED_MEMORY=0 python benchmarks/cells.py …   # glibc's defaults, as before 2026-12-07
    python benchmarks/cells.py --task pmnist5k … --eager           # beside each kind, the same with nothing compiled

One measurement is `out, _ = cell(x); out.sum().backward()` (gradients set to None in between), the
device synchronised before and after. Kinds and their baselines are timed round-robin, `--repeats`
rounds after one warm-up round, and the minimum is reported (`--stat median`: the median): on a
shared machine the minimum is the measurement least disturbed by other processes. With `--stat
median` each ratio is the median of the ratios within a round (the two timed back to back on the
same batch), which a load that comes and goes between rounds moves less than a ratio of medians.

With `--task`, `x` is the task's training batches (a new one each round, the same for every kind
in that round; the shape's T and I must be the task's) and the table adds the seconds of one epoch:
the time per batch times the task's training batches at that batch size.

Baselines:
- torch: `nn.LSTM` / `nn.GRU` / `nn.RNN` of the same size (none for exprnn);
- per-step: the straightforward implementation, as in the MomentumRNN authors' released code, which
  computes `a_t = W x_t + b_ih`, updates `v_t` (and `m_t`; nesterov-lstm: `p_t`) and then the cell,
  one time step after another, with the same weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn
from torch.nn.utils import parametrize

from _common import machine_line

from momentum_search.trainers import get_task, keep_freed_memory
from momentum_search.trainers.cells import CELL_KINDS, MomentumCell, build_cell
from momentum_search.trainers.cells._compiled import MODE

Shape = tuple[int, int, int, int]  # T, B, I, H
Rounds = dict[tuple[str, str], list[float]]  # (name, what) -> seconds of each timed round

TORCH_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# Targets on CPU: ratio to the torch module (≤), speed-up over the per-step reference (≥).
MODULE_TARGETS = {"momentum": 1.10, "nag": 1.10, "sr": 1.10, "nesterov": 1.10, "adam": 1.5, "rmsprop": 1.5}
REFERENCE_TARGET = 1.5


def per_step(cell: MomentumCell, x: Tensor) -> Tensor:
    """The per-step baseline: drive and cell computed together at every step (last layer's outputs)."""
    base, variant, hp = cell.kind.base, cell.kind.variant, cell.hyperparameters
    size = cell.hidden_size
    with parametrize.cached():
        for layer in range(cell.num_layers):
            W, U, b_ih = (getattr(cell, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih"))
            b = getattr(cell, f"{'modrelu_bias' if base == 'exprnn' else 'bias_hh'}_l{layer}")
            h = x.new_zeros(x.size(1), size)
            c, v, m, outs = h, 0.0, 0.0, []
            for t, x_t in enumerate(x.unbind(0), start=1):
                a = F.linear(x_t, W, b_ih)
                if variant in ("sr", "nesterov") and hp["restart"]:
                    mu = ((t - 1) % hp["restart"]) / ((t - 1) % hp["restart"] + 3)
                else:
                    mu = (t - 1) / (t + 2) if variant in ("nag", "sr", "nesterov") else hp.get("mu", 0.0)
                if variant == "nesterov":  # the authors' NesterovLSTMCell: extrapolate the pre-activation
                    p = F.linear(h, U, b) - hp["s"] * a
                    i, f, g, o = (p + mu * (p - v)).chunk(4, 1)
                    v = p
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    outs.append(h)
                    continue
                if variant == "plain":
                    d = a
                else:
                    v = mu * v + hp["s"] * a
                    d = v
                    if variant in ("adam", "rmsprop"):
                        m = hp["beta"] * m + (1 - hp["beta"]) * a * a
                        d = v / torch.sqrt(m + hp["eps"])
                if base == "exprnn":
                    z = d + F.linear(h, U)
                    h = torch.sign(z) * torch.relu(torch.abs(z) + b)
                elif base == "lstm":
                    i, f, g, o = (d + F.linear(h, U, b)).chunk(4, 1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                elif base == "janet":
                    pre_s, pre_c = (d + F.linear(h, U, b)).chunk(2, 1)
                    h = torch.sigmoid(pre_s) * h + (1 - torch.sigmoid(pre_s - 1.0)) * torch.tanh(pre_c)
                elif base == "ur-lstm":
                    f, r, o, u = (d + F.linear(h, U, b)).chunk(4, 1)
                    f, r, o, u = torch.sigmoid(f), torch.sigmoid(r), torch.sigmoid(o), torch.tanh(u)
                    g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
                    c = g * c + (1 - g) * u
                    h = o * torch.tanh(c)
                elif base == "gru":
                    d_r, d_z, d_n = d.chunk(3, 1)
                    u_r, u_z, u_n = F.linear(h, U, b).chunk(3, 1)
                    r, z = torch.sigmoid(d_r + u_r), torch.sigmoid(d_z + u_z)
                    n = torch.tanh(d_n + r * u_n)
                    h = (1 - z) * n + z * h
                else:
                    h = torch.tanh(d + F.linear(h, U, b))
                outs.append(h)
            x = torch.stack(outs)
    return x


def check_same(cell: MomentumCell, x: Tensor) -> None:
    """Refuse to time a reference that computes something else (float32: compare in norm)."""
    with torch.no_grad():
        want = per_step(cell, x)
        error = (cell(x)[0] - want).norm() / want.norm()
    if not error < 1e-4:
        raise RuntimeError(f"{cell.kind.name}: cell and per-step reference differ (relative error {error:.1e})")


def timer(run: Callable[[Tensor], Tensor], module: nn.Module, device: torch.device) -> Callable[[Tensor], float]:
    def once(x: Tensor) -> float:
        module.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run(x).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    return once


def eagerly(run: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """`run` with nothing compiled (`MOMENTUM_SEARCH_COMPILE=never`: the LSTM steps and the one-input
    drive eager); the backward follows the forward's choice."""

    def eager(x: Tensor) -> Tensor:
        with mock.patch.dict(os.environ, {MODE: "never"}):
            return run(x)

    return eager


def inputs_of(shape: Shape, args: argparse.Namespace) -> list[Tensor]:
    """One input per round (the warm-up's first): random, or ``--task``'s training batches."""
    steps, batch, inputs, hidden = shape
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.task is None:
        return [torch.randn(steps, batch, inputs, device=device)] * (args.repeats + 1)
    task = get_task(args.task)
    batches = task.batches("train", batch, generator=torch.Generator().manual_seed(0))
    xs = [next(batches).x.to(device) for _ in range(min(args.repeats + 1, task.num_batches("train", batch)))]
    if tuple(xs[0].shape) != (steps, batch, inputs):
        raise SystemExit(f"error: --task {args.task} has batches of T×B×I {'x'.join(map(str, xs[0].shape))}, not the shape's")
    return [xs[round_ % len(xs)] for round_ in range(args.repeats + 1)]


def measure(shape: Shape, kinds: list[str], args: argparse.Namespace) -> Rounds:
    """The seconds of every timed round of every kind, its torch module and its per-step reference."""
    steps, batch, inputs, hidden = shape
    device = torch.device(args.device)
    xs = inputs_of(shape, args)
    timers: dict[tuple[str, str], Callable[[Tensor], float]] = {}
    for kind in kinds:
        cell = build_cell(kind, inputs, hidden, device=device)
        timers[kind, "cell"] = timer(lambda x, cell=cell: cell(x)[0], cell, device)
        if args.eager:  # kinds that never compile are timed twice too: their ratio shows the noise
            timers[kind, "eager"] = timer(eagerly(lambda x, cell=cell: cell(x)[0]), cell, device)
        if not args.no_reference:
            check_same(cell, xs[0])
            timers[kind, "per-step"] = timer(lambda x, cell=cell: per_step(cell, x), cell, device)
        base = CELL_KINDS[kind].base
        if base in TORCH_MODULES and (base, "torch") not in timers:
            module = TORCH_MODULES[base](inputs, hidden, device=device)
            timers[base, "torch"] = timer(lambda x, module=module: module(x)[0], module, device)
    rounds: Rounds = {key: [] for key in timers}
    for round_, x in enumerate(xs):
        for key, once in timers.items():
            seconds = once(x)
            if round_ > 0:  # round 0 warms up (allocations, cached filters)
                rounds[key].append(seconds)
    return rounds


class Summary:
    """Each time as `--stat` picks it over the rounds, and each ratio: of the picked times (`min`), or the
    median of the ratios within each round (`median`)."""

    def __init__(self, rounds: Rounds, stat: str) -> None:
        self.rounds, self.stat = rounds, stat

    def time(self, name: str, what: str) -> float | None:
        seconds = self.rounds.get((name, what))
        if not seconds:
            return None
        return statistics.median(seconds) if self.stat == "median" else min(seconds)

    def ratio(self, numerator: tuple[str, str], denominator: tuple[str, str]) -> float | None:
        if numerator not in self.rounds or denominator not in self.rounds:
            return None
        if self.stat == "median":
            return statistics.median(a / b for a, b in zip(self.rounds[numerator], self.rounds[denominator]))
        return min(self.rounds[numerator]) / min(self.rounds[denominator])


def table(shape: Shape, kinds: list[str], summary: Summary, args: argparse.Namespace) -> Table:
    steps, batch, inputs, hidden = shape
    data = f"{args.task}'s training batches" if args.task else "random inputs"
    grid = Table(
        title=f"T={steps} B={batch} I={inputs} H={hidden} on {args.device}, {data}: forward+backward, {args.stat} over rounds"
    )
    columns = ("kind", "cell ms", "torch ms", "cell/torch", "target", "per-step ms", "speed-up", "target", "met")
    epoch = None
    if args.task:  # seconds of one epoch's forward+backward, the cell's and torch's
        epoch = get_task(args.task).num_batches("train", batch)
        columns = (*columns[:3], "cell s/epoch", "torch s/epoch", *columns[3:])
    if args.eager:  # the same kind with nothing compiled, and what compiling gained
        columns = (*columns, "eager ms", "eager/cell")
    for column in columns:
        grid.add_column(column, justify="left" if column == "kind" else "right")
    for kind in kinds:
        spec = CELL_KINDS[kind]
        seconds = summary.time(kind, "cell")
        assert seconds is not None  # every kind is timed
        torch_seconds = summary.time(spec.base, "torch")
        reference = summary.time(kind, "per-step")
        ratio = summary.ratio((kind, "cell"), (spec.base, "torch"))
        speedup = summary.ratio((kind, "per-step"), (kind, "cell"))
        module_target = MODULE_TARGETS.get(spec.variant) if torch_seconds else None
        reference_target = REFERENCE_TARGET if not spec.plain and reference else None
        checks = []
        if module_target is not None:
            checks.append(ratio <= module_target)
        if reference_target is not None:
            checks.append(speedup >= reference_target)
        met = "—" if not checks else ("[green]yes[/]" if all(checks) else "[red]no[/]")
        eager, eager_ratio = summary.time(kind, "eager"), summary.ratio((kind, "eager"), (kind, "cell"))
        eager_columns = (
            [milliseconds(eager) if eager else "—", f"{eager_ratio:.2f}×" if eager_ratio else "—"] if args.eager else []
        )
        per_epoch = []
        if epoch is not None:
            per_epoch = [f"{seconds * epoch:.1f}", f"{torch_seconds * epoch:.1f}" if torch_seconds else "—"]
        grid.add_row(
            kind,
            milliseconds(seconds),
            milliseconds(torch_seconds) if torch_seconds else "—",
            *per_epoch,
            f"{ratio:.2f}×" if ratio else "—",
            f"≤ {module_target:.2f}×" if module_target else "—",
            milliseconds(reference) if reference else "—",
            f"{speedup:.2f}×" if speedup else "—",
            f"≥ {reference_target:.1f}×" if reference_target else "—",
            met,
            *eager_columns,
        )
    return grid


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}" if seconds >= 0.1 else f"{seconds * 1e3:.1f}"


def parse_shape(text: str) -> Shape:
    try:
        steps, batch, inputs, hidden = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is TxBxIxH, e.g. 784x64x1x128; got {text!r}") from None
    return steps, batch, inputs, hidden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, … (default: cpu)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after one warm-up round (default: 3)")
    parser.add_argument(
        "--shapes",
        type=lambda text: [parse_shape(part) for part in text.split(",")],
        default=[(784, 64, 1, 128), (200, 32, 129, 158)],
        help="comma-separated TxBxIxH (default: 784x64x1x128,200x32x129x158: MNIST pixels, TIMIT frames)",
    )
    parser.add_argument("--kinds", default=",".join(CELL_KINDS), help="comma-separated cell kinds (default: all 43)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) per-step reference")
    parser.add_argument("--task", default=None, help="time on this task's training batches and add seconds per epoch")
    parser.add_argument("--stat", choices=("min", "median"), default="min", help="report each time's min or median over rounds")
    parser.add_argument(
        "--eager", action="store_true", help="also time every kind with nothing compiled (MOMENTUM_SEARCH_COMPILE=never)"
    )
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in CELL_KINDS]
    if unknown:
        parser.error(f"unknown kinds {', '.join(unknown)}; expected some of: {', '.join(CELL_KINDS)}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    console = Console()
    if not console.is_terminal:  # keep the table's columns readable when printed to a file
        console = Console(width=160)
    # As a training process does, so that nn.LSTM, every ratio's denominator, stops paying fresh pages for its
    # workspaces every batch (about 40 % of its time at 784 steps, docs/mnist784.md); the first line says which.
    kept = keep_freed_memory()
    allocator = "freed memory kept, as in training" if kept else "glibc's defaults (nn.LSTM pays fresh pages every batch)"
    steps = os.environ.get(MODE, "auto")
    console.print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {args.device}; allocator: {allocator};"
        f" LSTM steps: {MODE}={steps}"
    )
    console.print(machine_line())
    for shape in args.shapes:
        console.print(table(shape, kinds, Summary(measure(shape, kinds, args), args.stat), args))


if __name__ == "__main__":
    main()
