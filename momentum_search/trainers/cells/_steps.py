"""The per-step recurrence of each base cell over a precomputed drive, with a hand-written backward.

Every step receives `d_t` (the drive, plus whatever bias could be folded into it) and adds the
recurrent part itself, exactly as `torch.nn.LSTM`/`GRU`/`RNN` compute their pre-activations. The LSTM
runs with its gate blocks in the order `(i, f, o, g)` (`reorder_gates`), so one sigmoid covers three.

`recurrence` runs the steps without recording them and back-propagates through time by hand: per
step only the few operations of the chain rule and one `(B, G·H) @ (G·H, H)` product; the recurrent
weight's gradient is one large product per chunk. `run_steps` is the same forward under autograd,
for when the gradient with respect to each `h_t` itself is wanted (`gradient_flow`).

`nesterov-lstm` (the authors' pre-activation Nesterov cell) is one more base here: the LSTM's step
with `hin_t = (1 + μ_t) h_{t-1} − μ_t h_{t-2}` in the product instead of `h_{t-1}` (its drive, from
`_drive`, is the rest of the extrapolation); its state is `(h, c, h_{t-1})` and each step takes its
`μ_t`, which the others ignore.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from momentum_search.trainers.cells import _native
from momentum_search.trainers.cells._compiled import compiles

State = tuple[Tensor, ...]  # (h,), for the LSTM (h, c), nesterov-lstm (h, c, h before), each (B, H)
Carry = tuple[Tensor, ...]  # the gradient reaching the state from later steps, like State
Saved = tuple[Tensor, ...]  # what one step keeps for the backward pass
Gradients = tuple[Tensor, Tensor, Tensor | None, Carry]  # see _Base.backward


class _Base(NamedTuple):
    """How one base cell steps forward and back.

    step(d, state, weight_t, bias, mu, out) -> (state, saved): one step; `saved` is what `backward` needs;
        `mu` is the step's `μ_t` (nesterov-lstm only); `out`, if not None, a `(B, G·H)` row in which
        a base that `fills_gates` puts its activated gates, the first tensor it saves (others ignore it).
    backward(saved, previous, current, g_out, carry, weight, bias, mu) -> (g_d, g_recurrent, g_bias, carry):
        one chunk of steps in reverse. All tensors are stacked over the chunk's steps: `saved`,
        `previous` (the state before each step), `current` (after), `g_out` (∂L/∂out_t); `mu` the
        chunk's `μ_t`. Returns the gradients with respect to the drive and to the recurrent
        pre-activation `U h_{t-1} (+ b)`, the bias's gradient (or None), and the carry into the step
        before the chunk.
    """

    step: Callable[[Tensor, State, Tensor, Tensor | None, float, Tensor | None], tuple[State, Saved]]
    backward: Callable[
        [Sequence[Tensor], Sequence[Tensor], Sequence[Tensor], Tensor, Carry, Tensor, Tensor | None, Sequence[float]],
        Gradients,
    ]
    # The step writes its gates straight into the chunk's buffer: no per-chunk copy of 4H-wide rows.
    fills_gates: bool = False
    # The product's input is the last tensor the step saves, not h_{t-1} (nesterov-lstm's hin_t).
    saves_product_input: bool = False


def _lstm_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # d = a_t + b_hh with the blocks in (i, f, o, g) order; bias and mu are unused.
    h, c = state
    return _lstm_gates(torch.addmm(d, h, weight_t, out=out), c)


def _lstm_gates(gates: Tensor, c: Tensor) -> tuple[State, Saved]:
    """`(h, c)` from the pre-activation `gates` (blocks `(i, f, o, g)`, overwritten without autograd)."""
    size = c.size(1)
    if torch.is_grad_enabled():  # autograd cannot record in-place activations of two views of one tensor
        gates = torch.cat([gates[:, : 3 * size].sigmoid(), gates[:, 3 * size :].tanh()], 1)
    else:
        gates[:, : 3 * size].sigmoid_()
        gates[:, 3 * size :].tanh_()
    i, f, o, g = gates.split(size, 1)
    c = torch.addcmul(f * c, i, g)
    tanh_c = c.tanh()
    return (o * tanh_c, c), (gates, tanh_c)


def _nesterov_lstm_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # d = e_t (`_drive._nesterov_drive`): pre_t = e_t + U hin_t, hin_t = (1 + μ_t) h_{t-1} − μ_t h_{t-2}.
    h, c, h_before = state
    product_input = torch.lerp(h_before, h, 1 + mu)
    (h_next, c), saved = _lstm_gates(torch.addmm(d, product_input, weight_t, out=out), c)
    return (h_next, c, h), (*saved, product_input)


def _lstm_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    gates, tanh_c = saved[:2]
    size = tanh_c.size(-1)
    i, f, o, g = gates.split(size, 2)
    # ∂c/∂pre for the blocks (i, f, g) and ∂h/∂pre (through o) for o, for all steps at once, each
    # written into its block (σ' = σ - σ², tanh' = 1 - tanh²): no temporaries, no concatenation.
    factors = torch.empty_like(gates)
    d_i, d_f, d_o, d_g = factors.split(size, 2)
    torch.addcmul(i, i, i, value=-1, out=d_i).mul_(g)
    torch.addcmul(f, f, f, value=-1, out=d_f).mul_(previous[1])
    torch.addcmul(o, o, o, value=-1, out=d_o).mul_(tanh_c)
    torch.addcmul(i, torch.mul(g, g, out=d_g), i, value=-1, out=d_g)
    return _gated_through_time(factors, torch.addcmul(o, o * tanh_c, tanh_c, value=-1), f, g_out, carry, weight, mu)


def _gated_through_time(
    factors: Tensor, through_c: Tensor, keep: Tensor, g_out: Tensor, carry: Carry, weight: Tensor, mu: Sequence[float]
) -> Gradients:
    """One chunk of an `(h, c)` cell's steps in reverse, for four gate blocks whose third is the output
    gate `o` (`h = o ⊙ tanh c`) and the others act through `c = keep ⊙ c_{t-1} + …`: `factors` holds
    `∂c/∂pre` for those and `∂h/∂pre` for `o`, `through_c` is `∂h/∂c`, all stacked over the chunk.

    nesterov-lstm's state, hence carry, has a third part, `h_{k-1}` after step k: its product's input
    `hin_k` takes `h_{k-1}` with `1 + μ_k` and `h_{k-2}` with `-μ_k`.
    """
    nesterov = len(carry) == 3
    steps, batch, width = factors.shape
    g_pre = torch.empty_like(factors)
    blocks, factor_blocks = g_pre.view(steps, batch, 4, width // 4), factors.view(steps, batch, 4, width // 4)
    g_h, g_c, *g_h_before = carry  # g_h_before: what reaches h_{k-1} through hin_{k+1} already
    for k in reversed(range(steps)):
        dh = g_out[k] + g_h
        dc = torch.addcmul(g_c, dh, through_c[k])
        torch.mul(dc.unsqueeze(1), factor_blocks[k], out=blocks[k])
        torch.mul(dh, factor_blocks[k, :, 2], out=blocks[k, :, 2])  # the o block goes by dh, not dc
        g_c = dc * keep[k]
        g_h = torch.mm(g_pre[k], weight)
        if nesterov:
            g_h, g_h_before = torch.add(g_h_before[0], g_h, alpha=1 + mu[k]), [g_h * -mu[k]]
    return g_pre, g_pre, None, (g_h, g_c, *g_h_before)


def _ur_lstm_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # d = a_t + b_hh, blocks (f, r, o, u); bias and mu are unused.
    h, c = state
    size = h.size(1)
    gates = torch.addmm(d, h, weight_t)
    gates = torch.cat([gates[:, : 3 * size].sigmoid(), gates[:, 3 * size :].tanh()], 1)
    f, r, o, u = gates.split(size, 1)
    keep = torch.addcmul(f * f, 2 * r * f, 1 - f)  # r (1 - (1 - f)²) + (1 - r) f²
    c = torch.lerp(u, c, keep)  # keep ⊙ c + (1 - keep) ⊙ u
    tanh_c = c.tanh()
    return (o * tanh_c, c), (gates, keep, tanh_c)


def _ur_lstm_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    gates, keep, tanh_c = saved
    size = tanh_c.size(-1)
    f, r, o, u = gates.split(size, 2)
    # ∂c/∂keep = c_{t-1} - u; ∂keep/∂f = 2f + 2r(1 - 2f), ∂keep/∂r = 2f(1 - f).
    through_keep = previous[1] - u
    factors = torch.cat(
        [
            through_keep * (2 * f + 2 * r * (1 - 2 * f)) * f * (1 - f),
            through_keep * 2 * f * (1 - f) * r * (1 - r),
            tanh_c * o * (1 - o),
            (1 - keep) * (1 - u * u),
        ],
        2,
    )
    return _gated_through_time(factors, o * (1 - tanh_c * tanh_c), keep, g_out, carry, weight, mu)


JANET_SHIFT = 1.0  # β of JANET's input gate 1 - σ(s - β)


def _janet_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # d = a_t + b_hh, blocks (s, ĉ); h = c, so the state is h alone; bias and mu are unused.
    (h,) = state
    size = h.size(1)
    pre = torch.addmm(d, h, weight_t)
    s = pre[:, :size]
    f, keep, u = s.sigmoid(), (s - JANET_SHIFT).sigmoid(), pre[:, size:].tanh()
    return (torch.addcmul(f * h, 1 - keep, u),), (f, keep, u)


def _janet_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    f, keep, u = saved
    steps, batch, size = f.shape
    # ∂c/∂s = c_{t-1} σ'(s) - u σ'(s - β), ∂c/∂ĉ = (1 - σ(s - β))(1 - u²), ∂c/∂c_{t-1} = σ(s).
    factors = torch.cat([previous[0] * f * (1 - f) - u * keep * (1 - keep), (1 - keep) * (1 - u * u)], 2)
    g_pre = torch.empty_like(factors)
    blocks, factor_blocks = g_pre.view(steps, batch, 2, size), factors.view(steps, batch, 2, size)
    (g_h,) = carry
    for k in reversed(range(steps)):
        dc = g_out[k] + g_h
        torch.mul(dc.unsqueeze(1), factor_blocks[k], out=blocks[k])
        g_h = torch.addmm(dc * f[k], g_pre[k], weight)
    return g_pre, g_pre, None, (g_h,)


def _gru_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # bias = b_hh: its n block sits inside r ⊙ (U_n h + b_hn), so it cannot be folded into d.
    (h,) = state
    size = h.size(1)
    assert bias is not None  # a GRU always has b_hh
    recurrent = torch.addmm(bias, h, weight_t)
    rz = torch.sigmoid(d[:, : 2 * size] + recurrent[:, : 2 * size])
    r, z = rz.chunk(2, 1)
    recurrent_n = recurrent[:, 2 * size :]
    n = torch.tanh(torch.addcmul(d[:, 2 * size :], r, recurrent_n))
    return (torch.lerp(n, h, z),), (rz, n, recurrent_n)  # h' = (1 - z) ⊙ n + z ⊙ h


def _gru_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    rz, n, recurrent_n = saved
    steps, batch, size = n.shape
    r, z = rz.chunk(2, 2)
    through_n = (1 - z) * (1 - n * n)
    # Both gradients are dh_t times a factor known before the loop: (r, z, n) blocks of the drive,
    # and of the recurrent pre-activation (whose n block is multiplied by r).
    factors_d = torch.cat([through_n * recurrent_n * r * (1 - r), (previous[0] - n) * z * (1 - z), through_n], 2)
    factors_recurrent = torch.cat([factors_d[..., : 2 * size], through_n * r], 2)
    g_d = torch.empty_like(factors_d)
    g_recurrent = torch.empty_like(factors_d)
    (g_h,) = carry
    for k in reversed(range(steps)):
        dh = (g_out[k] + g_h).unsqueeze(1)
        torch.mul(dh, factors_d[k].view(batch, 3, size), out=g_d[k].view(batch, 3, size))
        torch.mul(dh, factors_recurrent[k].view(batch, 3, size), out=g_recurrent[k].view(batch, 3, size))
        g_h = torch.addmm(dh.squeeze(1) * z[k], g_recurrent[k], weight)
    return g_d, g_recurrent, g_recurrent.sum((0, 1)), (g_h,)


def _rnn_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # d = a_t + b_hh (folded by the drive); bias is unused.
    return (torch.addmm(d, state[0], weight_t).tanh(),), ()


def _rnn_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    g_pre, g_h = _through_elementwise(1 - current[0] * current[0], g_out, carry, weight)
    return g_pre, g_pre, None, (g_h,)


def _exprnn_step(
    d: Tensor, state: State, weight_t: Tensor, bias: Tensor | None, mu: float, out: Tensor | None
) -> tuple[State, Saved]:
    # bias = modReLU's b: modrelu(z) = sign(z) ⊙ relu(|z| + b).
    z = torch.addmm(d, state[0], weight_t)
    assert bias is not None  # exprnn always has modReLU's b
    return (z.sign() * torch.relu(z.abs() + bias),), (z,)


def _exprnn_backward(
    saved: Sequence[Tensor],
    previous: Sequence[Tensor],
    current: Sequence[Tensor],
    g_out: Tensor,
    carry: Carry,
    weight: Tensor,
    bias: Tensor | None,
    mu: Sequence[float],
) -> Gradients:
    (z,) = saved
    sign = z.sign()
    assert bias is not None
    # ∂h/∂z = sign(z)² [|z| + b > 0] (zero at z = 0, as autograd has it); ∂h/∂b = sign(z) [|z| + b > 0].
    active = (z.abs() + bias > 0).to(z.dtype)
    g_pre, g_h = _through_elementwise(sign * sign * active, g_out, carry, weight)
    return g_pre, g_pre, (g_pre * sign).sum((0, 1)), (g_h,)


def _through_elementwise(factor: Tensor, g_out: Tensor, carry: Carry, weight: Tensor) -> tuple[Tensor, Tensor]:
    """`∂L/∂pre_t` for `h_t = φ(pre_t)`, `pre_t = d_t + U h_{t-1}`, given `factor = φ'(pre_t)` for each
    step, and `∂L/∂h` before the chunk."""
    g_pre = torch.empty_like(factor)
    (g_h,) = carry
    for k in reversed(range(factor.size(0))):
        torch.mul(g_out[k] + g_h, factor[k], out=g_pre[k])
        g_h = torch.mm(g_pre[k], weight)
    return g_pre, g_h


BASES: dict[str, _Base] = {
    "lstm": _Base(_lstm_step, _lstm_backward, fills_gates=True),
    "gru": _Base(_gru_step, _gru_backward),
    "rnn": _Base(_rnn_step, _rnn_backward),
    "exprnn": _Base(_exprnn_step, _exprnn_backward),
    "nesterov-lstm": _Base(_nesterov_lstm_step, _lstm_backward, fills_gates=True, saves_product_input=True),
    "janet": _Base(_janet_step, _janet_backward),
    "ur-lstm": _Base(_ur_lstm_step, _ur_lstm_backward),
}


def reorder_gates(base: str, rows: Tensor) -> Tensor:
    """PyTorch's gate blocks (dim 0) in the order the steps use: the LSTM's (i, f, g, o) as (i, f, o, g)."""
    if base != "lstm":
        return rows
    i, f, g, o = rows.chunk(4, 0)
    return torch.cat([i, f, o, g])


def in_kernel(base: str, steps: int, weight_hh: Tensor) -> bool:
    """Whether `recurrence` runs `base` over `steps` steps in `_native`'s kernel."""
    return base in _native.BASES and compiles(steps, weight_hh.device) and _native.runs(weight_hh)


def recurrence(
    base: str,
    drive: Iterable[Tensor],
    start: State,
    weight_hh: Tensor,
    bias: Tensor | None,
    mu: Tensor | None = None,
    *,
    steps: int,
) -> tuple[Tensor, State]:
    """One layer of `base` over the drive (chunks `(C, B, G·H)` in time order, `steps` in all): `out
    (T, B, H)` and the final state; `mu (T,)` gives nesterov-lstm's `μ_t` for every step.
    Differentiable through `_Recurrence`'s hand-written backward; without autograd (`torch.no_grad()`,
    nothing requiring grad) the chunks are consumed as they come, nothing is kept. The LSTM's bases
    run in `_native`'s kernel where `_compiled.compiles` says a sequence is long enough."""
    if in_kernel(base, steps, weight_hh):
        return _native.recurrence(drive, start, weight_hh, mu, steps=steps)
    if torch.is_grad_enabled():
        chunks = list(drive)
        tensors = [weight_hh, bias, *start, *chunks]
        if any(t is not None and t.requires_grad for t in tensors):
            out, *final = _Recurrence.apply(base, weight_hh, bias, mu, len(start), *start, *chunks)
            return out, tuple(final)
        drive = chunks
    with torch.no_grad():
        states, _, final = _forward(base, drive, start, weight_hh, bias, mu, keep=False)
    return states[0], final


def _forward(
    base: str,
    drive: Iterable[Tensor],
    start: State,
    weight_hh: Tensor,
    bias: Tensor | None,
    mu: Tensor | None,
    *,
    keep: bool,
) -> tuple[list[Tensor], list[list[Tensor]], State]:
    """The steps, unrecorded: the state after every step, stacked (only `h` unless `keep`, then `h` and
    `c`), with `keep` what the backward needs, stacked per chunk, and the final state."""
    weight_t = weight_hh.t()
    # The backward reads h and c before and after each step (nesterov-lstm's third part it saves as hin).
    histories: list[list[Tensor]] = [[] for _ in start[: 2 if keep else 1]]
    saved_chunks = []
    step, fills_gates = BASES[base].step, BASES[base].fills_gates and keep
    state = start
    values = iter(mu.tolist()) if mu is not None else itertools.repeat(0.0)
    for chunk in drive:
        gates = torch.empty_like(chunk) if fills_gates else None
        saved_steps = []
        for k, d in enumerate(chunk.unbind(0)):
            state, saved = step(d, state, weight_t, bias, next(values), None if gates is None else gates[k])
            for history, part in zip(histories, state):
                history.append(part)
            saved_steps.append(saved)
        if keep:
            filled = [] if gates is None else [gates]
            saved_chunks.append(filled + [torch.stack(parts) for parts in list(zip(*saved_steps))[len(filled) :]])
    return [torch.stack(history) for history in histories], saved_chunks, state


class _Recurrence(torch.autograd.Function):
    """`(out, *final_state)` of one layer; inputs `base`, `weight_hh (G·H, H)`, `bias` (GRU: `b_hh`,
    exprnn: modReLU's `b`, else None), `mu` (nesterov-lstm's `μ_t (T,)`, else None), `state_size` (1, 2 for the
    LSTM, 3 for nesterov-lstm), the initial state's tensors, then the drive chunks (flat: autograd only follows
    tensors passed as arguments)."""

    @staticmethod
    def forward(
        ctx: Any,
        base: str,
        weight: Tensor,
        bias: Tensor | None,
        mu: Tensor | None,
        state_size: int,
        *inputs: Tensor,
    ) -> tuple[Tensor, ...]:
        start, chunks = inputs[:state_size], inputs[state_size:]
        states, saved_chunks, final = _forward(base, chunks, start, weight, bias, mu, keep=True)
        # Intermediates live on ctx: they are neither inputs nor outputs. The output `out` (states[0]) must go
        # through save_for_backward: on ctx it would hold its own grad_fn, a cycle that kept every
        # training step's intermediates alive (~290 MB a step at T=784, B=128, H=64, until the process died).
        ctx.base, ctx.states, ctx.saved_chunks = base, states[1:], saved_chunks
        ctx.mu = [0.0] * states[0].size(0) if mu is None else mu.tolist()
        ctx.sizes = [chunk.size(0) for chunk in chunks]
        ctx.save_for_backward(weight, bias, states[0], *start)
        return (states[0], *final)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, *g_final: Tensor) -> tuple[Tensor | None, ...]:
        weight, bias, out, *start = ctx.saved_tensors
        states: list[Tensor] = [out, *ctx.states]
        backward = BASES[ctx.base].backward
        carry: Carry = tuple(g_final)
        g_weight = torch.zeros_like(weight)
        g_bias = None if bias is None else torch.zeros_like(bias)
        g_chunks = []
        end = states[0].size(0)
        for size, saved in zip(reversed(ctx.sizes), reversed(ctx.saved_chunks)):
            begin = end - size
            current = [state[begin:end] for state in states]
            previous = [_before(first, state, begin, end) for first, state in zip(start, states)]
            mu = ctx.mu[begin:end]
            g_d, g_recurrent, g_b, carry = backward(saved, previous, current, g_out[begin:end], carry, weight, bias, mu)
            # U's gradient, Σ_t g_t h_{t-1}ᵀ (or the product's other input), one product per chunk.
            product_input = saved[-1] if BASES[ctx.base].saves_product_input else previous[0]
            g_weight.addmm_(g_recurrent.flatten(0, 1).t(), product_input.flatten(0, 1))
            if g_bias is not None and g_b is not None:
                g_bias += g_b
            g_chunks.append(g_d)
            end = begin
        return (None, g_weight, g_bias, None, None, *carry, *reversed(g_chunks))


def _before(start: Tensor, states: Tensor, begin: int, end: int) -> Tensor:
    """The states before steps `begin..end-1`: `states[begin-1:end-1]`, with `start` before step 0."""
    if begin > 0:
        return states[begin - 1 : end - 1]
    return torch.cat([start.unsqueeze(0), states[: end - 1]])


def run_steps(
    base: str,
    drive: Iterable[Tensor],
    state: State,
    weight_hh: Tensor,
    bias: Tensor | None,
    mu: Tensor | None = None,
) -> tuple[list[Tensor], State]:
    """The same steps under autograd: `[h_1, …, h_T]` (separate tensors, so that `∂L/∂h_t` can be
    asked for) and the final state."""
    step = BASES[base].step
    weight_t = weight_hh.t()
    hs: list[Tensor] = []
    coefficients = iter(mu.tolist()) if mu is not None else itertools.repeat(0.0)
    for chunk in drive:
        # unbind, not chunk[t]: autograd then scatters the gradient back once, not once per step.
        for d in chunk.unbind(0):
            state, _ = step(d, state, weight_t, bias, next(coefficients), None)
            hs.append(state[0])
    return hs, state
