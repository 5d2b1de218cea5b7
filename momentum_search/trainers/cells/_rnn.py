"""`MomentumRNN`: any registered cell kind behind `torch.nn.LSTM`'s constructor and forward contract."""

from __future__ import annotations

import torch
from torch import Tensor

from momentum_search.trainers.cells._cell import CellState, MomentumCell, StreamState


class MomentumRNN(MomentumCell):
    r"""A drop-in for `torch.nn.LSTM` (`GRU`, `RNN`) whose cell is any kind of `CELL_KINDS`.

    It is `MomentumCell` (the equations are in its docstring and in `docs/momentum-cells.md`) with
    `nn.LSTM`'s argument order and `batch_first`. The plain kinds compute exactly what PyTorch's modules
    do: `MomentumRNN("lstm", ...)` loads an `nn.LSTM`'s `state_dict` (and `"gru"`, `"rnn"` those of
    `nn.GRU`, `nn.RNN` with tanh), and gives its outputs and gradients.

    Args:
        kind: a cell kind, e.g. `"lstm"`, `"momentum-lstm"`, `"adam-gru"` (`CELL_KINDS`).
        input_size, hidden_size, num_layers: as `nn.LSTM`'s.
        batch_first: input and output are `(B, T, ·)` instead of `(T, B, ·)`; the states stay
            `(num_layers, B, H)`, as `nn.LSTM`'s.
        dropout: as `nn.LSTM`'s, on the outputs of every layer but the last while training.
        mu, s, beta, eps, restart, init, t_max, forget_bias, device, dtype: as `MomentumCell`'s (the
            default init is the paper's, as a study's; `init="pytorch"` draws `nn.LSTM`'s numbers).
            Not accepted: `nn.LSTM`'s `bias=False`, `bidirectional` and `proj_size`.

    Inputs: `input`, `hx`
        - `input`: `(T, B, I)`, or `(B, T, I)` with `batch_first`; batched input only.
        - `hx`: `(h_0, c_0)` for LSTM kinds (and ur-lstm), `h_0` for the others, each
          `(num_layers, B, H)`; zeros if omitted. A `StreamState` carries the drive's state too.

    Outputs: `output`, `h_n`
        - `output`: the last layer's `h_t` for every step, shaped like `input` with `H` features.
        - `(h_n, c_n)` for LSTM kinds, `h_n` for the others (like `nn.GRU`), each `(num_layers, B, H)`;
          a `StreamState` when one was given.

    Example::

        >>> rnn = MomentumRNN("momentum-lstm", 10, 20, 2, batch_first=True, mu=0.6, s=0.6)
        >>> output, (h_n, c_n) = rnn(torch.randn(3, 5, 10))
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        batch_first: bool = False,
        dropout: float = 0.0,
        mu: float | None = None,
        s: float | None = None,
        beta: float | None = None,
        eps: float | None = None,
        restart: int | None = None,
        init: str = "paper",
        t_max: float | None = None,
        forget_bias: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not isinstance(batch_first, bool):
            raise ValueError(f"batch_first must be True or False, got {batch_first!r}")
        super().__init__(
            kind,
            input_size,
            hidden_size,
            mu=mu,
            s=s,
            beta=beta,
            eps=eps,
            restart=restart,
            num_layers=num_layers,
            dropout=dropout,
            init=init,
            t_max=t_max,
            forget_bias=forget_bias,
            device=device,
            dtype=dtype,
        )
        self.batch_first = batch_first

    def forward(self, input: Tensor, hx: CellState | StreamState | None = None) -> tuple[Tensor, CellState | StreamState]:
        """`output` and the final state; see the class docstring."""
        if self.batch_first and input.dim() == 3:
            output, state = super().forward(input.transpose(0, 1), hx)
            return output.transpose(0, 1), state
        return super().forward(input, hx)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", batch_first=True" if self.batch_first else "")
