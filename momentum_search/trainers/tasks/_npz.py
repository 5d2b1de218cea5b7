"""The user's own data as a task: an `.npz` file read, checked and described with numpy alone (no torch).

The arrays (`docs/your-own-problem.md`): `x_train, y_train, x_valid, y_valid`, optionally `x_test, y_test`
and `lengths_{train,valid,test}`. `x` is `(N, T, F)` numbers or `(N, T)` integer token ids; `y` is one
integer class per sequence `(N,)` or per step `(N, T)`, or float targets `(N,)`, `(N, O)` (from the last
step) or `(N, T, O)` (every step). The head and the metric follow from the arrays; `head`, `metric`,
`direction` and `classes` override them. Every problem is a `DataError` of one line naming the file.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._registry import DATA_TASK, SPLITS, Head, Split

# The embedding that token-id inputs get: the model's input size for them.
EMBEDDING_SIZE = 32
_ARRAYS = ("x", "y", "lengths")
_CLASSIFY: tuple[Head, ...] = ("classify_last", "classify_each")
_REGRESS: tuple[Head, ...] = ("regress_last", "regress_each")
_METRICS = {"classify": ("accuracy", "xent"), "regress": ("mse",)}
_DIRECTION = {"accuracy": "maximize", "xent": "minimize", "mse": "minimize"}
# The options a data task takes besides its path; `sha256` pins the content a study was launched on.
OPTIONS = ("head", "metric", "direction", "classes", "sha256")


class DataError(ValueError):
    """The data file is unreadable, incomplete or inconsistent; the message is one line naming it."""


@dataclass(frozen=True)
class Arrays:
    """One split's arrays, checked: `x` float32 `(N, T, F)` or int64 `(N, T)`, `y` as the head wants it
    (int64 classes, float32 `(N, O)` or `(N, T, O)` targets), `lengths` int64 `(N,)` or None."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None


@dataclass(frozen=True)
class Data:
    """A checked data file: its splits and what was inferred from them."""

    path: str | None  # None for the arrays of a code task
    sha256: str | None
    head: Head
    metric: str
    direction: str
    input_size: int  # features per step, or EMBEDDING_SIZE for token ids
    output_size: int  # classes or target dimensions
    vocab_size: int | None  # token-id inputs: the number of ids; None for features
    classes: int | None
    splits: dict[Split, Arrays]  # without x_test, "test" is the valid split: the test metric repeats valid

    def params(self) -> dict[str, Any]:
        """The task's resolved parameters, as a study stores them: path, hash, head, metric, direction
        (and the class count of a classification)."""
        params: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "head": self.head,
            "metric": self.metric,
            "direction": self.direction,
        }
        if self.classes is not None:
            params["classes"] = self.classes
        return params


def describe(params: Mapping[str, Any]) -> str:
    """One line: what a data task's resolved parameters say (`launch` and `train --data` print it)."""
    outputs = f" ({params['classes']} classes)" if "classes" in params else ""
    arrow = "↑" if params["direction"] == "maximize" else "↓"
    return (
        f"data {params['path']} (sha256 {params['sha256'][:12]}…): head {params['head']}{outputs}, "
        f"metric {params['metric']} {arrow}"
    )


def file_sha256(path: str | Path) -> str:
    """The sha256 of the file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_data(path: str, **options: Any) -> Data:
    """Read and check the `.npz` at `path`; `options` (`OPTIONS`) override what the arrays imply.

    Raises:
        DataError: one line, naming the file: unreadable or not an `.npz`; a content hash other than the
            `sha256` given; and every refusal of :func:`check_arrays`.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DataError(f"data {path}: unknown option(s) {', '.join(unknown)}; allowed: path, {', '.join(OPTIONS)}")
    arrays, sha256 = _read(path, options.pop("sha256", None))
    return check_arrays(arrays, f"data {path}", path=path, sha256=sha256, **options)


def check_arrays(
    arrays: Mapping[str, Any],
    where: str,
    *,
    path: str | None = None,
    sha256: str | None = None,
    head: str | None = None,
    metric: str | None = None,
    direction: str | None = None,
    classes: int | None = None,
) -> Data:
    """Check the arrays of an `.npz` (or of a code task that returns them) and infer what they imply.

    Raises:
        DataError: one line starting with `where`: a missing, unknown or object array; wrong shapes or
            dtypes; NaN or inf; a label or token id below 0, or a label at or above `classes`; lengths
            outside `[1, T]`; a head, metric or direction the arrays cannot take.
    """
    arrays = _named(where, arrays)
    if head is not None and head not in (*_CLASSIFY, *_REGRESS):
        raise DataError(f"{where}: head must be one of {', '.join((*_CLASSIFY, *_REGRESS))}, got {head!r}")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 2):
        raise DataError(f"{where}: classes must be an integer >= 2, got {classes!r}")
    present = [split for split in SPLITS if f"x_{split}" in arrays]
    splits = {split: _split(where, arrays, split) for split in present}
    head = _head(where, splits, head)
    family = "classify" if head in _CLASSIFY else "regress"
    if classes is not None and family == "regress":
        raise DataError(f"{where}: classes is for integer labels; y holds float targets (head {head})")
    metric = metric or _METRICS[family][0]
    if metric not in _METRICS[family]:
        raise DataError(f"{where}: metric must be {' or '.join(_METRICS[family])} for head {head}, got {metric!r}")
    direction = direction or _DIRECTION[metric]
    if direction not in ("maximize", "minimize"):
        raise DataError(f"{where}: direction must be maximize or minimize, got {direction!r}")
    splits = {split: _shaped(where, split, data, head) for split, data in splits.items()}
    _consistent(where, splits)
    vocab = None
    if splits["train"].x.ndim == 2:
        vocab = 1 + max(int(data.x.max()) for data in splits.values())
    if family == "classify":
        largest = max(int(data.y.max()) for data in splits.values())
        if classes is not None and largest >= classes:
            raise DataError(f"{where}: label {largest} is out of range for classes {classes} (labels are 0..{classes - 1})")
        classes = classes if classes is not None else max(largest + 1, 2)
        output_size = classes
    else:
        output_size = splits["train"].y.shape[-1]
    splits.setdefault("test", splits["valid"])
    return Data(
        path=path,
        sha256=sha256,
        head=head,
        metric=metric,
        direction=direction,
        input_size=EMBEDDING_SIZE if vocab is not None else splits["train"].x.shape[2],
        output_size=output_size,
        vocab_size=vocab,
        classes=classes if family == "classify" else None,
        splits=splits,
    )


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A data task's parameters with what the file implies filled in (`Data.params`), reading the file.

    Raises:
        DataError: as :func:`load_data`; `path` missing or not a string.
    """
    options = dict(params)
    path = options.pop("path", None)
    if not isinstance(path, str) or not path:
        raise DataError(f"task {DATA_TASK}: needs the path of an .npz file, got {path!r}")
    return load_data(path, **options).params()


def _read(path: str, expected: str | None) -> tuple[dict[str, np.ndarray], str]:
    """The file's arrays and its sha256, which must be `expected` when given."""
    where = f"data {path}"
    try:
        sha256 = file_sha256(path)
        if not zipfile.is_zipfile(path):
            raise DataError(f"{where}: not an .npz archive of named arrays (np.savez writes one)")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = getattr(error, "strerror", None) or (str(error).splitlines() or [type(error).__name__])[0]
        raise DataError(f"{where}: cannot read it as .npz: {reason}") from None
    if expected is not None and sha256 != expected:
        raise DataError(f"{where}: the file differs from the study's (sha256 {sha256[:12]}…, the study's {expected[:12]}…)")
    return arrays, sha256


def _named(where: str, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays by name, each checked to be one of the known names; the required ones present."""
    known = {f"{array}_{split}" for array in _ARRAYS for split in SPLITS}
    unknown = sorted(set(arrays) - known)
    if unknown:
        raise DataError(
            f"{where}: unknown array(s) {', '.join(map(str, unknown))}; expected x_*, y_*, lengths_* of train, valid, test"
        )
    for name in ("x_train", "y_train", "x_valid", "y_valid"):
        if name not in arrays:
            raise DataError(f"{where}: missing array {name} (has: {', '.join(sorted(arrays)) or 'none'})")
    for split in SPLITS:
        if (f"x_{split}" in arrays) != (f"y_{split}" in arrays) or (f"lengths_{split}" in arrays and f"x_{split}" not in arrays):
            missing = next(f"{a}_{split}" for a in ("x", "y") if f"{a}_{split}" not in arrays)
            raise DataError(f"{where}: missing array {missing} (the {split} split is incomplete)")
    return {name: np.asarray(value) for name, value in arrays.items()}


def _split(where: str, arrays: Mapping[str, np.ndarray], split: Split) -> Arrays:
    x, y, lengths = (arrays.get(f"{array}_{split}") for array in _ARRAYS)
    assert x is not None and y is not None  # _read checked both
    kinds = {"x": x.dtype.kind, "y": y.dtype.kind}
    if kinds["x"] not in "iuf" or (x.ndim == 2 and kinds["x"] == "f") or x.ndim not in (2, 3):
        raise DataError(f"{where}: x_{split} must be (N, T, F) numbers or (N, T) integer token ids, got {x.dtype} {x.shape}")
    if kinds["y"] not in "iuf" or y.ndim not in (1, 2, 3):
        raise DataError(
            f"{where}: y_{split} must be integer classes or float targets, (N,), (N, T) or (N, T, O); got {y.dtype} {y.shape}"
        )
    if len(x) == 0 or x.shape[1] == 0 or (x.ndim == 3 and x.shape[2] == 0):
        raise DataError(f"{where}: x_{split} is empty, shape {x.shape}")
    if len(y) != len(x):
        raise DataError(f"{where}: y_{split} has {len(y)} sequences, x_{split} {len(x)}")
    for name, array in ((f"x_{split}", x), (f"y_{split}", y)):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise DataError(f"{where}: {name} holds NaN or inf")
        # Token ids (2-D x) and labels index tables; integer features (3-D x) may be negative.
        if array.dtype.kind == "i" and array.ndim < 3 and array.min() < 0:
            what = "token id" if name.startswith("x") else "label"
            raise DataError(f"{where}: {name} holds a negative {what} ({array.min()})")
    if lengths is not None:
        steps = x.shape[1]
        if lengths.dtype.kind not in "iu" or lengths.shape != (len(x),):
            raise DataError(f"{where}: lengths_{split} must be ({len(x)},) integers, got {lengths.dtype} {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > steps:
            raise DataError(f"{where}: lengths_{split} must lie in [1, {steps}], got {lengths.min()}..{lengths.max()}")
        lengths = lengths.astype(np.int64)
    x = x.astype(np.int64) if x.ndim == 2 else x.astype(np.float32)
    return Arrays(x, y, lengths)


def _head(where: str, splits: Mapping[Split, Arrays], head: str | None) -> Head:
    y, steps = splits["train"].y, splits["train"].x.shape[1]
    if y.dtype.kind in "iu":
        inferred: Head = "classify_last" if y.ndim == 1 else "classify_each"
        allowed = {"classify_last": 1, "classify_each": 2}
        if y.ndim not in allowed.values() or (head is not None and head not in allowed):
            raise DataError(
                f"{where}: integer y_train {y.shape} is one class per sequence (N,) or per step (N, T)"
                + (f", not head {head}" if head else "")
            )
    else:
        inferred = "regress_each" if y.ndim == 3 else "regress_last"
        if head is not None and head not in _REGRESS:
            raise DataError(f"{where}: float y_train holds targets (head regress_last or regress_each), not head {head}")
    chosen: Head = head if head is not None else inferred  # type: ignore[assignment]
    if chosen.endswith("_each") and (y.ndim < 2 or y.shape[1] != steps):
        raise DataError(
            f"{where}: head {chosen} needs y_train of (N, T{'' if chosen == 'classify_each' else ', O'}) with T = {steps}, got {y.shape}"
        )
    return chosen


def _shaped(where: str, split: Split, data: Arrays, head: Head) -> Arrays:
    """`y` as the head reads it: int64 classes, or float32 targets with their output axis."""
    y = data.y
    if head in _CLASSIFY:
        if y.dtype.kind not in "iu":
            raise DataError(f"{where}: y_{split} must hold integer classes like y_train, got {y.dtype}")
        expected = 1 if head == "classify_last" else 2
        y = y.astype(np.int64)
    else:
        if y.dtype.kind != "f":
            raise DataError(f"{where}: y_{split} must hold float targets like y_train, got {y.dtype}")
        expected = 2 if head == "regress_last" else 3
        # (N,) and (N, T) targets have one output: give them their output axis.
        y = (y[..., None] if y.ndim == expected - 1 else y).astype(np.float32)
    if y.ndim != expected or (head.endswith("_each") and y.shape[1] != data.x.shape[1]):
        raise DataError(f"{where}: y_{split} has shape {data.y.shape}, which head {head} cannot read")
    return Arrays(data.x, y, data.lengths)


def _consistent(where: str, splits: Mapping[Split, Arrays]) -> None:
    """Every split has the train split's features and outputs (its sequence length may differ)."""
    train = splits["train"]
    for split, data in splits.items():
        if data.x.ndim != train.x.ndim or data.x.shape[2:] != train.x.shape[2:]:
            raise DataError(f"{where}: x_{split} is {data.x.shape}, x_train {train.x.shape}: features must match")
        if data.y.dtype.kind == "f" and data.y.shape[-1] != train.y.shape[-1]:
            raise DataError(f"{where}: y_{split} is {data.y.shape}, y_train {train.y.shape}: outputs must match")
