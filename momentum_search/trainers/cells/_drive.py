"""The drive `d_t` of every variant, computed from the input alone, a chunk of time steps at a time.

Chunks of `C` steps keep the `(C, B, G·H)` tensors small enough to stay in cache, and let the
per-step recurrence start on the first chunk before the last one is computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from momentum_search.trainers.cells._compiled import compiled_single_input_drive, compiled_single_input_drive_backward, compiles
from momentum_search.trainers.cells._kinds import DRIVES
from momentum_search.trainers.cells._scan import (
    Schedule,
    chunk_length,
    constant_response,
    linear_recurrence,
    trainable_filter,
)

# The drive of these variants is linear in the input (PyTorch's fused kernels can run them).
LINEAR_VARIANTS = ("plain", "momentum", "nag", "sr", "learnable-momentum")
# The variants whose drive keeps a first moment v (rmsprop's is s·a: μ = 0), and a second moment m.
WITH_V = ("momentum", "nag", "sr", "learnable-momentum", "adam")
WITH_M = ("adam", "rmsprop")


@dataclass
class Moments:
    """A drive's state between two segments of one sequence: `v` and `m`, each `(B, G·H)` in the
    drive's gate order, or None (zeros before the first step; not kept by the variant)."""

    v: Tensor | None = None
    m: Tensor | None = None


def momentum_schedule(variant: str, hyperparameters: Mapping[str, float | int], start: int = 0) -> Schedule:
    """The coefficients `μ_t` of `v_t = μ_t v_{t-1} + s a_t` (rmsprop: `μ = 0`) from step `start + 1` on;
    nesterov's `μ_t` of its pre-activation extrapolation. A restart period F = 0 never restarts (nag)."""
    period = int(hyperparameters.get("restart", 0))
    if variant in ("sr", "nesterov") and period > 0:
        # The phase is all that matters: equal phases share one cached filter.
        return Schedule("restart", period=period, start=start % period)
    if variant in ("nag", "sr", "nesterov"):
        return Schedule("nag", start=start)
    return Schedule("constant", float(hyperparameters.get("mu", 0.0)))


def filtered(features: Tensor, schedule: Schedule) -> Tensor:
    """`[filter(features), filter(1)]`, shape `(T, B, K + 1)`, for features `(T, B, K)`."""
    steps, batch = features.shape[:2]
    where = (steps, features.device, features.dtype)
    response = constant_response(schedule, *where).view(steps, 1, 1).expand(steps, batch, 1)
    return torch.cat([linear_recurrence(schedule, *where)(features), response], 2)


def momentum(
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor,
    variant: str,
    hyperparameters: Mapping[str, Any],
    *,
    start: int = 0,
    initial: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """`(x_aug, w_aug)` with `x_aug w_augᵀ = v`: `v_t = s (W x̃_t + b_ih c̃_t)`, where `x̃`, `c̃` are
    the input and the constant 1 filtered by the variant's schedule from step `start + 1` on.
    `x_aug` is `(T, B, I + 1)`. For `learnable-momentum`, μ and s are tensors and both results are
    differentiable in them.

    A carried `initial` `v_0 (B, G·H)` adds `(μ_1 ⋯ μ_t) v_0`: one more input per sequence of the
    batch, `μ_1 ⋯ μ_t` in its own sequence and 0 in the others, whose weight column is its `v_0`
    (`x_aug` is then `(T, B, I + 1 + B)`; cheap for the small batches of truncated BPTT).

    `w_aug` is stored column-major: PyTorch's GRU and RNN kernels then form its gradient as
    `x_augᵀ g`, which for few columns is much faster than `gᵀ x_aug` (~90 ms of a 560 ms GRU step
    at I + 1 = 2, T = 784, B = 64, H = 128).
    """
    w_aug_t = hyperparameters["s"] * torch.cat([weight_ih.t(), bias_ih.unsqueeze(0)], 0)
    steps = x.size(0)
    if variant == "learnable-momentum":
        mu = hyperparameters["mu"]
        x_aug = trainable_filter(torch.cat([x, x.new_ones(*x.shape[:2], 1)], 2), mu)
        decay = (mu ** torch.arange(1, steps + 1, dtype=mu.dtype, device=mu.device)).to(x.dtype)
    else:
        schedule = momentum_schedule(variant, hyperparameters, start)
        x_aug = filtered(x, schedule)
        decay = schedule.coefficients(steps, x.device).cumprod(0).to(x.dtype)
    if initial is not None:
        x_aug, w_aug_t = _with_initial(x_aug, w_aug_t, decay, initial)
    return x_aug, w_aug_t.t()


def _with_initial(x_aug: Tensor, w_aug_t: Tensor, decay: Tensor, initial: Tensor) -> tuple[Tensor, Tensor]:
    """`(x_aug, w_aug_t)` extended so that `x_aug w_aug_tᵀ` gains `decay_t · initial` (see `momentum`)."""
    batch = x_aug.size(1)
    impulses = decay.view(-1, 1, 1) * torch.eye(batch, dtype=x_aug.dtype, device=x_aug.device)
    return torch.cat([x_aug, impulses], 2), torch.cat([w_aug_t, initial.to(w_aug_t.dtype)], 0)


def single_input_statistics(x: Tensor, beta: float) -> Tensor:
    """`(c₀, c₁, c₂)`, shape `(T, B, 3)` in `x`'s dtype, for one input (`x (T, B, 1)`), such that the
    second moment `m = (1-β) filter_β(a²)` of `a = w x + b` is, per drive entry,
    `m = (c₀ w + c₁ b)² + c₂ w²`.

    With `Sₖ = filter_β(xᵏ)`, `m = (1-β)(S₂w² + 2S₁wb + S₀b²)`, which cancels where `a ≈ 0`; written as
    a weighted mean and variance, `m = (1-β)(S₀ (w S₁/S₀ + b)² + (S₂ - S₁²/S₀) w²)`, no term is
    negative, so the cell's dtype computes it to its own precision. The three statistics per step
    and sequence are taken in float64 (the variance cancels there, on `T·B` numbers only)."""
    wide = x.double()
    s2, s1, s0 = filtered(torch.cat([wide * wide, wide], 2), Schedule("constant", beta)).unbind(2)
    spread = (s2 - s1 * s1 / s0).clamp_min(0)
    return torch.stack([s1 * ((1 - beta) / s0).sqrt(), ((1 - beta) * s0).sqrt(), (1 - beta) * spread], 2).to(x.dtype)


def single_input_moment(statistics: Tensor, weight: Tensor, bias: Tensor, eps: float = 0.0) -> Tensor:
    """`m + ε = (c₀ w + c₁ b)² + c₂ w² + ε` for `statistics (N, 3)`, `weight (G·H, 1)`, `bias (G·H,)`:
    shape `(N, G·H)`, never below ε."""
    w = weight.t()
    m = torch.addmm(bias.new_full(bias.shape, eps), statistics[:, 2:], w * w)
    u = torch.mm(statistics[:, :2], torch.cat([w, bias.unsqueeze(0)]))
    return m.addcmul_(u, u)


def nesterov_input(
    x: Tensor, weight_ih: Tensor, bias_ih: Tensor, bias: Tensor, s: float, mu: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """nesterov-lstm's drive as a linear map of its extrapolated input: `(x̃, W_e, c)` with
    `x̃_t = (1 + μ_t) x_t − μ_t x_{t−1}` (`x_{−1} = 0`), `W_e = −s W`, `c = bias − s b_ih`; `mu (T,)`.

    Its pre-activation `(1 + μ_t) p_t − μ_t p_{t−1}`, `p_t = U h_{t−1} + d_t`, `d_t = c + W_e x_t`, is
    `e_t + U hin_t` with `hin_t = (1 + μ_t) h_{t−1} − μ_t h_{t−2}` (the recurrence's part) and
    `e_t = (1 + μ_t) d_t − μ_t d_{t−1} = c + W_e x̃_t` (`I` wide where `d` is `G·H`), but for a carried `p`
    (`d_{−1}`), which the first step adds as `μ_0 (c − p)`.
    """
    before = torch.cat([x.new_zeros(1, *x.shape[1:]), x[:-1]])
    return torch.lerp(before, x, (1 + mu.to(x.dtype)).view(-1, 1, 1)), -s * weight_ih, bias - s * bias_ih


def _nesterov_drive(
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor,
    bias: Tensor,
    hyperparameters: Mapping[str, Any],
    start: int,
    carried: Tensor | None,
    final: Moments | None,
    size: int,
) -> Iterator[Tensor]:
    """nesterov-lstm's `e_t` (`nesterov_input`) in chunks of `size` steps. Before the first step `d_{−1}`
    is the carried `p` (`carried`, zeros if None). A `final` given gets `v = d_{T−1}`, from which the
    cell completes `p_{T−1} = d_{T−1} + U h_{T−2}`."""
    mu = momentum_schedule("nesterov", hyperparameters, start).coefficients(x.size(0), x.device)
    extrapolated, weight, constant = nesterov_input(x, weight_ih, bias_ih, bias, hyperparameters["s"], mu)
    weight_t = weight.t().contiguous()
    for index, piece in enumerate(extrapolated.split(size)):
        chunk = linear(piece, weight_t, constant)
        if index == 0 and start > 0:  # μ_0 = 0 at a sequence's first step
            chunk[0] += mu[0].item() * (constant if carried is None else constant - carried)
        yield chunk
    if final is not None:
        final.v = linear(x[-1:], weight_t, constant)[0]


def drive(
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor,
    bias: Tensor,
    variant: str,
    hyperparameters: Mapping[str, Any],
    *,
    start: int = 0,
    initial: Moments | None = None,
    final: Moments | None = None,
) -> Iterator[Tensor]:
    """`d_t + bias` for every step of `x (T, B, I)`, one chunk `(C, B, G·H)` at a time, in order.

    Linear variants: `F.linear([x̃, c̃], s [W | b_ih])` (`momentum`). Adam and rmsprop:
    `v / sqrt(m + ε)` with `v` as before and `m` either in closed form from three input statistics
    (`single_input_statistics`; one input, float32/16 cells) or the filter of `(1-β) a²` itself.
    Nesterov (whose state sits in the recurrence): `e_t` of `_nesterov_drive`.

    The sequence goes on from step `start` with the moments `initial` (zeros if None); a `final`
    given is filled with the moments after the last step once the chunks are consumed.
    """
    size = chunk_length(x.size(0))
    initial = initial or Moments()
    if variant == "nesterov":
        yield from _nesterov_drive(x, weight_ih, bias_ih, bias, hyperparameters, start, initial.v, final, size)
        return
    if variant in LINEAR_VARIANTS:
        plain = DRIVES[variant].plain
        if plain:
            x_aug, weight, bias = x, weight_ih, bias_ih + bias
        else:
            x_aug, weight = momentum(x, weight_ih, bias_ih, variant, hyperparameters, start=start, initial=initial.v)
        weight_t = weight.t().contiguous()
        for piece in x_aug.split(size):
            yield linear(piece, weight_t, bias)
        if final is not None and not plain:
            final.v = linear(x_aug[-1:], weight_t)[0]
        return
    beta, eps = hyperparameters["beta"], hyperparameters["eps"]
    if x.size(2) == 1 and x.dtype != torch.float64 and initial.v is None and initial.m is None:
        # One input (pixel sequences): m in closed form from three statistics per step, no filter
        # over the G·H-wide drive, and the cell's own dtype throughout (`single_input_statistics`).
        # A float64 cell, or a carried v or m, takes the exact path below.
        v_aug, v_weight = momentum(x, weight_ih, bias_ih, variant, hyperparameters, start=start)
        statistics = single_input_statistics(x, beta)
        v_weight_t = v_weight.t().contiguous()
        compiled = compiles(x.size(0), x.device) and not compiled_single_input_drive.failed
        for v_piece, piece in zip(v_aug.split(size), statistics.split(size)):
            yield SingleInputDrive.apply(v_piece, v_weight_t, piece, weight_ih, bias_ih, bias, eps, compiled)
        if final is not None:
            final.v = linear(v_aug[-1:], v_weight_t)[0] if variant == "adam" else None
            final.m = single_input_moment(statistics[-1], weight_ih, bias_ih)
        return
    # Else filter the drive itself. With the weights scaled by s, the linear map gives s·a
    # directly, and m = (1-β)/s² filter_β((s a)²).
    s = hyperparameters["s"]
    steps, where = x.size(0), (x.device, x.dtype)
    first = None
    if variant == "adam":  # rmsprop's v is s·a itself
        first = linear_recurrence(momentum_schedule(variant, hyperparameters), steps, *where).scanner(initial=initial.v)
    second = linear_recurrence(Schedule("constant", beta), steps, *where).scanner((1 - beta) / s**2, initial.m)
    weight_t = (s * weight_ih).t().contiguous()
    for piece in x.split(size):
        scaled = linear(piece, weight_t, s * bias_ih)
        v = scaled if first is None else first(scaled)
        yield Normalized.apply(v, second(scaled.square()), bias, eps)
    if final is not None:
        final.v = None if first is None else first.last
        final.m = second.last


def linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor:
    """`x Wᵀ + b` for `x (T, B, K)`, given `Wᵀ` as a contiguous `(K, G·H)` tensor. Unlike `F.linear`,
    its backward then forms the weight's gradient as `xᵀ g`, which BLAS computes 10-20× faster than
    `gᵀ x` when K is small (autograd picks the product that matches the weight's memory layout)."""
    flat = x.flatten(0, 1)
    out = torch.mm(flat, weight_t) if bias is None else torch.addmm(bias, flat, weight_t)
    return out.view(x.size(0), x.size(1), -1)


class Normalized(torch.autograd.Function):
    """`d = bias + v / sqrt(max(m, 0) + ε)` in few passes.

    `max(m, 0)` only repairs rounding (the true `m` is never negative), so its gradient is taken as 1.
    """

    @staticmethod
    def forward(ctx: Any, v: Tensor, m: Tensor, bias: Tensor, eps: float) -> Tensor:
        root = m.clamp_min(0).add_(eps).sqrt_()
        ctx.save_for_backward(v, root)
        return torch.addcdiv(bias, v, root)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        v, root = ctx.saved_tensors
        g_v = grad / root
        # ∂d/∂m = -v / (2 (m + ε)^{3/2})
        g_m = (g_v * v).div_(root).div_(root).mul_(-0.5)
        return g_v, g_m, grad.sum((0, 1)), None


class SingleInputDrive(torch.autograd.Function):
    """`d = bias + v / sqrt(m + ε)` for one chunk of a one-input cell, `v = x_aug w_aug` and `m` from
    the statistics `c` (`single_input_statistics`): inputs `x_aug (C, B, K)`, `w_augᵀ (K, G·H)`,
    `c (C, B, 3)`, `W (G·H, 1)`, `b_ih`, `bias`, `ε`.

    One function rather than autograd's chain: the backward needs only `r = (m + ε)^{-1/2}` and
    `k = v r³` (`∂d/∂v = r`, `∂d/∂m = -k/2`), and takes `W`'s and `b_ih`'s gradient through `m` as
    one `(3, C·B) @ (C·B, G·H)` product, with no `(C·B, G·H)` tensor built for `m`'s parts.
    `compiled`: both ways through `_compiled.single_input_drive`'s graphs instead, which recompute
    `r` and `v` backward (one fused pass each way; `x_aug` then has its 2 columns, no carried `v`).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x_aug: Tensor,
        w_aug_t: Tensor,
        statistics: Tensor,
        weight: Tensor,
        bias_ih: Tensor,
        bias: Tensor,
        eps: float,
        compiled: bool = False,
    ) -> Tensor:
        ctx.compiled = compiled
        if compiled:
            ctx.eps = x_aug.new_tensor(eps)
            ctx.save_for_backward(x_aug, w_aug_t, statistics, weight, bias_ih)
            return compiled_single_input_drive(x_aug, w_aug_t, statistics, weight, bias_ih, bias, ctx.eps)
        flat, c = x_aug.flatten(0, 1), statistics.flatten(0, 1)
        r = single_input_moment(c, weight, bias_ih, eps).rsqrt_()
        v = torch.mm(flat, w_aug_t)
        d = torch.addcmul(bias, v, r)
        k = v.mul_(r).mul_(r).mul_(r)
        ctx.save_for_backward(flat, w_aug_t, c, weight, bias_ih, r, k)
        return d.view(*x_aug.shape[:2], -1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        if ctx.compiled:
            return (*compiled_single_input_drive_backward(grad, *ctx.saved_tensors, ctx.eps), None, None)
        flat, w_aug_t, c, weight, bias_ih, r, k = ctx.saved_tensors
        g = grad.flatten(0, 1)
        g_v = g * r
        g_m = g * k  # ∂L/∂m, times -2
        # m = (c₀ w + c₁ b)² + c₂ w²: ∂m/∂w = 2((c₀² + c₂) w + c₀c₁ b), ∂m/∂b = 2(c₀c₁ w + c₁² b).
        c0, c1, c2 = c.unbind(1)
        p = torch.stack([c0 * c0 + c2, c0 * c1, c1 * c1]).mm(g_m)
        w = weight.squeeze(1)
        g_weight = -(p[0] * w + p[1] * bias_ih)
        g_bias_ih = -(p[1] * w + p[2] * bias_ih)
        g_x_aug = g_c = None
        if ctx.needs_input_grad[0]:
            g_x_aug = g_v.mm(w_aug_t.t()).view(*grad.shape[:2], -1)
        if ctx.needs_input_grad[2]:
            # ∂m/∂c₀ = 2u w, ∂m/∂c₁ = 2u b, ∂m/∂c₂ = w², with u = c₀ w + c₁ b.
            w_b = torch.stack([w, bias_ih])
            g_m_u = g_m * c[:, :2].mm(w_b)
            g_c = -torch.cat([g_m_u.mm(w_b.t()), 0.5 * g_m.mv(w * w).unsqueeze(1)], 1)
            g_c = g_c.view(*grad.shape[:2], 3)
        g_w_aug_t = flat.t().mm(g_v) if ctx.needs_input_grad[1] else None
        return g_x_aug, g_w_aug_t, g_c, g_weight.unsqueeze(1), g_bias_ih, g.sum(0), None, None
