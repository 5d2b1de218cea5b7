"""How the loss gradient reaches each hidden state: the vanishing-gradient picture of a cell."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from momentum_search.trainers.cells._cell import CellState, MomentumCell


def gradient_flow(
    cell: MomentumCell,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    *,
    state: CellState | None = None,
) -> Tensor:
    r"""The norms :math:`\lVert \partial L / \partial h_t \rVert`, `t = 1..T`, of the last layer's hidden states.

    :math:`L = \text{loss\_fn}(\text{out})` must be a scalar; the derivative is the total one (through
    `out[t]` and through every later step), and the norm is taken over batch and features together.
    The fused kernels keep `h_t` out of reach, so this runs the cell's per-step path (same numbers).
    The cell's parameters get no `.grad`: the gradient is asked for with `torch.autograd.grad`.

    Args:
        cell: a cell from `build_cell`.
        x: `(T, B, I)`.
        loss_fn: maps `out (T, B, H)` to a scalar.
        state: the initial state, as for `cell(x, state)`.

    Returns:
        A detached tensor of shape `(T,)` on `x`'s device.
    """
    if not isinstance(cell, MomentumCell):
        raise TypeError(f"gradient_flow needs a cell from build_cell, got {type(cell).__name__}")
    with torch.enable_grad():
        hs, _, _ = cell._forward_stepped(x, state, autograd_steps=True)
        loss = loss_fn(hs if isinstance(hs, Tensor) else torch.stack(hs))
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")
        # A step the loss does not reach (e.g. after the last step it reads) has gradient zero.
        grads = torch.autograd.grad(loss, hs, allow_unused=True, materialize_grads=True)
    return torch.stack(grads).flatten(1).norm(dim=1).detach()
