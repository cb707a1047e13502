"""Putting the run's metrics into CloudWatch when no Model Monitor does it (the scheduled-job engine).

Model Monitor reads the records the image writes under /opt/ml/output/metrics/cloudwatch and
publishes them; a plain SageMaker Processing job does not, so with `monitoring_engine=scheduled-job`
and `publish_cloudwatch_metrics=Enabled` the image calls PutMetricData itself, with the namespace
and dimensions Model Monitor uses. Region and credentials come from the job's environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from containers.contracts.capture import parse_capture_time
from containers.monitor.errors import MonitorError

# PutMetricData takes at most 1000 data per request; stay well under it.
METRICS_PER_REQUEST = 500


def put_metric_records(records: Sequence[dict[str, Any]], namespace: str, cloudwatch: Any = None) -> int:
    """PutMetricData of the records (timestamps as datetimes); how many were sent."""
    if cloudwatch is None:
        cloudwatch = _cloudwatch_client()
    data = []
    for record in records:
        datum = dict(record)
        if isinstance(datum.get("Timestamp"), str):
            datum["Timestamp"] = parse_capture_time(datum["Timestamp"])
        data.append(datum)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        for start in range(0, len(data), METRICS_PER_REQUEST):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + METRICS_PER_REQUEST])
    except (BotoCoreError, ClientError) as error:
        raise MonitorError(f"cannot put the metrics into CloudWatch namespace {namespace}: {error}") from error
    return len(data)


def _cloudwatch_client() -> Any:
    try:
        import boto3
        from botocore.exceptions import NoRegionError
    except ImportError as error:  # the image pins boto3; a bare checkout may not have it
        raise MonitorError("monitoring_engine scheduled-job needs boto3 to publish metrics") from error
    try:
        return boto3.client("cloudwatch")
    except NoRegionError as error:
        raise MonitorError("no AWS region for CloudWatch: set AWS_REGION (or AWS_DEFAULT_REGION)") from error
