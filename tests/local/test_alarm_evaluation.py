"""Alarm evaluation as CloudWatch does it, and the notification it publishes on a state change."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from config.settings import load_environment
from deployment.alarms import AlarmSpec, drift_alarms
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.provision import provision
from mlops.local.loop.alarm_evaluation import (
    Datapoint,
    decide_state,
    evaluate_alarms,
    put_alarms,
    received_alerts,
)

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def spec(treat_missing: str = "notBreaching") -> AlarmSpec:
    return replace(drift_alarms(load_environment("dev"), ["age"])[0], treat_missing_data=treat_missing)


def test_a_datapoint_above_the_threshold_sets_alarm_and_says_why() -> None:
    state, reason = decide_state(spec(), [Datapoint(NOW, 0.35)], "OK")
    assert state == "ALARM"
    assert "0.35" in reason
    assert "greater than the threshold (0.2)" in reason


def test_the_newest_datapoint_decides_with_one_evaluation_period() -> None:
    points = [Datapoint(NOW - timedelta(hours=1), 0.9), Datapoint(NOW, 0.05)]
    assert decide_state(spec(), points, "ALARM")[0] == "OK"


def test_missing_data_follows_treat_missing_data() -> None:
    assert decide_state(spec("notBreaching"), [], "ALARM")[0] == "OK"
    assert decide_state(spec("breaching"), [], "OK")[0] == "ALARM"
    assert decide_state(spec("ignore"), [], "ALARM")[0] == "ALARM"
    assert decide_state(spec("missing"), [], "OK")[0] == "INSUFFICIENT_DATA"


def test_state_change_publishes_to_the_topic_once_and_keeps_state_across_updates(aws: LocalAws) -> None:
    env = load_environment("dev")
    provisioned = provision(aws, env)
    cloudwatch, sns, sqs = aws.client("cloudwatch"), aws.client("sns"), aws.client("sqs")
    alarms = drift_alarms(env, ["age", "income"])
    put_alarms(cloudwatch, alarms)
    dimensions = [{"Name": name, "Value": value} for name, value in alarms[0].dimensions]
    now = datetime.now(UTC)
    cloudwatch.put_metric_data(Namespace=alarms[0].namespace, MetricData=[
        {"MetricName": alarms[0].metric_name, "Dimensions": dimensions, "Timestamp": now, "Value": 0.6},
        {"MetricName": alarms[1].metric_name, "Dimensions": dimensions, "Timestamp": now, "Value": 0.01},
    ])
    first = evaluate_alarms(cloudwatch, sns, alarms, account=aws.account, region=aws.region, now=now)
    assert [(item.old_state, item.new_state) for item in first] == [("INSUFFICIENT_DATA", "ALARM"),
                                                                    ("INSUFFICIENT_DATA", "OK")]
    alerts = received_alerts(sqs, provisioned.queue_url)
    assert [alert["Subject"] for alert in alerts] == [f'ALARM: "{alarms[0].name}" in EU (Ireland)']
    assert alerts[0]["Message"]["NewStateValue"] == "ALARM"
    assert alerts[0]["Message"]["Trigger"]["MetricName"] == alarms[0].metric_name
    # Putting the alarms again (a redeploy) keeps their state, so the same drift alerts nobody twice.
    put_alarms(cloudwatch, alarms)
    second = evaluate_alarms(cloudwatch, sns, alarms, account=aws.account, region=aws.region, now=now)
    assert not any(item.changed for item in second)
    assert received_alerts(sqs, provisioned.queue_url) == []
    assert json.loads(json.dumps(alerts))  # what the run stores in alerts.json is plain JSON
