"""Alarm definitions as data: the Monitoring stack renders them, local mode puts and evaluates them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.naming import DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, Names
from config.settings import ConfigError, EnvironmentConfig
from deployment.endpoint import VARIANT

# Model Monitor publishes one datapoint per feature per monitoring run, so the alarm looks at one
# schedule interval and alarms on the first breaching run.
STATISTIC = "Maximum"
EVALUATION_PERIODS = 1
DATAPOINTS_TO_ALARM = 1
COMPARISON = "GreaterThanThreshold"
# No datapoint means no traffic in that interval, which is not drift.
TREAT_MISSING_DATA = "notBreaching"
HOUR = 3600
DAY = 24 * HOUR
MAX_NAME_LENGTH = 255

ENDPOINT_NAMESPACE = "AWS/SageMaker"
MINUTE = 60
_PERCENTILE = re.compile(r"^p\d{1,2}(\.\d+)?$")

_FEATURE = re.compile(r"^[A-Za-z0-9_]+$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_EVERY_N_HOURS = re.compile(r"^(?:\*|\d{1,2})/(\d{1,2})$")


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch metric alarm, in the words of PutMetricAlarm (and of CDK's CfnAlarm)."""

    name: str
    description: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison_operator: str
    treat_missing_data: str
    alarm_actions: tuple[str, ...]
    ok_actions: tuple[str, ...] = ()

    @property
    def is_percentile(self) -> bool:
        """`p99` and the like are CloudWatch's ExtendedStatistic, not its Statistic."""
        return bool(_PERCENTILE.match(self.statistic))

    def put_metric_alarm_request(self) -> dict[str, Any]:
        """The keyword arguments of boto3 `cloudwatch.put_metric_alarm` for this alarm."""
        statistic = {"ExtendedStatistic" if self.is_percentile else "Statistic": self.statistic}
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            **statistic,
            "Period": self.period_seconds,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison_operator,
            "TreatMissingData": self.treat_missing_data,
            "ActionsEnabled": True,
            "AlarmActions": list(self.alarm_actions),
            "OKActions": list(self.ok_actions),
        }


def alerts_topic_arn(names: Names) -> str:
    """The ARN of the environment's alerts topic (the alerts stack creates it under this name)."""
    return names.arn("sns", names.alerts_topic)


def schedule_period_seconds(expression: str) -> int:
    """The interval between two monitoring runs of a schedule expression, in seconds.

    Model Monitor accepts hourly or coarser cron schedules; anything this does not recognise
    counts as hourly, the most frequent interval the service allows.
    """
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2)
        seconds = {"minute": 60, "hour": HOUR, "day": DAY}[unit.rstrip("s")]
        return max(HOUR, count * seconds)
    cron = _CRON.match(expression)
    if cron:
        fields = cron.group(1).split()
        if len(fields) >= 2:
            hours = fields[1]
            if hours == "*":
                return HOUR
            every = _EVERY_N_HOURS.match(hours)
            if every:
                return max(1, int(every.group(1))) * HOUR
            if hours.isdigit():
                return DAY
    return HOUR


def drift_alarms(env: EnvironmentConfig, features: Sequence[str]) -> list[AlarmSpec]:
    """One alarm per feature on its baseline drift distance, in the order the features are given."""
    names = Names.of(env)
    seen: set[str] = set()
    alarms = []
    topic = alerts_topic_arn(names)
    dimensions = tuple(names.metric_dimensions.items())
    period = schedule_period_seconds(env.monitoring.schedule)
    for feature in features:
        if not _FEATURE.match(feature):
            raise ConfigError(
                f"environment {env.name!r}: feature name {feature!r} cannot name a metric or alarm; "
                "use letters, digits and underscores (preprocess sanitizes names so)"
            )
        if feature in seen:
            raise ConfigError(f"environment {env.name!r}: feature {feature!r} is listed twice")
        seen.add(feature)
        name = names.drift_alarm(feature)
        if len(name) > MAX_NAME_LENGTH:
            raise ConfigError(f"environment {env.name!r}: alarm name for feature {feature!r} is too long")
        alarms.append(
            AlarmSpec(
                name=name,
                description=(
                    f"Data drift of feature {feature!r} on endpoint {names.endpoint}: baseline distance above "
                    f"{env.monitoring.drift_threshold:g} (monitoring.drift_threshold)"
                ),
                namespace=DATA_QUALITY_NAMESPACE,
                metric_name=names.drift_metric(feature),
                dimensions=dimensions,
                statistic=STATISTIC,
                period_seconds=period,
                evaluation_periods=EVALUATION_PERIODS,
                datapoints_to_alarm=DATAPOINTS_TO_ALARM,
                threshold=env.monitoring.drift_threshold,
                comparison_operator=COMPARISON,
                treat_missing_data=TREAT_MISSING_DATA,
                alarm_actions=(topic,),
            )
        )
    return alarms


def monitored_drift_alarms(env: EnvironmentConfig, baseline_features: Sequence[str]) -> list[AlarmSpec]:
    """The drift alarms of `monitoring.features`, each of which must be a feature of the served baseline."""
    missing = [feature for feature in env.monitoring.features if feature not in set(baseline_features)]
    if missing:
        raise ConfigError(
            f"environment {env.name!r}: monitoring.features {missing} are not features of the served version's "
            f"drift baseline ({len(baseline_features)} features)"
        )
    return drift_alarms(env, env.monitoring.features)


def _alarm(names: Names, part: str, description: str, **fields: Any) -> AlarmSpec:
    return AlarmSpec(name=names.alarm(part), description=description, alarm_actions=(alerts_topic_arn(names),),
                     **fields)


def endpoint_alarms(env: EnvironmentConfig) -> list[AlarmSpec]:
    """5XX errors and p99 model latency of the served variant; the canary rolls back on both."""
    names = Names.of(env)
    dimensions = (("EndpointName", names.endpoint), ("VariantName", VARIANT))
    latency_us = env.endpoint.latency_p99_ms * 1000  # ModelLatency is in microseconds
    return [
        _alarm(names, "endpoint-5xx",
               f"{names.endpoint}: {env.endpoint.errors_5xx_per_minute}+ 5XX errors a minute, two minutes running "
               "(endpoint.errors_5xx_per_minute); rolls back a canary update",
               namespace=ENDPOINT_NAMESPACE, metric_name="Invocation5XXErrors", dimensions=dimensions,
               statistic="Sum", period_seconds=MINUTE, evaluation_periods=2, datapoints_to_alarm=2,
               threshold=float(env.endpoint.errors_5xx_per_minute),
               comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="notBreaching"),
        _alarm(names, "endpoint-p99-latency",
               f"{names.endpoint}: p99 model latency above {env.endpoint.latency_p99_ms} ms in 2 of 3 minutes "
               "(endpoint.latency_p99_ms); rolls back a canary update",
               namespace=ENDPOINT_NAMESPACE, metric_name="ModelLatency", dimensions=dimensions,
               statistic="p99", period_seconds=MINUTE, evaluation_periods=3, datapoints_to_alarm=2,
               threshold=float(latency_us), comparison_operator="GreaterThanThreshold",
               treat_missing_data="notBreaching"),
    ]


def model_quality_alarm(env: EnvironmentConfig) -> AlarmSpec:
    """The quality-gate metric as the model-quality job measures it against ground truth."""
    names = Names.of(env)
    gate = env.quality_gate
    higher = gate.direction == "higher"
    return _alarm(
        names, "model-quality",
        f"{names.endpoint}: {gate.metric} against ground truth {'below' if higher else 'above'} "
        f"{gate.threshold:g} (quality_gate.threshold); no ground truth in a window is not an alarm",
        namespace=MODEL_QUALITY_NAMESPACE, metric_name=gate.metric,
        dimensions=(("Endpoint", names.endpoint), ("MonitoringSchedule", names.model_quality_schedule)),
        statistic="Minimum" if higher else "Maximum",
        period_seconds=schedule_period_seconds(env.monitoring.schedule),
        evaluation_periods=EVALUATION_PERIODS, datapoints_to_alarm=DATAPOINTS_TO_ALARM, threshold=gate.threshold,
        comparison_operator="LessThanThreshold" if higher else "GreaterThanThreshold",
        treat_missing_data=TREAT_MISSING_DATA,
    )


def monitoring_not_run_alarm(env: EnvironmentConfig) -> AlarmSpec | None:
    """Every data-quality run publishes completeness per feature: two schedule periods without it mean the
    job failed, did not run, or found no capture (no traffic) -- each worth a look."""
    if not env.monitoring.features:
        return None
    names = Names.of(env)
    feature = env.monitoring.features[0]
    return _alarm(
        names, "monitoring-not-run",
        f"No data-quality result for {names.endpoint} in two schedule periods: the monitoring job failed, "
        "did not run, or the endpoint captured nothing",
        namespace=DATA_QUALITY_NAMESPACE, metric_name=f"feature_non_null_{feature}",
        dimensions=tuple(names.metric_dimensions.items()), statistic="SampleCount",
        period_seconds=schedule_period_seconds(env.monitoring.schedule), evaluation_periods=2,
        datapoints_to_alarm=2, threshold=1.0, comparison_operator="LessThanThreshold",
        treat_missing_data="breaching",
    )


def monitoring_alarms(env: EnvironmentConfig) -> list[AlarmSpec]:
    """Every alarm of a monitored endpoint: drift per feature, model quality, not run."""
    alarms = [*drift_alarms(env, env.monitoring.features), model_quality_alarm(env)]
    not_run = monitoring_not_run_alarm(env)
    return alarms + ([not_run] if not_run else [])
