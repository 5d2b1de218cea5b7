from __future__ import annotations

import itertools

import pytest

from momentum_search.studies import SpecError, list_presets, load_preset, preset_names, preset_text

PAPER_EXPERIMENTS = ("mnist", "pmnist", "timit", "copy", "adding", "ptb")


def test_every_promised_preset_ships_and_validates() -> None:
    names = preset_names()
    assert names[0] == "quickstart"
    assert set(names) == {"quickstart", "paper-grid", "pmnist5k", *PAPER_EXPERIMENTS}
    for info in list_presets():
        assert info.description and info.trials >= 1
        assert load_preset(info.name).name == info.name


def test_quickstart_compares_lstm_with_momentum_lstm_on_embedded_data() -> None:
    spec = load_preset("quickstart")
    assert spec.task in ("digits", "pdigits") and not spec.task_params.get("data_dir")
    assert {"lstm", "momentum-lstm"} <= set(spec.cells)


def test_paper_grid_is_the_papers_five_by_five_grid_on_digits() -> None:
    spec = load_preset("paper-grid")
    assert (spec.task, spec.cells, spec.sampler.name) == ("digits", ("momentum-lstm",), "grid")
    mus, ss = (0.0, 0.1, 0.3, 0.6, 0.9), (0.1, 0.3, 0.6, 0.9, 1.0)
    expected = [{"cell": "momentum-lstm", "mu": mu, "s": s} for mu, s in itertools.product(mus, ss)]
    assert spec.search_space().grid() == expected and spec.trials == 25


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("mnist", {"optimizer": "rmsprop", "lr": 1e-3, "grad_clip": 1.0, "batch_size": 128, "hidden_size": 128}),
        ("pmnist", {"optimizer": "rmsprop", "lr": 1e-3, "grad_clip": 1.0, "batch_size": 128, "hidden_size": 128}),
        ("timit", {"optimizer": "adam", "lr": 1e-4, "batch_size": 32, "hidden_size": 158}),
        ("ptb", {"optimizer": "sgd", "num_layers": 3}),
    ],
)
def test_paper_presets_carry_the_papers_trainer_settings(name: str, settings: dict[str, object]) -> None:
    spec = load_preset(name)
    assert {key: spec.fixed[key] for key in settings} == settings
    epochs = {"mnist": 150, "pmnist": 150, "timit": 700}
    if name in epochs:
        assert spec.budget.epochs == epochs[name]


@pytest.mark.parametrize("name", PAPER_EXPERIMENTS)
def test_paper_presets_use_the_authors_eps(name: str) -> None:
    # Their adam and rmsprop cells compute sqrt(m + 1e-16), hard-coded (docs/momentum-cells.md, fact 3).
    assert load_preset(name).fixed["eps"] == 1e-16


def test_timit_preset_uses_the_authors_forget_bias() -> None:
    assert load_preset("timit").fixed["forget_bias"] == -4.0


def test_paper_task_sizes() -> None:
    assert load_preset("copy").task_params["delay"] == 2000
    assert load_preset("adding").task_params["length"] == 750
    assert load_preset("ptb").task_params["bptt"] == 70


def test_table_one_cells_are_searched_on_their_own_hyperparameters() -> None:
    spec = load_preset("mnist")
    # The paper's SRLSTM rows come from the authors' NesterovLSTMCell: nesterov-lstm, not sr-lstm.
    assert spec.cells == ("lstm", "momentum-lstm", "adam-lstm", "rmsprop-lstm", "nesterov-lstm")
    space = spec.search_space()
    assert space.parameters("nesterov-lstm") == ("s", "restart")
    assert space.parameters("adam-lstm") == ("mu", "s", "beta")
    assert space.parameters("lstm") == ()


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match="unknown preset 'nope'; presets: quickstart, adding"):
        preset_text("nope")


def test_pmnist5k_asks_table_ones_question_on_real_digits_at_784_steps() -> None:
    spec = load_preset("pmnist5k")
    assert (spec.task, spec.task_params) == ("pmnist5k", {})
    # The paper's SRLSTM is the authors' NesterovLSTMCell; the kinds share the trials, then each kind's best
    # is confirmed on held-out seeds against lstm.
    assert spec.cells == ("lstm", "momentum-lstm", "adam-lstm", "nesterov-lstm") and spec.sampler.kinds == "shared"
    assert spec.confirm is not None and spec.confirm.seeds >= 3
    settings = {"optimizer": "rmsprop", "lr": 1e-3, "grad_clip": 1.0, "batch_size": 128, "eps": 1e-16}
    assert {key: spec.fixed[key] for key in settings} == settings
