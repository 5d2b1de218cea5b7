"""The momentum cells against a plain per-step reference written from docs/momentum-cells.md."""

from __future__ import annotations

import copy
import gc
import functools
import json
import math
import os
import pickle
import random
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from momentum_search.trainers._model import detach_state
from momentum_search.trainers.cells import CELL_KINDS, MomentumCell, StreamState, build_cell, gradient_flow
from momentum_search.trainers.cells import _compiled, _native, _scan
from momentum_search.trainers.cells._drive import single_input_moment, single_input_statistics

KINDS = list(CELL_KINDS)
TORCH_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
DTYPE = torch.float64
TOL = {"rtol": 1e-10, "atol": 1e-10}


# -- the reference: one time step after another, straight from the equations ----------------------


def reference(cell: MomentumCell, x: Tensor, state=None) -> tuple[list[Tensor], Tensor, Tensor | None]:
    """Last layer's [h_1..h_T], final h (L, B, H) and final c (LSTM) or None."""
    base, variant = cell.kind.base, cell.kind.variant
    hp = cell.hyperparameters
    size, layers, batch = cell.hidden_size, cell.num_layers, x.size(1)
    if state is None:
        h0 = x.new_zeros(layers, batch, size)
        c0 = h0
    else:
        h0, c0 = state if cell.kind.has_cell_state else (state, None)
    finals_h, finals_c = [], []
    inputs = list(x.unbind(0))
    for layer in range(layers):
        W = getattr(cell, f"weight_ih_l{layer}")
        U = getattr(cell, f"weight_hh_l{layer}")
        b_ih = getattr(cell, f"bias_ih_l{layer}")
        h = h0[layer]
        c = c0[layer] if cell.kind.has_cell_state else None
        mu, s = hp.get("mu"), hp.get("s")
        if variant == "learnable-momentum":  # this layer's trained pair, so autograd reaches it
            mu = torch.sigmoid(getattr(cell, f"mu_raw_l{layer}"))
            s = F.softplus(getattr(cell, f"s_raw_l{layer}"))
        v = m = p_before = 0.0
        hs = []
        for t, x_t in enumerate(inputs, start=1):
            a = x_t @ W.T + b_ih
            if variant == "nesterov":  # the authors' NesterovLSTMCell: pre-activation extrapolation
                F_ = hp["restart"]
                mu_t = ((t - 1) % F_) / (((t - 1) % F_) + 3) if F_ else (t - 1) / (t + 2)
                p = h @ U.T + getattr(cell, f"bias_hh_l{layer}") - s * a
                i, f, g, o = (p + mu_t * (p - p_before)).split(size, dim=1)
                p_before = p
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                hs.append(h)
                continue
            if variant == "plain":
                d = a
            elif variant in ("momentum", "learnable-momentum"):
                v = mu * v + s * a
                d = v
            elif variant in ("nag", "sr"):
                if variant == "nag":
                    mu_t = (t - 1) / (t + 2)
                else:
                    mu_t = ((t - 1) % hp["restart"]) / (((t - 1) % hp["restart"]) + 3)
                v = mu_t * v + s * a
                d = v
            else:
                v = (mu if variant == "adam" else 0.0) * v + s * a
                m = hp["beta"] * m + (1 - hp["beta"]) * a * a
                d = v / torch.sqrt(m + hp["eps"])
            if base == "exprnn":
                z = d + h @ U.T
                h = torch.sign(z) * torch.relu(torch.abs(z) + getattr(cell, f"modrelu_bias_l{layer}"))
            else:
                r_t = h @ U.T + getattr(cell, f"bias_hh_l{layer}")
                if base == "lstm":
                    i, f, g, o = (d + r_t).split(size, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                elif base == "janet":  # van der Westhuizen & Lasenby: h = c, input gate 1 - σ(s - 1)
                    s_, c_hat = (d + r_t).split(size, dim=1)
                    h = torch.sigmoid(s_) * h + (1 - torch.sigmoid(s_ - 1.0)) * torch.tanh(c_hat)
                elif base == "ur-lstm":  # Gu et al.: the refine gate r turns f into g
                    f, r, o, u = (d + r_t).split(size, dim=1)
                    f, r, o, u = torch.sigmoid(f), torch.sigmoid(r), torch.sigmoid(o), torch.tanh(u)
                    g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
                    c = g * c + (1 - g) * u
                    h = o * torch.tanh(c)
                elif base == "gru":
                    d_r, d_z, d_n = d.split(size, dim=1)
                    u_r, u_z, u_n = r_t.split(size, dim=1)
                    r = torch.sigmoid(d_r + u_r)
                    z = torch.sigmoid(d_z + u_z)
                    n = torch.tanh(d_n + r * u_n)
                    h = (1 - z) * n + z * h
                else:
                    h = torch.tanh(d + r_t)
            hs.append(h)
        finals_h.append(h)
        finals_c.append(c)
        inputs = hs
    return hs, torch.stack(finals_h), torch.stack(finals_c) if cell.kind.has_cell_state else None


def random_hyperparameters(kind: str, rng: random.Random, restart: int) -> dict[str, float | int]:
    draw = {
        "mu": lambda: rng.uniform(0.0, 0.99),
        "s": lambda: rng.uniform(0.1, 2.0),
        "beta": lambda: rng.uniform(0.0, 0.999),
        "eps": lambda: 10 ** rng.uniform(-8, -2),
        "restart": lambda: restart,
    }
    return {name: draw[name]() for name in CELL_KINDS[kind].hyperparameters}


def random_state(cell: MomentumCell, batch: int, generator: torch.Generator):
    shape = (cell.num_layers, batch, cell.hidden_size)
    h = torch.randn(shape, dtype=DTYPE, generator=generator) * 0.5
    if not cell.kind.has_cell_state:
        return h
    return h, torch.randn(shape, dtype=DTYPE, generator=generator) * 0.5


def flat_state(state) -> list[Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


# (T, num_layers, restart F, with initial state): F divides T in T1/T32/T300-F3, not in the others;
# T = 32 is exactly two 16-step chunks, 40 and 300 end with a partial one.
CASES = [
    (1, 1, 1, False),
    (5, 2, 3, True),
    (32, 2, 16, True),
    (40, 1, 7, True),
    (300, 1, 3, False),
    (300, 2, 23, True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"T{case[0]}-L{case[1]}-F{case[2]}")
@pytest.mark.parametrize("kind", KINDS)
def test_matches_reference_in_outputs_and_gradients(kind: str, case: tuple[int, int, int, bool]) -> None:
    check_against_reference(kind, *case, input_size=3)


@pytest.mark.parametrize("kind", ["nag-rnn", "sr-lstm", "momentum-gru", "adam-rnn", "rmsprop-exprnn"])
def test_long_sequences_match_reference(kind: str) -> None:
    # 1000 steps: 63 chunks of the scan, nag's μ_t close to 1, sr restarting 37 times (F = 27).
    check_against_reference(kind, 1000, 1, 27, True, input_size=2)


# The drive's float32 paths, on the base cells whose h is bounded: JANET's h = c is not, and it
# amplifies float32 rounding past these tolerances over 60 steps.
ADAM_KINDS = [kind for kind in KINDS if CELL_KINDS[kind].variant in ("adam", "rmsprop") and CELL_KINDS[kind].base != "janet"]


@pytest.mark.parametrize("input_size", [1, 3], ids=["one-input", "more-inputs"])
@pytest.mark.parametrize("kind", [*ADAM_KINDS, "momentum-lstm", "nag-gru", "sr-exprnn"])
def test_float32_matches_float64_reference(kind: str, input_size: int) -> None:
    # float32 adam/rmsprop cells with one input get m in closed form from three input statistics;
    # with more, and in float64, by filtering the drive itself.
    check_against_reference(kind, 60, 2, 5, True, input_size=input_size, dtype=torch.float32)


# -- the long-sequence paths on CPU: the LSTM's steps in `_native`'s kernel, the one-input drive compiled --


COMPILED = [f"compiled_single_input_drive{way}" for way in ("", "_backward")]
# The compiled tests run chunks of 4 steps, not 16: the same functions unrolled less, whose graphs
# build in about 40 % of the time.
TEST_CHUNK = 4


def record_calls(monkeypatch: pytest.MonkeyPatch, *, compile: bool) -> list[str]:
    """The long-sequence paths taken, in order: `native` for each layer's steps in the kernel
    (`native-input` where its input joins the product), and the
    name of each compiled wrapper called, which runs its graph, or without `compile` the plain function
    (which path runs, without building a graph)."""
    calls: list[str] = []
    for name in COMPILED:
        wrapper = getattr(_compiled, name)
        run = wrapper.compiled if compile else wrapper.function
        monkeypatch.setattr(wrapper, "compiled", lambda *args, run=run, name=name: calls.append(name) or run(*args))
    native = _native.recurrence

    def recurrence(*args: Any, **kwargs: Any) -> Any:
        calls.append("native" if kwargs.get("inputs") is None else "native-input")  # the input in the product
        return native(*args, **kwargs)

    monkeypatch.setattr(_native, "recurrence", recurrence)
    return calls


@pytest.fixture
def compiled_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Compile at any length, in chunks of `TEST_CHUNK` steps, and record every long-sequence path taken."""
    monkeypatch.setenv(_compiled.MODE, "always")
    for module in (_scan, _compiled):
        monkeypatch.setattr(module, "CHUNK", TEST_CHUNK)
    calls = record_calls(monkeypatch, compile=True)
    # The cached filters know their chunk length: none built with the other one may be reused.
    for cache in (_scan.linear_recurrence, _scan.constant_response):
        cache.cache_clear()
    yield calls
    for cache in (_scan.linear_recurrence, _scan.constant_response):
        cache.cache_clear()


# float32, the dtype a training uses and the only one the kernel and the compiled graphs take, against
# the float64 reference. The one-input drive's graphs take 5-30 s to build (a minute or more with
# inductor's disk cache empty, as on CI), so adam and rmsprop share one case, whose graphs they share.
# Cases: steps, layers, restart, input size, hidden size; no length a whole number of chunks (the last,
# shorter chunk runs eagerly in the drive, and in the kernel as any other); hidden 4 and 20 are not
# whole numbers of the kernel's vectors (8 floats with AVX2, 16 with AVX-512).
COMPILED_CASES = [
    (("nesterov-lstm",), (34, 2, 16, 3, 4)),
    (("nesterov-lstm",), (29, 2, 5, 1, 20)),  # the first layer's one input joins the kernel's product
    (("nesterov-lstm",), (37, 1, 0, 2, 20)),
    (("adam-lstm",), (33, 2, 0, 3, 20)),
    (("adam-lstm", "rmsprop-lstm"), (42, 1, 7, 1, 4)),
]


@pytest.mark.parametrize(
    ("kinds", "case"), COMPILED_CASES, ids=lambda v: "+".join(v) if isinstance(v[0], str) else "-".join(map(str, v))
)
def test_compiled_steps_match_reference(
    kinds: tuple[str, ...], case: tuple[int, int, int, int, int], compiled_calls: list[str]
) -> None:
    steps, layers, restart, input_size, hidden = case
    chunks = steps // TEST_CHUNK
    for kind in kinds:
        compiled_calls.clear()
        check_against_reference(
            kind, steps, layers, restart, True, input_size=input_size, dtype=torch.float32, hidden_size=hidden
        )
        into_product = kind == "nesterov-lstm" and (input_size + 1) * 8 <= hidden
        kernel = [call for call in compiled_calls if call.startswith("native")]
        assert kernel == ["native-input" if into_product else "native"] + ["native"] * (layers - 1)
        one_input_drive = input_size == 1 and CELL_KINDS[kind].variant in ("adam", "rmsprop")
        drives = chunks if one_input_drive else 0  # the first layer's
        assert compiled_calls.count("compiled_single_input_drive") == drives
        assert compiled_calls.count("compiled_single_input_drive_backward") == drives
    assert not _compiled._Compiled.failed


@pytest.mark.parametrize(("width", "rows"), [(16, 6), (8, 3)], ids=["avx512-tiles", "avx2-tiles"])
def test_both_tile_layouts_of_the_kernel_match_reference(
    width: int, rows: int, monkeypatch: pytest.MonkeyPatch, compiled_calls: list[str]
) -> None:
    # The kernel's vector width and tile follow the CPU; both are built and checked wherever the tests
    # run (the compiler splits the wider vectors on a CPU without AVX-512).
    monkeypatch.setattr(_native, "FLAGS", (*_native.FLAGS, f"-DV={width}", f"-DR={rows}"))
    _native._library.cache_clear()
    try:
        assert _native._widths() == (width, 4 * width)
        # The input in the product (2 columns with the constant, hidden 40), and a G·H-wide drive.
        check_against_reference("nesterov-lstm", 23, 1, 5, True, input_size=2, dtype=torch.float32, hidden_size=40)
        check_against_reference("adam-lstm", 19, 1, 0, True, input_size=3, dtype=torch.float32, hidden_size=20)
        assert compiled_calls == ["native-input", "native"]
    finally:
        _native._library.cache_clear()  # the next test builds with the flags monkeypatch restores


def test_compiled_steps_serve_evaluation_and_streams_too(compiled_calls: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cell = build_cell("nesterov-lstm", 2, 8, restart=5)
    x = torch.randn(48, 3, 2)
    with torch.no_grad():
        compiled = [cell(x)[0], cell(x[:32], StreamState())[0]]
    assert compiled_calls == ["native", "native"]  # one layer, twice
    monkeypatch.setenv(_compiled.MODE, "never")
    with torch.no_grad():
        eager = [cell(x)[0], cell(x[:32], StreamState())[0]]
    for got, want in zip(compiled, eager):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_other_bases_and_inputs_stay_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    # A GRU's steps have no kernel (its one-input adam drive compiles), nor does a cell with more than
    # one input compile its drive (its LSTM steps run in the kernel). Which path runs is the question
    # here, so each compiled wrapper runs the plain function: no graph to build.
    monkeypatch.setenv(_compiled.MODE, "always")
    calls = record_calls(monkeypatch, compile=False)
    for kind, input_size, taken in (("adam-gru", 1, COMPILED), ("adam-lstm", 3, ["native"])):
        calls.clear()
        out, _ = build_cell(kind, input_size, 4)(torch.randn(32, 2, input_size))
        out.sum().backward()
        assert sorted(set(calls)) == taken


# Without a C or C++ compiler (and nothing in inductor's cache), in a fresh process: one warning for
# the kernel, one for torch.compile, then the same numbers eagerly.
NO_COMPILER = """
import json, os, warnings, torch
from momentum_search.trainers.cells import build_cell, _compiled, _native
torch.manual_seed(0)
cell = build_cell("adam-lstm", 1, 8)  # one input: its drive compiles too
x = torch.randn(40, 3, 1)
def run():
    cell.zero_grad()
    out, _ = cell(x)
    out.square().sum().backward()
    return torch.cat([out.flatten(), *(p.grad.flatten() for p in cell.parameters())])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fallen_back = run()
    again = run()
os.environ[_compiled.MODE] = "never"
eager = run()
messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
print(json.dumps({"messages": messages, "failed": [_compiled._Compiled.failed, _native._library() is None],
                  "error": ((fallen_back - eager).norm() / eager.norm()).item(),
                  "again": ((again - eager).norm() / eager.norm()).item()}))
"""


def test_without_a_compiler_the_steps_warn_once_and_run_eagerly(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-compiler")
    env = {**os.environ, _compiled.MODE: "always", "CC": missing, "CXX": missing, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", NO_COMPILER], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    kernel, graph = result["messages"]  # the kernel is built before the drive draws its first chunk
    assert graph.startswith("torch.compile failed (") and kernel.startswith("building the LSTM kernel failed ("), result
    assert all(message.endswith("the long sequences run eagerly") for message in result["messages"])
    assert result["failed"] == [True, True]
    assert result["error"] < 1e-6 and result["again"] < 1e-6  # relative, float32


def check_against_reference(
    kind: str,
    steps: int,
    layers: int,
    restart: int,
    with_state: bool,
    *,
    input_size: int,
    dtype: torch.dtype = DTYPE,
    hidden_size: int = 4,
) -> None:
    """Outputs, final state and every gradient (x and all parameters) of a random cell, compared with
    the reference run in float64 on the same weights."""
    rng = random.Random(f"{kind}-{steps}-{layers}-{restart}-{with_state}-{input_size}")
    torch.manual_seed(rng.randrange(2**31))
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    hp = random_hyperparameters(kind, rng, restart)
    init = rng.choice(["paper", "pytorch"])
    cell = build_cell(kind, input_size, hidden_size, num_layers=layers, init=init, dtype=DTYPE, **hp)
    with torch.no_grad():  # make every bias and recurrent entry matter
        for name, p in cell.named_parameters():
            if "original" not in name:
                p.add_(torch.randn(p.shape, dtype=DTYPE, generator=generator) * 0.3)
    x = torch.randn(steps, 2, input_size, dtype=DTYPE, generator=generator, requires_grad=True)
    state = random_state(cell, 2, generator) if with_state else None
    if dtype == DTYPE:
        compare(cell, x, state, cell, x, state, generator, functools.partial(torch.testing.assert_close, **TOL))
        return
    low_state = state if state is None else tuple(t.to(dtype) for t in flat_state(state))
    if low_state is not None and len(low_state) == 1:
        low_state = low_state[0]
    low_x = x.detach().to(dtype).requires_grad_()
    compare(copy.deepcopy(cell).to(dtype), low_x, low_state, cell, x, state, generator, close_in_norm)


def close_in_norm(got: Tensor, want: Tensor, msg: Callable[[str], str] | None = None) -> None:
    """float32 against float64: the error is small relative to the whole tensor (single entries
    that nearly cancel may be off by more, relatively)."""
    error = (got.double() - want).norm().item()
    scale = want.norm().item()
    if not error <= 1e-4 * scale + 1e-7:
        text = f"relative error {error / max(scale, 1e-300):.2e} (norm {scale:.2e})"
        raise AssertionError(msg(text) if msg else text)


def compare(
    cell: MomentumCell,
    x: Tensor,
    state: object,
    ref_cell: MomentumCell,
    ref_x: Tensor,
    ref_state: object,
    generator: torch.Generator,
    assert_close: Callable[..., None],
) -> None:
    """`cell` on `x` against the reference of `ref_cell` on `ref_x` (float64)."""
    out, final = cell(x, state)
    hs, ref_h, ref_c = reference(ref_cell, ref_x, ref_state)
    ref_out = torch.stack(hs)
    refs = [ref_out, ref_h] + ([] if ref_c is None else [ref_c])
    for got, want in zip([out, *flat_state(final)], refs, strict=True):
        assert_close(got, want)

    # One random linear functional of everything the cell returns.
    weights = [torch.randn(t.shape, dtype=DTYPE, generator=generator) for t in refs]

    def loss(tensors: list[Tensor]) -> Tensor:
        return sum((w.to(t.dtype) * t).sum() for w, t in zip(weights, tensors))

    grads = torch.autograd.grad(loss([out, *flat_state(final)]), [x, *cell.parameters()])
    ref_grads = torch.autograd.grad(loss(refs), [ref_x, *ref_cell.parameters()])
    for (name, _), got, want in zip([("x", x), *cell.named_parameters()], grads, ref_grads):
        assert_close(got, want, msg=lambda m, name=name: f"gradient of {name}: {m}")


# -- plain kinds are PyTorch's modules ---------------------------------------------------------------


@pytest.mark.parametrize("base", TORCH_MODULES)
def test_plain_kinds_match_torch_modules(base: str) -> None:
    torch.manual_seed(1)
    cell = build_cell(base, 3, 5, num_layers=2, init="pytorch", dtype=DTYPE)
    module = TORCH_MODULES[base](3, 5, num_layers=2, dtype=DTYPE)
    module.load_state_dict(cell.state_dict())  # same names, same layout, same gate order
    x = torch.randn(30, 4, 3, dtype=DTYPE)
    state = random_state(cell, 4, torch.Generator().manual_seed(2))
    out, final = cell(x, state)
    ref_out, ref_final = module(x, state)
    torch.testing.assert_close(out, ref_out, **TOL)
    torch.testing.assert_close(flat_state(final), flat_state(ref_final), **TOL)
    out.sum().backward()
    ref_out.sum().backward()
    for (name, p), q in zip(cell.named_parameters(), module.parameters()):
        torch.testing.assert_close(p.grad, q.grad, **TOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("base", TORCH_MODULES)
def test_pytorch_init_draws_what_torch_draws(base: str) -> None:
    torch.manual_seed(3)
    cell = build_cell(base, 3, 5, num_layers=2, init="pytorch")
    torch.manual_seed(3)
    module = TORCH_MODULES[base](3, 5, num_layers=2)
    for (name, p), (ref_name, q) in zip(cell.named_parameters(), module.named_parameters(), strict=True):
        assert name == ref_name
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert cell.weight_ih is cell.weight_ih_l0 and cell.bias_hh is cell.bias_hh_l0


def test_state_defaults_to_zeros_and_momentum_restarts_each_call() -> None:
    torch.manual_seed(4)
    x = torch.randn(12, 2, 3, dtype=DTYPE)
    for kind, restarts in (("momentum-gru", True), ("gru", False)):
        cell = build_cell(kind, 3, 4, dtype=DTYPE)
        out, state = cell(x)
        torch.testing.assert_close(out, cell(x, torch.zeros(1, 2, 4, dtype=DTYPE))[0], **TOL)
        first, middle = cell(x[:5])
        second, _ = cell(x[5:], middle)
        # v starts again at the second call, so only the plain cell continues seamlessly.
        assert torch.allclose(torch.cat([first, second]), out, rtol=0, atol=1e-12) is not restarts


@pytest.mark.parametrize("kind", ["adam-lstm", "rmsprop-gru", "exprnn", "nag-exprnn", "momentum-lstm"])
def test_no_grad_forward_gives_the_same_numbers(kind: str) -> None:
    # Without autograd the per-step path keeps nothing for a backward pass; same arithmetic otherwise.
    torch.manual_seed(8)
    cell = build_cell(kind, 3, 4, num_layers=2, init="pytorch", dtype=DTYPE)
    x = torch.randn(37, 2, 3, dtype=DTYPE)
    out, state = cell(x)
    with torch.no_grad():
        quiet_out, quiet_state = cell(x)
    torch.testing.assert_close([quiet_out, *flat_state(quiet_state)], [out, *flat_state(state)], **TOL)
    assert out.requires_grad and not quiet_out.requires_grad


def test_cells_copy_and_pickle() -> None:
    x = torch.randn(9, 2, 3)
    cell = build_cell("adam-gru", 3, 4, num_layers=2)
    clone = pickle.loads(pickle.dumps(cell))
    assert clone.kind is CELL_KINDS["adam-gru"] and clone.hyperparameters == cell.hyperparameters
    torch.testing.assert_close(clone(x)[0], cell(x)[0], rtol=0, atol=0)
    # PyTorch pickles parametrised modules (exprnn's orthogonal U) only through their state_dict.
    orthogonal = build_cell("exprnn", 3, 4)
    torch.testing.assert_close(copy.deepcopy(orthogonal)(x)[0], orthogonal(x)[0], rtol=0, atol=0)
    fresh = build_cell("exprnn", 3, 4)
    fresh.load_state_dict(orthogonal.state_dict())
    torch.testing.assert_close(fresh(x)[0], orthogonal(x)[0], rtol=0, atol=0)


# -- validation -------------------------------------------------------------------------------------


def test_registry() -> None:
    assert len(CELL_KINDS) == 43
    order = ("mu", "s", "beta", "eps", "restart")
    expected_defaults = {"mu": 0.6, "s": 0.6, "beta": 0.9, "eps": 1e-8, "restart": 2}
    for name, kind in CELL_KINDS.items():
        assert kind.name == name
        assert name == (kind.base if kind.variant == "plain" else f"{kind.variant}-{kind.base}")
        assert kind.variant != "nesterov" or kind.base == "lstm"
        assert list(kind.hyperparameters) == [h for h in order if h in kind.hyperparameters]
        assert dict(kind.defaults) == {h: expected_defaults[h] for h in kind.hyperparameters}
        assert build_cell(name, 1, 2).hyperparameters == dict(kind.defaults)
    assert CELL_KINDS["adam-lstm"].hyperparameters == ("mu", "s", "beta", "eps")
    assert CELL_KINDS["rmsprop-gru"].hyperparameters == ("s", "beta", "eps")
    assert CELL_KINDS["sr-exprnn"].hyperparameters == ("s", "restart")
    assert CELL_KINDS["nag-rnn"].hyperparameters == ("s",)
    assert CELL_KINDS["lstm"].hyperparameters == ()
    assert CELL_KINDS["nesterov-lstm"].hyperparameters == ("s", "restart")
    assert "nesterov-gru" not in CELL_KINDS
    assert CELL_KINDS["learnable-momentum-gru"].hyperparameters == ("mu", "s")
    assert [name for name, kind in CELL_KINDS.items() if kind.learnable] == [
        f"learnable-momentum-{base}" for base in ("lstm", "gru", "rnn", "exprnn", "janet", "ur-lstm")
    ]
    assert CELL_KINDS["momentum-ur-lstm"].gates == 4 and CELL_KINDS["adam-janet"].gates == 2
    assert [kind.has_cell_state for kind in map(CELL_KINDS.get, ("lstm", "ur-lstm", "janet", "gru"))] == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("kind", "arguments", "message"),
    [
        ("lsmt", {}, "unknown cell kind 'lsmt'; expected one of: lstm, momentum-lstm"),
        ("lstm", {"mu": 0.5}, "'lstm' does not use mu; it uses: none"),
        ("momentum-gru", {"beta": 0.5}, "'momentum-gru' does not use beta; it uses: mu, s"),
        ("nag-lstm", {"mu": 0.0}, "'nag-lstm' does not use mu; it uses: s"),
        ("momentum-lstm", {"mu": 1.0}, "mu must satisfy 0 <= mu < 1, got 1.0"),
        ("momentum-lstm", {"mu": -0.1}, "mu must satisfy 0 <= mu < 1, got -0.1"),
        ("momentum-lstm", {"mu": math.nan}, "mu must satisfy 0 <= mu < 1, got nan"),
        ("momentum-lstm", {"s": 0.0}, "s must satisfy 0 < s < inf, got 0.0"),
        ("momentum-lstm", {"s": "big"}, "s must be a real number with 0 < s < inf, got 'big'"),
        ("adam-lstm", {"beta": 1.0}, "beta must satisfy 0 <= beta < 1, got 1.0"),
        ("adam-lstm", {"eps": 0.0}, "eps must satisfy 0 < eps < inf, got 0.0"),
        ("sr-lstm", {"restart": -1}, "restart must satisfy restart >= 0 (an integer; 0 never restarts), got -1"),
        ("nesterov-lstm", {"restart": -2}, "restart must satisfy restart >= 0 (an integer; 0 never restarts), got -2"),
        ("sr-lstm", {"restart": 2.5}, "restart must be an integer with restart >= 0"),
        ("nag-lstm", {"restart": 4}, "'nag-lstm' does not use restart; it uses: s"),
        ("adam-lstm", {"restart": 0}, "'adam-lstm' does not use restart; it uses: mu, s, beta, eps"),
        ("nesterov-lstm", {"mu": 0.5}, "'nesterov-lstm' does not use mu; it uses: s, restart"),
        ("sr-lstm", {"restart": True}, "restart must be an integer"),
        ("lstm", {"input_size": 0}, "input_size must be an integer >= 1, got 0"),
        ("lstm", {"hidden_size": 2.0}, "hidden_size must be an integer >= 1, got 2.0"),
        ("lstm", {"num_layers": 0}, "num_layers must be an integer >= 1, got 0"),
        ("lstm", {"init": "xavier"}, "init must be one of 'paper', 'identity', 'pytorch', 'chrono', 'cayley', got"),
        ("gru", {"forget_bias": -4.0}, "forget_bias sets the LSTM's forget gate under init='paper' or 'identity'"),
        ("lstm", {"init": "pytorch", "forget_bias": -4.0}, "forget_bias sets the LSTM's forget gate"),
        ("lstm", {"forget_bias": math.inf}, "forget_bias must be a finite real number, got inf"),
        ("rnn", {"init": "chrono", "t_max": 10.0}, "init='chrono' sets a keep gate's bias; 'rnn' has none"),
        ("momentum-exprnn", {"init": "chrono", "t_max": 10.0}, "init='chrono' sets a keep gate's bias"),
        ("ur-lstm", {"init": "chrono", "t_max": 10.0}, "init='chrono' sets a keep gate's bias; 'ur-lstm' has none"),
        ("lstm", {"init": "chrono"}, "t_max is required by init='chrono' and used by it alone"),
        ("gru", {"t_max": 10.0}, "t_max is required by init='chrono' and used by it alone"),
        ("lstm", {"init": "chrono", "t_max": 1.5}, "t_max must be a real number >= 2, got 1.5"),
    ],
)
def test_invalid_arguments_raise_value_error(kind: str, arguments: dict, message: str) -> None:
    sizes = {"input_size": 2, "hidden_size": 3}
    sizes.update({k: arguments.pop(k) for k in list(arguments) if k in sizes})
    with pytest.raises(ValueError) as info:
        build_cell(kind, sizes["input_size"], sizes["hidden_size"], **arguments)
    assert str(info.value).startswith(message)


def test_bad_inputs_and_states_raise_value_error() -> None:
    cell = build_cell("lstm", 3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"expected x of shape \(T, B, 3\), got \(5, 2, 4\)"):
        cell(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match="expected state \\(h, c\\)"):
        cell(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match="expected state h with each of shape \\(1, 2, 4\\)"):
        build_cell("exprnn", 3, 4)(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))


# -- initialisation ---------------------------------------------------------------------------------


def assert_orthonormal(matrix: Tensor) -> None:
    small = matrix if matrix.size(0) >= matrix.size(1) else matrix.T
    torch.testing.assert_close(small.T @ small, torch.eye(small.size(1), dtype=matrix.dtype), rtol=0, atol=1e-10)


@pytest.mark.parametrize("init", ["paper", "identity"])
@pytest.mark.parametrize("kind", ["momentum-lstm", "nesterov-lstm", "gru", "adam-gru", "rnn"])
def test_paper_init(kind: str, init: str) -> None:
    # The authors' reset_parameters: nn.init.eye_ on the whole (G·H, H) recurrent matrix, i.e. [I; 0; …]
    # ("identity": [I; I; …]); LSTM forget-gate bias 1, their PTB GRU's reset-gate bias 1, in both biases.
    torch.manual_seed(5)
    cell = build_cell(kind, 3, 6, num_layers=2, init=init, dtype=DTYPE)
    base = CELL_KINDS[kind].base
    gates = CELL_KINDS[kind].gates
    eye, zero = torch.eye(6, dtype=DTYPE), torch.zeros(6, 6, dtype=DTYPE)
    blocks = [eye] + [eye if init == "identity" else zero] * (gates - 1)
    for layer in range(2):
        assert_orthonormal(getattr(cell, f"weight_ih_l{layer}"))
        assert torch.equal(getattr(cell, f"weight_hh_l{layer}"), torch.cat(blocks))
        for name in ("bias_ih", "bias_hh"):
            expected = torch.zeros(gates * 6, dtype=DTYPE)
            if base == "lstm":
                expected[6:12] = 1.0  # forget gate, PyTorch order (i, f, g, o)
            elif base == "gru" and init == "paper":
                expected[:6] = 1.0  # reset gate, PyTorch order (r, z, n)
            assert torch.equal(getattr(cell, f"{name}_l{layer}"), expected)


def test_related_work_inits() -> None:
    # UR-LSTM's uniform gate initialisation: σ(b_f) ~ U(1/H, 1 - 1/H), b_r = -b_f, in b_hh, other biases 0.
    torch.manual_seed(15)
    hidden = 50
    cell = build_cell("momentum-ur-lstm", 3, hidden, dtype=DTYPE)
    gate = torch.sigmoid(cell.bias_hh_l0[:hidden])
    assert gate.min() >= 1 / hidden and gate.max() <= 1 - 1 / hidden and gate.max() - gate.min() > 0.5
    torch.testing.assert_close(cell.bias_hh_l0[hidden : 2 * hidden], -cell.bias_hh_l0[:hidden], rtol=0, atol=0)
    assert not cell.bias_hh_l0[2 * hidden :].any() and not cell.bias_ih_l0.any()
    first_block_only = torch.cat([torch.eye(hidden, dtype=DTYPE), torch.zeros(3 * hidden, hidden, dtype=DTYPE)])
    assert torch.equal(cell.weight_hh_l0, first_block_only)
    # JANET's own: chrono's forget-gate bias log U(1, T_max - 1) on its first block s, the rest 0.
    janet = build_cell("janet", 3, hidden, init="chrono", t_max=100.0, dtype=DTYPE)
    forget = janet.bias_hh_l0[:hidden]
    assert forget.min() >= 0 and forget.max() <= math.log(99) and forget.std() > 0.5
    assert not janet.bias_hh_l0[hidden:].any() and not janet.bias_ih_l0.any()
    paper = build_cell("janet", 3, hidden, dtype=DTYPE)
    for bias in (paper.bias_ih_l0, paper.bias_hh_l0):
        assert torch.equal(bias, torch.cat([torch.ones(hidden, dtype=DTYPE), torch.zeros(hidden, dtype=DTYPE)]))


def test_forget_bias_sets_both_forget_blocks() -> None:
    cell = build_cell("adam-lstm", 2, 5, forget_bias=-4.0)
    for bias in (cell.bias_ih, cell.bias_hh):
        assert torch.equal(bias[5:10], torch.full((5,), -4.0)) and not bias[:5].any() and not bias[10:].any()
    assert "forget_bias=-4.0" in repr(cell)


def test_exprnn_init_and_parametrisation() -> None:
    torch.manual_seed(6)
    cell = build_cell("adam-exprnn", 4, 7, num_layers=2, dtype=DTYPE)
    for layer in range(2):
        rotation = getattr(cell, f"weight_hh_l{layer}")
        assert_orthonormal(rotation)
        # Block-diagonal 2×2 rotations [[cos θ, sin θ], [-sin θ, cos θ]]; the odd last coordinate stays 1.
        blocks = torch.block_diag(*[rotation[i : i + 2, i : i + 2] for i in range(0, 6, 2)], rotation[6:, 6:])
        assert torch.equal(rotation, blocks)
        assert rotation[6, 6] == 1.0
        for i in range(0, 6, 2):
            assert rotation[i, i] == rotation[i + 1, i + 1] and rotation[i, i + 1] == -rotation[i + 1, i]
        bias = getattr(cell, f"modrelu_bias_l{layer}")
        assert bias.shape == (7,) and bias.abs().max() <= 0.01 and bias.abs().max() > 0
        assert torch.equal(getattr(cell, f"bias_ih_l{layer}"), torch.zeros(7, dtype=DTYPE))
    assert not hasattr(cell, "bias_hh_l0")
    with pytest.raises(AttributeError, match="bias_hh"):
        _ = cell.bias_hh
    # U stays orthogonal while training moves it (it is the matrix exponential of a skew matrix).
    optimizer = torch.optim.SGD(cell.parameters(), lr=0.5)
    before = cell.weight_hh.detach().clone()
    cell(torch.randn(10, 2, 4, dtype=DTYPE))[0].pow(2).sum().backward()
    optimizer.step()
    assert not torch.allclose(cell.weight_hh, before)
    assert_orthonormal(cell.weight_hh.detach())
    assert_orthonormal(build_cell("exprnn", 4, 7, init="pytorch", dtype=DTYPE).weight_hh.detach())


def test_extra_repr_and_factory_arguments() -> None:
    cell = build_cell("sr-gru", 3, 8, s=0.9, restart=40, num_layers=2, init="pytorch", dtype=DTYPE)
    assert cell.extra_repr() == "'sr-gru', 3, 8, num_layers=2, s=0.9, restart=40, init='pytorch'"
    assert all(p.dtype == DTYPE for p in cell.parameters())
    assert "'adam-lstm', 1, 2, mu=0.6, s=0.6, beta=0.9, eps=1e-08" in repr(build_cell("adam-lstm", 1, 2))


# -- gradient flow ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_flow_matches_autograd_on_the_reference(kind: str) -> None:
    torch.manual_seed(7)
    cell = build_cell(kind, 2, 3, num_layers=2, init="pytorch", dtype=DTYPE)
    x = torch.randn(25, 2, 2, dtype=DTYPE)
    target = torch.randn(2, 3, dtype=DTYPE)

    def loss_fn(out: Tensor) -> Tensor:
        return (out[-1] - target).pow(2).sum() + out[3].sum()

    norms = gradient_flow(cell, x, loss_fn)
    hs, _, _ = reference(cell, x)
    for h in hs:
        h.retain_grad()
    loss_fn(torch.stack(hs)).backward()
    expected = torch.stack([h.grad.norm() for h in hs])
    torch.testing.assert_close(norms, expected, **TOL)
    # The reference's backward filled .grad; clear it and check gradient_flow alone leaves none.
    cell.zero_grad(set_to_none=True)
    gradient_flow(cell, x, loss_fn)
    assert all(p.grad is None for p in cell.parameters())


def test_gradient_flow_is_zero_after_the_last_step_the_loss_reads() -> None:
    cell = build_cell("momentum-lstm", 2, 3)
    norms = gradient_flow(cell, torch.randn(10, 2, 2), lambda out: out[4].sum())
    assert norms.shape == (10,)
    assert torch.all(norms[5:] == 0) and torch.all(norms[:5] > 0)
    with pytest.raises(ValueError, match="scalar"):
        gradient_flow(cell, torch.randn(10, 2, 2), lambda out: out)


def test_cached_plans_built_in_inference_mode_serve_training() -> None:
    cell = build_cell("adam-lstm", 2, 3)
    x = torch.randn(33, 2, 2)
    with torch.inference_mode():
        cell(x)  # builds and caches the chunked filters for T = 33
    out, _ = cell(x)
    out.sum().backward()
    assert cell.weight_ih.grad is not None


# -- learnable momentum -----------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["lstm", "gru", "rnn"])
def test_frozen_learnable_momentum_is_the_momentum_cell(base: str) -> None:
    torch.manual_seed(9)
    fixed = build_cell(f"momentum-{base}", 3, 5, num_layers=2, mu=0.7, s=0.4)
    learnable = build_cell(f"learnable-momentum-{base}", 3, 5, num_layers=2, mu=0.7, s=0.4)
    missing = learnable.load_state_dict(fixed.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["mu_raw_l0", "mu_raw_l1", "s_raw_l0", "s_raw_l1"]
    for name in missing:
        learnable.get_parameter(name).requires_grad_(False)
    x = torch.randn(50, 4, 3)
    out, final = learnable(x)
    ref_out, ref_final = fixed(x)
    torch.testing.assert_close([out, *flat_state(final)], [ref_out, *flat_state(ref_final)], rtol=1e-5, atol=1e-6)
    # The weights are the fixed cell's parameters, in the same order.
    weights = [p for p in learnable.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.square().sum(), weights)
    ref_grads = torch.autograd.grad(ref_out.square().sum(), list(fixed.parameters()))
    for got, want in zip(grads, ref_grads, strict=True):
        close_in_norm(got, want.double())  # float32 filters built differently: same up to rounding


def test_learned_mu_and_s_gradients_match_finite_differences() -> None:
    torch.manual_seed(10)
    cell = build_cell("learnable-momentum-lstm", 2, 3, num_layers=2, mu=0.5, s=0.8, dtype=DTYPE)
    x = torch.randn(37, 2, 2, dtype=DTYPE)  # three chunks, the last one partial
    names = ["mu_raw_l0", "s_raw_l0", "mu_raw_l1", "s_raw_l1"]

    def loss(*raw: Tensor) -> Tensor:
        out, _ = torch.func.functional_call(cell, dict(zip(names, raw)), (x,))
        return out.sin().sum()

    raw = tuple(cell.get_parameter(name).detach().clone().requires_grad_() for name in names)
    assert torch.autograd.gradcheck(loss, raw)


def test_a_few_optimiser_steps_keep_mu_and_s_in_range_and_move_them() -> None:
    torch.manual_seed(11)
    cell = build_cell("learnable-momentum-gru", 2, 4, num_layers=2, mu=0.0, s=0.5)
    # A sigmoid cannot give μ = 0: the cell starts from the documented floor.
    assert cell.learned()["mu"] == pytest.approx([1e-3, 1e-3])
    assert cell.learned()["s"] == pytest.approx([0.5, 0.5])
    x, target = torch.randn(30, 8, 2), torch.randn(8, 4)
    optimizer = torch.optim.Adam(cell.parameters(), lr=0.3)
    for _ in range(8):
        optimizer.zero_grad()
        (cell(x)[0][-1] - target).square().mean().backward()
        optimizer.step()
    learned = cell.learned()
    assert all(0 <= mu < 1 for mu in learned["mu"]) and all(s > 0 for s in learned["s"])
    assert all(mu != pytest.approx(1e-3) for mu in learned["mu"])
    assert all(s != pytest.approx(0.5) for s in learned["s"])
    # A changed hyperparameter is a new starting point for every layer; an unchanged one is no change.
    cell.set_hyperparameters(mu=0.25, s=0.5)
    assert cell.learned() == {"mu": pytest.approx([0.25, 0.25]), "s": learned["s"]}
    cell.set_hyperparameters(mu=0.25, s=2.0)
    assert cell.learned() == {"mu": pytest.approx([0.25, 0.25]), "s": pytest.approx([2.0, 2.0])}
    assert build_cell("momentum-gru", 2, 4).learned() == {}


# -- chrono initialisation --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "momentum-lstm", "learnable-momentum-lstm", "gru", "sr-gru"])
def test_chrono_init(kind: str) -> None:
    torch.manual_seed(12)
    size, t_max = 200, 40.0
    cell = build_cell(kind, 3, size, num_layers=2, init="chrono", t_max=t_max, dtype=DTYPE)
    lstm = CELL_KINDS[kind].base == "lstm"
    keeps = []
    for layer in range(2):
        weight_hh = getattr(cell, f"weight_hh_l{layer}")
        assert torch.equal(weight_hh, torch.cat([torch.eye(size, dtype=DTYPE)] * CELL_KINDS[kind].gates))
        assert_orthonormal(getattr(cell, f"weight_ih_l{layer}"))
        # b_ih is scaled by s and accumulated by the momentum drives: chrono stays out of it.
        assert torch.equal(getattr(cell, f"bias_ih_l{layer}"), torch.zeros_like(weight_hh[:, 0]))
        bias = getattr(cell, f"bias_hh_l{layer}")
        keep = bias[size : 2 * size]  # LSTM (i, f, g, o): f; GRU (r, z, n): z
        assert torch.all(keep >= 0) and torch.all(keep <= math.log(t_max - 1))
        expected = torch.zeros_like(bias)
        expected[size : 2 * size] = keep
        if lstm:
            expected[:size] = -keep
        assert torch.equal(bias, expected)
        keeps.append(keep)
    # exp(b) ~ U(1, T_max - 1), drawn per unit and per layer: mean 20, std 11 over 400 draws.
    draws = torch.cat(keeps).exp()
    assert abs(draws.mean().item() - t_max / 2) < 2.0 and draws.std() > 9
    assert "init='chrono', t_max=40.0" in repr(cell)


# -- the authors' cells: sr's restart phase, nesterov-lstm, truncated BPTT ---------------------------


def perturbed(kind: str, seed: int, *, layers: int = 1, input_size: int = 3, hidden: int = 4, **hyperparameters) -> MomentumCell:
    torch.manual_seed(seed)
    cell = build_cell(kind, input_size, hidden, num_layers=layers, dtype=DTYPE, **hyperparameters)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if "original" not in name:
                p.add_(torch.randn(p.shape, dtype=DTYPE) * 0.3)
    return cell


@pytest.mark.parametrize("base", ["lstm", "gru", "exprnn"])
def test_sr_without_a_restart_within_the_sequence_is_nag(base: str) -> None:
    # μ_t = ((t-1) mod F)/(((t-1) mod F)+3) is (t-1)/(t+2) for every t ≤ T when F ≥ T (or F = 0).
    nag = perturbed(f"nag-{base}", 12, layers=2, s=0.7)
    x = torch.randn(30, 2, 3, dtype=DTYPE)
    want, _ = nag(x)
    for restart in (0, 30, 31, 100):
        sr = build_cell(f"sr-{base}", 3, 4, num_layers=2, s=0.7, restart=restart, dtype=DTYPE)
        sr.load_state_dict(nag.state_dict())
        torch.testing.assert_close(sr(x)[0], want, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["sr-rnn", "sr-exprnn"])
def test_sr_restarts_at_one_f_plus_one_two_f_plus_one(kind: str) -> None:
    # With U = 0 and no biases, h_t = φ(v_t); an input only at t = 1 leaves v_t = μ_2⋯μ_t s W x_1, which
    # a restart (μ_t = 0) sets to exactly 0 from t = F + 1 on; before it, it is not 0.
    restart = 5
    cell = build_cell(kind, 2, 3, s=1.0, restart=restart, init="pytorch", dtype=DTYPE)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if "weight_ih" not in name:
                p.zero_()
        if kind == "sr-exprnn":  # an orthogonal U cannot be 0; U = I makes h_t - h_{t-1} = v_t (modReLU, b = 0)
            cell.weight_hh_l0 = torch.eye(3, dtype=DTYPE)
    x = torch.zeros(12, 1, 2, dtype=DTYPE)
    x[0] = 1.0
    out, _ = cell(x)
    h = out.squeeze(1)
    v = h if kind == "sr-rnn" else torch.diff(h, dim=0, prepend=torch.zeros(1, 3, dtype=DTYPE))  # tanh(0) = 0
    assert [bool(v[t].abs().max() > 0) for t in range(12)] == [t < restart for t in range(12)]


@pytest.mark.parametrize("restart", [0, 1, 2, 40])
@pytest.mark.parametrize("layers", [1, 2])
def test_nesterov_lstm_matches_reference(restart: int, layers: int) -> None:
    # T = 45: not a multiple of 2 or 40, and three 16-step chunks, the last one short.
    check_against_reference("nesterov-lstm", 45, layers, restart, True, input_size=3)


SEGMENT_KINDS = [
    "lstm",
    "momentum-lstm",
    "adam-lstm",
    "rmsprop-gru",
    "nag-rnn",
    "sr-lstm",
    "nesterov-lstm",
    "learnable-momentum-gru",
    "adam-exprnn",
    "momentum-exprnn",
]


@pytest.mark.parametrize("grad", [True, False], ids=["train", "no-grad"])
@pytest.mark.parametrize("kind", SEGMENT_KINDS)
def test_segments_of_a_stream_are_one_sequence(kind: str, grad: bool) -> None:
    # Truncated BPTT as on PTB: segments of 20, 20 and 10 steps, each given the StreamState the one
    # before returned (detached), give the reference's single pass over 50 steps.
    uses = CELL_KINDS[kind].hyperparameters
    cell = perturbed(kind, 13, layers=2, **({"restart": 7} if "restart" in uses else {}))
    x = torch.randn(50, 2, 3, dtype=DTYPE)
    hs, ref_h, ref_c = reference(cell, x)
    outs, state = [], StreamState()
    with torch.set_grad_enabled(grad):
        for piece in x.split([20, 20, 10]):
            out, state = cell(piece, state)
            outs.append(out)
            state = detach_state(state)
    torch.testing.assert_close(torch.cat(outs), torch.stack(hs), **TOL)
    torch.testing.assert_close(flat_state(state.hidden), [ref_h] + ([] if ref_c is None else [ref_c]), **TOL)
    assert state.steps == 50 and not any(t.requires_grad for t in (*state.v, *state.m))
    variant = CELL_KINDS[kind].variant
    assert len(state.v) == (0 if variant in ("plain", "rmsprop") else 2)
    assert len(state.m) == (2 if variant in ("adam", "rmsprop") else 0)


@pytest.mark.parametrize("input_size", [1, 3])
@pytest.mark.parametrize("kind", ["adam-lstm", "rmsprop-lstm", "momentum-gru"])
def test_float32_segments_follow_the_float64_reference(kind: str, input_size: int) -> None:
    # One input: the first segment's m comes in closed form, the later ones carry it and filter.
    check_float32_segments(perturbed(kind, 14, input_size=input_size), input_size)


def check_float32_segments(cell: MomentumCell, input_size: int) -> None:
    """`cell` in float32 over three segments of a 50-step stream, each given the state the one before
    returned, against the float64 reference's single pass."""
    x = torch.randn(50, 2, input_size, dtype=DTYPE)
    hs, _, _ = reference(cell, x)
    low = copy.deepcopy(cell).float()
    outs, state = [], StreamState()
    for piece in x.float().split([20, 20, 10]):
        out, state = low(piece, detach_state(state))
        outs.append(out)
    close_in_norm(torch.cat(outs), torch.stack(hs))


@pytest.mark.parametrize(
    ("kind", "input_size", "hidden"), [("nesterov-lstm", 3, 4), ("nesterov-lstm", 1, 20), ("adam-lstm", 3, 4)]
)
def test_segments_in_the_kernel_follow_the_float64_reference(
    kind: str, input_size: int, hidden: int, compiled_calls: list[str]
) -> None:
    # What a segment hands the next from the kernel (nesterov-lstm's p completed from h_{T−2}) carries
    # on; with one input and hidden 20 the first segment takes its input into the product, the later
    # ones (a carried p) through the drive.
    cell = perturbed(
        kind, 15, layers=2, input_size=input_size, hidden=hidden, **({"restart": 7} if kind == "nesterov-lstm" else {})
    )
    check_float32_segments(cell, input_size)
    first = "native-input" if input_size == 1 and kind == "nesterov-lstm" else "native"
    assert compiled_calls == [first] + ["native"] * 5  # two layers, three segments


def test_one_input_second_moment_holds_where_the_drive_cancels() -> None:
    # a = w x + b ≈ δ for a constant input: expanded as S₂w² + 2S₁wb + S₀b² in float32, m would be
    # off by far more than float32's rounding of a itself (terms ~1, m ~1e-7 to 1e-6); the closed form is not.
    steps, beta, delta = 40, 0.9, 1e-3
    x = torch.full((steps, 2, 1), 0.5)
    weight = torch.tensor([[1.0], [-2.0], [3.0]])
    bias = -0.5 * weight.squeeze(1) + delta
    statistics = single_input_statistics(x, beta)
    got = single_input_moment(statistics.flatten(0, 1), weight, bias).view(steps, 2, 3)
    a = (x.double() * weight.double().t() + bias.double())[:, 0]
    want, expanded, m, sums = [], [], torch.zeros(3, dtype=torch.float64), torch.zeros(3)
    for a_t, x_t in zip(a, x[:, 0, 0]):
        m = beta * m + (1 - beta) * a_t * a_t
        want.append(m)
        sums = beta * sums + torch.stack([x_t * x_t, x_t, torch.ones(())])  # S₂, S₁, S₀ in float32
        w, b = weight.squeeze(1), bias
        expanded.append((1 - beta) * (sums[0] * w * w + 2 * sums[1] * w * b + sums[2] * b * b))
    want_t = torch.stack(want)
    # float32's own rounding of a = w x + b (δ is 1e-3 of the terms) bounds any method to ~1e-4.
    assert ((got[:, 0].double() - want_t).abs() / want_t).max() < 1e-3
    assert ((torch.stack(expanded).double() - want_t).abs() / want_t).max() > 1e-2


def test_a_plain_state_still_restarts_the_drive_and_bad_stream_states_are_refused() -> None:
    cell = build_cell("adam-lstm", 3, 4)
    x = torch.randn(5, 2, 3)
    _, (h, c) = cell(x)
    assert h.shape == (1, 2, 4)
    message = r"expected StreamState.v to be 1 tensors of shape \(2, 16\), got \[\(2, 4\)\]"
    with pytest.raises(ValueError, match=message):
        cell(x, StreamState(v=(torch.zeros(2, 4),)))
    with pytest.raises(ValueError, match=r"expected StreamState.m to be \(\) for 'momentum-lstm'"):
        build_cell("momentum-lstm", 3, 4)(x, StreamState(m=(torch.zeros(2, 16),)))
    with pytest.raises(ValueError, match="expected StreamState.steps an integer >= 0, got -1"):
        cell(x, StreamState(steps=-1))


# -- the authors' DTRIV options for exprnn --------------------------------------------------------


def test_cayley_init_draws_the_authors_angles() -> None:
    # Their cayley_init_ puts d = -tan(θ/2), θ ~ U(0, π/2), above the diagonal of 2×2 skew blocks:
    # exp gives rotations [[cos d, sin d], [-sin d, cos d]] with -1 < d ≤ 0.
    torch.manual_seed(9)
    cell = build_cell("momentum-exprnn", 2, 41, init="cayley", dtype=DTYPE)
    rotation = cell.weight_hh.detach()
    assert_orthonormal(rotation)
    angles = torch.atan2(rotation[0:40:2, 1:41:2].diagonal(), rotation[0:40:2, 0:40:2].diagonal())
    assert torch.all(angles <= 0) and torch.all(angles > -1) and angles.std() > 0.1
    torch.testing.assert_close(rotation[1:41:2, 0:40:2].diagonal(), -torch.sin(angles), rtol=0, atol=1e-12)
    assert rotation[40, 40] == 1.0
    with pytest.raises(ValueError, match="init='cayley' draws an orthogonal U; 'lstm' has none"):
        build_cell("lstm", 2, 4, init="cayley")


def test_rebase_moves_the_base_to_u_and_the_skew_parameter_to_zero() -> None:
    torch.manual_seed(10)
    cell = build_cell("adam-exprnn", 3, 6, num_layers=2, dtype=DTYPE)
    skew = cell.skew_parameters()
    optimizer = torch.optim.SGD(cell.parameters(), lr=0.3)
    x = torch.randn(12, 2, 3, dtype=DTYPE)
    cell(x)[0].square().sum().backward()
    optimizer.step()
    before_u = [getattr(cell, f"weight_hh_l{k}").detach().clone() for k in range(2)]
    before_out, _ = cell(x)
    assert all((p.tril() - p.tril().T).abs().max() > 0 for p in skew)  # A = X.tril() - X.tril()ᵀ moved
    cell.rebase()
    assert all(a is b for a, b in zip(cell.skew_parameters(), skew, strict=True))  # the same parameters
    for k in range(2):
        parametrization = getattr(cell.parametrizations, f"weight_hh_l{k}")
        assert torch.equal((skew[k].tril() - skew[k].tril().T), torch.zeros(6, 6, dtype=DTYPE))
        torch.testing.assert_close(parametrization[0].base, before_u[k], rtol=0, atol=1e-12)
        torch.testing.assert_close(getattr(cell, f"weight_hh_l{k}"), before_u[k], rtol=0, atol=1e-12)
    torch.testing.assert_close(cell(x)[0], before_out, **TOL)
    assert build_cell("lstm", 3, 4).skew_parameters() == []


@pytest.mark.parametrize("name", ["nesterov-lstm", "adam-lstm", "rmsprop-gru", "exprnn"])
def test_a_backward_pass_leaves_nothing_alive_once_its_output_is_dropped(name: str) -> None:
    # The hand-written recurrence's output must not be held by its own graph: that cycle, freed only when
    # the cyclic collector happened to run, grew a 784-step training by ~290 MB a step until it was killed.
    cell = build_cell(name, 1, 8)
    out, _ = cell(torch.randn(30, 4, 1))
    alive = weakref.ref(out)
    out.sum().backward()
    collecting = gc.isenabled()
    gc.disable()
    try:
        del out
        assert alive() is None
    finally:
        if collecting:
            gc.enable()
