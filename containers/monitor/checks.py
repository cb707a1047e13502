"""Monitoring: checking live data against baseline constraints and statistics (the violations)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from containers.contracts.constraints import CategoricalDriftMethod, Constraints, FeatureConstraints
from containers.contracts.statistics import FeatureStatistics, InferredType, Statistics
from containers.contracts.violations import CheckType, Violation
from containers.monitor.drift import (
    baseline_value_counts,
    categorical_drift_distance,
    categorical_threshold,
    numeric_drift_distance,
)
from containers.monitor.profile import PROFILE_THREADS, ColumnViews, numeric_values, present_value_counts


@dataclass(frozen=True)
class MonitoringOutcome:
    """The violations found and the drift distance of every feature that could be compared."""

    violations: list[Violation] = field(default_factory=list)
    drift: dict[str, float] = field(default_factory=dict)


def _percent(share: float) -> str:
    return repr(float(share * 100))


def _violation(feature: str, check: CheckType, description: str) -> Violation:
    return Violation(feature_name=feature, constraint_check_type=check, description=description)


def data_type_description(expected: str, threshold: float, share: float) -> str:
    # Wording of the current analyzer (reference constraint_violations.data_type_check_newer).
    return (
        f"Data type match requirement is not met. Expected data type: {expected}, "
        f"Expected match: {_percent(threshold)}%. Observed: Only {_percent(share)}% of data is {expected}."
    )


def completeness_description(expected: float, observed: float) -> str:
    return (
        f"Data completeness requirement is not met. Expected completeness: {_percent(expected)}%. "
        f"Observed: Only {_percent(observed)}% of data is present."
    )


def categorical_values_description(threshold: float, share: float) -> str:
    return (
        f"Data content match requirement is not met. Expected match: {_percent(threshold)}%. "
        f"Observed: Only {_percent(share)}% of data is within the baseline domain."
    )


def drift_description(distance: float, threshold: float) -> str:
    # AWS samples parse this exact shape: "... distance: <x> exceeds threshold: <y>".
    return f"Baseline drift distance: {distance!r} exceeds threshold: {threshold!r}"


def column_count_description(kind: str, live_columns: int, baseline_columns: int) -> str:
    return (
        f"There are {kind} columns in current dataset. Number of columns in current dataset: "
        f"{live_columns}, Number of columns in baseline constraints: {baseline_columns}"
    )


def type_match_share(
    series: pd.Series, expected: InferredType, views: ColumnViews | None = None, name: str | None = None
) -> float | None:
    """Share of present values that are of the expected type (None: nothing to check).

    Numbers: integer columns match both numeric types; float columns match Fractional, and
    Integral for whole values; text counts when it parses as a number (whole, for Integral);
    booleans never. String (Deequ's value classes): a value is a String when it is not a number,
    so a String constraint on a numeric column is violated (the SDK's "bad case" constraints).
    """
    if expected not in ("Integral", "Fractional", "String"):
        return None
    present = int(series.notna().sum())
    if present == 0:
        return None
    dtype = series.dtype
    if expected == "String":
        return _string_share(series, present, views.counts(name) if views and name else None)
    if pd.api.types.is_bool_dtype(dtype):
        return 0.0
    if pd.api.types.is_integer_dtype(dtype):
        return 1.0
    values = views.numbers(name) if views and name else numeric_values(series)
    if expected == "Fractional" and pd.api.types.is_float_dtype(dtype):
        return float(values.size - np.count_nonzero(np.isinf(values))) / present
    matching = np.isfinite(values)
    if expected == "Integral":
        matching &= values == np.floor(values)
    return float(np.count_nonzero(matching)) / present


def _string_share(series: pd.Series, present: int, counts: pd.Series | None = None) -> float:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return 1.0  # our profile calls boolean columns String
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return 0.0
    # Classify each distinct value once: categorical columns have few of them.
    if counts is None:
        counts = present_value_counts(series)
    parsed = pd.to_numeric(pd.Series(counts.index.astype(str)), errors="coerce")
    numbers = int(counts.to_numpy()[parsed.notna().to_numpy()].sum())
    return (present - numbers) / present


def _completeness(series: pd.Series) -> float:
    return float(series.notna().sum()) / len(series) if len(series) else 0.0


def _feature_checks(
    name: str, series: pd.Series, constraint: FeatureConstraints, constraints: Constraints, views: ColumnViews
) -> list[Violation]:
    config = constraints.monitoring_config
    found = []
    if constraint.completeness is not None:
        observed = _completeness(series)
        if observed < constraint.completeness:
            found.append(
                _violation(name, "completeness_check", completeness_description(constraint.completeness, observed))
            )
    share = type_match_share(series, constraint.inferred_type, views, name)
    if share is not None and share < config.datatype_check_threshold:
        found.append(
            _violation(
                name,
                "data_type_check",
                data_type_description(constraint.inferred_type, config.datatype_check_threshold, share),
            )
        )
    if constraint.string_constraints is not None:
        counts = views.counts(name)
        total = int(counts.sum())
        if total:
            inside = counts.index.isin(constraint.string_constraints.domains)
            in_domain = float(counts.to_numpy()[inside].sum()) / total
            if in_domain < config.domain_content_threshold:
                found.append(
                    _violation(
                        name,
                        "categorical_values_check",
                        categorical_values_description(config.domain_content_threshold, in_domain),
                    )
                )
    return found


def _feature_drift(feature: FeatureStatistics, views: ColumnViews, method: CategoricalDriftMethod) -> float | None:
    if feature.numerical_statistics is not None:
        return numeric_drift_distance(feature.numerical_statistics, views.numbers(feature.name))
    if feature.string_statistics is not None:
        base_counts = baseline_value_counts(feature.string_statistics)
        live_counts = {str(k): int(v) for k, v in views.counts(feature.name).items()}
        if base_counts and live_counts:
            return categorical_drift_distance(base_counts, live_counts, method)
    return None


def drift_distances(
    frame: pd.DataFrame, baseline: Statistics, method: CategoricalDriftMethod, views: ColumnViews | None = None
) -> dict[str, float]:
    """The drift distance of each feature present in both the baseline and the live frame."""
    shared = [feature for feature in baseline.features if feature.name in frame.columns]
    columns = views if views is not None else ColumnViews(frame)
    with ThreadPoolExecutor(max_workers=PROFILE_THREADS) as pool:
        found = list(pool.map(lambda feature: _feature_drift(feature, columns, method), shared))
    return {feature.name: distance for feature, distance in zip(shared, found, strict=True) if distance is not None}


def evaluate(
    frame: pd.DataFrame,
    constraints: Constraints,
    baseline: Statistics | None = None,
    categorical_drift_method: CategoricalDriftMethod | None = None,
    views: ColumnViews | None = None,
) -> MonitoringOutcome:
    """All checks of a monitoring run: column set, completeness, data type, domain, baseline drift.

    `categorical_drift_method` (the job's env var) overrides the constraints' setting.
    """
    config = constraints.monitoring_config
    distribution = config.distribution_constraints
    method = categorical_drift_method or distribution.categorical_drift_method
    views = views if views is not None else ColumnViews(frame)
    drift = (
        drift_distances(frame, baseline, method, views)
        if baseline is not None and distribution.perform_comparison == "Enabled"
        else {}
    )
    if config.evaluate_constraints != "Enabled":
        return MonitoringOutcome(violations=[], drift=drift)
    live_names = [str(name) for name in frame.columns]
    baseline_names = [feature.name for feature in constraints.features]
    counts = (len(live_names), len(baseline_names))
    violations = [
        _violation(name, "missing_column_check", column_count_description("missing", *counts))
        for name in baseline_names
        if name not in frame.columns
    ]
    violations += [
        _violation(name, "extra_column_check", column_count_description("extra", *counts))
        for name in live_names
        if name not in baseline_names
    ]
    numeric = {feature.name for feature in baseline.features if feature.numerical_statistics} if baseline else set()
    for constraint in constraints.features:
        if constraint.name not in frame.columns:
            continue
        violations += _feature_checks(constraint.name, frame[constraint.name], constraint, constraints, views)
        distance = drift.get(constraint.name)
        if distance is None:
            continue
        threshold = (
            distribution.comparison_threshold
            if constraint.name in numeric
            else categorical_threshold(method, distribution.categorical_comparison_threshold)
        )
        if distance > threshold:
            description = drift_description(distance, threshold)
            violations.append(_violation(constraint.name, "baseline_drift_check", description))
    return MonitoringOutcome(violations=violations, drift=drift)
