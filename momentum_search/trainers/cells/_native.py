"""The long-sequence recurrence of the LSTM and of nesterov-lstm as one C kernel, `_lstm.c`.

At 784 steps the recurrence is the whole cost of these cells, and per step it is one small product
and a few element-wise operations. Library calls pay for each separately (a `torch.mm`, then the
element-wise loop reading back what the product wrote); `nn.LSTM` runs oneDNN's RNN kernel, which
computes the gates while the product's tile is still in registers. `_lstm.c` does the same for a
drive of our own, and runs each thread's sequences through all steps with no barrier in between.
Measured against the compiled steps it replaces, and against `nn.LSTM`: docs/mnist784.md.

nesterov-lstm fits the same kernel: its pre-activation is `e_t + U hin_t` with
`hin_t = (1 + μ_t) h_{t−1} − μ_t h_{t−2}`, so the product takes a `(B, H)` mix of two states (the LSTM's
`a_t = 1, b_t = 0`), and `e_t` is linear in its extrapolated input (`_drive.nesterov_input`), which,
when narrow, joins the product as more columns instead of a `G·H`-wide drive.

The kernel is built at its first use in a process (about a second) with the system's C compiler
(`CC`, else `cc`) for the CPU it runs on, and deleted once loaded. Where that fails, the process warns
once and the steps run eagerly, as they would without a compiler for `torch.compile`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

BASES = ("lstm", "nesterov-lstm")
SOURCE = Path(__file__).with_name("_lstm.c")
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-pthread")

State = tuple[Tensor, ...]


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The kernel, built for this machine, or None (with one warning) where it cannot be."""
    compiler = os.environ.get("CC") or "cc"
    with tempfile.TemporaryDirectory(prefix="momentum-search-") as directory:
        target = Path(directory) / "lstm.so"
        try:
            subprocess.run([compiler, *FLAGS, "-o", str(target), str(SOURCE)], capture_output=True, text=True, check=True)
            library = ctypes.CDLL(str(target))  # mapped: the file may go with the directory
        except (OSError, subprocess.CalledProcessError) as error:
            reason = error.stderr if isinstance(error, subprocess.CalledProcessError) else str(error)
            first = next((line for line in reason.splitlines() if line.strip()), type(error).__name__)
            warnings.warn(
                f"building the LSTM kernel failed ({first.strip()}); the long sequences run eagerly", RuntimeWarning, stacklevel=4
            )
            return None
    sizes, pointers = [ctypes.c_long] * 3, [ctypes.c_void_p]
    library.lstm_forward.argtypes = [*sizes, ctypes.c_long, *pointers * 13, ctypes.c_long]
    library.lstm_backward.argtypes = [*sizes, ctypes.c_long, *pointers * 15, ctypes.c_long]
    library.lstm_forward.restype = library.lstm_backward.restype = None
    return library


def runs(weight: Tensor) -> bool:
    """Whether a recurrence with this recurrent weight runs in the kernel: float32 on the CPU, kernel built."""
    return weight.dtype == torch.float32 and weight.device.type == "cpu" and _library() is not None


def recurrence(
    drive: Iterable[Tensor] | None,
    start: State,
    weight_hh: Tensor,
    mu: Tensor | None,
    *,
    steps: int,
    inputs: tuple[Tensor, Tensor] | None = None,
) -> tuple[Tensor, State]:
    """`_steps.recurrence` for `BASES` in the kernel (see there): the LSTM, or with `mu (T,)` and a third
    state part nesterov-lstm.

    `inputs`, if given, is `(x (T, B, X), W_x (G·H, X))`: X more columns of the product's input after
    `hin_t`, with their weights, which the kernel multiplies in the same tile instead of reading a
    `G·H`-wide drive computed from them; `drive` may then be None (no drive but those columns).
    """
    x, input_weight = inputs if inputs is not None else (None, None)
    if torch.is_grad_enabled():
        chunks = None if drive is None else list(drive)
        tensors = [weight_hh, *start, *(chunks or ()), *(inputs or ())]
        if any(t.requires_grad for t in tensors):
            out, *final = _Recurrence.apply(weight_hh, input_weight, x, mu, steps, len(start), *start, *(chunks or ()))
            return out, tuple(final)
        drive = chunks
    with torch.no_grad():
        out, final, _ = _forward(drive, start, weight_hh, inputs, mu, steps, keep=False)
    return out, final


def _call(function: Any, *args: Tensor | int | None) -> None:
    """`function` on the data of contiguous tensors (outputs are: this module allocates them), which
    stay referenced here until it returns."""
    tensors = [arg.contiguous() if isinstance(arg, Tensor) else arg for arg in args]
    function(*(arg.data_ptr() if isinstance(arg, Tensor) else arg for arg in tensors))


def _coefficients(mu: Tensor | None, steps: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """`a_t`, `b_t` of `hin_t = a_t h_{t−1} + b_t h_{t−2}`."""
    if mu is None:
        return torch.ones(steps, dtype=dtype), torch.zeros(steps, dtype=dtype)
    mu = mu.to(dtype)
    return 1 + mu, -mu


def _weight(weight_hh: Tensor, input_weight: Tensor | None) -> Tensor:
    """The product's whole weight `[U | W_x]`, `(G·H, K)`."""
    return weight_hh if input_weight is None else torch.cat([weight_hh, input_weight], 1)


def _forward(
    drive: Iterable[Tensor] | None,
    start: State,
    weight_hh: Tensor,
    inputs: tuple[Tensor, Tensor] | None,
    mu: Tensor | None,
    steps: int,
    *,
    keep: bool,
) -> tuple[Tensor, State, dict[str, Tensor]]:
    """`out (T, B, H)`, the final state and, with `keep`, what the backward reads (else nothing)."""
    library = _library()
    assert library is not None
    h, c, *before = (s.detach() for s in start)  # nesterov-lstm: h_{t−2} before the first step
    batch, size = h.shape
    x = None if inputs is None else inputs[0].detach()
    weight = _weight(weight_hh.detach(), None if inputs is None else inputs[1].detach())
    width = weight.size(1)
    wp = _pack_forward(weight, size)
    a, b = _coefficients(mu, steps, weight.dtype)
    out = h.new_empty(steps, batch, size)
    widths = {"cs": size, "gates": 4 * size, "tanh_c": size, "hin": width}  # what the backward reads
    kept = {name: h.new_empty(steps, batch, columns) for name, columns in widths.items()} if keep else {}
    h_prev, h_prev2, c_prev = h, before[0] if before else h, c
    done = 0
    for chunk in [None] if drive is None else drive:  # without a drive, all steps in one call
        length = steps if chunk is None else chunk.size(0)
        part = slice(done, done + length)
        cs = kept["cs"][part] if keep else h.new_empty(length, batch, size)
        hin = kept["hin"][part] if keep else h.new_empty(length, batch, width)
        gates, tanh_c = (kept["gates"][part], kept["tanh_c"][part]) if keep else (None, None)
        _call(
            library.lstm_forward, length, batch, size, width, None if chunk is None else chunk.detach(),
            None if x is None else x[part], wp, h_prev, h_prev2, c_prev, a[part], b[part], out[part], cs, gates,
            tanh_c, hin, torch.get_num_threads(),
        )  # fmt: skip
        h_prev2 = h_prev if length == 1 else out[done + length - 2]
        h_prev, c_prev = out[done + length - 1], cs[-1]
        done += length
    return out, (h_prev, c_prev, h_prev2) if before else (h_prev, c_prev), kept


def _widths() -> tuple[int, int]:
    """The kernel's floats per vector and columns per backward tile (they depend on the CPU)."""
    library = _library()
    assert library is not None
    return library.lstm_vector_width(), library.lstm_column_block()


def _pack_forward(weight: Tensor, size: int) -> Tensor:
    """`Wᵀ` (`(G·H, K)`, H = `size`) as the forward tiles read it: per block of V units, `[k][gate][V]`,
    the last block zero-padded."""
    vector, _ = _widths()
    width = weight.size(1)
    blocks = -(-size // vector)
    padded = weight.new_zeros(4, blocks * vector, width)
    padded[:, :size] = weight.view(4, size, width)
    return padded.view(4, blocks, vector, width).permute(1, 3, 0, 2).contiguous()


def _pack_backward(weight: Tensor) -> Tensor:
    """`W` as the backward tiles read it: per group of columns, `[gate row][columns]`, the last zero-padded."""
    vector, group = _widths()
    rows, width = weight.shape
    padded = weight.new_zeros(rows, -(-width // vector) * vector)
    padded[:, :width] = weight
    whole = width // group * group
    edges = [*range(0, whole, group), *range(whole, padded.size(1), vector), padded.size(1)]
    return torch.cat([padded[:, begin:end].flatten() for begin, end in zip(edges, edges[1:])])


class _Recurrence(torch.autograd.Function):
    """`(out, *final_state)` of one layer in the kernel; inputs `weight_hh`, `input_weight` and `x` (the
    product's input columns, or None), `mu`, `steps`, `state_size`, the initial state's tensors, then the
    drive chunks (none without a drive)."""

    @staticmethod
    def forward(
        ctx: Any,
        weight: Tensor,
        input_weight: Tensor | None,
        x: Tensor | None,
        mu: Tensor | None,
        steps: int,
        state_size: int,
        *tensors: Tensor,
    ) -> tuple[Tensor, ...]:
        start, chunks = tensors[:state_size], tensors[state_size:]
        inputs = None if x is None or input_weight is None else (x, input_weight)  # given together
        out, final, kept = _forward(chunks or None, start, weight, inputs, mu, steps, keep=True)
        # What the backward reads lives on ctx but the output, which through save_for_backward does
        # not hold its own grad_fn (see `_steps._Recurrence`).
        ctx.kept, ctx.mu, ctx.sizes = kept, mu, [chunk.size(0) for chunk in chunks]
        ctx.save_for_backward(weight, input_weight, out, *start)
        return (out, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, *g_final: Tensor) -> tuple[Tensor | None, ...]:
        library = _library()
        assert library is not None
        weight_hh, input_weight, out, h, c, *before = ctx.saved_tensors
        kept, steps, (batch, size) = ctx.kept, out.size(0), h.shape
        weight = _weight(weight_hh, input_weight)
        width = weight.size(1)
        a, b = _coefficients(ctx.mu, steps, weight.dtype)
        if before and steps > 1:  # the final state's h_{T−2} is the output's step T−2
            g_out = g_out.clone()
            g_out[-2] += g_final[2]
        g_pre = out.new_empty(steps, batch, 4 * size)
        g_x = None if input_weight is None else out.new_empty(steps, batch, width - size)
        g_h_first, g_c_first, scratch = torch.empty_like(h), torch.empty_like(c), out.new_empty(3, batch, width)
        _call(
            library.lstm_backward, steps, batch, size, width, kept["gates"], kept["tanh_c"], kept["cs"], c,
            _pack_backward(weight), a, b, g_out, g_final[0], g_final[1], g_pre, g_x, g_h_first, g_c_first,
            scratch, torch.get_num_threads(),
        )  # fmt: skip
        # The weights' gradient, Σ_t ∂L/∂pre_t hin_tᵀ, in one product over all steps.
        g_weight = g_pre.flatten(0, 1).t().mm(kept["hin"].flatten(0, 1))
        g_start = [g_h_first, g_c_first]
        if before:  # h_{t−2} before the first step enters hin_0 with b_0; at one step it is the final one
            g_start.append(b[0] * scratch[0, :, :size] + (g_final[2] if steps == 1 else 0))
        g_chunks = g_pre.split(ctx.sizes) if ctx.sizes else ()
        g_input_weight = None if input_weight is None else g_weight[:, size:]
        return (g_weight[:, :size], g_input_weight, g_x, None, None, None, *g_start, *g_chunks)
