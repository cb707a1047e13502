"""Statistics and suggested constraints of a generated frame, checked against numpy/pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from containers.monitor.profile import completeness_lower_bound, compute_statistics, infer_type
from containers.monitor.sketch import approximate_distinct_count, empirical_cdf, quantile_sketch, sketch_cdf
from containers.monitor.suggest import suggest_constraints


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 1000
    ages = pd.array(rng.integers(18, 90, n), dtype="Int64")
    ages[::10] = pd.NA  # integers with gaps must stay Integral
    income = rng.normal(50_000, 8_000, n).round(2)
    income[::25] = np.nan
    return pd.DataFrame(
        {
            "age": ages,
            "income": pd.array(income, dtype="Float64"),
            "balance": pd.array(rng.normal(0, 1, n), dtype="Float64"),
            "city": pd.array(rng.choice(["lyon", "oslo", "rome"], n, p=[0.5, 0.3, 0.2]), dtype="string"),
            "empty": pd.array([None] * n, dtype="Float64"),
        }
    )


def test_inferred_types_are_integral_fractional_string_unknown(frame: pd.DataFrame) -> None:
    statistics = compute_statistics(frame)
    assert [f.inferred_type for f in statistics.features] == [
        "Integral",
        "Fractional",
        "Fractional",
        "String",
        "Unknown",
    ]
    assert infer_type(pd.Series([True, False])) == "String"


def test_numeric_statistics_match_numpy(frame: pd.DataFrame) -> None:
    statistics = compute_statistics(frame)
    for name in ("age", "income"):
        feature = statistics.feature(name)
        assert feature is not None
        assert feature.numerical_statistics is not None
        numbers = feature.numerical_statistics
        values = frame[name].dropna().to_numpy(dtype=float)
        assert numbers.common.num_present == values.size
        assert numbers.common.num_missing == len(frame) - values.size
        assert numbers.sum == pytest.approx(values.sum())
        assert numbers.mean == pytest.approx(values.mean())
        assert numbers.std_dev == pytest.approx(values.std(ddof=0))  # population, like the analyzer
        assert (numbers.min, numbers.max) == (values.min(), values.max())
        assert numbers.completeness == pytest.approx(values.size / len(frame))
        assert numbers.approximate_num_distinct_values == len(np.unique(values))
        kll = numbers.distribution.kll  # type: ignore[union-attr]
        counts, edges = np.histogram(values, bins=10, range=(values.min(), values.max()))
        assert [b.count for b in kll.buckets] == [float(c) for c in counts]
        assert [b.lower_bound for b in kll.buckets] == pytest.approx(edges[:-1].tolist())
        assert sum(len(level) << i for i, level in enumerate(kll.sketch.data)) == values.size


def test_string_statistics_count_values_like_pandas(frame: pd.DataFrame) -> None:
    city = compute_statistics(frame).feature("city")
    assert city is not None
    assert city.string_statistics is not None
    expected = frame["city"].value_counts()
    buckets = city.string_statistics.distribution.categorical.buckets  # type: ignore[union-attr]
    assert {b.value: b.count for b in buckets} == expected.to_dict()
    assert city.string_statistics.distinct_count == 3.0
    assert buckets[0].value == "lyon"  # most frequent first


def test_suggested_constraints_carry_types_completeness_sign_and_domains(frame: pd.DataFrame) -> None:
    constraints = suggest_constraints(compute_statistics(frame))
    by_name = {f.name: f for f in constraints.features}
    assert by_name["age"].num_constraints is not None
    assert by_name["age"].num_constraints.is_non_negative
    assert by_name["balance"].num_constraints is not None
    assert not by_name["balance"].num_constraints.is_non_negative
    assert by_name["city"].string_constraints is not None
    assert sorted(by_name["city"].string_constraints.domains) == ["lyon", "oslo", "rome"]
    assert by_name["city"].completeness == 1.0
    assert by_name["age"].completeness == completeness_lower_bound(0.9, len(frame)) < 0.9
    assert constraints.monitoring_config.distribution_constraints.comparison_threshold == 0.1


def test_high_cardinality_strings_have_no_distribution() -> None:
    frame = pd.DataFrame({"id": pd.array([f"id-{i}" for i in range(500)], dtype="string")})
    feature = compute_statistics(frame).features[0]
    assert feature.string_statistics is not None
    assert feature.string_statistics.distribution is None
    assert feature.string_statistics.distinct_count == 500.0


def test_large_column_sketch_and_distinct_count_stay_accurate() -> None:
    values = np.random.default_rng(3).normal(size=400_000).round(4)
    exact = len(np.unique(values))
    assert approximate_distinct_count(values) == pytest.approx(exact, rel=0.03)
    levels = quantile_sketch(values)
    assert sum(len(level) << i for i, level in enumerate(levels)) == values.size
    assert max(len(level) for level in levels) <= 2048
    points = np.array([-1.0, 0.0, 1.0])
    truth = np.array([(values <= p).mean() for p in points])
    assert np.abs(sketch_cdf(levels, points) - truth).max() < 0.03


def test_empirical_cdf_is_exact_with_ties_on_the_grid() -> None:
    values = np.random.default_rng(4).normal(size=50_000).round(2)
    points = np.unique(np.concatenate([np.linspace(-3, 3, 11), [0.01, 0.02, 5.0]]))
    expected = np.searchsorted(np.sort(values), points, side="right") / values.size
    assert np.array_equal(empirical_cdf(values, points), expected)
