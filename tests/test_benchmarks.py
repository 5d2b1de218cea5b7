"""The benchmarks run end to end, tiny (the lead runs them in full on a quiet machine)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
def test_read_commands_benchmark_runs_tiny(public: bool) -> None:
    # With Optuna's internals off, the trials are written through its public add_trials, and it says so.
    env = {**os.environ, "MOMENTUM_SEARCH_PUBLIC_API": "1" if public else "0"}
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "read_commands.py"),
            "--sizes",
            "30",
            "--repeats",
            "1",
            "--backends",
            "sqlite",
            "--commands",
            "optuna studies,studies list,studies show,export",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if "│ sqlite" in line]
    assert [row.split("│")[3].strip() for row in rows] == [
        "optuna studies",
        "studies list",
        "studies show",
        "export",
        "(writing the trials)",
    ]
    assert "× optuna" in rows[1] and "targets missed:" in done.stdout
    assert ("public add_trials" in done.stdout) == public


def test_claims_benchmark_runs_tiny() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "claims.py"), "--sizes", "10,20", "--claims", "2", "--backends", "sqlite"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("│")[1:5] for line in done.stdout.splitlines() if "│ sqlite" in line]
    assert [row[1].strip() for row in rows] == ["10", "20"]
    assert all(float(cell) > 0 for row in rows for cell in row[2:4])
    assert "kept claim at 20 ÷ at 10: sqlite" in done.stdout


def test_search_efficiency_benchmark_runs_tiny_and_keeps_its_stores(tmp_path: Path) -> None:
    import optuna

    command = [
        sys.executable,
        str(BENCHMARKS / "search_efficiency.py"),
        *("--task", "digits", "--hidden", "4", "--epochs", "1", "--repetitions", "1"),
        *("--methods", "grid3,racing", "--eval-seeds", "2", "--keep", str(tmp_path)),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "G = the 3-seed grid's 75 epochs" in done.stdout
    assert "target, racing + confirmation within the 3-seed grid's held-out interval" in done.stdout
    # The kept stores hold every grid point on its 3 seeds, and racing's search and confirmation.
    grid = optuna.load_study(study_name="grid3-0", storage=f"sqlite:///{tmp_path / 'grid3-0.db'}")
    points = {(t.params["mu"], t.params["s"]) for t in grid.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(points) == 25 and all(len(t.user_attrs["seeds"]) == 3 for t in grid.trials)
    racing = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'racing-0.db'}")}
    assert {"racing-0", "racing-0.confirm"} <= racing
    # A second run into the same folder would mix its trials with these: one line, nothing written.
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir())
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 2 and "already holds grid3-0.db, racing-0.db" in again.stderr
    assert "Traceback" not in again.stderr
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("kept", [True, False], ids=["as-in-training", "glibc-defaults"])
def test_cells_benchmark_runs_tiny_and_names_the_allocator(kept: bool) -> None:
    # nn.LSTM's time, every ratio's denominator, depends on glibc's settings: each run says which held.
    env = {**os.environ, "MOMENTUM_SEARCH_KEEP_FREED_MEMORY": "1" if kept else "0"}
    env.pop("MOMENTUM_SEARCH_COMPILE", None)
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cells.py"), "--kinds", "lstm,adam-lstm", "--shapes", "20x4x2x8"]
        + ["--repeats", "1", "--no-reference", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    header = done.stdout.splitlines()[0]
    if kept:
        assert "allocator: freed memory kept, as in training;" in header
    else:
        assert "allocator: glibc's defaults (nn.LSTM pays fresh pages every batch);" in header
    assert header.endswith("LSTM steps: MOMENTUM_SEARCH_COMPILE=auto")
    machine = done.stdout.splitlines()[1]
    assert machine.startswith("CPU: ") and "torch's kernels " in machine
    assert "adam-lstm" in done.stdout


def test_products_benchmark_times_both_libraries_tiny() -> None:
    # The three products of each hidden size, each through torch.mm and oneDNN, checked equal first.
    env = {**os.environ, "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "products.py"), "--hidden", "4,8", "--batch", "3", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("│")[1:-1] for line in done.stdout.splitlines() if line.startswith("│ ")]
    assert [(row[0].strip(), row[1].strip()) for row in rows] == [
        (product, hidden)
        for hidden in ("4", "8")
        for product in ("forward h Uᵀ", "backward g U", "weight gradient gᵀ h (16 steps)")
    ]
    for row in rows:
        assert float(row[3]) > 0 and float(row[4]) > 0 and row[5].strip().endswith("×")


def test_cells_benchmark_times_each_kind_with_its_steps_eager_beside() -> None:
    # 32 steps compile nothing (test_cells tests the compiled steps): this is the columns' plumbing.
    env = {**os.environ, "MOMENTUM_SEARCH_COMPILE": "auto", "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cells.py"), "--kinds", "lstm,nesterov-lstm", "--shapes", "32x4x1x8"]
        + ["--repeats", "1", "--no-reference", "--threads", "1", "--eager"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].endswith("LSTM steps: MOMENTUM_SEARCH_COMPILE=auto")
    header = next(line for line in lines if "kind" in line)
    assert [cell.strip() for cell in header.split("┃")[-3:-1]] == ["eager ms", "eager/cell"]
    for kind in ("lstm", "nesterov-lstm"):
        row = next(line for line in lines if line.startswith(f"│ {kind} "))
        eager_ms, ratio = (cell.strip() for cell in row.split("│")[-3:-1])
        assert float(eager_ms) > 0 and ratio.endswith("×") and float(ratio[:-1]) > 0


def test_cells_benchmark_ratios_are_medians_of_the_rounds_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    # A load that slows one round slows both of its timings: the per-round ratio is what compares them.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    cells = importlib.import_module("cells")
    rounds = {("adam-lstm", "cell"): [2.0, 6.0, 3.0], ("lstm", "torch"): [1.0, 3.0, 3.0]}
    median = cells.Summary(rounds, "median")
    assert median.time("adam-lstm", "cell") == 3.0 and median.time("lstm", "torch") == 3.0
    assert median.ratio(("adam-lstm", "cell"), ("lstm", "torch")) == 2.0  # rounds 2, 2, 1; medians 3 / 3
    assert cells.Summary(rounds, "min").ratio(("adam-lstm", "cell"), ("lstm", "torch")) == 2.0  # 2 / 1
    assert median.ratio(("adam-lstm", "eager"), ("adam-lstm", "cell")) is None
    assert median.time("adam-lstm", "per-step") is None
