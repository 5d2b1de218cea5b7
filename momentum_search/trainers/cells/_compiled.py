"""The long-sequence switch, and the one-input adam/rmsprop drive compiled by `torch.compile` on CPU.

`compiles` decides for every long-sequence hot path whether it runs compiled: this drive, and the
LSTM's steps in `_native`'s C kernel. The eager drive (`_drive.SingleInputDrive`) writes into buffers
and works in place, which is what makes it fast one operation at a time; a compiler wants a plain
function it can fuse. Compiled, the drive is one pass over a chunk forward and one back where eagerly
it is about a dozen (docs/mnist784.md). The first call in a process compiles (a few seconds from
inductor's disk cache, 30 s or more without), so short sequences, which would not earn it back, stay
eager. `single_input_drive` and its backward compute what `_drive.SingleInputDrive` does.
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


def compiles(steps: int, device: torch.device) -> bool:
    """Whether a layer over `steps` steps on `device` runs its compiled paths, where they build.

    `MOMENTUM_SEARCH_COMPILE=never` keeps everything eager, `always` compiles at any length.
    CUDA stays eager: the compiled paths are measured and tested on CPU only.
    """
    mode = os.environ.get(MODE, "auto")
    if mode not in MODES:
        raise ValueError(f"{MODE} must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "never" or device.type != "cpu":
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


compiled_single_input_drive = _Compiled(single_input_drive)
compiled_single_input_drive_backward = _Compiled(single_input_drive_backward)
