"""Profiling a dataset into statistics.json: inferred types, counts, moments, buckets and sketches."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from containers.contracts.statistics import (
    CategoricalBucket,
    CategoricalDistribution,
    CommonStatistics,
    DatasetInfo,
    FeatureStatistics,
    InferredType,
    KllBucket,
    KllDistribution,
    KllSketch,
    KllSketchParameters,
    NumericalDistribution,
    NumericalStatistics,
    Statistics,
    StringDistribution,
    StringStatistics,
)
from containers.monitor.sketch import (
    KLL_C,
    KLL_K,
    FloatArray,
    approximate_distinct_count,
    equal_width_buckets,
    quantile_sketch,
)

# String columns with at most this many distinct values get a categorical distribution (and a
# `domains` constraint). The reference job kept 83 values (county) and dropped 2477 (city); the
# analyzer's exact cut-off is not published, so this is our documented choice.
CATEGORICAL_MAX_DISTINCT = 100
# numpy releases the GIL in the per-column work, so two threads use both cores of the target box.
PROFILE_THREADS = 2


def infer_type(series: pd.Series) -> InferredType:
    """Integral/Fractional/String/Unknown from the parsed column, like the analyzer's type inference:
    integer dtype -> Integral, float dtype -> Fractional, anything textual or mixed -> String,
    nothing present -> Unknown."""
    if series.isna().all():
        return "Unknown"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "String"
    if pd.api.types.is_integer_dtype(dtype):
        return "Integral"
    if pd.api.types.is_float_dtype(dtype):
        return "Fractional"
    return "String"


def numeric_values(series: pd.Series) -> FloatArray:
    """The present values of a column as float64 (non-numeric text dropped)."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(series.astype("string"), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    return values[~missing] if missing.any() else values


def string_values(series: pd.Series) -> pd.Series:
    """The present values of a column as strings."""
    return series.dropna().astype("string")


def present_value_counts(series: pd.Series) -> pd.Series:
    """How often each present value occurs, keyed by its text (categorical columns count codes)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        counts = series.value_counts(sort=False, dropna=True)
        counts = counts[counts.to_numpy() > 0]
        counts.index = pd.Index([str(value) for value in counts.index], dtype=object)
        return counts
    return string_values(series).value_counts(sort=False)


class ColumnViews:
    """Per-column work shared by profiling and checks: each column's float values and value counts
    are computed once (threads ask for different columns, so plain dicts are enough)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._numbers: dict[str, FloatArray] = {}
        self._counts: dict[str, pd.Series] = {}

    def numbers(self, name: str) -> FloatArray:
        if name not in self._numbers:
            self._numbers[name] = numeric_values(self.frame[name])
        return self._numbers[name]

    def counts(self, name: str) -> pd.Series:
        if name not in self._counts:
            self._counts[name] = present_value_counts(self.frame[name])
        return self._counts[name]


def _numerical_statistics(values: FloatArray, total: int) -> NumericalStatistics:
    present = int(values.size)
    if present:
        low, high = float(values.min()), float(values.max())
        total_sum = float(values.sum())
        mean = total_sum / present
        # Population standard deviation, as in the reference file (checked: p(1-p) for a 0/1 column).
        std_dev = float(np.sqrt(max(float(np.dot(values, values)) / present - mean * mean, 0.0)))
        if std_dev < 1e-6 * max(abs(mean), 1.0):
            std_dev = float(values.std())  # the one-pass formula cancels badly near constant columns
    else:
        low = high = total_sum = mean = std_dev = 0.0
    buckets = [
        KllBucket(lower_bound=lower, upper_bound=upper, count=count)
        for lower, upper, count in equal_width_buckets(values, low, high)
    ]
    sketch = KllSketch(parameters=KllSketchParameters(c=KLL_C, k=float(KLL_K)), data=quantile_sketch(values))
    return NumericalStatistics(
        common=CommonStatistics(num_present=present, num_missing=total - present),
        mean=mean,
        sum=total_sum,
        std_dev=std_dev,
        min=low,
        max=high,
        approximate_num_distinct_values=approximate_distinct_count(values),
        completeness=present / total if total else 0.0,
        distribution=NumericalDistribution(kll=KllDistribution(buckets=buckets, sketch=sketch)),
    )


def _string_statistics(counts: pd.Series, total: int) -> StringStatistics:
    present = int(counts.sum())
    distribution = None
    if 0 < len(counts) <= CATEGORICAL_MAX_DISTINCT:
        ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
        distribution = StringDistribution(
            categorical=CategoricalDistribution(
                buckets=[CategoricalBucket(value=str(value), count=int(count)) for value, count in ordered]
            )
        )
    return StringStatistics(
        common=CommonStatistics(num_present=present, num_missing=total - present),
        distinct_count=float(len(counts)),
        completeness=present / total if total else 0.0,
        distribution=distribution,
    )


def feature_statistics(name: str, series: pd.Series, views: ColumnViews | None = None) -> FeatureStatistics:
    """Statistics of one column."""
    inferred = infer_type(series)
    total = len(series)
    if inferred in ("Integral", "Fractional"):
        values = views.numbers(name) if views is not None else numeric_values(series)
        return FeatureStatistics(
            name=name, inferred_type=inferred, numerical_statistics=_numerical_statistics(values, total)
        )
    counts = views.counts(name) if views is not None else present_value_counts(series)
    return FeatureStatistics(name=name, inferred_type=inferred, string_statistics=_string_statistics(counts, total))


def compute_statistics(frame: pd.DataFrame, views: ColumnViews | None = None) -> Statistics:
    """statistics.json for a dataset whose columns are the features (already typed by the reader)."""
    shared = views if views is not None else ColumnViews(frame)
    columns = [(str(name), frame.iloc[:, index]) for index, name in enumerate(frame.columns)]
    with ThreadPoolExecutor(max_workers=PROFILE_THREADS) as pool:
        features = list(pool.map(lambda column: feature_statistics(column[0], column[1], shared), columns))
    return Statistics(version=0.0, dataset=DatasetInfo(item_count=len(frame)), features=features)


def completeness_lower_bound(completeness: float, rows: int) -> float:
    """The completeness to require of live data: the baseline's, less a 95% binomial margin,
    rounded down to two decimals (Deequ's retain-completeness suggestion). 1.0 stays 1.0."""
    if completeness >= 1.0 or rows <= 0:
        return completeness
    margin = 1.96 * math.sqrt(completeness * (1 - completeness) / rows)
    return max(math.floor((completeness - margin) * 100) / 100, 0.0)
