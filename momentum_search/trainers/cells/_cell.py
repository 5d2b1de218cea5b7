"""The momentum cell family as one `nn.Module`: a base cell whose input drive is replaced."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import orthogonal

from momentum_search.trainers.cells._drive import (
    LINEAR_VARIANTS,
    WITH_M,
    WITH_V,
    Moments,
    drive,
    linear,
    momentum,
    momentum_schedule,
    nesterov_input,
)
from momentum_search.trainers.cells._kinds import KEEP_BLOCK, get_kind
from momentum_search.trainers.cells import _native
from momentum_search.trainers.cells._steps import State, in_kernel, recurrence, reorder_gates, run_steps

CellState = Tensor | tuple[Tensor, Tensor]
# The authors' forget-gate bias (their `fg_init`); their TIMIT runs use -4.
FORGET_BIAS = 1.0
# A sigmoid never reaches 0: learnable kinds start from μ = max(mu, MU_FLOOR).
MU_FLOOR = 1e-3

_FUSED_KERNELS = {"gru": torch.gru, "rnn": torch.rnn_tanh}


class StreamState(NamedTuple):
    """The state of a sequence fed in segments (truncated BPTT): the hidden state and the drive's.

    Pass `StreamState()` with the first segment and the returned one, detached, with the next: the
    drive then goes on where it stopped, as the hidden state does. `v` and `m` hold one `(B, G·H)`
    tensor per layer in PyTorch's gate order (nesterov-lstm: its `p_t` in `v`); empty means zeros.

    Attributes:
        hidden: `(h, c)` or `h`, as `state` otherwise; None for zeros.
        steps: the steps taken so far (nag's, sr's and nesterov-lstm's `μ_t` go on from there).
        v: per layer, `v_t` (nesterov-lstm: `p_t`); `()` for kinds without it.
        m: per layer, adam's and rmsprop's `m_t`; `()` for other kinds.
    """

    hidden: CellState | None = None
    steps: int = 0
    v: tuple[Tensor, ...] = ()
    m: tuple[Tensor, ...] = ()


class MomentumCell(nn.Module):
    r"""A (multi-layer) recurrent cell of the momentum family: `lstm`, `momentum-lstm`, …, `learnable-momentum-exprnn`.

    The base cell (PyTorch's LSTM, GRU, tanh-RNN, or the orthogonal expRNN) is kept, and its input drive
    :math:`a_t = W x_t + b_{ih}` is replaced by the variant's drive :math:`d_t` (:math:`v_0 = m_0 = 0`):

    .. math::
        \text{plain:}\quad & d_t = a_t \\
        \text{momentum } [\mu, s]:\quad & v_t = \mu v_{t-1} + s a_t,\quad d_t = v_t \\
        \text{nag } [s]:\quad & \mu_t = (t-1)/(t+2) \\
        \text{sr } [s, F]:\quad & \mu_t = ((t-1) \bmod F)/(((t-1) \bmod F) + 3) \\
        \text{adam } [\mu, s, \beta, \varepsilon]:\quad & m_t = \beta m_{t-1} + (1-\beta) a_t \odot a_t,
            \quad d_t = v_t / \sqrt{m_t + \varepsilon} \\
        \text{rmsprop } [s, \beta, \varepsilon]:\quad & \text{adam with } \mu = 0 \\
        \text{learnable-momentum } [\mu, s]:\quad & \text{momentum with trained }
            \mu = \sigma(\mu_{raw}),\ s = \mathrm{softplus}(s_{raw})

    sr with `F = 0` never restarts (it is nag). `nesterov-lstm` `[s, F]` (the authors' NesterovLSTMCell)
    extrapolates the whole pre-activation instead, with sr's :math:`\mu_t`:
    :math:`p_t = U h_{t-1} + b_{hh} - s a_t`, :math:`p_0 = 0`,
    :math:`\text{pre}_t = p_t + \mu_t (p_t - p_{t-1})`, then the LSTM's gates on :math:`\text{pre}_t`.

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

    **Each call to `forward` is one sequence** unless `state` is a `StreamState`: :math:`v`, :math:`m`
    and the time index :math:`t` (hence nag's and sr's schedules) start again at every call, and only
    the hidden state is carried over through `state`. A `StreamState` carries them too (truncated BPTT).

    How it is computed: every drive depends on the input alone. For momentum, nag, sr and
    learnable-momentum it is linear, :math:`v_t = s (W \tilde x_t + b_{ih} \tilde c_t)` with
    :math:`\tilde x`, :math:`\tilde c` the filtered input and constant 1, so PyTorch's fused
    LSTM/GRU/RNN kernel runs on :math:`[\tilde x_t, \tilde c_t]` with the input weight
    :math:`s [W \mid b_{ih}]` (the filter is a chunked scan, not a loop over steps). Adam, rmsprop
    and every exprnn compute the drive a chunk of time steps at a time and run a lean per-step
    recurrence on it, back-propagated through time by hand; so does nesterov-lstm, whose state
    depends on :math:`h`.

    Args:
        kind: one of `CELL_KINDS`.
        input_size: `I`, features per time step.
        hidden_size: `H`.
        mu, s, beta, eps, restart: the variant's hyperparameters; `None` takes the kind's default.
            Passing one the kind does not use raises ValueError.
        num_layers: stacked layers.
        dropout: the probability of zeroing each output of every layer but the last while training, as
            `torch.nn.LSTM`'s `dropout` (0: none).
        init: `"paper"`, exactly the authors' (orthogonal input weights; recurrent weight
            `nn.init.eye_` on the whole `(G·H, H)` matrix, i.e. identity in the first gate block only,
            zeros elsewhere; LSTM forget-gate bias `forget_bias` and GRU reset-gate bias 1, each in
            `b_ih` and `b_hh`, other biases 0; exprnn: Kaiming input weights, block-diagonal random
            rotations, modReLU bias U(-0.01, 0.01)), `"identity"` (the same with identity in every
            gate block), `"pytorch"` (U(-1/√H, 1/√H) everywhere, exactly as `nn.LSTM`; exprnn: a
            random orthogonal `U`), `"cayley"` (exprnn only: the `"paper"` init with the authors'
            Cayley rotations, angles :math:`-\tan(\theta/2)`, :math:`\theta \sim U(0, \pi/2)`) or
            `"chrono"` (LSTM, GRU and JANET bases only: the `"identity"` init
            with Tallec & Ollivier's chrono biases in `b_hh` and none in `b_ih`, drawn per unit:
            LSTM forget gate :math:`b_f = \log U(1, T_{max} - 1)` and input gate :math:`b_i = -b_f`;
            GRU update gate `z` (the keep gate of :math:`h' = (1-z) n + z h`) the same draw).
        t_max: chrono's characteristic time scale :math:`T_{max} \ge 2`; required by, and only
            accepted with, `init="chrono"`.
        forget_bias: the LSTM's forget-gate bias under `"paper"` and `"identity"` (None: 1.0,
            the authors' default; their TIMIT runs use -4.0); LSTM kinds and those inits only.

    Inputs: `x`, `state`
        - `x`: `(T, B, I)`, time-major.
        - `state`: `(h_0, c_0)` for LSTM and UR-LSTM kinds, `h_0` otherwise; each `(num_layers, B, H)`. Zeros if
          omitted. Or a `StreamState`, to go on with the drive's state too.

    Outputs: `out`, `state`
        - `out`: `(T, B, H)`, :math:`h_t` of the last layer.
        - `state`: the final `(h_T, c_T)` or `h_T`, like `state`; a `StreamState` if one was given.

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

    # Layer 0's weights, registered in __init__; declared because nn.Module.__getattr__ is untyped.
    weight_ih_l0: Tensor
    weight_hh_l0: Tensor
    bias_ih_l0: Tensor
    bias_hh_l0: Tensor

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
        dropout: float = 0.0,
        init: str = "paper",
        t_max: float | None = None,
        forget_bias: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.kind = get_kind(kind)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        real = isinstance(dropout, numbers.Real) and not isinstance(dropout, bool)
        if not real or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        self.kind.check_init(init, t_max=t_max, forget_bias=forget_bias)
        self.hyperparameters = self.kind.resolve({"mu": mu, "s": s, "beta": beta, "eps": eps, "restart": restart})
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.init = init
        self.t_max = None if t_max is None else float(t_max)
        self.forget_bias = None if forget_bias is None else float(forget_bias)

        exprnn = self.kind.base == "exprnn"
        rows = self.kind.gates * self.hidden_size
        for layer in range(self.num_layers):
            columns = self.input_size if layer == 0 else self.hidden_size
            # Registration order is nn.LSTM's, so init="pytorch" draws the same numbers as nn.LSTM.
            # The orthogonal parametrisation checks the matrix it starts from; give it a valid one.
            if exprnn:
                recurrent = torch.eye(self.hidden_size, device=device, dtype=dtype)
            else:
                recurrent = torch.empty(rows, self.hidden_size, device=device, dtype=dtype)
            shapes = {
                "weight_ih": torch.empty(rows, columns, device=device, dtype=dtype),
                "weight_hh": recurrent,
                "bias_ih": torch.empty(rows, device=device, dtype=dtype),
                "modrelu_bias" if exprnn else "bias_hh": torch.empty(
                    self.hidden_size if exprnn else rows, device=device, dtype=dtype
                ),
            }
            for name, tensor in shapes.items():
                self.register_parameter(f"{name}_l{layer}", nn.Parameter(tensor))
            if exprnn:
                orthogonal(self, f"weight_hh_l{layer}", orthogonal_map="matrix_exp")
            if self.kind.learnable:
                for name in ("mu_raw", "s_raw"):
                    self.register_parameter(f"{name}_l{layer}", nn.Parameter(torch.empty((), device=device, dtype=dtype)))
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

    def rebase(self) -> None:
        """Dynamic trivialisation (Lezcano-Casado 2019): re-base every exprnn layer's `U = B exp(A)` at
        its current value (`B ← U`, `A ← 0`), so the next steps move `A` around 0 again. `U` itself
        does not change, nor does the parameter holding `A` (an optimiser's state for it stays).
        Does nothing for kinds without an orthogonal `U`."""
        if self.kind.base != "exprnn":
            return
        with torch.no_grad():
            for layer in range(self.num_layers):
                name = f"weight_hh_l{layer}"
                # Assigning U goes through the parametrisation's right_inverse: base = U, A = 0.
                setattr(self, name, getattr(self, name).clone())

    def skew_parameters(self) -> list[nn.Parameter]:
        """The parameters holding exprnn's skew matrices `A` (`[]` for other kinds): the authors train
        them with their own learning rate (`--lr_orth`)."""
        if self.kind.base != "exprnn":
            return []
        return [getattr(self.parametrizations, f"weight_hh_l{layer}").original for layer in range(self.num_layers)]

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
        if self.init == "paper":
            nn.init.eye_(weight_hh)  # on the whole (G·H, H) matrix: identity in the first gate block only
        else:
            eye = torch.eye(hidden, dtype=weight_hh.dtype, device=weight_hh.device)
            weight_hh.copy_(eye.repeat(self.kind.gates, 1))
        bias_ih.zero_()
        bias_hh.zero_()
        if self.init == "chrono":
            # Momentum drives scale b_ih by s and accumulate it (to s/(1-μ) b_ih), so a bias there would
            # not act on the gate as chrono defines it; b_hh enters the pre-activation as it is.
            block = KEEP_BLOCK[self.kind.base]
            assert self.t_max is not None  # the constructor requires it with chrono
            keep = bias_hh[block * hidden : (block + 1) * hidden].uniform_(1.0, self.t_max - 1).log_()
            if self.kind.base == "lstm":
                bias_hh[:hidden] = -keep
        elif self.kind.base == "ur-lstm":
            # Gu et al.'s uniform gate initialisation, σ(b_f) ~ U(1/H, 1 - 1/H), and b_r = -b_f; in b_hh,
            # which momentum drives do not scale, like chrono's.
            low = min(1 / hidden, 0.5)
            uniform = bias_hh[:hidden].uniform_(low, 1 - low)
            bias_hh[:hidden] = torch.logit(uniform)
            bias_hh[hidden : 2 * hidden] = -bias_hh[:hidden]
        elif self.kind.base == "janet":
            bias_ih[:hidden] = 1.0  # the forget gate s, as the LSTM's
            bias_hh[:hidden] = 1.0
        elif self.kind.base == "lstm":
            # The forget gate is PyTorch's second block of (i, f, g, o).
            forget = FORGET_BIAS if self.forget_bias is None else self.forget_bias
            bias_ih[hidden : 2 * hidden] = forget
            bias_hh[hidden : 2 * hidden] = forget
        elif self.kind.base == "gru" and self.init == "paper":
            # The authors' GRU (their PTB code) biases its reset gate, PyTorch's first block of (r, z, n).
            bias_ih[:hidden] = 1.0
            bias_hh[:hidden] = 1.0

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
            angles = weight_ih.new_empty(hidden // 2)
            if self.init == "cayley":
                # The authors' cayley_init_: the Cayley map's angles, -tan(θ/2) for θ ~ U(0, π/2).
                angles = angles.uniform_(0, math.pi / 2).div_(2).tan_().neg_()
            else:
                angles = angles.uniform_(-math.pi, math.pi)  # Henaff et al.
            recurrent = _rotations(angles, hidden)
            modrelu_bias.uniform_(-0.01, 0.01)
        # Assigning goes through the parametrisation: U is exactly `recurrent` until training moves it.
        setattr(self, f"weight_hh_l{layer}", recurrent)

    def extra_repr(self) -> str:
        parts = [repr(self.kind.name), str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.dropout:
            parts.append(f"dropout={self.dropout!r}")
        parts += [f"{name}={value!r}" for name, value in self.hyperparameters.items()]
        if self.init != "paper":
            parts.append(f"init={self.init!r}")
        if self.t_max is not None:
            parts.append(f"t_max={self.t_max!r}")
        if self.forget_bias is not None:
            parts.append(f"forget_bias={self.forget_bias!r}")
        return ", ".join(parts)

    # -- forward ---------------------------------------------------------------------------------

    def forward(self, x: Tensor, state: CellState | StreamState | None = None) -> tuple[Tensor, CellState | StreamState]:
        """`out (T, B, H)` and the final state for `x (T, B, I)`; see the class docstring."""
        stream, hidden = (state, state.hidden) if isinstance(state, StreamState) else (None, state)
        if self.kind.base in ("lstm", "gru", "rnn") and self.kind.variant in LINEAR_VARIANTS:
            out, final, moments = self._forward_fused(x, hidden, stream)
        else:
            out, final, moments = self._forward_stepped(x, hidden, stream)  # type: ignore[assignment]
        if stream is None:
            return out, final
        v = tuple(m.v for m in moments if m.v is not None)
        m = tuple(m.m for m in moments if m.m is not None)
        return out, StreamState(final, stream.steps + x.size(0), v, m)

    def _forward_fused(
        self, x: Tensor, state: CellState | None, stream: StreamState | None
    ) -> tuple[Tensor, CellState, list[Moments]]:
        h0, c0 = self._initial_state(x, state)
        initial = self._initial_moments(x, stream)
        hs, cs, finals = [], [], []
        for layer in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer)
            final = Moments()
            if not self.kind.plain:
                hyperparameters = self._drive_hyperparameters(layer)
                start, v0 = (0, None) if stream is None else (stream.steps, initial[layer].v)
                x, weight_ih = momentum(x, weight_ih, bias_ih, self.kind.variant, hyperparameters, start=start, initial=v0)
                bias_ih = torch.zeros_like(bias_ih)
                if stream is not None:
                    final.v = linear(x[-1:], weight_ih.t())[0]
            finals.append(final)
            params = [weight_ih, weight_hh, bias_ih, bias_hh]
            # After params: has_biases, num_layers, dropout, train, bidirectional, batch_first.
            options = (True, 1, 0.0, self.training, False, False)
            if c0 is not None:
                x, h, c = torch.lstm(x, (h0[layer : layer + 1], c0[layer : layer + 1]), params, *options)
                cs.append(c)
            else:
                x, h = _FUSED_KERNELS[self.kind.base](x, h0[layer : layer + 1], params, *options)
            hs.append(h)
            x = self._between_layers(x, layer)
        final_h = torch.cat(hs)
        return x, ((final_h, torch.cat(cs)) if c0 is not None else final_h), finals

    def _forward_stepped(
        self,
        x: Tensor,
        state: CellState | None,
        stream: StreamState | None = None,
        *,
        autograd_steps: bool = False,
    ) -> tuple[Tensor | list[Tensor], CellState, list[Moments]]:
        """The per-step path, for every kind: the drive a chunk at a time, then the recurrence.

        Returns `out`, or with `autograd_steps` the list `[h_1, …, h_T]` of separate tensors recorded
        step by step by autograd (slower; for `gradient_flow`), the final state and each layer's
        final moments (filled when `stream` is given).
        """
        h0, c0 = self._initial_state(x, state)
        initial = self._initial_moments(x, stream)
        start = 0 if stream is None else stream.steps
        base, variant = self.kind.base, self.kind.variant
        nesterov = variant == "nesterov"
        step_base = "nesterov-lstm" if nesterov else base
        mu = None
        if nesterov:
            mu = momentum_schedule(variant, self.hyperparameters, start).coefficients(x.size(0), x.device)
        finals: list[State] = []
        moments: list[Moments] = []
        # The exprnn's orthogonal U is computed once per call, not once per access.
        with parametrize.cached():
            for layer in range(self.num_layers):
                weight_ih, weight_hh, bias_ih, extra = (reorder_gates(base, w) for w in self._weights(layer))
                # An LSTM's, RNN's, JANET's or UR-LSTM's b_hh only adds to the pre-activation, so the
                # drive carries it; the GRU's (b_hn sits under r ⊙ ·) and modReLU's b are applied inside the step.
                folded = base not in ("gru", "exprnn")
                drive_bias = extra if folded else torch.zeros_like(bias_ih)
                hyperparameters = self._drive_hyperparameters(layer)
                # The drive's moments run in the steps' gate order; the carried ones in PyTorch's.
                carried = Moments(_reordered(base, initial[layer].v), _reordered(base, initial[layer].m))
                final = Moments() if stream is not None else None
                chunks = drive(
                    x,
                    weight_ih,
                    bias_ih,
                    drive_bias,
                    variant,
                    hyperparameters,
                    start=start,
                    initial=carried,
                    final=final,
                )
                step_bias = None if folded else extra
                begin: State = (h0[layer],) if c0 is None else (h0[layer], c0[layer])
                if nesterov:  # h_{t−2} before the first step, which enters nothing (the drive has p)
                    begin += (torch.zeros_like(h0[layer]),)
                if autograd_steps:
                    hs, last = run_steps(step_base, chunks, begin, weight_hh, step_bias, mu)
                    x = torch.stack(hs) if layer + 1 < self.num_layers else hs  # type: ignore[assignment]
                elif mu is not None and _takes_input_in_kernel(x, start, weight_hh):  # nesterov-lstm
                    weights = (weight_ih, weight_hh, bias_ih, drive_bias)
                    x, last = _nesterov_in_kernel(x, weights, float(hyperparameters["s"]), begin, mu, final)
                else:
                    x, last = recurrence(step_base, chunks, begin, weight_hh, step_bias, mu, steps=x.size(0))
                x = self._between_layers(x, layer)
                finals.append(tuple(last))
                if nesterov and final is not None:  # p_{T−1} = d_{T−1} + U h_{T−2}
                    assert final.v is not None
                    final.v = torch.addmm(final.v, last[2], weight_hh.t())
                if final is not None:
                    final = Moments(_reordered(base, final.v), _reordered(base, final.m))
                moments.append(final or Moments())
        h = torch.stack([final[0] for final in finals])
        return x, h if c0 is None else (h, torch.stack([final[1] for final in finals])), moments

    def _between_layers(self, out: Tensor, layer: int) -> Tensor:
        """Layer `layer`'s output as the next layer's input: with `dropout` while training, as `nn.LSTM`."""
        if layer + 1 == self.num_layers or not self.dropout or not self.training:
            return out
        return F.dropout(out, self.dropout, training=True)

    def _weights(self, layer: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """`(W, U, b_ih, b_hh)` of one layer; exprnn gives its modReLU bias in place of `b_hh`."""
        extra = "modrelu_bias" if self.kind.base == "exprnn" else "bias_hh"
        names = ("weight_ih", "weight_hh", "bias_ih", extra)
        return tuple(getattr(self, f"{name}_l{layer}") for name in names)

    def _initial_state(self, x: Tensor, state: CellState | None) -> tuple[Tensor, Tensor | None]:
        if x.dim() != 3 or x.size(2) != self.input_size:
            raise ValueError(f"expected x of shape (T, B, {self.input_size}), got {tuple(x.shape)}")
        if x.size(0) == 0:
            raise ValueError("expected at least one time step, got an empty sequence")
        shape = (self.num_layers, x.size(1), self.hidden_size)
        lstm = self.kind.has_cell_state
        if state is None:
            zeros = x.new_zeros(shape)
            return zeros, zeros if lstm else None
        parts: tuple[object, ...] = tuple(state) if lstm and isinstance(state, (tuple, list)) else (state,)
        expected = "(h, c)" if lstm else "h"
        if len(parts) != (2 if lstm else 1) or any(not isinstance(p, Tensor) or p.shape != shape for p in parts):
            got = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in parts]
            raise ValueError(f"expected state {expected} with each of shape {shape}, got {got}")
        tensors = cast(tuple[Tensor, ...], parts)  # each checked just above
        return tensors[0], tensors[1] if lstm else None

    def _initial_moments(self, x: Tensor, stream: StreamState | None) -> list[Moments]:
        """Each layer's carried `Moments` (PyTorch's gate order), checked against the kind and `x`."""
        layers = self.num_layers
        if stream is None:
            return [Moments() for _ in range(layers)]
        if not isinstance(stream.steps, numbers.Integral) or isinstance(stream.steps, bool) or stream.steps < 0:
            raise ValueError(f"expected StreamState.steps an integer >= 0, got {stream.steps!r}")
        variant = self.kind.variant
        expected = {"v": variant in (*WITH_V, "nesterov"), "m": variant in WITH_M}
        shape = (x.size(1), self.kind.gates * self.hidden_size)
        for name, used in expected.items():
            parts = getattr(stream, name)
            if parts == ():
                continue
            if not used or len(parts) != layers or any(not isinstance(p, Tensor) or p.shape != shape for p in parts):
                count = f"{layers} tensors of shape {shape}" if used else f"() for {self.kind.name!r}"
                got = [tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__ for p in parts]
                raise ValueError(f"expected StreamState.{name} to be {count}, got {got}")
        return [Moments(stream.v[layer] if stream.v else None, stream.m[layer] if stream.m else None) for layer in range(layers)]


def _reordered(base: str, moments: Tensor | None) -> Tensor | None:
    """`(B, G·H)` moments between PyTorch's gate order and the steps' (an involution)."""
    return None if moments is None else reorder_gates(base, moments.t()).t()


def _rotations(angles: Tensor, size: int) -> Tensor:
    """Block-diagonal 2×2 rotations `[[cos θ, sin θ], [-sin θ, cos θ]]`, `exp` of the skew matrix with
    `θ` above its diagonal (an odd `size` leaves the last coordinate alone)."""
    cos, sin = angles.cos(), angles.sin()
    rotation = torch.eye(size, dtype=angles.dtype, device=angles.device)
    even = torch.arange(0, 2 * (size // 2), 2, device=angles.device)
    rotation[even, even] = cos
    rotation[even + 1, even + 1] = cos
    rotation[even, even + 1] = sin
    rotation[even + 1, even] = -sin
    return rotation


# nesterov-lstm's input joins the kernel's product where, with the constant 1, it is at most this
# fraction of the hidden size: a few more columns in each step's product instead of a G·H-wide drive
# written, read and back-propagated through memory (pixels: 2 columns where the drive is 4H wide).
FUSED_INPUTS = 1 / 8


def _takes_input_in_kernel(x: Tensor, start: int, weight_hh: Tensor) -> bool:
    """Whether nesterov-lstm's layer on `x` puts its input into the kernel's product: a narrow input,
    from a sequence's first step (a carried `p` enters through the drive), in the kernel at all."""
    narrow = x.size(2) + 1 <= FUSED_INPUTS * weight_hh.size(1)
    return narrow and start == 0 and in_kernel("nesterov-lstm", x.size(0), weight_hh)


def _nesterov_in_kernel(
    x: Tensor,
    weights: tuple[Tensor, ...],
    s: float,
    begin: State,
    mu: Tensor,
    final: Moments | None,
) -> tuple[Tensor, State]:
    """nesterov-lstm's layer with its extrapolated input and the constant 1 as the kernel's extra product
    columns (`_drive.nesterov_input`); a `final` given gets `d_{T−1}`, as `_drive` would give it."""
    weight_ih, weight_hh, bias_ih, bias = weights
    extrapolated, weight, constant = nesterov_input(x, weight_ih, bias_ih, bias, s, mu)
    columns = torch.cat([extrapolated, extrapolated.new_ones(*x.shape[:2], 1)], 2)
    if final is not None:
        final.v = torch.addmm(constant, x[-1], weight.t())
    inputs = (columns, torch.cat([weight, constant.unsqueeze(1)], 1))
    return _native.recurrence(None, begin, weight_hh, mu, steps=x.size(0), inputs=inputs)


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
    dropout: float = 0.0,
    init: str = "paper",
    t_max: float | None = None,
    forget_bias: float | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> MomentumCell:
    """A cell of the given kind (see `CELL_KINDS` and `MomentumCell`).

    A hyperparameter left as `None` takes the kind's default (`CELL_KINDS[kind].defaults`).

    Raises:
        ValueError: unknown kind; a hyperparameter the kind does not use; a value out of its range
            (`0 <= mu < 1`, `s > 0`, `0 <= beta < 1`, `eps > 0`, `restart >= 0` an integer); sizes or
            `num_layers` below 1; `dropout` outside [0, 1]; `init` not in `INITS`; `init="chrono"` on a kind without a keep gate
            (rnn, exprnn, ur-lstm) or without `t_max`; `init="cayley"` on a kind other than exprnn's;
            `t_max` below 2 or without `init="chrono"`; `forget_bias` on a kind other than an LSTM's or
            with another init.
    """
    return MomentumCell(
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
