"""Label-leakage checks: a single feature that gives the target away (a copy, a recoding, a threshold).

A model trained with such a column scores perfectly on the test split and sails through any quality
gate, then fails in production where the column is not known at prediction time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

# A feature must be present in at least this share of rows for its verdict to count.
MIN_PRESENT = 0.95
# A categorical feature whose values each cover fewer rows than this on average is an identifier:
# it "determines" the target only because every row has its own value.
MIN_ROWS_PER_VALUE = 5
# |Pearson correlation| from which a numeric feature is a rescaled regression target.
REGRESSION_CORRELATION = 0.9999


def _is_numeric(column: pd.Series) -> bool:
    return ptypes.is_numeric_dtype(column) and not ptypes.is_bool_dtype(column)


# Rows compared first: a copy matches on every row, so a mismatch here settles it without turning
# whole columns into strings (that conversion was most of Preprocess's time on 200,000 rows).
COPY_PROBE_ROWS = 64


def _same_as_strings(feature: pd.Series, target: pd.Series) -> bool:
    return bool((feature.astype(str).to_numpy() == target.astype(str).to_numpy()).all())


def _copy_of_target(feature: pd.Series, target: pd.Series) -> bool:
    probe = min(COPY_PROBE_ROWS, len(feature))
    if not _same_as_strings(feature.iloc[:probe], target.iloc[:probe]):
        return False
    return _same_as_strings(feature, target)


def _classes_in_own_ranges(feature: pd.Series, target: pd.Series) -> bool:
    """Each class occupies an interval of the feature that no other class enters (a perfect threshold)."""
    ranges = feature.groupby(target.to_numpy()).agg(["min", "max"]).sort_values("min")
    if len(ranges) < 2:
        return False
    return bool((ranges["max"].to_numpy()[:-1] < ranges["min"].to_numpy()[1:]).all())


def _values_map_to_one_class(feature: pd.Series, target: pd.Series) -> bool:
    if feature.nunique() * MIN_ROWS_PER_VALUE > len(feature):
        return False
    return bool(target.groupby(feature.astype(str).to_numpy()).nunique().max() == 1)


def _leak_reason(feature: pd.Series, target: pd.Series, problem_type: str) -> str | None:
    if _copy_of_target(feature, target):
        return "is a copy of the target"
    present = feature.notna()
    if present.mean() < MIN_PRESENT:
        return None
    feature, target = feature[present], target[present]
    if problem_type == "Regression":
        if not _is_numeric(feature) or feature.nunique() < 2:
            return None
        numbers = pd.to_numeric(target, errors="coerce").astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = float(np.corrcoef(feature.to_numpy(dtype=float), numbers.to_numpy())[0, 1])
        if np.isfinite(correlation) and abs(correlation) >= REGRESSION_CORRELATION:
            return f"is a linear function of the target (correlation {correlation:.5f})"
        return None
    if _is_numeric(feature) and _classes_in_own_ranges(feature, target):
        return "separates the target's classes with a threshold, without one error"
    if not _is_numeric(feature) and _values_map_to_one_class(feature, target):
        return "has values that each belong to a single class of the target"
    return None


def leaking_features(data: pd.DataFrame, features: Sequence[str], target: str, problem_type: str) -> list[str]:
    """One message per feature that predicts `target` perfectly on its own; empty when none does."""
    found: list[str] = []
    for name in features:
        reason = _leak_reason(data[name], data[target], problem_type)
        if reason is not None:
            found.append(f"feature {name!r} predicts target {target!r} perfectly: it {reason}; "
                         "drop the column (it will not be known when the model is used)")
    return found
