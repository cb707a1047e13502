"""The alerts stack: the encrypted topic of the spec with its subscriptions, the training schedule, and that
nothing a teardown deletes holds the topic, the budget or the schedule; the monitoring stack's event rules
publish to this stack's topic by a weak cross-stack reference."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alarms import alerts_topic_arn
from deployment.alerts import alerts_topic
from deployment.teardown import teardown_stacks
from tests.conftest import ENVIRONMENTS, SynthesizedApp
from tests.stacks.conftest import Variant


def _alerts(synthesized_app: SynthesizedApp, env: EnvironmentConfig) -> Template:
    return Template.from_json(synthesized_app.template(Names.of(env).stack("alerts")))


def _topic_id(template: Template) -> str:
    (logical_id,) = template.find_resources("AWS::SNS::Topic")
    return str(logical_id)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_alerts_topic_is_the_spec_topic_encrypted_with_the_spec_subscriptions(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    spec = alerts_topic(env)
    template = _alerts(synthesized_app, env)
    topic = template.find_resources("AWS::SNS::Topic")[_topic_id(template)]["Properties"]
    assert topic["TopicName"] == spec.name == alerts_topic_arn(Names.of(env)).rsplit(":", 1)[1]
    assert topic["KmsMasterKeyId"] == spec.kms_key
    subscriptions = [resource["Properties"] for resource in template.find_resources("AWS::SNS::Subscription").values()]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == sorted(spec.subscriptions)
    assert all(s["TopicArn"] == {"Ref": _topic_id(template)} for s in subscriptions)
    assert spec.subscriptions  # every environment mails someone: an empty list would pass vacuously
    for statement in ({"Sid": "AccountAlarmsAndRulesPublish", "Action": "sns:Publish",
                       "Condition": {"StringEquals": {"aws:SourceAccount": env.account}}},
                      {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}):
        template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like(statement)])}})
    template.has_output("AlertsTopicArn", {"Value": {"Ref": _topic_id(template)}})


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_nothing_a_teardown_deletes_holds_the_topic_the_budget_or_the_training_schedule(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    assert names.stack("alerts") not in teardown_stacks(env)
    for stack in teardown_stacks(env):
        template = Template.from_json(synthesized_app.template(stack))
        for kind in ("AWS::SNS::Topic", "AWS::SNS::Subscription", "AWS::Budgets::Budget"):
            template.resource_count_is(kind, 0)
        schedules = template.find_resources("AWS::Scheduler::Schedule").values()
        assert not [s for s in schedules if s["Properties"]["Name"] == f"{names.prefix}-retrain"]
    alerts = _alerts(synthesized_app, env)
    alerts.resource_count_is("AWS::SNS::Topic", 1)
    alerts.resource_count_is("AWS::Budgets::Budget", 1)  # every environment of the config has a budget


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_monitoring_event_rules_publish_to_the_alerts_stacks_topic_by_a_weak_reference(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    """Fn::GetStackOutput, no export: the monitoring stack comes and goes without the alerts stack changing."""
    env = environments[name]
    names = Names.of(env)
    alerts = _alerts(synthesized_app, env)
    assert not [output for output in alerts.find_outputs("*").values() if "Export" in output]
    monitoring = Template.from_json(synthesized_app.template(names.stack("monitoring")))
    relays = [rule["Properties"] for rule in monitoring.find_resources("AWS::Events::Rule").values()
              if rule["Properties"]["Name"].startswith(f"{names.prefix}-monitoring-")]
    assert len(relays) == 2
    for relay in relays:
        (target,) = relay["Targets"]
        reference = target["Arn"]["Fn::GetStackOutput"]
        assert (reference["StackName"], reference["Region"]) == (names.stack("alerts"), env.region)
        alerts.has_output(reference["OutputName"], {"Value": {"Ref": _topic_id(alerts)}})


def test_training_schedule_starts_the_pipeline_on_its_cron(variants: dict[str, Variant]) -> None:
    variant = variants["retraining"]
    names = Names.of(variant.env)
    template = Template.from_json(variant.template("alerts"))
    (role,) = template.find_resources("AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {
        "Statement": [{"Principal": {"Service": "scheduler.amazonaws.com"},
                       "Condition": {"StringEquals": {"aws:SourceAccount": variant.env.account}}}]}}})
    template.has_resource_properties("AWS::Scheduler::Schedule", {
        "Name": f"{names.prefix}-retrain", "ScheduleExpression": "cron(0 3 ? * MON *)",
        "ScheduleExpressionTimezone": "UTC",
        "Target": {"Arn": names.pipeline_arn, "RoleArn": {"Fn::GetAtt": [role, "Arn"]}}})
    template.has_resource_properties("AWS::IAM::ManagedPolicy", {"PolicyDocument": {"Statement": [{
        "Sid": "StartTheTrainingPipeline", "Effect": "Allow", "Action": "sagemaker:StartPipelineExecution",
        "Resource": names.pipeline_arn}]}})


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_without_a_training_schedule_there_is_no_schedule_or_role(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    assert environments[name].training.schedule is None
    template = _alerts(synthesized_app, environments[name])
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    template.resource_count_is("AWS::IAM::Role", 0)

