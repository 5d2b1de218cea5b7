"""First-order linear recurrences along time, `y_t = μ_t y_{t-1} + u_t`, evaluated as a chunked scan."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

P = ParamSpec("P")
R = TypeVar("R")

# Steps per chunk. A chunk costs a (C×C)·(C×N) product (2C flops per element) against T/C sequential
# Python steps; the cells also compute their drives C steps at a time. 8-16 were fastest on the
# benchmark shapes on CPU; 64 was ~2× slower for adam-lstm (its chunks fall out of cache).
CHUNK = 16


def chunk_length(length: int) -> int:
    """`C`, the number of time steps per chunk for a sequence of `length` steps."""
    return min(length, CHUNK)


@dataclass(frozen=True)
class Schedule:
    """The coefficients `μ_t`, `t = start+1..start+T` (1-based) of a linear recurrence.

    - `constant`: `μ_t = value` (momentum with μ, and adam/rmsprop's second moment with β);
    - `nag`: `μ_t = (t - 1) / (t + 2)`;
    - `restart`: `μ_t = ((t-1) mod F) / (((t-1) mod F) + 3)` with `F = period` (scheduled restart:
      `μ_t = 0` at `t = 1, F+1, 2F+1, …`, so with `F ≥ T` it is nag's schedule).

    `start` counts the steps taken before (a sequence continued across truncated-BPTT segments).
    """

    rule: Literal["constant", "nag", "restart"]
    value: float = 0.0
    period: int = 1
    start: int = 0

    def coefficients(self, length: int, device: torch.device) -> Tensor:
        """`(μ_{start+1}, …, μ_{start+T})` in float64, shape `(T,)`."""
        t = torch.arange(self.start + 1, self.start + length + 1, dtype=torch.float64, device=device)
        if self.rule == "constant":
            return torch.full_like(t, self.value)
        if self.rule == "nag":
            return (t - 1) / (t + 2)
        phase = torch.remainder(t - 1, self.period)
        return phase / (phase + 3)


@dataclass(frozen=True, eq=False)
class LinearRecurrence:
    """The filter `y_t = μ_t y_{t-1} + u_t`, `y_0 = 0`, along dim 0 of `u`, for one schedule and length.

    Time is cut into `n = ⌈T/C⌉` chunks of `C` steps. In chunk `k` (local steps `i = 0..C-1`)

        y_{kC+i} = Σ_{j≤i} P_k[i, j] u_{kC+j} + q_k[i] y_{kC-1},
        P_k[i, j] = Π_{l=j+1..i} μ_{kC+l},     q_k[i] = Π_{l=0..i} μ_{kC+l},

    so a chunk is one `(C×C)·(C×N)` product plus a rank-one carry, and only the `n` chunks are
    sequential. Build it with `linear_recurrence`, which caches it.

    Attributes:
        transfer: `P`, shape `(n, C, C)`, lower triangular.
        carry: `q`, shape `(n, C)`.
    """

    length: int
    transfer: Tensor
    carry: Tensor

    @property
    def chunk(self) -> int:
        return self.transfer.size(-1)

    def scanner(self, scale: float = 1.0, initial: Tensor | None = None) -> _Scanner:
        """A scanner of `scale · y` that takes the input one chunk after another (`u.split(C)`),
        from `scale · y_0 = initial` (`(B, *)`, like one step of `u`; zeros if None)."""
        return _Scanner(self, scale, initial)

    def __call__(self, u: Tensor, *, scale: float = 1.0) -> Tensor:
        """`scale · y` for `u` of shape `(T, *)`; differentiable in `u` (not in μ or `scale`)."""
        if u.size(0) != self.length:
            raise ValueError(f"expected {self.length} time steps, got {u.size(0)}")
        scan = self.scanner(scale)
        return torch.cat([scan(piece) for piece in u.split(self.chunk)])


class _Scanner:
    """Feeds the chunks of one sequence in order, carrying the last `y` from chunk to chunk."""

    def __init__(self, recurrence: LinearRecurrence, scale: float, initial: Tensor | None = None) -> None:
        # Scaling the (n, C, C) transfer matrices is cheaper than scaling the (T, N) output.
        self._transfer = recurrence.transfer * scale
        self._carry = recurrence.carry
        self._index = 0
        self._last: Tensor | None = None if initial is None else initial.reshape(1, -1)
        self._shape = torch.Size() if initial is None else initial.shape  # read only once _last is set

    @property
    def last(self) -> Tensor | None:
        """`scale · y` after the chunks fed so far, shaped like one step of `u`."""
        return None if self._last is None else self._last.view(self._shape)

    def __call__(self, u: Tensor) -> Tensor:
        size = u.size(0)
        # The last chunk may be short: its top-left block only involves its own coefficients.
        transfer = self._transfer[self._index, :size, :size]
        y, self._last = _Chunk.apply(u.reshape(size, -1), self._last, transfer, self._carry[self._index, :size])
        self._index += 1
        self._shape = u.shape[1:]
        return y.view(u.shape)


class _Chunk(torch.autograd.Function):
    """`(y, y[-1:])` with `y = P u + q ⊗ last` for one chunk.

    Autograd would handle it, but would materialise a chunk of zeros for the last row's gradient
    and add it in; here that row's gradient enters the two products directly.
    """

    @staticmethod
    def forward(ctx: Any, u: Tensor, last: Tensor | None, transfer: Tensor, carry: Tensor) -> tuple[Tensor, Tensor]:
        y = torch.mm(transfer, u)
        if last is not None:
            y.addmm_(carry.unsqueeze(1), last)
        ctx.save_for_backward(transfer, carry)
        ctx.first = last is None
        return y, y[-1:].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_y: Tensor, g_last: Tensor) -> tuple[Tensor, Tensor | None, None, None]:
        transfer, carry = ctx.saved_tensors
        # ∂L/∂u = Pᵀ (g_y + e_last g_last), ∂L/∂last = qᵀ (g_y + e_last g_last).
        g_u = torch.addmm(torch.mm(transfer.t(), g_y), transfer[-1:].t(), g_last)
        g_before = None if ctx.first else torch.addmm(carry[-1] * g_last, carry.unsqueeze(0), g_y)
        return g_u, g_before, None, None


def _no_autograd(build: Callable[P, R]) -> Callable[P, R]:
    """Cached tensors must be ordinary ones, even when first built under `torch.inference_mode()`:
    inference tensors cannot be saved for a later backward pass."""

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch.inference_mode(False), torch.no_grad():
            return build(*args, **kwargs)

    return wrapper


@functools.lru_cache(maxsize=64)
@_no_autograd
def linear_recurrence(schedule: Schedule, length: int, device: torch.device, dtype: torch.dtype) -> LinearRecurrence:
    """The (cached) chunked filter of `schedule` over `length` steps, on `device` in `dtype`."""
    size = chunk_length(length)
    count = math.ceil(length / size)
    # Products are taken in float64 and rounded once; the padding's coefficients are never used.
    mu = F.pad(schedule.coefficients(length, device), (0, count * size - length)).view(count, size)
    below = torch.ones(size, size, dtype=torch.bool, device=device).tril(-1)
    # Column j of the cumulative product down [μ_i if i > j else 1] is Π_{l=j+1..i} μ_l; no logs,
    # so zero coefficients (sr's restarts) are exact.
    transfer = torch.where(below, mu.unsqueeze(2), 1.0).cumprod(1).tril()
    return LinearRecurrence(length, transfer.to(dtype), mu.cumprod(1).to(dtype))


@functools.lru_cache(maxsize=64)
@_no_autograd
def constant_response(schedule: Schedule, length: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """The filter of the constant input 1, shape `(T,)` (cached): what the bias `b_ih` accumulates to."""
    exact = linear_recurrence(schedule, length, device, torch.float64)
    ones = torch.ones(length, 1, dtype=torch.float64, device=device)
    return exact(ones).view(length).to(dtype)


def trainable_filter(u: Tensor, mu: Tensor) -> Tensor:
    """`y_t = μ y_{t-1} + u_t`, `y_0 = 0`, along dim 0 of `u (T, *)` for a constant μ given as a tensor
    (0-dim, `0 < μ < 1`), differentiable in `u` and in μ.

    The same chunked scan as `LinearRecurrence`, but its transfer matrix `P[i, j] = μ^(i-j)` and carry
    `q[i] = μ^(i+1)` are built from μ by autograd ops on every call (the cached scan is neither
    differentiable in μ nor reusable once μ trains). A constant μ makes every chunk's `P` the same.
    """
    size = chunk_length(u.size(0))
    steps = torch.arange(size, dtype=mu.dtype, device=mu.device)
    lag = steps.unsqueeze(1) - steps
    # The clamp keeps the upper triangle's exponents (discarded by `where`) from giving NaN gradients.
    transfer = torch.where(lag >= 0, mu ** lag.clamp_min(0), 0.0).to(u.dtype)
    carry = (mu ** (steps + 1)).to(u.dtype).unsqueeze(1)
    pieces: list[Tensor] = []
    for piece in u.flatten(1).split(size):
        count = piece.size(0)
        y = transfer[:count, :count] @ piece
        if pieces:
            y = torch.addcmul(y, carry[:count], pieces[-1][-1:])
        pieces.append(y)
    return torch.cat(pieces).view(u.shape)
