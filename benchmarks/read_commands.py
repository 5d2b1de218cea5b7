"""How fast the commands that only read answer, as whole new processes, at 20, 10,000 and 100,000 trials.

    python benchmarks/read_commands.py                                   # SQLite and PostgreSQL, 20, 10,000 and 100,000 trials
    python benchmarks/read_commands.py --sizes 1000 --repeats 1 --backends sqlite   # a smoke test

For each backend and size a store holds one study of that many trials that look like real ones: the
quickstart's spec with 3 seeds and 20 epochs, every trial with the attrs and per-epoch values the
Optuna engine writes (``service_overhead.synthetic_trials``; 70 % complete, the rest pruned), written
in one bulk insert. Then each command runs as a new process, round-robin, ``--repeats`` times:
``studies list`` beside Optuna's own ``optuna studies`` on the same store, ``studies show``, ``export``
and ``plot --no-gradient-flow``. The table gives the median wall time, the peak resident memory of
the process (its own, from ``wait4``), and the targets of issue 16 as met or missed. The 20-trial store
is about the quick start's size, where Optuna's CLI reads little and what is left is each command's fixed
cost: starting, importing, opening the storage.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _common import console, load_line, postgres_database, print_table

BACKENDS = ("sqlite", "postgresql")
COMMANDS = ("optuna studies", "studies list", "studies show", "export", "plot")
DISTINCT = 2000  # trials synthesised; a larger study repeats them (each with its own number)
STUDY = "reads"
# Issue 16's targets, as whole processes.
LIST_RATIO = 1.0  # studies list ÷ optuna studies, on the same store
TEN_THOUSAND = {"studies show": 1.5, "export": 1.5, "plot": 3.0}  # seconds, on 10,000 trials
LIST_100K = 2.0  # seconds to list 100,000 trials


def argv(command: str, url: str, folder: Path) -> list[str]:
    bin_dir = Path(sys.executable).parent
    ours = [str(bin_dir / "momentum-search")]
    return {
        "optuna studies": [str(bin_dir / "optuna"), "studies", "--storage", url],
        "studies list": [*ours, "studies", "list", "--storage", url],
        "studies show": [*ours, "studies", "show", STUDY, "--storage", url],
        "export": [*ours, "export", STUDY, "--storage", url, "--out", str(folder / "best.yaml")],
        "plot": [*ours, "plot", STUDY, "--no-gradient-flow", "--storage", url, "--out", str(folder / "report.html")],
    }[command]


# Run by a small interpreter of its own: a forked child keeps its parent's peak RSS as its own, and this
# process holds torch and the synthesised trials. The wrapper's peak (~10 MiB) is the floor instead.
_WRAPPER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


# As a user's install runs: with the package's bytecode cached. Where PYTHONDONTWRITEBYTECODE is set (some
# CI and sandbox shells), every run would compile momentum_search's modules again (10 % of `studies list`'s
# instructions), which Optuna's CLI, precompiled at its install, never pays.
_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one new process; it must succeed."""
    done = subprocess.run([sys.executable, "-S", "-c", _WRAPPER, *command], capture_output=True, text=True, check=True, env=_ENV)
    seconds, kib, code = done.stdout.split()
    if int(code) != 0:
        error = done.stderr.strip().splitlines()
        raise RuntimeError(f"{' '.join(command[:3])} … failed ({code}): {error[-1] if error else ''}")
    return float(seconds), int(kib) / 1024  # ru_maxrss is in KiB on Linux


def build(url: str, size: int, *, name: str = STUDY) -> float:
    """Write a study ``name`` of ``size`` trials into ``url``; returns the seconds it took."""
    from service_overhead import stored_spec, synthetic_trials, write_trials

    started = time.perf_counter()
    spec = stored_spec(name, size)
    distinct = synthetic_trials(spec, min(size, DISTINCT))
    write_trials(url, spec, [distinct[i % len(distinct)] for i in range(size)])
    return time.perf_counter() - started


def measure(url: str, size: int, commands: list[str], repeats: int, folder: Path) -> dict[str, tuple[float, float]]:
    """Median seconds and peak MiB of each command, run round-robin so that load changes hit all alike."""
    times: dict[str, list[float]] = {c: [] for c in commands}
    memory: dict[str, float] = dict.fromkeys(commands, 0.0)
    for _ in range(repeats):
        for command in commands:
            seconds, mib = run(argv(command, url, folder))
            times[command].append(seconds)
            memory[command] = max(memory[command], mib)
    return {c: (statistics.median(times[c]), memory[c]) for c in commands}


def verdicts(size: int, found: dict[str, tuple[float, float]]) -> dict[str, str]:
    """Each command's target at this size, as "met (…)" or "missed (…)"; commands without one get ""."""
    notes = dict.fromkeys(found, "")
    if "studies list" in found and "optuna studies" in found:
        ratio = found["studies list"][0] / found["optuna studies"][0]
        notes["studies list"] = f"{'met' if ratio <= LIST_RATIO else 'missed'} ({ratio:.2f}× optuna ≤ {LIST_RATIO}×)"
    if size >= 100_000 and "studies list" in found:
        seconds = found["studies list"][0]
        note = f"{'met' if seconds <= LIST_100K else 'missed'} (≤ {LIST_100K} s at 100,000)"
        notes["studies list"] = "; ".join(filter(None, (notes["studies list"], note)))
    if size == 10_000:
        for command, target in TEN_THOUSAND.items():
            if command in found:
                notes[command] = f"{'met' if found[command][0] <= target else 'missed'} (≤ {target} s)"
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,10000,100000", help="trials per study, comma-separated")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite, postgresql")
    parser.add_argument("--commands", default=",".join(COMMANDS), help=", ".join(COMMANDS))
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (the median is shown)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    commands = [c for c in args.commands.split(",") if c]
    unknown = (set(backends) - set(BACKENDS)) | (set(commands) - set(COMMANDS))
    if unknown or args.repeats < 1 or not sizes or min(sizes) < 1:
        parser.error(f"unknown backend or command: {', '.join(sorted(unknown))}" if unknown else "sizes and repeats must be ≥ 1")

    console.print(
        f"read commands: {', '.join(backends)} × {', '.join(map(str, sizes))} trials, "
        f"median of {args.repeats}; start: {load_line()}"
    )
    rows, missed = [], []
    with tempfile.TemporaryDirectory(prefix="ms-reads-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        for backend in backends:
            for size in sizes:
                # One store per study: `studies list` and `optuna studies` then see just that study.
                url = f"sqlite:///{folder / f'{size}.db'}" if backend == "sqlite" else stack.enter_context(postgres_database())
                written = build(url, size)
                found = measure(url, size, commands, args.repeats, folder)
                notes = verdicts(size, found)
                missed += [f"{backend} {size:,} {c}: {n}" for c, n in notes.items() if "missed" in n]
                for command, (seconds, mib) in found.items():
                    rows.append([backend, f"{size:,}", command, f"{seconds:.2f}", f"{mib:.0f}", notes[command]])
                rows.append([backend, f"{size:,}", "(writing the trials)", f"{written:.1f}", "", ""])
    print_table(
        "whole processes: median seconds, peak resident MiB",
        ["backend", "trials", "command", "seconds", "MiB", "target"],
        rows,
        numeric_from=3,
    )
    console.print("targets missed: " + ("; ".join(missed) if missed else "none"))
    console.print(f"end: {load_line()}")


if __name__ == "__main__":
    main()
