"""What a teardown removes and the endpoint's time-to-live, as data: read by `mlops teardown` and the
endpoint stack's hourly teardown Lambda, so both remove the same resources (mlops/teardown.py does it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig

# The Lambda's one environment variable: the targets as JSON, keyed as mlops.teardown.TeardownTargets'
# fields (that module ships alone in the Lambda, so it cannot import this one; a test ties the two).
TARGETS_VARIABLE = "MLOPS_TEARDOWN_TARGETS"

# The teardown checks the endpoint's age once an hour: it goes at most an hour after its time-to-live.
TIME_TO_LIVE_CHECK = "rate(1 hour)"


def teardown_targets(env: EnvironmentConfig, *, studio: bool = True) -> dict[str, Any]:
    """The environment's endpoint, its monitoring schedules (either engine's, same names) and Studio domain."""
    names = Names.of(env)
    return {"endpoint": names.endpoint, "schedules": [names.monitoring_schedule, names.model_quality_schedule],
            "studio_domain": names.studio_domain if studio else None}


@dataclass(frozen=True)
class TimeToLiveSpec:
    """An hourly rule runs the teardown Lambda, which removes the endpoint once it is `hours` old."""

    hours: int
    name: str
    schedule_expression: str
    environment: dict[str, str]
    endpoint_arn: str
    endpoint_config_arn_pattern: str
    monitoring_schedule_arns: tuple[str, ...]
    scheduler_schedule_arns: tuple[str, ...]


def time_to_live_spec(env: EnvironmentConfig) -> TimeToLiveSpec | None:
    hours = env.endpoint.time_to_live_hours
    if hours is None:
        return None
    names = Names.of(env)
    # Studio apps have their own idle shutdown (experimentation stack): the timer removes serving only.
    targets = {**teardown_targets(env, studio=False), "older_than_hours": hours}
    schedules = (names.monitoring_schedule, names.model_quality_schedule)
    return TimeToLiveSpec(
        hours=hours, name=names.endpoint_teardown, schedule_expression=TIME_TO_LIVE_CHECK,
        environment={TARGETS_VARIABLE: json.dumps(targets, sort_keys=True)},
        endpoint_arn=names.arn("sagemaker", f"endpoint/{names.endpoint}"),
        # Configs are named per served version (<endpoint>-v<N>).
        endpoint_config_arn_pattern=names.arn("sagemaker", f"endpoint-config/{names.endpoint}-v*"),
        monitoring_schedule_arns=tuple(names.arn("sagemaker", f"monitoring-schedule/{name}") for name in schedules),
        scheduler_schedule_arns=tuple(names.arn("scheduler", f"schedule/default/{name}") for name in schedules),
    )
