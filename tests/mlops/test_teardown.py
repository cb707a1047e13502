"""`mlops teardown` and the endpoint's time-to-live against moto: what goes (endpoint, its config, monitoring
schedules of both engines, Studio apps) and what stays (models, model packages, the group, buckets, the
Studio domain); the age limit; refusal without --yes; the Lambda handler on the spec's configuration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment import teardown as ttl_spec
from deployment.teardown import teardown_targets, time_to_live_spec
from mlops import teardown as lambda_code
from mlops.aws import AwsTarget, client
from mlops.cli import main
from mlops.teardown import TeardownTargets, teardown
from tests.mlops.moto_cloud_extensions import install_sagemaker_operations
from tests.mlops.test_registry import seed_versions

SCHEDULE_ROLE = "arn:aws:iam::123456789012:role/scheduler"


@pytest.fixture
def deployed(aws: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the dev stacks create: a served version, both engines' monitoring schedules, a Studio domain with apps."""
    install_sagemaker_operations(monkeypatch)
    names = Names.of(dev)
    sm, scheduler, s3 = client("sagemaker", aws), client("scheduler", aws), client("s3", aws)
    (package,) = seed_versions(aws, dev, [0.9], ["Approved"])
    s3.put_object(Bucket=names.bucket("artifacts"), Key="data/train.csv", Body=b"a,b\n1,2\n")
    model, config = names.model(1), names.endpoint_config(1)
    sm.create_model(ModelName=model, ExecutionRoleArn=names.execution_role_arn,
                    Containers=[{"ModelPackageName": package}])
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=config)
    definition = f"{names.prefix}-data-quality"
    sm.create_data_quality_job_definition(
        JobDefinitionName=definition, RoleArn=names.execution_role_arn,
        DataQualityAppSpecification={"ImageUri": names.image_uri("monitor", "t")},
        DataQualityJobInput={"EndpointInput": {"EndpointName": names.endpoint,
                                               "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{names.bucket('reports')}/m", "LocalPath": "/opt/ml/processing/output"}}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}})
    sm.create_monitoring_schedule(MonitoringScheduleName=names.monitoring_schedule, MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}, "MonitoringType": "DataQuality",
        "MonitoringJobDefinitionName": definition})
    scheduler.create_schedule(Name=names.model_quality_schedule, ScheduleExpression="cron(0 * * * ? *)",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob",
                                      "RoleArn": SCHEDULE_ROLE, "Input": "{}"})
    domain = sm.create_domain(DomainName=names.studio_domain, AuthMode="IAM", DefaultUserSettings={
        "ExecutionRole": names.execution_role_arn}, SubnetIds=["subnet-1"], VpcId="vpc-1")["DomainArn"].split("/")[-1]
    for app_type, app_name in (("JupyterLab", "default"), ("CodeEditor", "default")):
        sm.create_app(DomainId=domain, UserProfileName="data-scientist", AppType=app_type, AppName=app_name)
    return {"sm": sm, "scheduler": scheduler, "s3": s3, "names": names, "domain": domain, "package": package}


def _gone(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError:
        return True
    return False


def test_teardown_removes_serving_and_studio_apps_and_keeps_data_models_and_registry(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    sm, scheduler, names = deployed["sm"], deployed["scheduler"], deployed["names"]
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    out = capsys.readouterr().out
    # Removed, and said so.
    assert _gone(sm.describe_endpoint, EndpointName=names.endpoint)
    assert _gone(sm.describe_endpoint_config, EndpointConfigName=names.endpoint_config(1))
    assert sm.list_monitoring_schedules(EndpointName=names.endpoint)["MonitoringScheduleSummaries"] == []
    assert _gone(scheduler.get_schedule, Name=names.model_quality_schedule)
    assert {app["Status"] for app in sm.list_apps(DomainIdEquals=deployed["domain"])["Apps"]} == {"Deleted"}
    for line in (f"removed endpoint {names.endpoint}", f"removed endpoint config {names.endpoint_config(1)}",
                 f"removed monitoring schedule {names.monitoring_schedule}",
                 f"removed monitoring job schedule {names.model_quality_schedule} (EventBridge Scheduler)",
                 "removed Studio app JupyterLab/default of data-scientist",
                 "removed Studio app CodeEditor/default of data-scientist"):
        assert line in out
    # Kept, and said so.
    assert sm.describe_model(ModelName=names.model(1))["ModelName"] == names.model(1)
    assert sm.describe_model_package(ModelPackageName=deployed["package"])["ModelApprovalStatus"] == "Approved"
    assert sm.describe_model_package_group(ModelPackageGroupName=names.model_package_group)
    assert sm.describe_domain(DomainId=deployed["domain"])["DomainName"] == names.studio_domain
    assert deployed["s3"].get_object(Bucket=names.bucket("artifacts"), Key="data/train.csv")["Body"].read()
    for line in ("kept 1 model(s)", f"kept model package group {names.model_package_group} with 1 version(s)",
                 f"kept Studio domain {names.studio_domain} and its user profiles",
                 f"kept buckets {names.bucket('data')}"):
        assert line in out
    assert f"cdk destroy -c env=dev {names.stack('endpoint')}" in out


def test_a_second_teardown_has_nothing_to_remove(deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teardown", "--env", "dev", "--yes"]) == 0
    capsys.readouterr()
    assert main(["teardown", "--env", "dev"]) == 0  # nothing to confirm
    out = capsys.readouterr().out
    assert "nothing to remove in dev" in out
    assert "removed" not in out


def test_without_yes_and_no_terminal_nothing_is_removed(deployed: dict[str, Any],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teardown", "--env", "dev"]) == 1
    captured = capsys.readouterr()
    assert f"would remove endpoint {deployed['names'].endpoint}" in captured.out
    assert captured.err.strip() == "error: nothing removed from dev: pass --yes to remove these 6 resource(s)"
    assert deployed["sm"].describe_endpoint(EndpointName=deployed["names"].endpoint)["EndpointStatus"]


def test_time_to_live_keeps_a_young_endpoint_and_removes_an_old_one(deployed: dict[str, Any],
                                                                     dev: EnvironmentConfig) -> None:
    sm, scheduler, names = deployed["sm"], deployed["scheduler"], deployed["names"]
    targets = TeardownTargets.from_dict({**teardown_targets(dev, studio=False), "older_than_hours": 24})
    young = teardown(sm, scheduler, targets, now=datetime.now(UTC) + timedelta(hours=23))
    assert young.removed == []
    assert young.kept[0].startswith(f"endpoint {names.endpoint} (deployed 23.0 h ago, time-to-live 24 h)")
    old = teardown(sm, scheduler, targets, now=datetime.now(UTC) + timedelta(hours=25))
    assert old.removed == [f"endpoint {names.endpoint}", f"endpoint config {names.endpoint_config(1)}",
                           f"monitoring schedule {names.monitoring_schedule}",
                           f"monitoring job schedule {names.model_quality_schedule} (EventBridge Scheduler)"]
    # The timer never touches Studio: its apps have their own idle shutdown.
    assert {app["Status"] for app in sm.list_apps(DomainIdEquals=deployed["domain"])["Apps"]} == {"InService"}


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
    assert answer["kept"][0].startswith(f"endpoint {deployed['names'].endpoint} (deployed 0.0 h ago")
    assert json.loads(spec.environment[ttl_spec.TARGETS_VARIABLE])["older_than_hours"] == 8


def test_spec_and_lambda_agree_on_the_variable_and_the_fields(dev: EnvironmentConfig) -> None:
    assert ttl_spec.TARGETS_VARIABLE == lambda_code.TARGETS_VARIABLE
    names = Names.of(dev)
    targets = TeardownTargets.from_dict(teardown_targets(dev))
    assert targets == TeardownTargets(endpoint=names.endpoint,
                                      schedules=(names.monitoring_schedule, names.model_quality_schedule),
                                      studio_domain=names.studio_domain)
    assert time_to_live_spec(dev) is None  # dev's config sets no time-to-live
