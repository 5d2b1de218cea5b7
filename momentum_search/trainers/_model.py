"""A recurrent cell between the task's input encoding and its output head."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from momentum_search.trainers.cells import MomentumCell
from momentum_search.trainers.tasks import Task


class SequenceModel(nn.Module):
    """`x -> [embedding] -> cell -> linear head`, shaped by the task's head.

    `*_last` heads read the last step's hidden state, `*_each` and language-model heads every step.
    """

    def __init__(self, task: Task, cell: MomentumCell, hidden_size: int) -> None:
        super().__init__()
        self.head = task.head
        # A language model's input is token ids; the task's input_size is then the embedding size.
        self.embedding = nn.Embedding(task.output_size, task.input_size) if task.head == "language_model" else None
        self.cell: MomentumCell = cell
        self.decoder = nn.Linear(hidden_size, task.output_size)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if self.embedding is not None:
            x = self.embedding(x)
        out, state = self.cell(x, state)
        if self.head.endswith("_last"):
            out = out[-1]
        return self.decoder(out), state


def detach_state(state: Any) -> Any:
    """Cut the graph between truncated-BPTT segments: every tensor in a state (a tensor, or a tuple or
    `StreamState` of them, its step count and empty parts kept as they are) detached."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        parts = [detach_state(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
    return state
