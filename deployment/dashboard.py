"""The per-environment CloudWatch dashboard body: traffic, latency, errors, drift, model quality, job health."""

from __future__ import annotations

from typing import Any

from config.naming import DATA_QUALITY_NAMESPACE, Names
from config.settings import EnvironmentConfig
from deployment.alarms import (
    ENDPOINT_NAMESPACE,
    AlarmSpec,
    endpoint_alarms,
    model_quality_alarm,
    monitoring_not_run_alarm,
    schedule_period_seconds,
)
from deployment.endpoint import VARIANT

WIDTH = 12
HEIGHT = 6


def _graph(title: str, metrics: list[list[Any]], region: str, period: int, stat: str, *,
           annotation: float | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"title": title, "metrics": metrics, "region": region, "period": period,
                                  "stat": stat, "view": "timeSeries"}
    if annotation is not None:
        properties["annotations"] = {"horizontal": [{"value": annotation, "label": "alarm threshold"}]}
    return {"type": "metric", "width": WIDTH, "height": HEIGHT, "properties": properties}


def status_alarms(env: EnvironmentConfig) -> list[AlarmSpec]:
    not_run = monitoring_not_run_alarm(env)
    return [*([not_run] if not_run else []), model_quality_alarm(env), *endpoint_alarms(env)]


def dashboard_body(env: EnvironmentConfig) -> dict[str, Any]:
    names = Names.of(env)
    region = env.region
    endpoint = ["EndpointName", names.endpoint, "VariantName", VARIANT]
    monitored = ["Endpoint", names.endpoint, "MonitoringSchedule", names.monitoring_schedule]
    period = schedule_period_seconds(env.monitoring.schedule)
    quality = model_quality_alarm(env)
    quality_dimensions = [part for pair in quality.dimensions for part in pair]
    widgets = [
        _graph("Invocations", [[ENDPOINT_NAMESPACE, "Invocations", *endpoint]], region, 60, "Sum"),
        _graph("Model latency p99 (microseconds)", [[ENDPOINT_NAMESPACE, "ModelLatency", *endpoint]], region, 60,
               "p99", annotation=env.endpoint.latency_p99_ms * 1000.0),
        _graph("Errors", [[ENDPOINT_NAMESPACE, "Invocation5XXErrors", *endpoint],
                          [ENDPOINT_NAMESPACE, "Invocation4XXErrors", *endpoint]], region, 60, "Sum"),
        _graph("Drift per feature (baseline distance)",
               [[DATA_QUALITY_NAMESPACE, names.drift_metric(feature), *monitored]
                for feature in env.monitoring.features],
               region, period, "Maximum", annotation=env.monitoring.drift_threshold),
        _graph(f"Model quality: {quality.metric_name} against ground truth",
               [[quality.namespace, quality.metric_name, *quality_dimensions]], region, period, quality.statistic,
               annotation=quality.threshold),
        {"type": "alarm", "width": WIDTH, "height": HEIGHT, "properties": {
            "title": "Monitoring job status and alarms", "alarms": [
                names.arn("cloudwatch", f"alarm:{alarm.name}") for alarm in status_alarms(env)]}},
    ]
    return {"widgets": widgets}
