"""`MomentumRNN`: `nn.LSTM`'s contract for every kind; the plain kinds are PyTorch's modules exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from momentum_search import MomentumRNN
from momentum_search.trainers.cells import CELL_KINDS, build_cell

TOL = 1e-12


def _sequence(batch_first: bool, *, steps: int = 7, batch: int = 3, features: int = 4) -> torch.Tensor:
    shape = (batch, steps, features) if batch_first else (steps, batch, features)
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def _flat(state: object) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]  # type: ignore[list-item]


def _grads(output: torch.Tensor, state: object, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    # A loss that reaches every output and every final state, with unequal weights per element.
    loss = sum((t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype).view_as(t)).sum() for t in [output, *_flat(state)])
    return list(torch.autograd.grad(loss, inputs))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("kind", "reference"), [("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.RNN)])
@pytest.mark.parametrize("with_state", [False, True])
def test_the_plain_kinds_are_pytorchs_modules(
    kind: str, reference: type[nn.RNNBase], batch_first: bool, with_state: bool
) -> None:
    torch.manual_seed(0)
    theirs = reference(4, 5, 2, batch_first=batch_first, dtype=torch.float64)
    ours = MomentumRNN(kind, 4, 5, 2, batch_first=batch_first, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    x = _sequence(batch_first)
    hx = None
    if with_state:
        parts = [torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "lstm" else 1)]
        hx = tuple(parts) if kind == "lstm" else parts[0]
    out_theirs, state_theirs = theirs(x, hx)
    out_ours, state_ours = ours(x, hx)
    assert out_ours.shape == out_theirs.shape == ((3, 7, 5) if batch_first else (7, 3, 5))
    for a, b in zip([out_ours, *_flat(state_ours)], [out_theirs, *_flat(state_theirs)], strict=True):
        assert (a - b).abs().max() <= TOL
    inputs = [x, *(_flat(hx) if hx is not None else [])]
    grads_theirs = _grads(out_theirs, state_theirs, inputs + list(theirs.parameters()))
    grads_ours = _grads(out_ours, state_ours, inputs + list(ours.parameters()))
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        assert (a - b).abs().max() <= TOL


def test_init_pytorch_draws_nn_lstms_numbers() -> None:
    torch.manual_seed(3)
    theirs = nn.LSTM(4, 5, 2)
    torch.manual_seed(3)
    ours = MomentumRNN("lstm", 4, 5, 2, init="pytorch")
    for (name, a), (other, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
        assert name == other and torch.equal(a, b)


@pytest.mark.parametrize(
    "kind", ["momentum-lstm", "adam-gru", "sr-rnn", "nesterov-lstm", "learnable-momentum-exprnn", "rmsprop-janet"]
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_every_kind_computes_what_its_registered_cell_does(kind: str, batch_first: bool) -> None:
    hyperparameters = {name: CELL_KINDS[kind].defaults[name] for name in CELL_KINDS[kind].hyperparameters}
    torch.manual_seed(1)
    cell = build_cell(kind, 4, 5, num_layers=2, dtype=torch.float64, **hyperparameters)
    rnn = MomentumRNN(kind, 4, 5, 2, batch_first=batch_first, dtype=torch.float64)
    rnn.load_state_dict(cell.state_dict())
    x = _sequence(batch_first)
    out, state = rnn(x)
    expected, expected_state = cell(x.transpose(0, 1) if batch_first else x)
    expected = expected.transpose(0, 1) if batch_first else expected
    assert torch.equal(out, expected)
    for a, b in zip(_flat(state), _flat(expected_state), strict=True):
        assert torch.equal(a, b)
    params = list(rnn.parameters())
    for a, b in zip(_grads(out, state, [x, *params]), _grads(expected, expected_state, [x, *cell.parameters()]), strict=True):
        assert (a - b).abs().max() <= TOL


@pytest.mark.parametrize("kind", ["lstm", "adam-lstm"])
def test_dropout_acts_between_layers_while_training_only(kind: str) -> None:
    torch.manual_seed(2)
    x = torch.randn(6, 3, 4, dtype=torch.float64)
    rnn = MomentumRNN(kind, 4, 5, 2, dropout=1.0, dtype=torch.float64)
    plain = MomentumRNN(kind, 4, 5, 2, dtype=torch.float64)
    plain.load_state_dict(rnn.state_dict())
    # Every output of layer 1 dropped: layer 2 runs on zeros, as a one-layer cell with layer 2's weights does.
    second = MomentumRNN(kind, 5, 5, 1, dtype=torch.float64)
    second.load_state_dict({name.replace("_l1", "_l0"): value for name, value in rnn.state_dict().items() if "_l1" in name})
    out, _ = rnn(x)
    assert torch.equal(out, second(torch.zeros(6, 3, 5, dtype=torch.float64))[0])
    rnn.eval()
    assert torch.equal(rnn(x)[0], plain(x)[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dropout": 1.5}, "dropout must be a probability in \\[0, 1\\], got 1.5"),
        ({"batch_first": 1}, "batch_first must be True or False, got 1"),
        ({"num_layers": 0}, "num_layers must be an integer >= 1, got 0"),
        ({"beta": 0.5}, "'momentum-lstm' does not use beta"),
    ],
)
def test_bad_arguments_are_refused_naming_the_value(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MomentumRNN("momentum-lstm", 4, 5, **arguments)  # type: ignore[arg-type]


def test_the_repr_shows_what_differs_from_the_defaults() -> None:
    rnn = MomentumRNN("momentum-lstm", 4, 5, 2, batch_first=True, dropout=0.25)
    assert repr(rnn) == "MomentumRNN('momentum-lstm', 4, 5, num_layers=2, dropout=0.25, mu=0.6, s=0.6, batch_first=True)"


def test_importing_the_package_loads_no_torch_until_the_module_is_used() -> None:
    probe = (
        "import sys, momentum_search as m; before = 'torch' in sys.modules; m.MomentumRNN; "
        "print(before, 'torch' in sys.modules, 'MomentumRNN' in dir(m), sorted(m.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split(maxsplit=3)
    assert out[:3] == ["False", "True", "True"]
    assert out[3].strip() == "['CELL_KINDS', 'MomentumRNN', '__version__']"
