"""Monitoring checks: drift on shifted data, none on the same distribution, column and value checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from containers.contracts.constraints import Constraints
from containers.contracts.statistics import Statistics
from containers.monitor.checks import evaluate, type_match_share
from containers.monitor.drift import chi_squared_survival, linf_distance
from containers.monitor.profile import compute_statistics
from containers.monitor.suggest import suggest_constraints


def _frame(seed: int, n: int = 4000, shift: float = 0.0, cities: tuple[float, ...] = (0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": pd.array(rng.integers(18, 90, n), dtype="Int64"),
            "income": pd.array(rng.normal(50_000 + shift * 8_000, 8_000, n).round(2), dtype="Float64"),
            "city": pd.array(rng.choice(["lyon", "oslo", "rome"], n, p=list(cities)), dtype="string"),
        }
    )


@pytest.fixture(scope="module")
def baseline() -> tuple[Statistics, Constraints]:
    statistics = compute_statistics(_frame(seed=1))
    return statistics, suggest_constraints(statistics)


def _checks(outcome_violations: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(v.feature_name, v.constraint_check_type) for v in outcome_violations}


def test_same_distribution_gives_no_violations_and_small_distances(baseline: tuple[Statistics, Constraints]) -> None:
    statistics, constraints = baseline
    outcome = evaluate(_frame(seed=2), constraints, statistics)
    assert outcome.violations == []
    assert set(outcome.drift) == {"age", "income", "city"}
    assert max(outcome.drift.values()) < 0.05


def test_shifted_numeric_feature_raises_baseline_drift_check(baseline: tuple[Statistics, Constraints]) -> None:
    statistics, constraints = baseline
    live = _frame(seed=3, shift=1.0)
    outcome = evaluate(live, constraints, statistics)
    assert _checks(outcome.violations) == {("income", "baseline_drift_check")}
    # A one-sigma shift of a normal moves the CDF by up to ~0.38 (2*Phi(0.5)-1).
    assert outcome.drift["income"] == pytest.approx(0.38, abs=0.04)
    description = outcome.violations[0].description
    assert description.startswith("Baseline drift distance: ")
    distance, threshold = (float(part) for part in description.split("distance: ")[1].split(" exceeds threshold: "))
    assert distance == outcome.drift["income"]
    assert threshold == 0.1


def test_categorical_frequency_shift_is_drift_by_linfinity_and_chisquared(
    baseline: tuple[Statistics, Constraints],
) -> None:
    statistics, constraints = baseline
    live = _frame(seed=4, cities=(0.2, 0.3, 0.5))
    linf = evaluate(live, constraints, statistics)
    assert ("city", "baseline_drift_check") in _checks(linf.violations)
    assert linf.drift["city"] == pytest.approx(0.3, abs=0.03)
    chi = evaluate(live, constraints, statistics, categorical_drift_method="ChiSquared")
    assert ("city", "baseline_drift_check") in _checks(chi.violations)
    same = evaluate(_frame(seed=5), constraints, statistics, categorical_drift_method="ChiSquared")
    assert ("city", "baseline_drift_check") not in _checks(same.violations)


def test_missing_and_extra_columns_are_reported_by_name(baseline: tuple[Statistics, Constraints]) -> None:
    statistics, constraints = baseline
    live = _frame(seed=6).drop(columns=["city"]).assign(_c3=pd.array([1] * 4000, dtype="Int64"))
    outcome = evaluate(live, constraints, statistics)
    checks = _checks(outcome.violations)
    assert ("city", "missing_column_check") in checks
    assert ("_c3", "extra_column_check") in checks
    extra = next(v for v in outcome.violations if v.constraint_check_type == "extra_column_check")
    assert "Number of columns in current dataset: 3, Number of columns in baseline constraints: 3" in extra.description


def test_completeness_type_and_domain_violations(baseline: tuple[Statistics, Constraints]) -> None:
    statistics, constraints = baseline
    live = _frame(seed=8)
    live["age"] = pd.array(np.where(np.arange(4000) % 4 == 0, 30.5, 40.0), dtype="Float64")
    live.loc[::2, "income"] = pd.NA
    live.loc[::5, "city"] = "paris"
    outcome = evaluate(live, constraints, statistics)
    by_check = {(v.feature_name, v.constraint_check_type): v.description for v in outcome.violations}
    assert by_check[("age", "data_type_check")] == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: 100.0%. "
        "Observed: Only 75.0% of data is Integral."
    )
    assert "Only 50.0% of data is present" in by_check[("income", "completeness_check")]
    assert ("city", "categorical_values_check") in by_check


def test_type_match_share_counts_text_and_whole_numbers() -> None:
    assert type_match_share(pd.Series(["1", "2", "x", None], dtype="string"), "Integral") == pytest.approx(2 / 3)
    assert type_match_share(pd.Series([1.5, 2.0]), "Integral") == 0.5
    assert type_match_share(pd.Series([1.5, 2.0]), "Fractional") == 1.0
    assert type_match_share(pd.Series(["a"]), "Unknown") is None


def test_disabled_evaluation_reports_distances_but_no_violations(baseline: tuple[Statistics, Constraints]) -> None:
    statistics, constraints = baseline
    relaxed = constraints.model_copy(deep=True)
    relaxed.monitoring_config.evaluate_constraints = "Disabled"
    outcome = evaluate(_frame(seed=9, shift=2.0), relaxed, statistics)
    assert outcome.violations == []
    assert outcome.drift["income"] > 0.5


def test_chi_squared_survival_matches_scipy() -> None:
    from scipy.stats import chi2

    for statistic, degrees in [(0.5, 1), (3.0, 2), (10.0, 3), (50.0, 10), (200.0, 40), (1.0, 30)]:
        assert chi_squared_survival(statistic, degrees) == pytest.approx(
            chi2.sf(statistic, degrees), rel=1e-9, abs=1e-15
        )


def test_linfinity_counts_unseen_values_as_zero_frequency() -> None:
    assert linf_distance({"a": 5, "b": 5}, {"a": 5, "c": 5}) == 0.5


def _with_thresholds(constraints: Constraints, numeric: float, categorical: float) -> Constraints:
    """The suggested constraints with the thresholds a schedule sets from `monitoring.drift_threshold`."""
    document = constraints.model_dump(mode="json")
    distribution = document["monitoring_config"]["distribution_constraints"]
    distribution["comparison_threshold"] = numeric
    distribution["categorical_comparison_threshold"] = categorical
    return Constraints.model_validate(document)


def test_drift_is_judged_by_the_constraints_thresholds_not_the_suggested_0_1(
    baseline: tuple[Statistics, Constraints],
) -> None:
    statistics, constraints = baseline
    live = _frame(seed=3, shift=1.0).assign(city=_frame(seed=4, cities=(0.2, 0.3, 0.5))["city"])
    distances = evaluate(live, constraints, statistics).drift
    # Both drifts lie between the suggested 0.1 and a configured 0.45: no violation at 0.45 ...
    assert 0.1 < distances["income"] < 0.45
    assert 0.1 < distances["city"] < 0.45
    assert _checks(evaluate(live, _with_thresholds(constraints, 0.45, 0.45), statistics).violations) == set()
    # ... and at 0.2 both are violations that name 0.2, not 0.1.
    strict = evaluate(live, _with_thresholds(constraints, 0.2, 0.2), statistics).violations
    assert _checks(strict) == {("income", "baseline_drift_check"), ("city", "baseline_drift_check")}
    assert all(v.description.endswith("exceeds threshold: 0.2") for v in strict)
