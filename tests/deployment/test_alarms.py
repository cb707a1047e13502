"""Drift alarm definitions: names, metric, threshold and topic from one place, valid for CloudWatch."""

from __future__ import annotations

import pandas as pd
import pytest
from moto import mock_aws

from config.naming import DATA_QUALITY_NAMESPACE, Names
from config.settings import ConfigError, EnvironmentConfig
from deployment.alarms import alerts_topic_arn, drift_alarms, schedule_period_seconds


def test_one_alarm_per_feature_on_its_drift_metric(environments: dict[str, EnvironmentConfig]) -> None:
    env = environments["prod"]
    names = Names.of(env)
    alarms = drift_alarms(env, ["mean_radius", "color"])
    assert [alarm.name for alarm in alarms] == [names.drift_alarm("mean_radius"), names.drift_alarm("color")]
    first = alarms[0]
    assert first.metric_name == names.drift_metric("mean_radius")
    assert first.namespace == DATA_QUALITY_NAMESPACE
    assert dict(first.dimensions) == names.metric_dimensions
    assert first.threshold == env.monitoring.drift_threshold
    assert first.comparison_operator == "GreaterThanThreshold"
    assert first.alarm_actions == (alerts_topic_arn(names),)
    assert alerts_topic_arn(names) == f"arn:aws:sns:{env.region}:{env.account}:{names.alerts_topic}"


def test_alarm_watches_the_metric_the_analyzer_publishes(environments: dict[str, EnvironmentConfig]) -> None:
    from containers.monitor.metrics import cloudwatch_metric_records
    from containers.monitor.profile import compute_statistics

    env = environments["dev"]
    names = Names.of(env)
    statistics = compute_statistics(pd.DataFrame({"age": [1.0, 2.0, 3.0], "plan": ["a", "b", "a"]}))
    records = cloudwatch_metric_records(statistics, {"age": 0.5, "plan": 0.1}, endpoint_name=names.endpoint,
                                        schedule_name=names.monitoring_schedule, timestamp="2026-01-01T00:00:00Z")
    published = {(record["MetricName"], tuple((d["Name"], d["Value"]) for d in record["Dimensions"]))
                 for record in records}
    for alarm in drift_alarms(env, ["age", "plan"]):
        assert (alarm.metric_name, alarm.dimensions) in published


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("cron(0 * ? * * *)", 3600), ("cron(0 */6 ? * * *)", 6 * 3600), ("cron(0 0/12 ? * * *)", 12 * 3600),
     ("cron(0 3 ? * * *)", 86400), ("rate(2 hours)", 7200), ("rate(1 day)", 86400), ("rate(5 minutes)", 3600)],
)
def test_alarm_period_follows_the_monitoring_schedule(expression: str, seconds: int) -> None:
    assert schedule_period_seconds(expression) == seconds


def test_alarm_period_comes_from_the_environment_schedule(environments: dict[str, EnvironmentConfig]) -> None:
    env = environments["dev"]
    daily = env.model_copy(update={"monitoring": env.monitoring.model_copy(update={"schedule": "cron(0 2 ? * * *)"})})
    assert drift_alarms(daily, ["a"])[0].period_seconds == 86400


@pytest.mark.parametrize("features", [["bad name"], ["a", "a"]], ids=["invalid name", "duplicate"])
def test_bad_feature_lists_are_config_errors(environments: dict[str, EnvironmentConfig], features: list[str]) -> None:
    with pytest.raises(ConfigError, match=repr(features[0])):
        drift_alarms(environments["dev"], features)


def test_alarm_request_is_accepted_by_cloudwatch(environments: dict[str, EnvironmentConfig]) -> None:
    env = environments["staging"]
    alarm = drift_alarms(env, ["income"])[0]
    with mock_aws():
        import boto3

        cloudwatch = boto3.client("cloudwatch", region_name=env.region)
        cloudwatch.put_metric_alarm(**alarm.put_metric_alarm_request())
        stored = cloudwatch.describe_alarms(AlarmNames=[alarm.name])["MetricAlarms"][0]
    assert stored["MetricName"] == alarm.metric_name
    assert stored["Threshold"] == env.monitoring.drift_threshold
    assert stored["Period"] == alarm.period_seconds
    assert stored["AlarmActions"] == [alerts_topic_arn(Names.of(env))]
    assert {d["Name"]: d["Value"] for d in stored["Dimensions"]} == Names.of(env).metric_dimensions
