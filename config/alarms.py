"""Drift alarm definitions as data: the Monitoring stack renders them, local mode puts and evaluates them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from config.naming import DATA_QUALITY_NAMESPACE, Names
from config.settings import ConfigError, EnvironmentConfig

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

    def put_metric_alarm_request(self) -> dict[str, Any]:
        """The keyword arguments of boto3 `cloudwatch.put_metric_alarm` for this alarm."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            "Statistic": self.statistic,
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
    """The ARN of the environment's alerts topic (the Monitoring stack creates it under this name)."""
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
