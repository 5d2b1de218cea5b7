"""The momentum cell family: {plain, momentum, nag, sr, adam, rmsprop, learnable-momentum} × {lstm, gru, rnn,
exprnn, janet, ur-lstm}, and nesterov-lstm."""

from __future__ import annotations

from momentum_search.trainers.cells._cell import MomentumCell, StreamState, build_cell
from momentum_search.trainers.cells._gradient_flow import gradient_flow
from momentum_search.trainers.cells._kinds import CELL_KINDS, CellKind

__all__ = ["CELL_KINDS", "CellKind", "MomentumCell", "StreamState", "build_cell", "gradient_flow"]
