"""The drive `d_t` of every variant, computed from the input alone, a chunk of time steps at a time.

Chunks of `C` steps keep the `(C, B, G·H)` tensors small enough to stay in cache, and let the
per-step recurrence start on the first chunk before the last one is computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from momentum_search.trainers.cells._scan import (
    Schedule,
    chunk_length,
    constant_response,
    linear_recurrence,
    trainable_filter,
)

# The drive of these variants is linear in the input (PyTorch's fused kernels can run them).
LINEAR_VARIANTS = ("plain", "momentum", "nag", "sr", "learnable-momentum")
# Adam/rmsprop with up to this many input statistics (I² + I + 1, so I ≤ 10) compute m as a linear
# map of them (2K flops per drive entry) rather than by filtering the drive itself.
MAX_MOMENT_FEATURES = 111


def momentum_schedule(variant: str, hyperparameters: Mapping[str, float | int]) -> Schedule:
    """The coefficients `μ_t` of `v_t = μ_t v_{t-1} + s a_t` (rmsprop: `μ = 0`)."""
    if variant == "nag":
        return Schedule("nag")
    if variant == "sr":
        return Schedule("restart", period=int(hyperparameters["restart"]))
    return Schedule("constant", float(hyperparameters.get("mu", 0.0)))


def filtered(features: Tensor, schedule: Schedule) -> Tensor:
    """`[filter(features), filter(1)]`, shape `(T, B, K + 1)`, for features `(T, B, K)`."""
    steps, batch = features.shape[:2]
    where = (steps, features.device, features.dtype)
    response = constant_response(schedule, *where).view(steps, 1, 1).expand(steps, batch, 1)
    return torch.cat([linear_recurrence(schedule, *where)(features), response], 2)


def momentum(
    x: Tensor, weight_ih: Tensor, bias_ih: Tensor, variant: str, hyperparameters: Mapping[str, Any]
) -> tuple[Tensor, Tensor]:
    """`(x_aug, w_aug)` with `x_aug w_augᵀ = v`: `v_t = s (W x̃_t + b_ih c̃_t)`, where `x̃`, `c̃` are
    the input and the constant 1 filtered by the variant's schedule. `x_aug` is `(T, B, I + 1)`.
    For `learnable-momentum`, μ and s are tensors and both results are differentiable in them.

    `w_aug` is stored column-major: PyTorch's GRU and RNN kernels then form its gradient as
    `x_augᵀ g`, which for few columns is much faster than `gᵀ x_aug` (~90 ms of a 560 ms GRU step
    at I + 1 = 2, T = 784, B = 64, H = 128).
    """
    w_aug_t = hyperparameters["s"] * torch.cat([weight_ih.t(), bias_ih.unsqueeze(0)], 0)
    if variant == "learnable-momentum":
        x_aug = trainable_filter(torch.cat([x, x.new_ones(*x.shape[:2], 1)], 2), hyperparameters["mu"])
    else:
        x_aug = filtered(x, momentum_schedule(variant, hyperparameters))
    return x_aug, w_aug_t.t()


def second_moment(x: Tensor, weight_ih: Tensor, bias_ih: Tensor, beta: float) -> tuple[Tensor, Tensor]:
    """`(x_aug, w_aug)` with `x_aug w_augᵀ = m`: per output `j`,
    `a_j² = Σ_kl W_jk W_jl x_k x_l + 2 b_j Σ_k W_jk x_k + b_j²` is linear in `(x ⊗ x, x, 1)`, so
    `m = (1-β) filter_β(a²)` is `(1-β) [W ⊗ W | 2 b ⊙ W | b²]` times the filtered `(x ⊗ x, x, 1)`."""
    products = (x.unsqueeze(3) * x.unsqueeze(2)).flatten(2)
    features = filtered(torch.cat([products, x], 2), Schedule("constant", beta))
    squares = (weight_ih.unsqueeze(2) * weight_ih.unsqueeze(1)).flatten(1)
    coefficients = torch.cat([squares, 2 * bias_ih.unsqueeze(1) * weight_ih, bias_ih.unsqueeze(1) ** 2], 1)
    return features, (1 - beta) * coefficients


def drive(
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor,
    bias: Tensor,
    variant: str,
    hyperparameters: Mapping[str, Any],
) -> Iterator[Tensor]:
    """`d_t + bias` for every step of `x (T, B, I)`, one chunk `(C, B, G·H)` at a time, in order.

    Linear variants: `F.linear([x̃, c̃], s [W | b_ih])` (`momentum`). Adam and rmsprop:
    `v / sqrt(m + ε)` with `v` as before and `m` either a linear map of filtered input statistics
    (`second_moment`; float32/16 cells with few inputs) or the filter of `(1-β) a²` itself.
    """
    size = chunk_length(x.size(0))
    if variant in LINEAR_VARIANTS:
        if variant == "plain":
            x_aug, weight, bias = x, weight_ih, bias_ih + bias
        else:
            x_aug, weight = momentum(x, weight_ih, bias_ih, variant, hyperparameters)
        weight_t = weight.t().contiguous()
        for piece in x_aug.split(size):
            yield linear(piece, weight_t, bias)
        return
    beta, eps = hyperparameters["beta"], hyperparameters["eps"]
    if x.dtype != torch.float64 and x.size(2) * (x.size(2) + 1) + 1 <= MAX_MOMENT_FEATURES:
        # Few inputs: both moments are small-K linear maps of filtered input statistics, so no
        # filter runs over the G·H-wide drive. m's expansion cancels where a_t ≈ 0; summed in
        # float64 its error (~1e-16 of its terms) stays below what the cell's dtype resolves.
        # A float64 cell would see it, and takes the exact path below instead.
        v_aug, v_weight = momentum(x, weight_ih, bias_ih, variant, hyperparameters)
        m_aug, m_weight = second_moment(x.double(), weight_ih.double(), bias_ih.double(), beta)
        v_weight_t, m_weight_t = v_weight.t().contiguous(), m_weight.t().contiguous()
        for v_piece, m_piece in zip(v_aug.split(size), m_aug.split(size)):
            yield Normalized.apply(linear(v_piece, v_weight_t), linear(m_piece, m_weight_t), bias, eps)
        return
    # Many inputs: filter the drive itself. With the weights scaled by s, the linear map gives s·a
    # directly, and m = (1-β)/s² filter_β((s a)²).
    s = hyperparameters["s"]
    steps, where = x.size(0), (x.device, x.dtype)
    first = None
    if variant == "adam":  # rmsprop's v is s·a itself
        first = linear_recurrence(momentum_schedule(variant, hyperparameters), steps, *where).scanner()
    second = linear_recurrence(Schedule("constant", beta), steps, *where).scanner((1 - beta) / s**2)
    weight_t = (s * weight_ih).t().contiguous()
    for piece in x.split(size):
        scaled = linear(piece, weight_t, s * bias_ih)
        v = scaled if first is None else first(scaled)
        yield Normalized.apply(v, second(scaled.square()), bias, eps)


def linear(x: Tensor, weight_t: Tensor, bias: Tensor | None = None) -> Tensor:
    """`x Wᵀ + b` for `x (T, B, K)`, given `Wᵀ` as a contiguous `(K, G·H)` tensor. Unlike `F.linear`,
    its backward then forms the weight's gradient as `xᵀ g`, which BLAS computes 10-20× faster than
    `gᵀ x` when K is small (autograd picks the product that matches the weight's memory layout)."""
    flat = x.flatten(0, 1)
    out = torch.mm(flat, weight_t) if bias is None else torch.addmm(bias, flat, weight_t)
    return out.view(x.size(0), x.size(1), -1)


class Normalized(torch.autograd.Function):
    """`d = bias + v / sqrt(max(m, 0) + ε)`, in `v`'s dtype (`m` may be wider), in few passes.

    `max(m, 0)` only repairs rounding (the true `m` is never negative), so its gradient is taken as 1.
    """

    @staticmethod
    def forward(ctx: Any, v: Tensor, m: Tensor, bias: Tensor, eps: float) -> Tensor:  # type: ignore[override]
        root = m.to(v.dtype, copy=True).clamp_min_(0).add_(eps).sqrt_()
        ctx.save_for_backward(v, root)
        ctx.m_dtype = m.dtype
        return torch.addcdiv(bias, v, root)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:  # type: ignore[override]
        v, root = ctx.saved_tensors
        g_v = grad / root
        # ∂d/∂m = -v / (2 (m + ε)^{3/2})
        g_m = (g_v * v).div_(root).div_(root).mul_(-0.5).to(ctx.m_dtype)
        return g_v, g_m, grad.sum((0, 1)), None
