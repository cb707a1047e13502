"""Local mode renders the deployment specs into moto and processes: what it creates equals the spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from config.naming import Names
from config.settings import load_environment
from deployment.alarms import endpoint_alarms, monitoring_alarms
from deployment.alerts import alerts_topic
from deployment.endpoint import VARIANT, capture_spec, served_version
from deployment.monitoring import CAPTURE_FORMAT, data_quality_job
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.provision import provision
from mlops.local.loop.alarm_evaluation import evaluate_alarms, put_alarms, received_alerts
from mlops.local.loop.monitoring import capture_prefix, monitoring_job

ENV = load_environment("dev")
NAMES = Names.of(ENV)


def test_local_alerts_topic_is_the_spec_topic_with_the_spec_subscriptions(aws: LocalAws) -> None:
    provisioned = provision(aws, ENV)
    spec = alerts_topic(ENV)
    sns = aws.client("sns")
    assert provisioned.topic_arn == spec.arn
    attributes = sns.get_topic_attributes(TopicArn=spec.arn)["Attributes"]
    assert (attributes["DisplayName"], attributes["KmsMasterKeyId"]) == (spec.display_name, spec.kms_key)
    subscriptions = {(s["Protocol"], s["Endpoint"])
                     for s in sns.list_subscriptions_by_topic(TopicArn=spec.arn)["Subscriptions"]}
    # The e-mails of the spec, plus the local inbox queue that stands in for them.
    assert subscriptions - {("sqs", NAMES.arn("sqs", NAMES.stack("alerts-local-inbox")))} == set(spec.subscriptions)


def test_local_capture_lands_in_the_spec_layout() -> None:
    spec = capture_spec(ENV)
    assert capture_prefix(NAMES, VARIANT) == spec.variant_prefix(NAMES.endpoint, VARIANT)
    when = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    assert spec.hour_prefix(NAMES.endpoint, VARIANT, when) == (
        f"s3://{NAMES.bucket('capture')}/datacapture/{NAMES.endpoint}/AllTraffic/2026/11/25/09/")


def test_local_monitoring_job_speaks_the_same_analyzer_contract_as_the_deployed_one() -> None:
    start, end = datetime(2026, 11, 25, 9, tzinfo=UTC), datetime(2026, 11, 25, 10, tzinfo=UTC)
    local = monitoring_job(NAMES, analyzer_image="img", capture_uri=capture_prefix(NAMES, VARIANT),
                           statistics_uri="s3://b/base/statistics.json", constraints_uri="s3://b/base/constraints.json",
                           output_uri="s3://r/out", start=start, end=end, metric_time=end)
    deployed = data_quality_job(ENV, served_version(NAMES, "3")).scheduled_request()
    assert [item["S3Input"]["LocalPath"] for item in local["ProcessingInputs"]] == [
        item["S3Input"]["LocalPath"] for item in deployed["ProcessingInputs"]]
    assert local["ProcessingInputs"][0]["S3Input"]["S3Uri"] == deployed["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    local_env, deployed_env = local["Environment"], deployed["Environment"]
    # Only the engine switch and the window differ: local mode publishes the metrics itself, like Model Monitor.
    assert set(deployed_env) - set(local_env) == {"monitoring_engine", "monitoring_window_seconds"}
    assert set(local_env) - set(deployed_env) == {"start_time"}
    for key in ("dataset_format", "dataset_source", "output_path", "baseline_statistics", "baseline_constraints",
                "publish_cloudwatch_metrics", "sagemaker_endpoint_name", "sagemaker_monitoring_schedule_name"):
        assert local_env[key] == deployed_env[key], key
    assert local_env["dataset_format"] == CAPTURE_FORMAT
    assert (local_env["start_time"], local_env["end_time"]) == ("2026-11-25T09:00:00Z", "2026-11-25T10:00:00Z")


def test_spec_alarms_put_in_local_aws_are_the_spec_and_a_breach_mails_the_topic(aws: LocalAws) -> None:
    provisioned = provision(aws, ENV)
    cloudwatch, sns, sqs = aws.client("cloudwatch"), aws.client("sns"), aws.client("sqs")
    received_alerts(sqs, provisioned.queue_url)  # start from an empty inbox
    specs = [*monitoring_alarms(ENV), *endpoint_alarms(ENV)]
    put_alarms(cloudwatch, specs)
    stored = {alarm["AlarmName"]: alarm for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNames=[spec.name for spec in specs]) for alarm in page["MetricAlarms"]}
    for spec in specs:
        request = spec.put_metric_alarm_request()
        for key in ("Namespace", "MetricName", "Threshold", "ComparisonOperator", "Period", "AlarmActions"):
            assert stored[spec.name][key] == request[key], (spec.name, key)
    quality = next(spec for spec in specs if spec.name == NAMES.alarm("model-quality"))
    now = datetime.now(UTC).replace(microsecond=0)
    cloudwatch.put_metric_data(Namespace=quality.namespace, MetricData=[{
        "MetricName": quality.metric_name, "Timestamp": now - timedelta(minutes=5),
        "Dimensions": [{"Name": name, "Value": value} for name, value in quality.dimensions],
        "Value": ENV.quality_gate.threshold - 0.1}])
    evaluations = evaluate_alarms(cloudwatch, sns, [quality], account=aws.account, region=aws.region, now=now)
    assert [item.new_state for item in evaluations] == ["ALARM"]
    assert cloudwatch.describe_alarms(AlarmNames=[quality.name])["MetricAlarms"][0]["StateValue"] == "ALARM"
    (alert,) = received_alerts(sqs, provisioned.queue_url)
    assert alert["TopicArn"] == alerts_topic(ENV).arn
    assert alert["Subject"].startswith(f'ALARM: "{quality.name}"')
    assert json.loads(json.dumps(alert["Message"]))["Trigger"]["MetricName"] == ENV.quality_gate.metric
