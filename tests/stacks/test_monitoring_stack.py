"""The Monitoring stack renders the monitoring specs: both engines, alarms equal to the analyzer's metrics
notifying the alerts stack's encrypted topic, readable violation events, the dashboard, retraining on drift."""

from __future__ import annotations

import json
from typing import Any, cast

import pandas as pd
import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file
from moto.events.models import EventPattern

from config.naming import DATA_QUALITY_NAMESPACE, Names
from config.settings import EnvironmentConfig
from deployment.alarms import alerts_topic_arn, monitoring_alarms
from deployment.alerts import alerts_topic, failed_run_event_pattern, violations_event_pattern
from deployment.dashboard import dashboard_body
from deployment.endpoint import served_version
from deployment.monitoring import monitoring_jobs, prebuilt_analyzer_image
from deployment.retraining import drift_alarm_event_pattern
from stacks.constructs.monitoring_jobs import job_definition_properties
from tests.conftest import ENVIRONMENTS, SERVED_VERSION, SynthesizedApp
from tests.stacks.conftest import Variant


def _monitoring(synthesized_app: SynthesizedApp, env: EnvironmentConfig) -> Template:
    return Template.from_json(synthesized_app.template(Names.of(env).stack("monitoring")))


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {key: dict(value["Properties"]) for key, value in template.find_resources(kind).items()}


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """moto's EventBridge matcher (events.test_event_pattern is a stub in moto)."""
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event)))


def _jobs(env: EnvironmentConfig, image_tag: str | None = None) -> Any:
    return monitoring_jobs(env, served_version(Names.of(env), SERVED_VERSION), image_tag)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_scheduled_job_engine_starts_the_spec_request_each_period(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    assert env.monitoring.engine == "scheduled-job"  # the default: it deploys for a new account
    names = Names.of(env)
    schedules = {props["Name"]: props for props in
                 _resources(_monitoring(synthesized_app, env), "AWS::Scheduler::Schedule").values()}
    for job in _jobs(env):
        schedule = schedules[job.schedule_name]
        assert schedule["ScheduleExpression"] == env.monitoring.schedule
        target = schedule["Target"]
        assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
        request = json.loads(target["Input"])
        assert request == job.scheduled_request()
        environment = request["Environment"]
        assert environment["end_time"] == "<aws.scheduler.scheduled-time>"
        assert environment["publish_cloudwatch_metrics"] == "Enabled"
        assert environment["monitoring_engine"] == "scheduled-job"
        assert environment["sagemaker_endpoint_name"] == names.endpoint
        assert request["ProcessingJobName"].startswith(f"{job.schedule_name}-")
        assert request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == (
            f"s3://{names.bucket('capture')}/datacapture/{names.endpoint}/AllTraffic/")
        assert request["ProcessingOutputConfig"]["KmsKeyId"].endswith(f":alias/{names.prefix}")
    data_quality = json.loads(schedules[names.monitoring_schedule]["Target"]["Input"])
    assert [item["S3Input"]["S3Uri"] for item in data_quality["ProcessingInputs"][1:]] == [
        f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v3/statistics.json",
        f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v3/constraints.json"]
    model_quality = json.loads(schedules[names.model_quality_schedule]["Target"]["Input"])
    assert model_quality["Environment"]["analysis_type"] == "MODEL_QUALITY"
    # The gate as constraints: without them the analyzer publishes no metric for the alarm.
    assert [item["S3Input"]["S3Uri"] for item in model_quality["ProcessingInputs"][1:3]] == [
        f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v3/model-quality/statistics.json",
        f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v3/model-quality/constraints.json"]
    assert model_quality["ProcessingInputs"][-1]["S3Input"]["S3Uri"] == (
        f"s3://{names.bucket('data')}/ground-truth/{names.endpoint}/")


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_scheduler_may_start_only_this_environments_monitoring_jobs(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    policies = _resources(_monitoring(synthesized_app, environments[name]), "AWS::IAM::ManagedPolicy")
    statements = [statement for policy in policies.values() for statement in policy["PolicyDocument"]["Statement"]]
    create = next(s for s in statements if s["Action"] == "sagemaker:CreateProcessingJob")
    assert create["Resource"] == [names.arn("sagemaker", f"processing-job/{names.monitoring_schedule}-*"),
                                  names.arn("sagemaker", f"processing-job/{names.model_quality_schedule}-*")]
    passing = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert passing["Resource"] == f"arn:aws:iam::{names.account}:role/{names.execution_role}"
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


@pytest.mark.parametrize("key", ["model-monitor", "prebuilt"])
def test_model_monitor_engine_renders_job_definitions_and_schedules(variants: dict[str, Variant], key: str) -> None:
    variant = variants[key]
    env = variant.env
    names = Names.of(env)
    template = Template.from_json(variant.template("monitoring"))
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    jobs = _jobs(env, "src-test")
    data_quality, model_quality = jobs
    for job in jobs:
        kind, properties = job_definition_properties(job)
        (definition_id,) = template.find_resources(kind)
        assert template.to_json()["Resources"][definition_id]["Properties"] == properties
        template.has_resource_properties("AWS::SageMaker::MonitoringSchedule", {
            "MonitoringScheduleName": job.schedule_name, "EndpointName": names.endpoint,
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": {"Fn::GetAtt": [definition_id, "JobDefinitionName"]},
                "MonitoringType": "DataQuality" if job.kind == "data-quality" else "ModelQuality",
                "ScheduleConfig": {"ScheduleExpression": env.monitoring.schedule}}})
    if key == "prebuilt":
        assert data_quality.image_uri == prebuilt_analyzer_image(env.region)
        assert data_quality.image_uri == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
        assert "monitoring_engine" not in data_quality.environment
    else:
        assert data_quality.image_uri == names.image_uri("monitor", "src-test")
    assert job_definition_properties(model_quality)[1]["ModelQualityBaselineConfig"] == {"ConstraintsResource": {
        "S3Uri": f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v3/model-quality/constraints.json"}}
    quality_input = job_definition_properties(model_quality)[1]["ModelQualityJobInput"]
    assert quality_input["GroundTruthS3Input"] == {"S3Uri": f"s3://{names.bucket('data')}/ground-truth/{names.endpoint}/"}
    assert quality_input["EndpointInput"]["InferenceAttribute"] == "0"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_one_drift_alarm_per_feature_watches_exactly_what_the_analyzer_publishes(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    from containers.monitor.metrics import cloudwatch_metric_records
    from containers.monitor.profile import compute_statistics

    env = environments[name]
    template = _monitoring(synthesized_app, env)
    schedule = next(props for props in _resources(template, "AWS::Scheduler::Schedule").values()
                    if props["Name"] == Names.of(env).monitoring_schedule)
    job_environment = json.loads(schedule["Target"]["Input"])["Environment"]
    features = list(env.monitoring.features)
    assert features
    # The analyzer's side: the records it writes for this job's environment.
    statistics = compute_statistics(pd.DataFrame({feature: [1.0, 2.0, 3.0] for feature in features}))
    records = cloudwatch_metric_records(
        statistics, dict.fromkeys(features, 0.5), endpoint_name=job_environment["sagemaker_endpoint_name"],
        schedule_name=job_environment["sagemaker_monitoring_schedule_name"], timestamp="2026-11-25T10:00:00Z")
    published = {record["MetricName"]: record["Dimensions"] for record in records
                 if record["MetricName"].startswith("feature_baseline_drift_")}
    # The stack's side: the alarms in the template.
    alarms = {props["MetricName"]: props for props in _resources(template, "AWS::CloudWatch::Alarm").values()
              if props["MetricName"].startswith("feature_baseline_drift_")}
    assert set(alarms) == set(published) == {f"feature_baseline_drift_{feature}" for feature in features}
    for metric, alarm in alarms.items():
        assert alarm["Namespace"] == DATA_QUALITY_NAMESPACE
        assert alarm["Dimensions"] == published[metric]
        assert alarm["Threshold"] == env.monitoring.drift_threshold


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_template_alarms_equal_the_spec_and_all_notify_the_alerts_stacks_encrypted_topic(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    monitoring = _monitoring(synthesized_app, env)
    endpoint = Template.from_json(synthesized_app.template(names.stack("endpoint")))
    rendered = {props["AlarmName"]: props for template in (monitoring, endpoint)
                for props in _resources(template, "AWS::CloudWatch::Alarm").values()}
    for spec in monitoring_alarms(env):
        request = spec.put_metric_alarm_request()
        alarm = rendered[spec.name]
        for key in ("Namespace", "MetricName", "Threshold", "ComparisonOperator", "Period", "EvaluationPeriods",
                    "DatapointsToAlarm", "TreatMissingData", "AlarmActions"):
            assert alarm[key] == request[key], (spec.name, key)
    assert {"model-quality", "monitoring-not-run", "endpoint-5xx", "endpoint-p99-latency"} <= {
        alarm_name.removeprefix(f"{names.prefix}-") for alarm_name in rendered}
    topic_arn = alerts_topic_arn(names)
    for alarm_name, alarm in rendered.items():
        assert alarm["AlarmActions"] == [topic_arn], alarm_name
    # The ARN the alarms name is the alerts stack's topic, encrypted with the project key.
    alerts = Template.from_json(synthesized_app.template(names.stack("alerts")))
    (topic,) = _resources(alerts, "AWS::SNS::Topic").values()
    assert topic["TopicName"] == alerts_topic(env).name == topic_arn.rsplit(":", 1)[1]
    assert topic["KmsMasterKeyId"] == alerts_topic(env).kms_key
    monitoring.resource_count_is("AWS::SNS::Topic", 0)


def test_the_model_quality_alarm_is_on_the_gate_metric(environments: dict[str, EnvironmentConfig]) -> None:
    env = environments["prod"]
    quality = next(spec for spec in monitoring_alarms(env) if spec.name.endswith("-model-quality"))
    assert (quality.metric_name, quality.threshold, quality.comparison_operator) == (
        env.quality_gate.metric, env.quality_gate.threshold, "LessThanThreshold")
    assert dict(quality.dimensions)["MonitoringSchedule"] == Names.of(env).model_quality_schedule


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_monitoring_violations_and_failures_reach_the_topic_as_a_sentence(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    rules = {props["Name"]: props for props in
             _resources(_monitoring(synthesized_app, environments[name]), "AWS::Events::Rule").values()}
    violations = rules[f"{names.prefix}-monitoring-violations"]
    assert violations["EventPattern"] == violations_event_pattern(names)
    (target,) = violations["Targets"]
    assert "Fn::GetStackOutput" in target["Arn"]  # the alerts stack's topic (tests/stacks/test_alerts_stack.py)
    assert "found violations" in target["InputTransformer"]["InputTemplate"]
    assert rules[f"{names.prefix}-monitoring-failedruns"]["EventPattern"] == failed_run_event_pattern(names)


def test_violation_pattern_matches_this_environments_runs_only(environments: dict[str, EnvironmentConfig]) -> None:
    names = Names.of(environments["dev"])

    def event(schedule: str, status: str, message: str) -> dict[str, Any]:
        return {"source": "aws.sagemaker", "detail-type": "SageMaker Processing Job State Change",
                "detail": {"ProcessingJobName": f"{schedule}-abc", "ProcessingJobStatus": status,
                           "ExitMessage": message, "Environment": {"sagemaker_monitoring_schedule_name": schedule}}}

    violations, failed = violations_event_pattern(names), failed_run_event_pattern(names)
    assert _matches(violations, event(names.monitoring_schedule, "Completed", "CompletedWithViolations: 3"))
    assert _matches(violations, event(names.model_quality_schedule, "Completed", "CompletedWithViolations: 1"))
    assert not _matches(violations, event(names.monitoring_schedule, "Completed", "Completed: Job completed"))
    assert not _matches(violations, event("mlops-kit-prod-data-quality", "Completed", "CompletedWithViolations"))
    assert _matches(failed, event(names.monitoring_schedule, "Failed", ""))
    assert not _matches(failed, event(names.monitoring_schedule, "Completed", ""))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_one_dashboard_per_environment_shows_the_spec(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    (dashboard,) = _resources(_monitoring(synthesized_app, env), "AWS::CloudWatch::Dashboard").values()
    assert dashboard["DashboardName"] == f"mlops-kit-{name}-monitoring"
    body = json.loads(dashboard["DashboardBody"])
    assert body == dashboard_body(env)
    titles = " ".join(widget["properties"]["title"] for widget in body["widgets"])
    for word in ("Invocations", "latency", "Errors", "Drift", "Model quality", "Monitoring job"):
        assert word in titles
    drift = next(w for w in body["widgets"] if w["properties"]["title"].startswith("Drift"))
    assert len(drift["properties"]["metrics"]) == len(env.monitoring.features)


def test_retraining_on_drift_starts_the_pipeline_in_dev_and_never_in_prod(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    dev, prod = environments["dev"], environments["prod"]
    assert dev.monitoring.retrain_on_drift
    assert not prod.monitoring.retrain_on_drift
    assert prod.training.schedule is None
    names = Names.of(dev)
    dev_rules = _resources(_monitoring(synthesized_app, dev), "AWS::Events::Rule").values()
    rules = {props["Name"]: props for props in dev_rules}
    retrain = rules[f"{names.prefix}-retrain-on-drift"]
    assert retrain["EventPattern"] == drift_alarm_event_pattern(names)
    assert retrain["Targets"][0]["Arn"] == names.pipeline_arn
    def alarm_event(alarm: str) -> dict[str, Any]:
        return {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
                "detail": {"alarmName": alarm, "state": {"value": "ALARM"}}}

    assert _matches(retrain["EventPattern"], alarm_event(names.drift_alarm("mean_radius")))
    assert not _matches(retrain["EventPattern"], alarm_event(f"{names.prefix}-endpoint-5xx"))
    prod_rules = _resources(_monitoring(synthesized_app, prod), "AWS::Events::Rule").values()
    assert not [rule for rule in prod_rules if "retrain" in rule["Name"]]
    for stack in ("monitoring", "alerts"):
        template = Template.from_json(synthesized_app.template(Names.of(prod).stack(stack)))
        assert not [schedule for schedule in _resources(template, "AWS::Scheduler::Schedule").values()
                    if "retrain" in schedule["Name"]]


def test_variant_templates_are_cfn_lint_clean(variants: dict[str, Variant]) -> None:
    for variant in variants.values():
        for stack_name, path in variant.template_files.items():
            findings = lint_file(path, config=ManualArgs(regions=[variant.env.region]))
            assert not findings, f"{stack_name}: " + "; ".join(f"{m.rule.id} {m.message}" for m in findings)
