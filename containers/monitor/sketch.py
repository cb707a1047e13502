"""Numeric primitives of the analyzer: buckets, the KLL-shaped quantile sketch, CDFs, distinct counts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]

# The prebuilt analyzer's sketch parameters (written into every statistics.json).
KLL_K = 2048
KLL_C = 0.64
BUCKET_COUNT = 10
# Below this many values the distinct count is exact; above, HyperLogLog keeps it O(n) and cheap.
EXACT_DISTINCT_LIMIT = 100_000
_HLL_PRECISION = 14


def equal_width_buckets(values: FloatArray, low: float, high: float) -> list[tuple[float, float, float]]:
    """`BUCKET_COUNT` equal-width buckets over [low, high] as (lower, upper, count); the last is closed.

    Like the analyzer, bounds are `low + i * (high - low) / 10`; a constant column puts every
    value in the first bucket.
    """
    edges = [low + (high - low) * i / BUCKET_COUNT for i in range(BUCKET_COUNT)] + [high]
    if values.size == 0:
        counts = np.zeros(BUCKET_COUNT, dtype=np.int64)
    elif high > low:
        scaled = np.subtract(values, low)
        scaled *= BUCKET_COUNT / (high - low)
        index = scaled.astype(np.intp)
        np.clip(index, 0, BUCKET_COUNT - 1, out=index)
        counts = np.bincount(index, minlength=BUCKET_COUNT)
    else:
        counts = np.zeros(BUCKET_COUNT, dtype=np.int64)
        counts[0] = values.size
    return [(edges[i], edges[i + 1], float(counts[i])) for i in range(BUCKET_COUNT)]


def quantile_sketch(values: FloatArray, k: int = KLL_K) -> list[list[float]]:
    """A KLL-shaped summary: level i holds items that each stand for 2**i values; weights sum to n.

    Not a streaming KLL: with the whole column in memory we take, for the smallest level L with
    n / 2**L <= k, one value from each block of 2**L (a systematic sample, so no sort of the
    column), and spell the remainder n mod 2**L in binary on the lower levels. Readers of real
    KLL sketches (weight 2**level) read ours the same way.
    """
    n = int(values.size)
    if n <= k:
        return [values.tolist()]
    level = math.ceil(math.log2(n / k))
    step = 1 << level
    blocks, remainder = divmod(n, step)
    levels: list[list[float]] = [[] for _ in range(level + 1)]
    levels[level] = values[step // 2 : blocks * step : step].tolist()
    tail = values[blocks * step :]
    offset = 0
    for bit in range(level):
        if remainder >> bit & 1:
            levels[bit].append(float(tail[offset]))
            offset += 1 << bit
    return levels


def _flatten_sketch(levels: list[list[float]]) -> tuple[FloatArray, FloatArray]:
    items = np.concatenate([np.asarray(level, dtype=np.float64) for level in levels])
    weights = np.concatenate([np.full(len(level), float(1 << i)) for i, level in enumerate(levels)])
    order = np.argsort(items, kind="stable")
    return items[order], np.cumsum(weights[order])


def sketch_cdf(levels: list[list[float]], points: FloatArray) -> FloatArray:
    """P(X <= t) for each t in `points`, estimated from a sketch."""
    items, cumulative = _flatten_sketch(levels)
    if items.size == 0:
        return np.zeros(points.size)
    position = np.searchsorted(items, points, side="right")
    below = np.where(position > 0, cumulative[np.maximum(position - 1, 0)], 0.0)
    return np.asarray(below / cumulative[-1], dtype=np.float64)


def sketch_quantiles(levels: list[list[float]], probabilities: FloatArray) -> FloatArray:
    """The values at the given probabilities, estimated from a sketch."""
    items, cumulative = _flatten_sketch(levels)
    if items.size == 0:
        return np.zeros(0)
    index = np.searchsorted(cumulative, probabilities * cumulative[-1], side="left")
    return np.asarray(items[np.minimum(index, items.size - 1)], dtype=np.float64)


_FINE_BINS = 4096


def empirical_cdf(values: FloatArray, points: FloatArray) -> FloatArray:
    """Exact P(X <= t) of `values` at sorted `points`, without sorting or binary-searching the values.

    Values go into 4096 equal-width bins spanning the points (one linear pass and a bincount);
    bins wholly below a point count in full, and only the few values sharing a bin with a point
    are compared exactly. Rounding is monotonic, so the bin order never contradicts the value order.
    """
    if values.size == 0:
        return np.zeros(points.size)
    low, high = float(points[0]), float(points[-1])
    if not high > low or not np.isfinite(high - low):
        return np.asarray([np.count_nonzero(values <= point) / values.size for point in points])
    scale = _FINE_BINS / (high - low)
    scaled = np.subtract(values, low)
    scaled *= scale
    np.floor(scaled, out=scaled)
    np.clip(scaled, -1, _FINE_BINS, out=scaled)
    bins = scaled.astype(np.intp)
    bins += 1  # 0 = below the first point, _FINE_BINS + 1 = at or above the last bin's end
    cumulative = np.cumsum(np.bincount(bins, minlength=_FINE_BINS + 2))
    point_bins = np.clip(np.floor((points - low) * scale), -1, _FINE_BINS).astype(np.intp) + 1
    boundary = np.zeros(_FINE_BINS + 2, dtype=bool)
    boundary[point_bins] = True
    shared = boundary[bins]
    shared_values, shared_bins = values[shared], bins[shared]
    result = np.empty(points.size)
    for i, (point, point_bin) in enumerate(zip(points.tolist(), point_bins.tolist(), strict=True)):
        below = int(cumulative[point_bin - 1]) if point_bin > 0 else 0
        same = shared_values[shared_bins == point_bin]
        result[i] = (below + np.count_nonzero(same <= point)) / values.size
    return result


def _mix64(values: FloatArray) -> npt.NDArray[np.uint64]:
    """splitmix64's finalizer over the float bits: a cheap, well-mixed 64-bit hash per value."""
    z = (values + 0.0).view(np.uint64).copy()  # + 0.0 folds -0.0 into 0.0
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def approximate_distinct_count(values: FloatArray) -> int:
    """Distinct values: exact up to EXACT_DISTINCT_LIMIT, else HyperLogLog (p=14, ~1% error)."""
    if values.size <= EXACT_DISTINCT_LIMIT:
        return int(pd.unique(values + 0.0).size)
    precision = _HLL_PRECISION
    hashes = _mix64(values)
    register = (hashes >> np.uint64(64 - precision)).astype(np.intp)
    hashes &= np.uint64((1 << (64 - precision)) - 1)
    # Rank = leading zeros of the remaining (64-p) bits + 1. The float exponent of the word is its
    # bit length - 1 (the word is < 2**50, so the signed conversion is exact enough and fast).
    exponent = (hashes.view(np.int64).astype(np.float64).view(np.uint64) >> np.uint64(52)).astype(np.intp)
    bit_length = np.maximum(exponent - 1022, 0)
    rank = (64 - precision) - bit_length + 1
    registers = np.zeros(1 << precision, dtype=np.intp)
    np.maximum.at(registers, register, rank)
    size = 1 << precision
    alpha = 0.7213 / (1 + 1.079 / size)
    estimate = alpha * size * size / float(np.sum(np.exp2(-registers.astype(np.float64))))
    zeros = int(np.count_nonzero(registers == 0))
    if estimate <= 2.5 * size and zeros:
        estimate = size * math.log(size / zeros)
    return round(estimate)
