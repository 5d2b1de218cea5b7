from __future__ import annotations

import math

import pytest
import torch

from momentum_search.trainers import TrainConfig, build_model, evaluate, get_task, train
from momentum_search.trainers.tasks import Batch

ADDING = {"length": 20, "n_train": 1000, "n_valid": 200, "n_test": 200, "seed": 0}


def adding_config(**overrides) -> TrainConfig:
    settings = dict(
        task="adding",
        task_params=ADDING,
        cell="momentum-lstm",
        mu=0.6,
        s=0.6,
        hidden_size=16,
        optimizer="adam",
        lr=1e-2,
        batch_size=50,
        epochs=3,
        grad_clip=1.0,
        seed=0,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_momentum_lstm_beats_the_adding_baseline() -> None:
    params = {**ADDING, "length": 10, "n_train": 5000}
    result = train(adding_config(task_params=params, hidden_size=32, epochs=8))
    # Predicting the mean of the target (sum of two U[0,1)) gives its variance, 1/6 ≈ 0.167.
    assert result.metric == "mse" and result.direction == "minimize"
    assert result.best_value < 0.167 / 2
    assert result.test_value < 0.167 / 2
    assert result.epochs_run == 8 and not result.diverged and not result.stopped


def test_momentum_lstm_beats_chance_on_digits() -> None:
    result = train(TrainConfig(task="digits", cell="momentum-lstm", mu=0.6, s=0.6, hidden_size=32, epochs=10, lr=1e-2))
    assert result.metric == "accuracy" and result.direction == "maximize"
    assert result.best_value > 3 * 10.0  # chance is 10 %
    assert result.test_value > 3 * 10.0


def test_same_seed_same_result_to_the_last_digit() -> None:
    a, b = train(adding_config(seed=3)), train(adding_config(seed=3))
    assert a.history == b.history and a.test_value == b.test_value
    c = train(adding_config(seed=4))
    assert c.history != a.history


def test_test_metric_is_taken_at_the_best_validation_epoch() -> None:
    long = train(adding_config(epochs=5, lr=5e-2))
    assert long.history[long.best_epoch - 1] == long.best_value == min(long.history)
    # Training is deterministic, so stopping after the best epoch reproduces the model of that epoch.
    short = train(adding_config(epochs=long.best_epoch, lr=5e-2))
    assert short.best_epoch == long.best_epoch
    assert short.test_value == long.test_value
    task = get_task("adding", **ADDING)
    model = build_model(adding_config(epochs=long.best_epoch, lr=5e-2).resolved(), task)
    assert evaluate(model, task, "test", 50, torch.device("cpu")) != long.test_value  # untrained differs


def test_callback_stops_the_run() -> None:
    seen: list[tuple[int, float]] = []

    def on_epoch(epoch: int, value: float) -> bool:
        seen.append((epoch, value))
        return epoch == 2

    result = train(adding_config(epochs=5), on_epoch=on_epoch)
    assert result.stopped and result.epochs_run == 2
    assert [e for e, _ in seen] == [1, 2]
    assert tuple(v for _, v in seen) == result.history


def test_on_batch_counts_every_batch() -> None:
    calls: list[tuple[int, int]] = []
    train(adding_config(epochs=2), on_batch=lambda i, n: calls.append((i, n)))
    assert calls == [(i, 20) for i in range(1, 21)] * 2  # 1000 samples / 50


def test_divergence_ends_the_run_as_diverged_not_a_crash() -> None:
    result = train(adding_config(optimizer="sgd", lr=1e12, grad_clip=0.0, epochs=3))
    assert result.diverged
    assert result.epochs_run < 3
    assert len(result.history) == result.epochs_run
    assert math.isnan(result.best_value) or result.epochs_run >= 1


def test_a_step_size_beyond_float_range_ends_as_diverged() -> None:
    # torch refuses to apply lr 1e300 to float32 weights at all (it overflows the scalar); that run diverged.
    result = train(adding_config(optimizer="sgd", lr=1e300, grad_clip=0.0, epochs=2))
    assert result.diverged and result.epochs_run == 0 and math.isnan(result.best_value)


def test_a_cuda_device_without_cuda_is_refused_before_training() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"device 'cuda': this torch \(.*\) sees no CUDA device; use cpu"):
        train(adding_config(device="cuda"))


def test_resolved_fills_task_and_cell_defaults() -> None:
    task_defaults = get_task("adding", **ADDING).defaults
    config = TrainConfig(task="adding", cell="adam-lstm").resolved()
    assert (config.mu, config.s, config.beta, config.eps) == (0.6, 0.6, 0.9, 1e-8)
    assert config.restart is None  # adam does not use F
    assert config.lr == task_defaults.lr and config.epochs == task_defaults.epochs
    assert config.optimizer == task_defaults.optimizer and config.hidden_size == task_defaults.hidden_size


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"cell": "warp-lstm"}, "warp-lstm"),
        ({"task": "imagenet"}, "imagenet"),
        ({"cell": "momentum-lstm", "mu": 1.0}, "mu"),
        ({"cell": "momentum-lstm", "s": -0.1}, "s"),
        ({"cell": "lstm", "mu": 0.5}, "mu"),
        ({"cell": "sr-lstm", "restart": -1}, "restart"),
        ({"cell": "adam-lstm", "restart": 2}, "restart"),
        ({"lr": -1.0}, "lr"),
        ({"device": "tpu9"}, "tpu9"),
        ({"bogus": 1}, "bogus"),
        ({"cell": "rnn", "init": "chrono"}, "chrono"),
        ({"init": "paper", "t_max": 10.0}, "t_max"),
        ({"init": "chrono", "t_max": 1.0}, "t_max"),
    ],
)
def test_bad_values_are_refused_with_the_name_of_the_value(settings: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        TrainConfig(**settings)


def write_corpus(folder) -> None:
    words = [f"w{i}" for i in range(30)]
    g = torch.Generator().manual_seed(0)
    for split, lines in (("train", 300), ("valid", 40), ("test", 40)):
        # A corpus with structure: each word is usually followed by its successor.
        text = []
        for _ in range(lines):
            start = int(torch.randint(0, 30, (1,), generator=g))
            text.append(" ".join(words[(start + k) % 30] for k in range(8)))
        (folder / f"ptb.{split}.txt").write_text("\n".join(text) + "\n")


@pytest.mark.parametrize("cell", ["adam-lstm", "nesterov-lstm", "sr-gru"])
def test_a_stateful_split_is_evaluated_as_one_stream(tmp_path, cell: str) -> None:
    # PTB's batches are consecutive segments: h, c, the drive's v, m and its step count carry over, so
    # the metric equals that of one forward pass over the whole stream.
    write_corpus(tmp_path)
    config = TrainConfig(
        task="ptb",
        task_params={"data_dir": str(tmp_path), "bptt": 7, "emsize": 8},
        cell=cell,
        hidden_size=8,
        batch_size=4,
        restart=5 if cell != "adam-lstm" else None,
    ).resolved()
    task = get_task("ptb", **config.task_params)
    model = build_model(config, task)
    batches = list(task.batches("valid", 4))
    assert len(batches) > 2
    whole = Batch(torch.cat([b.x for b in batches]), torch.cat([b.y for b in batches]), None)
    with torch.no_grad():
        output, _ = model(whole.x)
    total, count = task.metric_sums(output, whole)
    value = evaluate(model, task, "valid", 4, torch.device("cpu"))
    assert value == pytest.approx(task.finalize(total / count), rel=1e-5)


def test_language_model_carries_state_and_beats_uniform(tmp_path) -> None:
    write_corpus(tmp_path)
    config = TrainConfig(
        task="ptb",
        task_params={"data_dir": str(tmp_path), "bptt": 10, "emsize": 16},
        cell="momentum-lstm",
        hidden_size=32,
        num_layers=2,
        optimizer="adam",
        lr=1e-2,
        batch_size=8,
        epochs=3,
        grad_clip=0.25,
    )
    result = train(config)
    vocab = get_task("ptb", **config.task_params).output_size
    assert result.metric == "perplexity"
    assert result.best_value < vocab / 3


@pytest.mark.parametrize("cell", ["momentum-lstm", "learnable-momentum-lstm"])
def test_a_resumed_checkpoint_continues_the_same_run(cell: str) -> None:
    from momentum_search.trainers import Trainer

    whole = train(adding_config(cell=cell, epochs=4))
    first = Trainer(adding_config(cell=cell, epochs=4))
    first.run_epoch()
    first.set_hyperparameters(mu=0.6, s=0.6)  # unchanged: PBT repeats them, the trained μ, s stay
    first.run_epoch()
    checkpoint = first.state_dict()
    resumed = Trainer(adding_config(cell=cell, epochs=4))
    resumed.load_state_dict(checkpoint)
    while not resumed.done:
        resumed.run_epoch()
    result = resumed.result()
    assert result.history == whole.history
    assert result.test_value == whole.test_value
    assert result.learned == whole.learned


def test_changing_mu_and_s_between_epochs() -> None:
    from momentum_search.trainers import Trainer

    trainer = Trainer(adding_config(epochs=3))
    trainer.run_epoch()
    trainer.set_hyperparameters(mu=0.2, s=1.5)
    assert (trainer.config.mu, trainer.config.s) == (0.2, 1.5)
    assert trainer.model.cell.hyperparameters == {"mu": 0.2, "s": 1.5}
    changed = trainer.run_epoch()
    unchanged = Trainer(adding_config(epochs=3))
    unchanged.run_epoch()
    assert unchanged.run_epoch() != changed
    with pytest.raises(ValueError, match="mu"):
        trainer.set_hyperparameters(mu=1.0)
    assert trainer.config.mu == 0.2  # a refused value changes nothing
    # A checkpoint carries the μ, s the run had when it was taken.
    restored = Trainer(adding_config(epochs=3))
    restored.load_state_dict(trainer.state_dict())
    assert restored.model.cell.hyperparameters == {"mu": 0.2, "s": 1.5}


def test_learnable_momentum_records_its_trained_mu_and_s() -> None:
    from momentum_search.trainers import Trainer

    trainer = Trainer(adding_config(cell="learnable-momentum-gru", mu=0.3, s=0.9, num_layers=2, epochs=2))
    while not trainer.done:
        trainer.run_epoch()
    result = trainer.result()
    assert len(result.learned["mu"]) == len(result.learned["s"]) == 2
    for mu, s in zip(result.learned["mu"], result.learned["s"], strict=True):
        assert 0 <= mu < 1 and s > 0
        assert mu != pytest.approx(0.3) and s != pytest.approx(0.9)
    # The values belong to the model the test metric is taken from, the best validation epoch's.
    best = trainer.best_state
    assert result.learned == {
        "mu": pytest.approx([torch.sigmoid(best[f"cell.mu_raw_l{k}"]).item() for k in range(2)]),
        "s": pytest.approx([torch.nn.functional.softplus(best[f"cell.s_raw_l{k}"]).item() for k in range(2)]),
    }
    assert result.to_dict()["learned"] == result.learned
    assert train(adding_config(epochs=1)).learned == {}


def test_forget_bias_reaches_the_model() -> None:
    config = adding_config(cell="adam-lstm", forget_bias=-4.0).resolved()
    model = build_model(config, get_task("adding", **config.task_params))
    hidden = config.hidden_size
    assert torch.all(model.cell.bias_ih_l0[hidden : 2 * hidden] == -4.0)


def test_chrono_t_max_defaults_to_the_sequence_length() -> None:
    from momentum_search.trainers import Trainer

    trainer = Trainer(adding_config(init="chrono", epochs=1))
    assert trainer.config.t_max == ADDING["length"]
    bias = trainer.model.cell.bias_hh_l0.detach()
    assert torch.all(bias[16:32] <= math.log(ADDING["length"] - 1))
    given = Trainer(adding_config(init="chrono", t_max=500.0, epochs=1))
    assert given.config.t_max == 500.0 and given.model.cell.t_max == 500.0


def test_gradient_flow_is_measured_at_initialisation_and_on_the_best_epochs_model() -> None:
    from momentum_search.trainers import Trainer

    config = adding_config(epochs=4, lr=5e-2)
    trainer = Trainer(config)
    init_model = build_model(config.resolved(), trainer.task)  # what the run starts from, built again
    while not trainer.done:
        trainer.run_epoch()
    result = trainer.result()
    flow = result.gradient_flow
    assert flow["init"]["t"] == flow["trained"]["t"] == list(range(1, ADDING["length"] + 1))
    # Independently, on the last step: the loss reaches h_T through the head alone. Computed here with
    # the cell's fused forward pass (the measurement runs the per-step path) on the model of each moment.
    batch = next(iter(trainer.task.batches("valid", 32)))
    for key, state in (("init", init_model.state_dict()), ("trained", trainer.best_state)):
        model = build_model(config.resolved(), trainer.task)
        model.load_state_dict(state)
        out, _ = model.cell(batch.x)
        last = out[-1].detach().requires_grad_()
        loss = trainer.task.loss(model.decoder(last), batch)
        (grad,) = torch.autograd.grad(loss, last)
        assert flow[key]["norms"][-1] == pytest.approx(grad.norm().item(), rel=1e-4)
        assert flow[key]["loss"] == pytest.approx(loss.item(), rel=1e-5)
    # Training changed how far back the loss reaches, and lowered the loss it is taken of.
    assert flow["trained"]["loss"] < flow["init"]["loss"]
    assert flow["trained"]["norms"] != pytest.approx(flow["init"]["norms"], rel=0.05)


def test_long_sequences_keep_an_evenly_thinned_gradient_flow() -> None:
    from momentum_search.trainers._train import FLOW_POINTS

    result = train(adding_config(task_params={**ADDING, "length": 300, "n_train": 100, "n_valid": 40}, epochs=1))
    steps = result.gradient_flow["trained"]["t"]
    assert len(steps) == FLOW_POINTS and steps[0] == 1 and steps[-1] == 300 and steps == sorted(set(steps))


@pytest.mark.parametrize("dtriv_k", [None, 1])
def test_dtriv_rebases_every_k_steps_and_lr_orth_reaches_the_skew_parameters(dtriv_k: int | None) -> None:
    from momentum_search.trainers import Trainer

    config = adding_config(cell="momentum-exprnn", optimizer="rmsprop", epochs=1, dtriv_k=dtriv_k, lr_orth=1e-4)
    trainer = Trainer(config)
    skew = trainer.model.cell.skew_parameters()
    orthogonal_group = trainer.optimizer.param_groups[1]
    assert orthogonal_group["lr"] == 1e-4 and all(a is b for a, b in zip(orthogonal_group["params"], skew))
    grouped = sum(len(group["params"]) for group in trainer.optimizer.param_groups)
    assert grouped == len(list(trainer.model.parameters()))
    trainer.run_epoch()
    assert trainer.steps > 1
    moved = (skew[0].tril() - skew[0].tril().T).abs().max()
    # K = 1 re-bases after every step: the skew part of A is 0 again; K = ∞ never re-bases.
    assert (moved == 0) if dtriv_k == 1 else (moved > 0)


@pytest.mark.parametrize("name", ["dtriv_k", "lr_orth"])
def test_dtriv_options_need_an_exprnn_kind(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} acts on the orthogonal U of exprnn kinds; 'momentum-lstm' has none"):
        adding_config(**{name: 1})


def test_forget_bias_is_checked_against_the_init_that_will_run() -> None:
    # ptb's default init is PyTorch's, which has no forget-gate bias to set.
    with pytest.raises(ValueError, match="forget_bias sets the LSTM's forget gate"):
        TrainConfig(task="ptb", cell="lstm", forget_bias=-4.0)
    assert TrainConfig(task="ptb", cell="lstm", init="paper", forget_bias=-4.0).forget_bias == -4.0
