"""A training process keeps freed memory for its next batch (glibc): large tensors stop costing fresh pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# In a fresh process: page faults of five 64 MiB tensors allocated and freed one after another, after
# a tiny training (which makes the setting) or none. Fresh pages cost one minor fault per 4 KiB page.
PROBE = """
import resource, sys, torch
from momentum_search.trainers import TrainConfig, train
if sys.argv[1] == "train":
    train(TrainConfig(task="adding", task_params={"length": 5, "n_train": 20, "n_valid": 10, "n_test": 10},
                      cell="lstm", hidden_size=4, batch_size=10, epochs=1, threads=1))
torch.ones(16 * 2**20).sum()  # the first one may fault wherever the heap has to grow
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.ones(16 * 2**20).sum()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 5 * 64 * 2**20 // 4096  # what five tensors' fresh pages would cost


def faults(mode: str, **env: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_training_process_reuses_freed_memory_and_can_opt_out() -> None:
    assert faults("none") >= PAGES * 0.9  # glibc's defaults: every tensor on fresh pages
    assert faults("train") < PAGES * 0.1  # after a training: the same memory again
    assert faults("train", MOMENTUM_SEARCH_KEEP_FREED_MEMORY="0") >= PAGES * 0.9
