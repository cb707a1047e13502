"""Drift distances between a baseline and live data, each in [0, 1], compared with a threshold.

Numeric features ("Robust"/"Simple" alike): the largest gap between the baseline's and the live
cumulative distribution functions, evaluated on a grid of the baseline's 11 bucket edges and its
5%, 10%, ..., 95% quantiles. The baseline CDF comes from its KLL sketch (items of level i weigh
2**i), the live CDF is exact. This is the Kolmogorov-Smirnov statistic restricted to that grid
(a lower bound of the full KS distance, insensitive to changes inside a 5% quantile band).

Categorical features (`categorical_drift_method`):
- LInfinity: the largest absolute difference between the baseline and live relative frequency of
  any value (values missing on one side count as frequency 0).
- ChiSquared: Pearson's goodness-of-fit test of the live counts against the baseline frequencies
  (baseline values plus one "other" cell, add-half smoothed so unseen values do not divide by
  zero). The distance is 1 - p-value and the threshold becomes 1 - categorical_comparison_threshold,
  i.e. a violation means p-value < threshold, keeping "distance exceeds threshold" true for both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from containers.contracts.constraints import CategoricalDriftMethod
from containers.contracts.statistics import NumericalStatistics, StringStatistics
from containers.monitor.sketch import FloatArray, empirical_cdf, sketch_cdf, sketch_quantiles

QUANTILE_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def numeric_drift_distance(baseline: NumericalStatistics, live_values: FloatArray) -> float | None:
    """Grid Kolmogorov-Smirnov distance; None when either side has nothing to compare."""
    distribution = baseline.distribution
    if distribution is None or live_values.size == 0 or baseline.common.num_present == 0:
        return None
    levels = distribution.kll.sketch.data
    if not any(levels):
        return None
    edges = [bucket.lower_bound for bucket in distribution.kll.buckets]
    edges += [bucket.upper_bound for bucket in distribution.kll.buckets[-1:]]
    grid = np.unique(np.concatenate([np.asarray(edges, dtype=np.float64), sketch_quantiles(levels, QUANTILE_GRID)]))
    gap = np.abs(sketch_cdf(levels, grid) - empirical_cdf(live_values, grid))
    return float(gap.max())


def _frequencies(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {value: count / total for value, count in counts.items()} if total else {}


def baseline_value_counts(baseline: StringStatistics) -> dict[str, int] | None:
    if baseline.distribution is None:
        return None
    return {bucket.value: bucket.count for bucket in baseline.distribution.categorical.buckets}


def linf_distance(baseline: Mapping[str, int], live: Mapping[str, int]) -> float:
    base, now = _frequencies(baseline), _frequencies(live)
    return max((abs(base.get(value, 0.0) - now.get(value, 0.0)) for value in base.keys() | now.keys()), default=0.0)


def chi_squared_p_value(baseline: Mapping[str, int], live: Mapping[str, int]) -> float:
    """p-value of the live counts under the baseline frequencies (baseline cells + "other")."""
    cells = list(baseline)
    smoothed = np.asarray([baseline[value] + 0.5 for value in cells] + [0.5], dtype=np.float64)
    expected_share = smoothed / smoothed.sum()
    observed = np.asarray([live.get(value, 0) for value in cells], dtype=np.float64)
    other = float(sum(count for value, count in live.items() if value not in baseline))
    observed = np.append(observed, other)
    total = observed.sum()
    if total == 0:
        return 1.0
    expected = expected_share * total
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return chi_squared_survival(statistic, len(cells))


def categorical_drift_distance(
    baseline: Mapping[str, int], live: Mapping[str, int], method: CategoricalDriftMethod
) -> float:
    if method == "ChiSquared":
        return 1.0 - chi_squared_p_value(baseline, live)
    return linf_distance(baseline, live)


def categorical_threshold(method: CategoricalDriftMethod, threshold: float) -> float:
    """The distance limit for a categorical feature (see the module docstring for ChiSquared)."""
    return 1.0 - threshold if method == "ChiSquared" else threshold


def chi_squared_survival(statistic: float, degrees: int) -> float:
    """P(X >= statistic) for a chi-squared variable: the regularized upper incomplete gamma
    Q(degrees/2, statistic/2), by series or continued fraction (no scipy in the image)."""
    if degrees <= 0:
        return 1.0
    if statistic <= 0:
        return 1.0
    a, x = degrees / 2.0, statistic / 2.0
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(1000):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefactor) * h)
