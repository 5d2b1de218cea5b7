"""The momentum cell family as one `nn.Module`: a base cell whose input drive is replaced."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import orthogonal

from momentum_search.trainers.cells._drive import LINEAR_VARIANTS, drive, momentum
from momentum_search.trainers.cells._kinds import get_kind
from momentum_search.trainers.cells._steps import State, recurrence, reorder_gates, run_steps

CellState = Tensor | tuple[Tensor, Tensor]
INITS = ("paper", "pytorch", "chrono")
# A sigmoid never reaches 0: learnable kinds start from μ = max(mu, MU_FLOOR).
MU_FLOOR = 1e-3

_FUSED_KERNELS = {"gru": torch.gru, "rnn": torch.rnn_tanh}


class MomentumCell(nn.Module):
    r"""A (multi-layer) recurrent cell of the momentum family: `lstm`, `momentum-lstm`, …, `learnable-momentum-exprnn`.

    The base cell (PyTorch's LSTM, GRU, tanh-RNN, or the orthogonal expRNN) is kept, and its input drive
    :math:`a_t = W x_t + b_{ih}` is replaced by the variant's drive :math:`d_t` (:math:`v_0 = m_0 = 0`):

    .. math::
        \text{plain:}\quad & d_t = a_t \\
        \text{momentum } [\mu, s]:\quad & v_t = \mu v_{t-1} + s a_t,\quad d_t = v_t \\
        \text{nag } [s]:\quad & \mu_t = (t-1)/(t+2) \\
        \text{sr } [s, F]:\quad & \mu_t = (t \bmod F)/((t \bmod F) + 3) \\
        \text{adam } [\mu, s, \beta, \varepsilon]:\quad & m_t = \beta m_{t-1} + (1-\beta) a_t \odot a_t,
            \quad d_t = v_t / \sqrt{m_t + \varepsilon} \\
        \text{rmsprop } [s, \beta, \varepsilon]:\quad & \text{adam with } \mu = 0 \\
        \text{learnable-momentum } [\mu, s]:\quad & \text{momentum with trained }
            \mu = \sigma(\mu_{raw}),\ s = \mathrm{softplus}(s_{raw})

    The base cell then uses :math:`d_t + U h_{t-1} + b_{hh}` wherever PyTorch uses
    :math:`a_t + U h_{t-1} + b_{hh}` (GRU: :math:`n_t = \tanh(d_n + r_t \odot (U_n h_{t-1} + b_{hn}))`).
    `exprnn` is :math:`h_t = \mathrm{modrelu}(d_t + U h_{t-1})` with `U` orthogonal,
    :math:`U = B \exp(A - A^\top)` (`torch.nn.utils.parametrizations.orthogonal`, matrix exponential), and
    :math:`\mathrm{modrelu}(z) = \mathrm{sign}(z)\,\mathrm{relu}(|z| + b)`; it has no `bias_hh`: the learned
    modReLU bias :math:`b \in \mathbb{R}^H` plays its role, as in Lezcano-Casado's code.

    Learnable-momentum kinds train one pair :math:`(\mu, s)` per layer with the weights; `mu` and `s`
    are their initial values, except that μ starts from at least `MU_FLOOR` = 1e-3 (a sigmoid cannot
    give 0). Their drive is momentum's, filtered by a scan that is differentiable in μ.

    With several layers, layer :math:`l > 1` is driven by the hidden states of layer :math:`l - 1`, and
    its momentum (and second moment) is taken over that drive.

    **Each call to `forward` is one sequence**: :math:`v`, :math:`m` and the time index :math:`t`
    (hence nag's and sr's schedules) start again at every call. Only the hidden state is carried
    over through `state`.

    How it is computed: every drive depends on the input alone. For momentum, nag, sr and
    learnable-momentum it is linear, :math:`v_t = s (W \tilde x_t + b_{ih} \tilde c_t)` with
    :math:`\tilde x`, :math:`\tilde c` the filtered input and constant 1, so PyTorch's fused
    LSTM/GRU/RNN kernel runs on :math:`[\tilde x_t, \tilde c_t]` with the input weight
    :math:`s [W \mid b_{ih}]` (the filter is a chunked scan, not a loop over steps). Adam, rmsprop
    and every exprnn compute the drive a chunk of time steps at a time and run a lean per-step
    recurrence on it, back-propagated through time by hand.

    Args:
        kind: one of `CELL_KINDS`.
        input_size: `I`, features per time step.
        hidden_size: `H`.
        mu, s, beta, eps, restart: the variant's hyperparameters; `None` takes the kind's default.
            Passing one the kind does not use raises ValueError.
        num_layers: stacked layers.
        init: `"paper"` (orthogonal input weights, identity recurrent blocks, forget-gate bias 1 in
            `b_ih` and `b_hh`; exprnn: Kaiming input weights, block-diagonal random rotations,
            modReLU bias U(-0.01, 0.01)), `"pytorch"` (U(-1/√H, 1/√H) everywhere, exactly as
            `nn.LSTM`; exprnn: a random orthogonal `U`) or `"chrono"` (LSTM and GRU bases only:
            the paper init with Tallec & Ollivier's chrono biases in `b_hh`, drawn per unit: LSTM
            forget gate :math:`b_f = \log U(1, T_{max} - 1)` and input gate :math:`b_i = -b_f`;
            GRU update gate `z` (the keep gate of :math:`h' = (1-z) n + z h`) the same draw).
        t_max: chrono's characteristic time scale :math:`T_{max} \ge 2`; required by, and only
            accepted with, `init="chrono"`.

    Inputs: `x`, `state`
        - `x`: `(T, B, I)`, time-major.
        - `state`: `(h_0, c_0)` for LSTM kinds, `h_0` otherwise; each `(num_layers, B, H)`. Zeros if
          omitted.

    Outputs: `out`, `state`
        - `out`: `(T, B, H)`, :math:`h_t` of the last layer.
        - `state`: the final `(h_T, c_T)` or `h_T`, like `state`.

    Attributes:
        weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}: layer `k`'s weights in
            `torch.nn.LSTM`'s (`GRU`'s, `RNN`'s) layout and gate order, so the plain kinds load into
            those modules' `state_dict`s. `weight_ih` etc. are layer 0's.
        modrelu_bias_l{k}: exprnn's modReLU bias `b`, shape `(H,)`.
        mu_raw_l{k}, s_raw_l{k}: learnable kinds' :math:`\mu_{raw}`, :math:`s_{raw}`, 0-dim; see `learned`.

    Example::

        >>> cell = build_cell("momentum-lstm", 1, 128, mu=0.6, s=0.6)
        >>> out, (h, c) = cell(torch.randn(784, 32, 1))
        >>> out.shape, h.shape
        (torch.Size([784, 32, 128]), torch.Size([1, 32, 128]))
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        *,
        mu: float | None = None,
        s: float | None = None,
        beta: float | None = None,
        eps: float | None = None,
        restart: int | None = None,
        num_layers: int = 1,
        init: str = "paper",
        t_max: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.kind = get_kind(kind)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
        if init == "chrono" and self.kind.base not in ("lstm", "gru"):
            raise ValueError(f"init='chrono' sets gate biases; {kind!r} has no gates (use an lstm or gru kind)")
        if (init == "chrono") != (t_max is not None):
            raise ValueError(
                f"t_max is required by init='chrono' and used by it alone; got init={init!r}, t_max={t_max!r}"
            )
        # U(1, T_max - 1) needs T_max - 1 >= 1.
        if t_max is not None and (not isinstance(t_max, numbers.Real) or isinstance(t_max, bool) or not t_max >= 2):
            raise ValueError(f"t_max must be a real number >= 2, got {t_max!r}")
        self.hyperparameters = self.kind.resolve({"mu": mu, "s": s, "beta": beta, "eps": eps, "restart": restart})
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.init = init
        self.t_max = None if t_max is None else float(t_max)

        factory = {"device": device, "dtype": dtype}
        exprnn = self.kind.base == "exprnn"
        rows = self.kind.gates * self.hidden_size
        for layer in range(self.num_layers):
            columns = self.input_size if layer == 0 else self.hidden_size
            # Registration order is nn.LSTM's, so init="pytorch" draws the same numbers as nn.LSTM.
            # The orthogonal parametrisation checks the matrix it starts from; give it a valid one.
            if exprnn:
                recurrent = torch.eye(self.hidden_size, **factory)
            else:
                recurrent = torch.empty(rows, self.hidden_size, **factory)
            shapes = {
                "weight_ih": torch.empty(rows, columns, **factory),
                "weight_hh": recurrent,
                "bias_ih": torch.empty(rows, **factory),
                "modrelu_bias" if exprnn else "bias_hh": torch.empty(self.hidden_size if exprnn else rows, **factory),
            }
            for name, tensor in shapes.items():
                self.register_parameter(f"{name}_l{layer}", nn.Parameter(tensor))
            if exprnn:
                orthogonal(self, f"weight_hh_l{layer}", orthogonal_map="matrix_exp")
            if self.kind.learnable:
                for name in ("mu_raw", "s_raw"):
                    self.register_parameter(f"{name}_l{layer}", nn.Parameter(torch.empty((), **factory)))
        self.reset_parameters()

    def set_hyperparameters(self, **values: float | int) -> None:
        """Change μ, s, β, ε or F between forward calls (population-based training does). Learnable
        kinds take a changed μ or s as a new starting point: every layer's trained μ (or s) is set to
        it; a value given unchanged leaves the trained one alone (PBT repeats them every epoch).

        Raises:
            ValueError: as at construction; the cell keeps its values then.
        """
        previous = self.hyperparameters
        self.hyperparameters = self.kind.resolve({**previous, **values})
        if self.kind.learnable:
            changed = [name for name in ("mu", "s") if self.hyperparameters[name] != previous[name]]
            with torch.no_grad():
                self._reset_learned(changed)

    def learned(self) -> dict[str, list[float]]:
        """The trained `{"mu": [μ per layer], "s": [s per layer]}` of learnable kinds; `{}` otherwise."""
        if not self.kind.learnable:
            return {}
        with torch.no_grad():
            pairs = [self._drive_hyperparameters(layer) for layer in range(self.num_layers)]
        return {name: [float(pair[name]) for pair in pairs] for name in ("mu", "s")}

    def _drive_hyperparameters(self, layer: int) -> Mapping[str, float | int | Tensor]:
        """The hyperparameters layer `layer`'s drive uses: learnable kinds' μ, s are tensors."""
        if not self.kind.learnable:
            return self.hyperparameters
        mu_raw, s_raw = getattr(self, f"mu_raw_l{layer}"), getattr(self, f"s_raw_l{layer}")
        return {"mu": torch.sigmoid(mu_raw), "s": F.softplus(s_raw)}

    # -- weights ---------------------------------------------------------------------------------

    @property
    def weight_ih(self) -> Tensor:
        """Layer 0's input weight `W`, `(G·H, I)`."""
        return self.weight_ih_l0

    @property
    def weight_hh(self) -> Tensor:
        """Layer 0's recurrent weight `U`, `(G·H, H)` (exprnn: the orthogonal `(H, H)` matrix)."""
        return self.weight_hh_l0

    @property
    def bias_ih(self) -> Tensor:
        """Layer 0's input bias `b_ih`, `(G·H,)`."""
        return self.bias_ih_l0

    @property
    def bias_hh(self) -> Tensor:
        """Layer 0's recurrent bias `b_hh`, `(G·H,)`; exprnn has none (AttributeError): its modReLU bias
        `modrelu_bias_l0` plays that role."""
        return self.bias_hh_l0

    def reset_parameters(self) -> None:
        """Draw every weight again according to `self.init` (layer by layer, in registration order)."""
        with torch.no_grad():
            for layer in range(self.num_layers):
                if self.kind.base == "exprnn":
                    self._reset_exprnn(layer)
                else:
                    self._reset_gated(layer)
            if self.kind.learnable:
                self._reset_learned(("mu", "s"))

    def _reset_learned(self, names: Sequence[str]) -> None:
        """Set every layer's trained μ and/or s (`names`) to the hyperparameter's value."""
        mu = max(float(self.hyperparameters["mu"]), MU_FLOOR)
        s = float(self.hyperparameters["s"])
        # softplus⁻¹(s) = log(eˢ - 1), written to stay finite for large and tiny s.
        raw = {"mu": math.log(mu / (1 - mu)), "s": s + math.log(-math.expm1(-s))}
        for layer in range(self.num_layers):
            for name in names:
                getattr(self, f"{name}_raw_l{layer}").fill_(raw[name])

    def _reset_gated(self, layer: int) -> None:
        hidden = self.hidden_size
        weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer)
        if self.init == "pytorch":
            for weight in (weight_ih, weight_hh, bias_ih, bias_hh):
                nn.init.uniform_(weight, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))
            return
        nn.init.orthogonal_(weight_ih)
        weight_hh.copy_(torch.eye(hidden, dtype=weight_hh.dtype, device=weight_hh.device).repeat(self.kind.gates, 1))
        bias_ih.zero_()
        bias_hh.zero_()
        if self.init == "chrono":
            # Momentum drives scale b_ih by s and accumulate it (to s/(1-μ) b_ih), so a bias there would
            # not act on the gate as chrono defines it; b_hh enters the pre-activation as it is.
            # The LSTM's forget gate and the GRU's update gate are both PyTorch's second block.
            keep = bias_hh[hidden : 2 * hidden].uniform_(1.0, self.t_max - 1).log_()
            if self.kind.base == "lstm":
                bias_hh[:hidden] = -keep
        elif self.kind.base == "lstm":
            # The forget gate is PyTorch's second block of (i, f, g, o).
            bias_ih[hidden : 2 * hidden] = 1.0
            bias_hh[hidden : 2 * hidden] = 1.0

    def _reset_exprnn(self, layer: int) -> None:
        hidden = self.hidden_size
        weight_ih, _, bias_ih, modrelu_bias = self._weights(layer)
        if self.init == "pytorch":
            for weight in (weight_ih, bias_ih, modrelu_bias):
                nn.init.uniform_(weight, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))
            recurrent = nn.init.orthogonal_(weight_ih.new_empty(hidden, hidden))
        else:
            # Lezcano-Casado & Martínez-Rubio's expRNN initialisation.
            nn.init.kaiming_normal_(weight_ih, nonlinearity="relu")
            bias_ih.zero_()
            recurrent = _henaff(hidden, like=weight_ih)
            modrelu_bias.uniform_(-0.01, 0.01)
        # Assigning goes through the parametrisation: U is exactly `recurrent` until training moves it.
        setattr(self, f"weight_hh_l{layer}", recurrent)

    def extra_repr(self) -> str:
        parts = [repr(self.kind.name), str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        parts += [f"{name}={value!r}" for name, value in self.hyperparameters.items()]
        if self.init != "paper":
            parts.append(f"init={self.init!r}")
        if self.t_max is not None:
            parts.append(f"t_max={self.t_max!r}")
        return ", ".join(parts)

    # -- forward ---------------------------------------------------------------------------------

    def forward(self, x: Tensor, state: CellState | None = None) -> tuple[Tensor, CellState]:
        """`out (T, B, H)` and the final state for `x (T, B, I)`; see the class docstring."""
        if self.kind.base != "exprnn" and self.kind.variant in LINEAR_VARIANTS:
            return self._forward_fused(x, state)
        out, final = self._forward_stepped(x, state)
        return out, final  # type: ignore[return-value]

    def _forward_fused(self, x: Tensor, state: CellState | None) -> tuple[Tensor, CellState]:
        h0, c0 = self._initial_state(x, state)
        hs, cs = [], []
        for layer in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer)
            if self.kind.variant != "plain":
                hyperparameters = self._drive_hyperparameters(layer)
                x, weight_ih = momentum(x, weight_ih, bias_ih, self.kind.variant, hyperparameters)
                bias_ih = torch.zeros_like(bias_ih)
            params = [weight_ih, weight_hh, bias_ih, bias_hh]
            # After params: has_biases, num_layers, dropout, train, bidirectional, batch_first.
            options = (True, 1, 0.0, self.training, False, False)
            if c0 is not None:
                x, h, c = torch.lstm(x, (h0[layer : layer + 1], c0[layer : layer + 1]), params, *options)
                cs.append(c)
            else:
                x, h = _FUSED_KERNELS[self.kind.base](x, h0[layer : layer + 1], params, *options)
            hs.append(h)
        final = torch.cat(hs)
        return x, (final, torch.cat(cs)) if c0 is not None else final

    def _forward_stepped(
        self, x: Tensor, state: CellState | None, *, autograd_steps: bool = False
    ) -> tuple[Tensor | list[Tensor], CellState]:
        """The per-step path, for every kind: the drive a chunk at a time, then the recurrence.

        Returns `out`, or with `autograd_steps` the list `[h_1, …, h_T]` of separate tensors recorded
        step by step by autograd (slower; for `gradient_flow`), and the final state.
        """
        h0, c0 = self._initial_state(x, state)
        base = self.kind.base
        finals: list[State] = []
        # The exprnn's orthogonal U is computed once per call, not once per access.
        with parametrize.cached():
            for layer in range(self.num_layers):
                weight_ih, weight_hh, bias_ih, extra = (reorder_gates(base, w) for w in self._weights(layer))
                # An LSTM's or RNN's b_hh only adds to the pre-activation, so the drive carries it;
                # the GRU's (b_hn sits under r ⊙ ·) and modReLU's b are applied inside the step.
                folded = base in ("lstm", "rnn")
                drive_bias = extra if folded else torch.zeros_like(bias_ih)
                hyperparameters = self._drive_hyperparameters(layer)
                chunks = drive(x, weight_ih, bias_ih, drive_bias, self.kind.variant, hyperparameters)
                step_bias = None if folded else extra
                start = (h0[layer],) if c0 is None else (h0[layer], c0[layer])
                if autograd_steps:
                    hs, final = run_steps(base, chunks, start, weight_hh, step_bias)
                    x = torch.stack(hs) if layer + 1 < self.num_layers else hs  # type: ignore[assignment]
                else:
                    x, final = recurrence(base, chunks, start, weight_hh, step_bias)
                finals.append(tuple(final))
        h = torch.stack([final[0] for final in finals])
        return x, h if c0 is None else (h, torch.stack([final[1] for final in finals]))

    def _weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """`(W, U, b_ih, b_hh)` of one layer; exprnn gives its modReLU bias in place of `b_hh`."""
        extra = "modrelu_bias" if self.kind.base == "exprnn" else "bias_hh"
        names = ("weight_ih", "weight_hh", "bias_ih", extra)
        return tuple(getattr(self, f"{name}_l{layer}") for name in names)  # type: ignore[return-value]

    def _initial_state(self, x: Tensor, state: CellState | None) -> tuple[Tensor, Tensor | None]:
        if x.dim() != 3 or x.size(2) != self.input_size:
            raise ValueError(f"expected x of shape (T, B, {self.input_size}), got {tuple(x.shape)}")
        if x.size(0) == 0:
            raise ValueError("expected at least one time step, got an empty sequence")
        shape = (self.num_layers, x.size(1), self.hidden_size)
        lstm = self.kind.base == "lstm"
        if state is None:
            zeros = x.new_zeros(shape)
            return zeros, zeros if lstm else None
        parts = state if lstm and isinstance(state, (tuple, list)) else (state,)
        expected = "(h, c)" if lstm else "h"
        if len(parts) != (2 if lstm else 1) or any(not isinstance(p, Tensor) or p.shape != shape for p in parts):
            got = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in parts]
            raise ValueError(f"expected state {expected} with each of shape {shape}, got {got}")
        return parts[0], parts[1] if lstm else None


def _henaff(size: int, *, like: Tensor) -> Tensor:
    """Henaff et al.'s orthogonal init: block-diagonal 2×2 rotations by angles θ ~ U(-π, π)
    (an odd `size` leaves the last coordinate alone)."""
    angles = like.new_empty(size // 2).uniform_(-math.pi, math.pi)
    cos, sin = angles.cos(), angles.sin()
    rotation = torch.eye(size, dtype=like.dtype, device=like.device)
    even = torch.arange(0, 2 * (size // 2), 2, device=like.device)
    rotation[even, even] = cos
    rotation[even + 1, even + 1] = cos
    rotation[even, even + 1] = sin
    rotation[even + 1, even] = -sin
    return rotation


def build_cell(
    kind: str,
    input_size: int,
    hidden_size: int,
    *,
    mu: float | None = None,
    s: float | None = None,
    beta: float | None = None,
    eps: float | None = None,
    restart: int | None = None,
    num_layers: int = 1,
    init: str = "paper",
    t_max: float | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MomentumCell:
    """A cell of the given kind (see `CELL_KINDS` and `MomentumCell`).

    A hyperparameter left as `None` takes the kind's default (`CELL_KINDS[kind].defaults`).

    Raises:
        ValueError: unknown kind; a hyperparameter the kind does not use; a value out of its range
            (`0 <= mu < 1`, `s > 0`, `0 <= beta < 1`, `eps > 0`, `restart >= 1` an integer); sizes or
            `num_layers` below 1; `init` not in `{"paper", "pytorch", "chrono"}`; `init="chrono"` on an
            rnn or exprnn kind, or without `t_max`; `t_max` below 2 or without `init="chrono"`.
    """
    return MomentumCell(
        kind, input_size, hidden_size, mu=mu, s=s, beta=beta, eps=eps, restart=restart,
        num_layers=num_layers, init=init, t_max=t_max, device=device, dtype=dtype,
    )
