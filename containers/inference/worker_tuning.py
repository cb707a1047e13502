"""Process settings of a serving worker that its request latency depends on: the garbage collector
and the C allocator. Both measured on the benchmark's model (bench/serving.py)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def freeze_heap() -> None:
    """Move everything alive now (modules, the loaded model's ~100k objects) out of the collector's
    sight. A full collection walks every tracked object: ~70 ms with the model loaded, which the
    churn of 1,000-row requests set off about once per 150 requests, stalling every request queued
    behind it (p99 ~100 ms at a p50 of ~22 ms). Objects that requests allocate are still collected."""
    gc.collect()
    gc.freeze()


def keep_freed_memory() -> bool:
    """Have glibc serve large blocks from its heap and keep what is freed, instead of mapping each
    block above 128 KB afresh and unmapping it on free: a 1,000-row request's arrays (up to ~1 MB
    each) otherwise page-fault on every request (the tree scoring took 1.4 ms instead of 0.47 ms).
    The worker keeps its peak heap (a few MB per request in flight). False where the C library is
    not glibc (macOS, musl): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting the thresholds also turns off glibc's own adjustment of them (mallopt(3)).
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                TRIM_THRESHOLD_BYTES))
