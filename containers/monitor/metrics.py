"""CloudWatch metric records (PutMetricData MetricDatum fields) for a monitoring run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from containers.contracts.statistics import Statistics


def metric_dimensions(endpoint_name: str | None, schedule_name: str | None) -> list[dict[str, str]]:
    """`Endpoint` + `MonitoringSchedule` for endpoints; batch jobs have only the schedule."""
    dimensions = []
    if endpoint_name:
        dimensions.append({"Name": "Endpoint", "Value": endpoint_name})
    if schedule_name:
        dimensions.append({"Name": "MonitoringSchedule", "Value": schedule_name})
    return dimensions


def cloudwatch_metric_records(
    statistics: Statistics,
    drift: Mapping[str, float],
    *,
    endpoint_name: str | None,
    schedule_name: str | None,
    timestamp: str,
) -> list[dict[str, Any]]:
    """Per feature: `feature_data_<name>` (numbers: SampleCount/Sum/Minimum/Maximum),
    `feature_non_null_<name>` (completeness) and `feature_baseline_drift_<name>` (when compared)."""
    dimensions = metric_dimensions(endpoint_name, schedule_name)
    records: list[dict[str, Any]] = []

    def datum(name: str, **fields: Any) -> None:
        records.append({"MetricName": name, "Timestamp": timestamp, "Dimensions": dimensions, **fields})

    rows = statistics.dataset.item_count
    for feature in statistics.features:
        numbers = feature.numerical_statistics
        block = numbers or feature.string_statistics
        if numbers is not None and numbers.common.num_present > 0:
            datum(
                f"feature_data_{feature.name}",
                StatisticValues={
                    "SampleCount": float(numbers.common.num_present),
                    "Sum": numbers.sum,
                    "Minimum": numbers.min,
                    "Maximum": numbers.max,
                },
            )
        if block is not None:
            completeness = block.completeness
            if completeness is None:
                completeness = block.common.num_present / rows if rows else 0.0
            datum(f"feature_non_null_{feature.name}", Value=completeness)
        if feature.name in drift:
            datum(f"feature_baseline_drift_{feature.name}", Value=drift[feature.name])
    return records


# Where Model Monitor puts the metrics (tests/fixtures/sagemaker/README.md, item 7); config/naming.py
# holds the same names for the alarms, and a test checks the two agree.
DATA_QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
BATCH_DATA_QUALITY_NAMESPACE = "aws/sagemaker/ModelMonitoring/data-metrics"
BATCH_MODEL_QUALITY_NAMESPACE = "aws/sagemaker/ModelMonitoring/model-metrics"


def metrics_namespace(analysis_type: str, endpoint_name: str | None) -> str:
    """The namespace Model Monitor would publish a run's metrics in (endpoint or batch)."""
    if analysis_type == "MODEL_QUALITY":
        return MODEL_QUALITY_NAMESPACE if endpoint_name else BATCH_MODEL_QUALITY_NAMESPACE
    return DATA_QUALITY_NAMESPACE if endpoint_name else BATCH_DATA_QUALITY_NAMESPACE
