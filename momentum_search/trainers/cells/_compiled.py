"""The long-sequence hot paths as plain tensor functions, compiled by `torch.compile` on CPU: the
LSTM's steps a chunk at a time, and the adam/rmsprop drive of a one-input cell.

The eager code (`_steps`, `_drive.SingleInputDrive`) writes into buffers and works in place, which is
what makes it fast one operation at a time; a compiler wants plain functions it can fuse. Compiled, a
chunk of 16 steps is 16 matrix products and one fused loop per step where eagerly each step launches
about eight kernels, and the one-input drive is one pass over the chunk forward and one back where
eagerly it is about a dozen (docs/mnist784.md). The first call in a process compiles (8-13 s from
inductor's disk cache, 30-70 s without), so short sequences, which would not earn it back, stay eager.

`lstm_chunk` and `lstm_chunk_backward` compute what `_steps`'s `lstm` and `nesterov-lstm` bases do,
gates in `(i, f, o, g)` order; `tanh` is taken as `2σ(2x) - 1`, which this CPU's vectorised
sigmoid computes several times faster than its tanh (within 2e-7). `single_input_drive` and its
backward compute what `_drive.SingleInputDrive` does.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from momentum_search.trainers.cells._scan import CHUNK

MODE = "MOMENTUM_SEARCH_COMPILE"  # auto: CPU, COMPILE_FROM steps or more
MODES = ("auto", "always", "never")
COMPILE_FROM = 500  # steps: the 784-step digits and the paper's 750-step adding task compile; short sequences do not repay it
BASES = ("lstm", "nesterov-lstm")  # the `_steps` bases whose chunks compile


def compiles(steps: int, device: torch.device) -> bool:
    """Whether a layer over `steps` steps on `device` runs its compiled functions.

    `MOMENTUM_SEARCH_COMPILE=never` keeps everything eager, `always` compiles at any length.
    CUDA stays eager: the compiled path is measured and tested on CPU only.
    """
    mode = os.environ.get(MODE, "auto")
    if mode not in MODES:
        raise ValueError(f"{MODE} must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "never" or device.type != "cpu" or _Compiled.failed:
        return False
    return mode == "always" or steps >= COMPILE_FROM


class _Compiled:
    """`function` compiled on its first call; the plain function wherever compiling fails.

    One graph serves every batch size (`dynamic=True`) and full chunks only: the last, shorter
    chunk of a sequence runs eagerly rather than compiling a graph for each remainder. Arguments
    are passed detached (the steps run outside autograd), so that training and evaluation share the
    graphs. Compiling needs a C++ compiler, which not every machine has; where it fails the process
    warns once and runs every later call eagerly. A failure of the plain function is a real error
    and is raised.
    """

    failed = False

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.compiled = torch.compile(function, fullgraph=True, dynamic=True)

    def __call__(self, *args: Any) -> Any:
        args = tuple(arg.detach() if isinstance(arg, Tensor) else arg for arg in args)
        if _Compiled.failed or args[0].size(0) != CHUNK:
            return self.function(*args)
        try:
            return self.compiled(*args)
        except Exception as error:  # inductor's failures share no public type
            result = self.function(*args)
            _Compiled.failed = True
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            warnings.warn(f"torch.compile failed ({first}); the long sequences run eagerly", RuntimeWarning, stacklevel=2)
            return result


def lstm_chunk(
    drive: Tensor, h: Tensor, c: Tensor, p: Tensor | None, weight_t: Tensor, mu: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """The steps over one chunk `drive (C, B, 4H)` from `(h, c)` (and nesterov-lstm's `p`, with its
    `μ_t` in `mu (C,)`): `hs`, `cs`, the activated gates and `tanh c`, stacked over the chunk, and `p`."""
    size = h.size(1)
    hs, cs, gates, tanhs = [], [], [], []
    for k in range(drive.size(0)):
        pre = h.mm(weight_t) + drive[k]
        if p is not None:
            assert mu is not None
            pre, p = p + (1 + mu[k]) * (pre - p), pre
        sigmoid, g = pre[:, : 3 * size].sigmoid(), _tanh(pre[:, 3 * size :])
        i, f, o = sigmoid.split(size, 1)
        c = f * c + i * g
        tanh_c = _tanh(c)
        h = o * tanh_c
        hs.append(h)
        cs.append(c)
        gates.append(torch.cat([sigmoid, g], 1))
        tanhs.append(tanh_c)
    return torch.stack(hs), torch.stack(cs), torch.stack(gates), torch.stack(tanhs), p


def _tanh(x: Tensor) -> Tensor:
    return 2 * torch.sigmoid(2 * x) - 1


def lstm_chunk_backward(
    gates: Tensor,
    tanh_c: Tensor,
    c_before: Tensor,
    g_out: Tensor,
    g_h: Tensor,
    g_c: Tensor,
    g_p: Tensor | None,
    weight: Tensor,
    mu: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """One chunk in reverse: `∂L/∂(U h_{t-1} + d_t)` for each step (nesterov-lstm: `∂L/∂p_t`), stacked,
    and the carry `(g_h, g_c, g_p)` into the step before the chunk (`g_p` None but for nesterov-lstm)."""
    size = tanh_c.size(-1)
    grads = []
    for k in reversed(range(gates.size(0))):
        i, f, o, g = gates[k].split(size, 1)
        t = tanh_c[k]
        dh = g_out[k] + g_h
        dc = g_c + dh * (o - o * t * t)
        # ∂L/∂pre through c for the blocks (i, f, g), through h for o; σ' = σ - σ², tanh' = 1 - tanh².
        g_pre = torch.cat([dc * (i - i * i) * g, dc * (f - f * f) * c_before[k], dh * (o - o * o) * t, dc * (i - i * g * g)], 1)
        g_c = dc * f
        if g_p is not None:
            assert mu is not None
            # p_k enters pre_k with 1 + μ_k and pre_{k+1} with -μ_{k+1}.
            g_pre, g_p = g_p + (1 + mu[k]) * g_pre, -mu[k] * g_pre
        g_h = g_pre.mm(weight)
        grads.append(g_pre)
    return torch.stack(grads[::-1]), g_h, g_c, g_p


def single_input_drive(
    x_aug: Tensor, w_aug_t: Tensor, statistics: Tensor, weight: Tensor, bias_ih: Tensor, bias: Tensor, eps: Tensor
) -> Tensor:
    """`d = bias + v / sqrt(m + ε)` for one chunk, as `_drive.SingleInputDrive` (whose docstring names
    the arguments), for `x_aug (C, B, 2)`: the input and the constant 1, filtered."""
    _, _, r, v = _single_input_parts(x_aug, w_aug_t, statistics, weight, bias_ih, eps)
    return torch.addcmul(bias, v, r)


def single_input_drive_backward(
    grad: Tensor, x_aug: Tensor, w_aug_t: Tensor, statistics: Tensor, weight: Tensor, bias_ih: Tensor, eps: Tensor
) -> tuple[Tensor, ...]:
    """The gradients of `single_input_drive` with respect to `x_aug`, `w_aug_t`, `statistics`, `weight`,
    `bias_ih` and `bias`, all six: one graph whether or not the inputs want theirs (the cost is the same)."""
    w, u, r, v = _single_input_parts(x_aug, w_aug_t, statistics, weight, bias_ih, eps)
    g_v = grad * r
    k = g_v * v * r * r  # -2 ∂L/∂m, as ∂d/∂m = -v r³ / 2
    ku = k * u
    c0, c1, c2 = statistics[..., :1], statistics[..., 1:2], statistics[..., 2:]
    # m = u² + c₂ w², u = c₀ w + c₁ b: ∂m/∂w = 2(u c₀ + c₂ w), ∂m/∂b = 2 u c₁; ∂m/∂(c₀, c₁, c₂) = (2u w, 2u b, w²).
    g_weight = -(ku * c0 + k * c2 * w).sum((0, 1))
    g_bias_ih = -(ku * c1).sum((0, 1))
    g_w_aug_t = torch.stack([(g_v * x_aug[..., :1]).sum((0, 1)), (g_v * x_aug[..., 1:]).sum((0, 1))])
    g_x_aug = torch.stack([(g_v * w_aug_t[0]).sum(-1), (g_v * w_aug_t[1]).sum(-1)], -1)
    g_statistics = -torch.stack([(ku * w).sum(-1), (ku * bias_ih).sum(-1), 0.5 * (k * w * w).sum(-1)], -1)
    return g_x_aug, g_w_aug_t, g_statistics, g_weight.unsqueeze(1), g_bias_ih, grad.sum((0, 1))


def _single_input_parts(
    x_aug: Tensor, w_aug_t: Tensor, statistics: Tensor, weight: Tensor, bias_ih: Tensor, eps: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`(w, u, r, v)`: `w = W[:, 0]`, `u = c₀ w + c₁ b`, `r = (u² + c₂ w² + ε)^{-1/2}` and `v`, each
    written out per column so that the compiled loop reads five numbers per step and sequence."""
    w = weight.squeeze(1)
    u = statistics[..., :1] * w + statistics[..., 1:2] * bias_ih
    r = torch.rsqrt(u * u + statistics[..., 2:] * w * w + eps)
    v = x_aug[..., :1] * w_aug_t[0] + x_aug[..., 1:] * w_aug_t[1]
    return w, u, r, v


compiled_chunk = _Compiled(lstm_chunk)
compiled_chunk_backward = _Compiled(lstm_chunk_backward)
compiled_single_input_drive = _Compiled(single_input_drive)
compiled_single_input_drive_backward = _Compiled(single_input_drive_backward)
