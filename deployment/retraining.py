"""When the pipeline retrains by itself: on a drift alarm, and on the training schedule."""

from __future__ import annotations

from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig


def drift_alarm_prefix(names: Names) -> str:
    return names.drift_alarm("")


def drift_alarm_event_pattern(names: Names) -> dict[str, Any]:
    """A drift alarm of this environment going into ALARM (CloudWatch's own event)."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [{"prefix": drift_alarm_prefix(names)}], "state": {"value": ["ALARM"]}},
    }


def retrains_on_drift(env: EnvironmentConfig) -> bool:
    return env.monitoring.retrain_on_drift and bool(env.monitoring.features)


def training_schedule(env: EnvironmentConfig) -> str | None:
    return env.training.schedule
