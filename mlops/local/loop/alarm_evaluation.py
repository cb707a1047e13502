"""Alarms as CloudWatch would evaluate them (moto stores alarms but never evaluates or notifies)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from config.arns import arn
from deployment.alarms import AlarmSpec

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
WORDS = {
    "GreaterThanThreshold": "greater than", "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
}
# How CloudWatch names regions in notification subjects; other regions show their code.
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)", "eu-central-1": "EU (Frankfurt)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
}
SUBJECT_LIMIT = 100


@dataclass(frozen=True)
class Datapoint:
    timestamp: datetime
    value: float


@dataclass(frozen=True)
class AlarmEvaluation:
    spec: AlarmSpec
    old_state: str
    new_state: str
    reason: str
    latest: float | None

    @property
    def changed(self) -> bool:
        return self.old_state != self.new_state


def decide_state(spec: AlarmSpec, datapoints: Sequence[Datapoint], current: str) -> tuple[str, str]:
    """(state, reason) from the datapoints of the evaluation window, newest last."""
    window = sorted(datapoints, key=lambda point: point.timestamp)[-spec.evaluation_periods:]
    compare = OPERATORS[spec.comparison_operator]
    if not window:
        treatment = spec.treat_missing_data
        if treatment == "breaching":
            return "ALARM", "no datapoints; missing data is treated as breaching"
        if treatment == "notBreaching":
            return "OK", "no datapoints; missing data is treated as not breaching"
        if treatment == "ignore":
            return current, "no datapoints; the alarm keeps its state"
        return "INSUFFICIENT_DATA", "no datapoints in the evaluation window"
    breaching = [point for point in window if compare(point.value, spec.threshold)]
    shown = ", ".join(f"{point.value:.4g} ({point.timestamp:%d/%m/%y %H:%M:%S})" for point in window)
    count = len(window)
    noun = "datapoint" if count == 1 else "datapoints"
    words = WORDS[spec.comparison_operator]
    if len(breaching) >= spec.datapoints_to_alarm:
        verb = "was" if count == 1 else "were"
        return "ALARM", (f"Threshold Crossed: {count} {noun} [{shown}] {verb} {words} the threshold "
                         f"({spec.threshold:g}).")
    verb = "was not" if count == 1 else "were not"
    return "OK", f"Threshold Crossed: {count} {noun} [{shown}] {verb} {words} the threshold ({spec.threshold:g})."


def notification(spec: AlarmSpec, evaluation: AlarmEvaluation, account: str, region: str,
                 when: datetime) -> tuple[str, str]:
    """(subject, message) of the SNS notification CloudWatch sends on a state change."""
    region_name = REGION_NAMES.get(region, region)
    subject = f'{evaluation.new_state}: "{spec.name}" in {region_name}'
    message = {
        "AlarmName": spec.name,
        "AlarmDescription": spec.description,
        "AWSAccountId": account,
        "NewStateValue": evaluation.new_state,
        "NewStateReason": evaluation.reason,
        "StateChangeTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": region_name,
        "AlarmArn": arn("cloudwatch", f"alarm:{spec.name}", region=region, account=account),
        "OldStateValue": evaluation.old_state,
        "OKActions": list(spec.ok_actions),
        "AlarmActions": list(spec.alarm_actions),
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": spec.metric_name,
            "Namespace": spec.namespace,
            "StatisticType": "Statistic",
            "Statistic": spec.statistic.upper(),
            "Unit": None,
            "Dimensions": [{"value": value, "name": name} for name, value in spec.dimensions],
            "Period": spec.period_seconds,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "ComparisonOperator": spec.comparison_operator,
            "Threshold": spec.threshold,
            "TreatMissingData": spec.treat_missing_data,
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    return subject[:SUBJECT_LIMIT], json.dumps(message)


def _existing(cloudwatch: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):
        for alarm in cloudwatch.describe_alarms(AlarmNames=list(names[start:start + 100])).get("MetricAlarms", []):
            found[alarm["AlarmName"]] = alarm
    return found


def _unchanged(existing: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    return all(existing.get(key) == value for key, value in request.items() if value not in ([], None))


def put_alarms(cloudwatch: Any, specs: Sequence[AlarmSpec]) -> int:
    """Create or update the alarms as the Monitoring stack would; how many were put.

    An alarm whose definition is unchanged is left alone, as a stack update leaves it. CloudWatch
    starts a new alarm in INSUFFICIENT_DATA and keeps an updated alarm's state; moto starts it OK
    and resets it on every update, so both are put right here.
    """
    before = _existing(cloudwatch, [spec.name for spec in specs])
    put = 0
    for spec in specs:
        request = spec.put_metric_alarm_request()
        existing = before.get(spec.name)
        if existing is not None and _unchanged(existing, request):
            continue
        cloudwatch.put_metric_alarm(**request)
        state = existing.get("StateValue", "INSUFFICIENT_DATA") if existing else "INSUFFICIENT_DATA"
        reason = existing.get("StateReason", "") if existing else "Unchecked: Initial alarm creation"
        cloudwatch.set_alarm_state(AlarmName=spec.name, StateValue=state, StateReason=reason or "restored")
        put += 1
    return put


def all_datapoints(cloudwatch: Any, specs: Sequence[AlarmSpec], now: datetime) -> dict[str, list[Datapoint]]:
    """Each alarm's datapoints in its evaluation window, read with GetMetricData (500 metrics a call)."""
    found: dict[str, list[Datapoint]] = {spec.name: [] for spec in specs}
    longest = max((spec.period_seconds * spec.evaluation_periods for spec in specs), default=3600)
    for start in range(0, len(specs), 500):
        batch = list(specs[start:start + 500])
        queries = [{
            "Id": f"m{index}",
            "MetricStat": {"Metric": {"Namespace": spec.namespace, "MetricName": spec.metric_name,
                                      "Dimensions": [{"Name": k, "Value": v} for k, v in spec.dimensions]},
                           "Period": spec.period_seconds, "Stat": spec.statistic},
            "ReturnData": True,
        } for index, spec in enumerate(batch)]
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - timedelta(seconds=longest),
                                            EndTime=now + timedelta(minutes=1))
        for result in answer.get("MetricDataResults", []):
            spec = batch[int(result["Id"][1:])]
            found[spec.name] = [Datapoint(when, float(value))
                                for when, value in zip(result.get("Timestamps", []), result.get("Values", []),
                                                       strict=False)]
    return found


def evaluate_alarms(cloudwatch: Any, sns: Any, specs: Sequence[AlarmSpec], *, account: str, region: str,
                    now: datetime) -> list[AlarmEvaluation]:
    """Evaluate every alarm; on a state change set it and publish to the state's actions."""
    current = _existing(cloudwatch, [spec.name for spec in specs])
    points_by_alarm = all_datapoints(cloudwatch, specs, now)
    evaluations = []
    for spec in specs:
        points = points_by_alarm[spec.name]
        old = current.get(spec.name, {}).get("StateValue", "INSUFFICIENT_DATA")
        state, reason = decide_state(spec, points, old)
        latest = max(points, key=lambda point: point.timestamp).value if points else None
        evaluation = AlarmEvaluation(spec=spec, old_state=old, new_state=state, reason=reason, latest=latest)
        if evaluation.changed:
            cloudwatch.set_alarm_state(AlarmName=spec.name, StateValue=state, StateReason=reason[:1023])
            actions = {"ALARM": spec.alarm_actions, "OK": spec.ok_actions}.get(state, ())
            subject, message = notification(spec, evaluation, account, region, now)
            for topic in actions:
                sns.publish(TopicArn=topic, Subject=subject, Message=message)
        evaluations.append(evaluation)
    return evaluations


def received_alerts(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every notification waiting in the queue subscribed to the alerts topic (consumed)."""
    alerts: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        if not messages:
            return alerts
        for message in messages:
            envelope = json.loads(message["Body"])
            body = envelope.get("Message", "")
            try:
                payload = json.loads(body)
            except ValueError:
                payload = body
            alerts.append({"Subject": envelope.get("Subject", ""), "Timestamp": envelope.get("Timestamp", ""),
                           "TopicArn": envelope.get("TopicArn", ""), "Message": payload})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
