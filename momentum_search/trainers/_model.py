"""A recurrent cell between the task's input encoding and its output head."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from momentum_search.trainers.cells import MomentumCell
from momentum_search.trainers.tasks import Task


class SequenceModel(nn.Module):
    """`x -> [embedding] -> cell -> linear head`, shaped by the task's head.

    `*_last` heads read the last step's hidden state (with a `mask`, each sequence's last valid step),
    `*_each` and language-model heads every step. Token-id inputs (a task with a `vocab_size`) are embedded.
    """

    def __init__(self, task: Task, cell: MomentumCell, hidden_size: int) -> None:
        super().__init__()
        self.head = task.head
        # Token ids are embedded; the task's input_size is then the embedding size.
        self.embedding = nn.Embedding(task.vocab_size, task.input_size) if task.vocab_size is not None else None
        self.cell: MomentumCell = cell
        self.decoder = nn.Linear(hidden_size, task.output_size)

    def forward(self, x: Tensor, state: Any = None, *, mask: Tensor | None = None) -> tuple[Tensor, Any]:
        if self.embedding is not None:
            x = self.embedding(x)
        out, state = self.cell(x, state)
        return self.decoder(self.read_out(out, mask)), state

    def read_out(self, out: Tensor, mask: Tensor | None = None) -> Tensor:
        """What the decoder reads of the cell's `out (T, B, H)`: every step, or the last (valid) one."""
        if not self.head.endswith("_last"):
            return out
        if mask is None:
            return out[-1]
        # A valid prefix per sequence (`mask` is (T, B)): its last step is at its length - 1.
        return out[mask.sum(0) - 1, torch.arange(out.size(1), device=out.device)]


def detach_state(state: Any) -> Any:
    """Cut the graph between truncated-BPTT segments: every tensor in a state (a tensor, or a tuple or
    `StreamState` of them, its step count and empty parts kept as they are) detached."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        parts = [detach_state(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
    return state
