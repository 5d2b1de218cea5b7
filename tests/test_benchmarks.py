"""The read-command benchmark runs end to end, tiny (the lead runs it in full on a quiet machine)."""

from __future__ import annotations

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
