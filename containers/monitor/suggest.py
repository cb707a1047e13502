"""Suggesting constraints.json from baseline statistics (the baselining job's second file)."""

from __future__ import annotations

from containers.contracts.constraints import (
    CategoricalDriftMethod,
    Constraints,
    DistributionConstraints,
    FeatureConstraints,
    MonitoringConfig,
    NumConstraints,
    StringConstraints,
)
from containers.contracts.statistics import Statistics
from containers.monitor.profile import completeness_lower_bound


def suggest_constraints(
    statistics: Statistics, categorical_drift_method: CategoricalDriftMethod = "LInfinity"
) -> Constraints:
    """Per feature: the type, a completeness floor, non-negativity for numbers and the value domain
    of low-cardinality strings; monitoring_config with the analyzer's defaults."""
    rows = statistics.dataset.item_count
    features = []
    for feature in statistics.features:
        numbers, strings = feature.numerical_statistics, feature.string_statistics
        block = numbers or strings
        completeness = block.completeness if block and block.completeness is not None else None
        if completeness is None and block is not None:
            completeness = block.common.num_present / rows if rows else 0.0
        num_constraints = None
        if numbers is not None and numbers.common.num_present:
            num_constraints = NumConstraints(is_non_negative=numbers.min >= 0)
        string_constraints = None
        if strings is not None and strings.distribution is not None:
            string_constraints = StringConstraints(
                domains=[bucket.value for bucket in strings.distribution.categorical.buckets]
            )
        features.append(
            FeatureConstraints(
                name=feature.name,
                inferred_type=feature.inferred_type,
                completeness=completeness_lower_bound(completeness, rows) if completeness is not None else None,
                num_constraints=num_constraints,
                string_constraints=string_constraints,
            )
        )
    return Constraints(
        version=0.0,
        features=features,
        monitoring_config=MonitoringConfig(
            distribution_constraints=DistributionConstraints(categorical_drift_method=categorical_drift_method)
        ),
    )
