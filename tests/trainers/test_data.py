"""The user's own data: what an `.npz` implies (head, metric, sizes), its batches, and every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from momentum_search.trainers import TrainConfig, build_model, train
from momentum_search.trainers.tasks import DataTask, task_defaults, task_info
from momentum_search.trainers.tasks._npz import EMBEDDING_SIZE, file_sha256, load_data, resolve_params

if TYPE_CHECKING:
    from conftest import NpzData


@pytest.mark.parametrize(
    ("x_shape", "y", "head", "metric", "sizes"),
    [
        ((12, 6, 3), "class", "classify_last", ("accuracy", "maximize"), (3, 3, None)),
        ((12, 6, 3), "step", "classify_each", ("accuracy", "maximize"), (3, 3, None)),
        ((12, 6, 3), "target", "regress_last", ("mse", "minimize"), (3, 1, None)),
        ((12, 6, 3), "targets", "regress_last", ("mse", "minimize"), (3, 2, None)),
        ((12, 6, 3), "each", "regress_each", ("mse", "minimize"), (3, 2, None)),
        ((12, 6), "class", "classify_last", ("accuracy", "maximize"), (EMBEDDING_SIZE, 3, 7)),
    ],
)
def test_the_arrays_imply_the_head_metric_and_sizes(
    tmp_path: Path,
    npz: NpzData,
    x_shape: tuple[int, ...],
    y: str,
    head: str,
    metric: tuple[str, str],
    sizes: tuple[int, int, int | None],
) -> None:
    data = npz.arrays(x_shape, y)
    path = npz.write(tmp_path / "d.npz", data)
    task = DataTask(path=path)
    assert (task.head, (task.metric.name, task.metric.direction)) == (head, metric)
    assert (task.input_size, task.output_size, task.vocab_size) == sizes
    # No x_test: the test split is the valid one.
    batch = next(iter(task.batches("test", 5)))
    assert batch.x.shape[:2] == (x_shape[1], 5)
    expected = torch.as_tensor(data["x_valid"][:5]).transpose(0, 1)
    assert torch.equal(batch.x, expected.float() if len(x_shape) == 3 else expected)
    params = resolve_params({"path": path})
    assert params["sha256"] == file_sha256(path) and params["head"] == head
    assert task_info("data", params).metric == task.metric
    result = train(TrainConfig(task="data", task_params=params, cell="momentum-lstm", hidden_size=4, epochs=1))
    assert result.metric == metric[0] and np.isfinite(result.best_value)


def test_options_override_what_the_arrays_imply(tmp_path: Path, npz: NpzData) -> None:
    path = npz.write(tmp_path / "d.npz", npz.arrays((12, 6, 3), "step"))
    data = load_data(path, metric="xent", classes=5)
    assert (data.metric, data.direction, data.output_size) == ("xent", "minimize", 5)
    path = npz.write(tmp_path / "r.npz", npz.arrays((12, 6, 3), "targets"))
    assert load_data(path, direction="maximize").direction == "maximize"
    # (N, T) float targets read as one output per step when the head says so.
    steps = npz.arrays((12, 6, 3), "target", y_train=npz.rng.normal(size=(12, 6)), y_valid=npz.rng.normal(size=(12, 6)))
    data = load_data(npz.write(tmp_path / "e.npz", steps), head="regress_each")
    assert data.head == "regress_each" and data.splits["train"].y.shape == (12, 6, 1)


def test_lengths_mask_the_padding_and_a_last_step_head_reads_each_sequences_last_valid_step(tmp_path: Path, npz: NpzData) -> None:
    lengths = np.array([6, 2, 4, 1] * 3)
    data = npz.arrays((12, 6, 3), "class", lengths_train=lengths, lengths_valid=lengths)
    task = DataTask(path=npz.write(tmp_path / "d.npz", data))
    batch = next(iter(task.batches("valid", 4)))
    assert batch.mask is not None and batch.mask.sum(0).tolist() == [6, 2, 4, 1]
    torch.manual_seed(0)
    config = TrainConfig(task="data", task_params={"path": task.data.path}, cell="adam-lstm", hidden_size=4).resolved()
    model = build_model(config, task)
    output, _ = model(batch.x, mask=batch.mask)
    for column, length in enumerate([6, 2, 4, 1]):
        alone, _ = model(batch.x[:length, column : column + 1])  # the sequence without its padding
        assert torch.allclose(output[column], alone[0], atol=1e-6)
    # A batch of short sequences is cut to its longest one.
    short = next(iter(task.batches("valid", 2)))
    assert short.x.shape[0] == 6 and task._make_batch("valid", torch.tensor([1, 3])).x.shape[0] == 2


def test_a_file_other_than_the_studys_is_refused(npz: NpzData, tmp_path: Path) -> None:
    path = npz.write(tmp_path / "d.npz", npz.arrays())
    with pytest.raises(
        ValueError,
        match=r"^data .*d\.npz: the file differs from the study's \(sha256 [0-9a-f]{12}…, the study's 000000000000…\)$",
    ):
        DataTask(path=path, sha256="0" * 64)


def test_the_page_states_the_embedding_size_and_the_defaults_the_code_has() -> None:
    page = (Path(__file__).parents[2] / "docs" / "your-own-problem.md").read_text()
    defaults = task_defaults("data")
    assert f"embedded, {EMBEDDING_SIZE} dimensions" in page
    stated = (
        f"{defaults.optimizer}, lr {defaults.lr:.0e}".replace("e-0", "e-") + f", batch {defaults.batch_size}, "
        f"{defaults.epochs} epochs, clip {defaults.grad_clip}, hidden {defaults.hidden_size}"
    )
    assert " ".join(page.split()).count(stated) == 1, stated


def test_integer_features_may_be_negative_where_token_ids_and_labels_may_not(npz: NpzData, tmp_path: Path) -> None:
    features = npz.arrays(x_train=npz.rng.integers(-5, 5, (12, 6, 3)), x_valid=npz.rng.integers(-5, 5, (12, 6, 3)))
    data = load_data(npz.write(tmp_path / "f.npz", features))
    assert data.splits["train"].x.dtype == np.float32 and data.splits["train"].x.min() < 0 and data.vocab_size is None
    tokens = npz.arrays((12, 6), x_valid=npz.rng.integers(-1, 5, (12, 6)))
    with pytest.raises(ValueError, match=r"x_valid holds a negative token id \(-1\)"):
        load_data(npz.write(tmp_path / "t.npz", tokens))
