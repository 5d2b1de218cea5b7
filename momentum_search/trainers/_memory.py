"""The training process's allocator: keep freed memory for the next batch instead of returning it."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt's parameters (malloc.h) and the largest value it takes (an int).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP = 2**31 - 1
OPT_OUT = "MOMENTUM_SEARCH_KEEP_FREED_MEMORY"  # "0": glibc's defaults


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to serve large allocations from its heap and not to hand freed memory back to the
    system; whether the setting holds in this process.

    By default glibc maps every allocation above its mmap threshold afresh and unmaps it when freed,
    so a training that allocates the same large tensors every batch (`nn.LSTM`'s workspaces, a
    784-step drive) pays their page faults every batch: 44 % of a 2-epoch 784-step LSTM training here
    (25.0 → 13.9 s, docs/mnist784.md). The price is the process keeping its peak memory (that run:
    peak RSS 940 → 1,107 MB). No-op off glibc, and with ``MOMENTUM_SEARCH_KEEP_FREED_MEMORY=0``.
    """
    if os.environ.get(OPT_OUT, "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # no C library to load, or one without mallopt (not glibc)
        mallopt = None
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEEP)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP))
