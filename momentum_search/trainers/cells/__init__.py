"""The momentum cell family: {plain, momentum, nag, sr, adam, rmsprop, learnable-momentum} × {lstm, gru, rnn,
exprnn, janet, ur-lstm}, and nesterov-lstm.

The registry (`CELL_KINDS`) imports no torch; the cells themselves are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports
from momentum_search.trainers.cells._kinds import CELL_KINDS, DRIVES, HYPERPARAMETERS, INITS, CellKind, Drive, Init

if TYPE_CHECKING:
    from momentum_search.trainers.cells._cell import MomentumCell, StreamState, build_cell
    from momentum_search.trainers.cells._gradient_flow import gradient_flow
    from momentum_search.trainers.cells._rnn import MomentumRNN

__all__ = [
    "CELL_KINDS",
    "DRIVES",
    "HYPERPARAMETERS",
    "INITS",
    "CellKind",
    "Drive",
    "Init",
    "MomentumCell",
    "MomentumRNN",
    "StreamState",
    "build_cell",
    "gradient_flow",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "MomentumCell": "._cell",
        "MomentumRNN": "._rnn",
        "StreamState": "._cell",
        "build_cell": "._cell",
        "gradient_flow": "._gradient_flow",
    },
)
