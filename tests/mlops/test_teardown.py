"""`mlops teardown` and the endpoint's time-to-live against moto's CloudFormation: the monitoring and
endpoint stacks are deleted (monitoring first) and what they held goes with them, except what they retain;
models, model packages, the group, buckets, the other stacks, the alerts topic with its subscribers, the cost
budget and the Studio domain stay; the stacks can
be created again afterwards; a DELETE_FAILED says which resource and why; a stack without a service role
is refused; the age limit; refusal without --yes; the Lambda handler on the spec's configuration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment import teardown as ttl_spec
from deployment.teardown import teardown_stacks, teardown_targets, time_to_live_spec
from mlops import teardown as lambda_code
from mlops.aws import AwsTarget, client
from mlops.cli import main
from mlops.teardown import TeardownError, TeardownTargets, Waiting, teardown
from tests.mlops.moto_cloud_extensions import (
    delay_stack_deletion,
    fail_stack_deletion,
    install_sagemaker_operations,
    install_stack_resources,
)
from tests.mlops.test_registry import seed_versions

ACCOUNT = "123456789012"


def cfn_exec_role(region: str) -> str:
    """The CDK bootstrap's CloudFormation execution role, which `cdk deploy` makes each stack's service role."""
    return f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{region}"


def endpoint_template(names: Names, package: str) -> dict[str, Any]:
    """The endpoint stack's structure (stacks/endpoint_stack.py) in the types moto's CloudFormation creates:
    model, config and endpoint (CloudFormation-named model and config), the time-to-live rule and its
    retained, unnamed log group. moto's Model wants PrimaryContainer where the stack has Containers."""
    return {"Resources": {
        "ServingModel": {"Type": "AWS::SageMaker::Model", "Properties": {
            "ExecutionRoleArn": names.execution_role_arn, "PrimaryContainer": {"ModelPackageName": package}}},
        "ServingConfig": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": {"Fn::GetAtt": ["ServingModel", "ModelName"]},
            "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}]}},
        "ServingEndpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": names.endpoint,
            "EndpointConfigName": {"Fn::GetAtt": ["ServingConfig", "EndpointConfigName"]}}},
        "TimeToLiveLogs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                           "Properties": {"RetentionInDays": 365}},
        "TimeToLiveSchedule": {"Type": "AWS::Events::Rule", "Properties": {
            "Name": names.endpoint_teardown, "ScheduleExpression": "rate(1 hour)", "State": "ENABLED"}},
    }}


def alerts_template(names: Names, monthly_usd: float) -> dict[str, Any]:
    """The alerts stack's structure (stacks/alerts_stack.py): the alerts topic and the cost budget notifying it."""
    return {"Resources": {
        "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": names.alerts_topic}},
        "CostBudget": {"Type": "AWS::Budgets::Budget", "Properties": {
            "Budget": {"BudgetName": f"{names.prefix}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                       "BudgetLimit": {"Amount": monthly_usd, "Unit": "USD"}},
            "NotificationsWithSubscribers": [{
                "Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                                 "Threshold": 80.0, "ThresholdType": "PERCENTAGE"},
                "Subscribers": [{"SubscriptionType": "SNS", "Address": {"Ref": "Alerts"}}]}]}},
    }}


def monitoring_template(names: Names) -> dict[str, Any]:
    """The monitoring stack's structure (stacks/monitoring_stack.py): Model Monitor schedule, dashboard."""
    return {"Resources": {
        "ModelMonitorJob0Schedule": {"Type": "AWS::SageMaker::MonitoringSchedule", "Properties": {
            "MonitoringScheduleName": names.monitoring_schedule, "EndpointName": names.endpoint,
            "MonitoringScheduleConfig": {"MonitoringType": "DataQuality",
                                         "MonitoringJobDefinitionName": f"{names.prefix}-data-quality"}}},
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": names.dashboard, "DashboardBody": json.dumps({"widgets": []})}},
    }}


def deploy(cfn: Any, name: str, template: dict[str, Any], *, role: str | None) -> None:
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template), **({"RoleARN": role} if role else {}))


@pytest.fixture
def deployed(aws: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What dev's deploy leaves: a registered version and a pipeline model, the endpoint and monitoring stacks
    (each with the cfn-exec role), the registry and alerts stacks (an e-mail subscriber on the topic), a Studio
    domain with apps."""
    install_sagemaker_operations(monkeypatch)
    install_stack_resources(monkeypatch)
    names = Names.of(dev)
    sm, s3, cfn = client("sagemaker", aws), client("s3", aws), client("cloudformation", aws)
    (package,) = seed_versions(aws, dev, [0.9], ["Approved"])
    s3.put_object(Bucket=names.bucket("artifacts"), Key="data/train.csv", Body=b"a,b\n1,2\n")
    sm.create_model(ModelName=names.model(1), ExecutionRoleArn=names.execution_role_arn,
                    Containers=[{"ModelPackageName": package}])
    role = cfn_exec_role(aws.region)
    deploy(cfn, names.stack("registry"), {"Resources": {"ApprovalEvents": {"Type": "AWS::Events::Rule", "Properties": {
        "Name": f"{names.prefix}-approvals", "EventPattern": {"source": ["aws.sagemaker"]}}}}}, role=role)
    assert dev.budget is not None
    deploy(cfn, names.stack("alerts"), alerts_template(names, dev.budget.monthly_usd), role=role)
    sns = client("sns", aws)
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{names.alerts_topic}")]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ml-team@example.com")
    deploy(cfn, names.stack("endpoint"), endpoint_template(names, package), role=role)
    deploy(cfn, names.stack("monitoring"), monitoring_template(names), role=role)
    domain = sm.create_domain(DomainName=names.studio_domain, AuthMode="IAM", DefaultUserSettings={
        "ExecutionRole": names.execution_role_arn}, SubnetIds=["subnet-1"], VpcId="vpc-1")["DomainArn"].split("/")[-1]
    for app_type, app_name in (("JupyterLab", "default"), ("CodeEditor", "default")):
        sm.create_app(DomainId=domain, UserProfileName="data-scientist", AppType=app_type, AppName=app_name)
    # moto names a template's endpoint itself (it ignores EndpointName).
    (endpoint,) = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    return {"sm": sm, "s3": s3, "cfn": cfn, "sns": sns, "budgets": client("budgets", aws),
            "logs": client("logs", aws), "names": names, "domain": domain,
            "package": package, "role": role, "endpoint": endpoint}


def _gone(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError:
        return True
    return False


def _stack_exists(cfn: Any, name: str) -> bool:
    return not _gone(cfn.describe_stacks, StackName=name)


def test_teardown_deletes_the_serving_stacks_and_keeps_data_models_registry_and_other_stacks(
    deployed: dict[str, Any], dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str],
) -> None:
    sm, cfn, names = deployed["sm"], deployed["cfn"], deployed["names"]
    (config,) = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert len(sm.list_monitoring_schedules(EndpointName=names.endpoint)["MonitoringScheduleSummaries"]) == 1
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    out = capsys.readouterr().out
    # CloudFormation deleted both stacks and, with them, what they held.
    for stack in teardown_stacks(dev):
        assert not _stack_exists(cfn, stack)
    assert _gone(sm.describe_endpoint, EndpointName=deployed["endpoint"])
    assert _gone(sm.describe_endpoint_config, EndpointConfigName=config)
    assert sm.list_monitoring_schedules(EndpointName=names.endpoint)["MonitoringScheduleSummaries"] == []
    assert {app["Status"] for app in sm.list_apps(DomainIdEquals=deployed["domain"])["Apps"]} == {"Deleted"}
    # Monitoring first: it names the endpoint.
    removed = [line for line in out.splitlines() if line.startswith("removed stack ")]
    assert [line.split()[2] for line in removed] == [names.stack("monitoring"), names.stack("endpoint")]
    assert f":endpoint/{deployed['endpoint']}," in removed[1]  # moto's account, not dev's
    assert f"SageMaker::MonitoringSchedule {names.monitoring_schedule}" in removed[0]
    for line in ("removed Studio app JupyterLab/default of data-scientist",
                 "removed Studio app CodeEditor/default of data-scientist"):
        assert line in out
    # Kept, and said so: the retained log group, models, the registry, buckets, other stacks, Studio.
    (log_group,) = deployed["logs"].describe_log_groups()["logGroups"]
    assert f"kept Logs::LogGroup {log_group['logGroupName']} of stack {names.stack('endpoint')} " \
           "(DeletionPolicy Retain)" in out
    assert sm.describe_model(ModelName=names.model(1))["ModelName"] == names.model(1)
    assert sm.describe_model_package(ModelPackageName=deployed["package"])["ModelApprovalStatus"] == "Approved"
    assert sm.describe_model_package_group(ModelPackageGroupName=names.model_package_group)
    assert sm.describe_domain(DomainId=deployed["domain"])["DomainName"] == names.studio_domain
    assert deployed["s3"].get_object(Bucket=names.bucket("artifacts"), Key="data/train.csv")["Body"].read()
    assert _stack_exists(cfn, names.stack("registry"))
    for line in ("kept 1 model(s)", f"kept model package group {names.model_package_group} with 1 version(s)",
                 f"kept Studio domain {names.studio_domain} and its user profiles",
                 f"kept buckets {names.bucket('data')}", f"kept stacks {names.stack('governance')}"):
        assert line in out
    assert "cdk deploy -c env=dev" in out


def test_teardown_keeps_the_alerts_topic_its_subscribers_and_the_budget(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    cfn, sns, names = deployed["cfn"], deployed["sns"], deployed["names"]
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{names.alerts_topic}")]
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    out = capsys.readouterr().out
    assert not _stack_exists(cfn, names.stack("monitoring"))
    assert _stack_exists(cfn, names.stack("alerts"))
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    subscribers = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Endpoint"] for s in subscribers] == ["ml-team@example.com"]  # nobody confirms again
    budget = deployed["budgets"].describe_budget(AccountId=ACCOUNT, BudgetName=f"{names.prefix}-monthly")["Budget"]
    assert budget["BudgetLimit"]["Unit"] == "USD"
    assert names.stack("alerts") not in "".join(line for line in out.splitlines() if line.startswith("removed"))
    assert (f"kept alerts topic {names.alerts_topic} with its subscriptions, and where configured the cost budget "
            f"and the training schedule (stack {names.stack('alerts')}, not touched)") in out
    assert "confirm" not in out


def test_after_a_teardown_the_next_deploy_creates_the_stacks_again(deployed: dict[str, Any]) -> None:
    cfn, sm, names = deployed["cfn"], deployed["sm"], deployed["names"]
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    # Nothing left behind collides: the endpoint and schedule names are free, the retained log group is unnamed.
    deploy(cfn, names.stack("endpoint"), endpoint_template(names, deployed["package"]), role=deployed["role"])
    deploy(cfn, names.stack("monitoring"), monitoring_template(names), role=deployed["role"])
    assert [e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]] == ["InService"]
    assert [s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules(
        EndpointName=names.endpoint)["MonitoringScheduleSummaries"]] == [names.monitoring_schedule]
    assert len(deployed["logs"].describe_log_groups()["logGroups"]) == 2  # the kept one and the new one


def test_a_second_teardown_has_nothing_to_remove(deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    capsys.readouterr()
    assert main(["teardown", "--env", "dev"]) == 0  # nothing to confirm
    out = capsys.readouterr().out
    assert "nothing to remove in dev" in out
    assert "removed" not in out


def test_without_yes_and_no_terminal_nothing_is_removed(deployed: dict[str, Any],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    names = deployed["names"]
    assert main(["teardown", "--env", "dev"]) == 1
    captured = capsys.readouterr()
    assert f"would remove stack {names.stack('endpoint')} (4 resource(s): " in captured.out
    # Two stacks and two Studio apps.
    assert captured.err.strip() == "error: nothing removed from dev: pass --yes to remove these 4 item(s)"
    assert deployed["sm"].describe_endpoint(EndpointName=deployed["endpoint"])["EndpointStatus"]
    assert _stack_exists(deployed["cfn"], names.stack("monitoring"))


def test_a_failed_stack_deletion_is_one_line_with_cloudformations_reason(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    names = deployed["names"]
    reason = "Resource handler returned message: \"Could not find endpoint\" (HandlerErrorCode: NotFound)"
    fail_stack_deletion(monkeypatch, names.stack("endpoint"), "ServingEndpoint", reason)
    assert main(["teardown", "--env", "dev", "--yes"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"error: stack {names.stack('endpoint')} DELETE_FAILED: ServingEndpoint (AWS::SageMaker::Endpoint): "
        f"{reason}; fix that and run the teardown again (it retries the deletion)")
    # What went before the failure is said; the failed stack stays, for the retry.
    assert f"removed stack {names.stack('monitoring')}" in captured.out
    (stack,) = deployed["cfn"].describe_stacks(StackName=names.stack("endpoint"))["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    # The retry reports its own attempt's failure, not the earlier one.
    fail_stack_deletion(monkeypatch, names.stack("endpoint"), "TimeToLiveSchedule", "Rule is in use")
    assert main(["teardown", "--env", "dev", "--yes"]) == 1
    assert capsys.readouterr().err.strip().startswith(
        f"error: stack {names.stack('endpoint')} DELETE_FAILED: TimeToLiveSchedule (AWS::Events::Rule): "
        "Rule is in use;")


def test_the_endpoint_stack_is_deleted_only_once_the_monitoring_stack_is_gone(
    deployed: dict[str, Any], dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfn, sm, names = deployed["cfn"], deployed["sm"], deployed["names"]
    deletes = delay_stack_deletion(monkeypatch, names.stack("monitoring"), polls=2)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        # Still deleting the monitoring stack: the endpoint stack has not been asked for.
        assert deletes == [names.stack("monitoring")]
        slept.append(seconds)

    targets = TeardownTargets.from_dict(teardown_targets(dev, studio=False))
    teardown(cfn, sm, targets, now=datetime.now(UTC), waiting=Waiting(poll_seconds=5, sleep=sleep))
    assert slept == [5, 5]
    assert deletes == [names.stack("monitoring"), names.stack("endpoint")]
    assert not _stack_exists(cfn, names.stack("endpoint"))


def test_a_deletion_outlasting_the_wait_stops_before_the_endpoint_and_the_next_run_follows_it(
    deployed: dict[str, Any], dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfn, sm, names = deployed["cfn"], deployed["sm"], deployed["names"]
    deletes = delay_stack_deletion(monkeypatch, names.stack("monitoring"), polls=3)
    targets = TeardownTargets.from_dict(teardown_targets(dev, studio=False))
    short = Waiting(poll_seconds=60, timeout_seconds=60, sleep=lambda seconds: None)
    with pytest.raises(TeardownError) as caught:
        teardown(cfn, sm, targets, now=datetime.now(UTC), waiting=short)
    assert str(caught.value) == (f"stack {names.stack('monitoring')} still DELETE_IN_PROGRESS after 1 min; run the "
                                 "teardown again to follow it")
    assert _stack_exists(cfn, names.stack("endpoint"))
    # The next run asks for no second deletion of the monitoring stack: it waits for the one under way.
    report = teardown(cfn, sm, targets, now=datetime.now(UTC), waiting=short)
    assert deletes == [names.stack("monitoring"), names.stack("endpoint")]
    assert [what.split(" (")[0] for what in report.removed] == [f"stack {names.stack('monitoring')}",
                                                                f"stack {names.stack('endpoint')}"]


def test_a_stack_without_a_service_role_is_refused_before_anything_is_deleted(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    cfn, names = deployed["cfn"], deployed["names"]
    cfn.delete_stack(StackName=names.stack("endpoint"))
    deploy(cfn, names.stack("endpoint"), endpoint_template(names, deployed["package"]), role=None)
    assert main(["teardown", "--env", "dev", "--yes"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: stack {names.stack('endpoint')} has no CloudFormation service role (RoleARN): "
                          "nothing deleted")
    assert _stack_exists(cfn, names.stack("monitoring"))


def test_time_to_live_keeps_a_young_endpoint_and_deletes_the_stacks_of_an_old_one(
    deployed: dict[str, Any], dev: EnvironmentConfig,
) -> None:
    cfn, sm, names = deployed["cfn"], deployed["sm"], deployed["names"]
    targets = TeardownTargets.from_dict({**teardown_targets(dev, studio=False), "older_than_hours": 24,
                                         "own_stack": names.stack("endpoint")})
    young = teardown(cfn, sm, targets, now=datetime.now(UTC) + timedelta(hours=23))
    assert young.removed == []
    assert young.kept == [f"stack {names.stack('endpoint')} (deployed 23.0 h ago, time-to-live 24 h)"]
    old = teardown(cfn, sm, targets, now=datetime.now(UTC) + timedelta(hours=25))
    assert [what.split(" (")[0] for what in old.removed] == [f"stack {names.stack('monitoring')}",
                                                             f"stack {names.stack('endpoint')}"]
    # Its own stack: started, not followed (its role goes with it).
    assert old.removed[1].endswith(": deletion started")
    assert not _stack_exists(cfn, names.stack("endpoint"))
    # The timer never touches Studio: its apps have their own idle shutdown.
    assert {app["Status"] for app in sm.list_apps(DomainIdEquals=deployed["domain"])["Apps"]} == {"InService"}


def test_the_timer_removes_nothing_when_the_endpoint_stack_is_gone(deployed: dict[str, Any],
                                                                   dev: EnvironmentConfig) -> None:
    cfn, names = deployed["cfn"], deployed["names"]
    cfn.delete_stack(StackName=names.stack("endpoint"))
    targets = TeardownTargets.from_dict({**teardown_targets(dev, studio=False), "older_than_hours": 1})
    report = teardown(cfn, deployed["sm"], targets, now=datetime.now(UTC) + timedelta(hours=2))
    assert report.removed == []
    assert _stack_exists(cfn, names.stack("monitoring"))  # it times the endpoint stack: none, nothing to time


def test_the_lambda_runs_the_teardown_the_spec_configures(deployed: dict[str, Any], dev: EnvironmentConfig,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spec = time_to_live_spec(dev.model_copy(update={"endpoint": dev.endpoint.model_copy(
        update={"time_to_live_hours": 8})}))
    assert spec is not None
    for name, value in spec.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", dev.region)
    answer = lambda_code.handler({}, None)
    # Just deployed: within its eight hours, so kept; the answer is what the Lambda logs.
    assert answer["removed"] == []
    assert answer["kept"][0].startswith(f"stack {deployed['names'].stack('endpoint')} (deployed 0.0 h ago")
    assert json.loads(spec.environment[ttl_spec.TARGETS_VARIABLE])["older_than_hours"] == 8


def test_spec_and_lambda_agree_on_the_variable_and_the_fields(dev: EnvironmentConfig) -> None:
    assert ttl_spec.TARGETS_VARIABLE == lambda_code.TARGETS_VARIABLE
    names = Names.of(dev)
    targets = TeardownTargets.from_dict(teardown_targets(dev))
    assert targets == TeardownTargets(stacks=(names.stack("monitoring"), names.stack("endpoint")),
                                      studio_domain=names.studio_domain)
    assert time_to_live_spec(dev) is None  # dev's config sets no time-to-live
