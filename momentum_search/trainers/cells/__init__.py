"""The momentum cell family: {plain, momentum, nag, sr, adam, rmsprop} × {lstm, gru, rnn, exprnn}."""

from __future__ import annotations

from momentum_search.trainers.cells._cell import MomentumCell, build_cell
from momentum_search.trainers.cells._gradient_flow import gradient_flow
from momentum_search.trainers.cells._kinds import CELL_KINDS, CellKind

__all__ = ["CELL_KINDS", "CellKind", "MomentumCell", "build_cell", "gradient_flow"]
