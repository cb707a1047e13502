"""The experimentation stack: a VPC-only, KMS-encrypted IAM Studio domain, one profile per persona, idle shutdown,
and the managed MLflow server with its artifacts in the artifacts bucket; off by default in prod."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config.settings import PERSONAS, ConfigError, EnvironmentConfig, ExperimentationConfig
from governance.execution_role import TRAINING_JOB_MLFLOW_ACTIONS
from tests.conftest import SynthesizedApp

STACK = "mlops-kit-staging-experimentation"


@pytest.fixture(scope="module")
def staging(synthesized_app: SynthesizedApp) -> Template:
    return Template.from_json(synthesized_app.template(STACK))


def test_studio_domain_is_iam_vpc_only_and_encrypted_with_the_project_key(
    staging: Template, environments: dict[str, EnvironmentConfig]
) -> None:
    vpc = environments["staging"].vpc
    assert vpc is not None
    staging.has_resource_properties("AWS::SageMaker::Domain", {
        "DomainName": "mlops-kit-staging-studio", "AuthMode": "IAM", "AppNetworkAccessType": "VpcOnly",
        "VpcId": vpc.vpc_id, "SubnetIds": list(vpc.subnet_ids),
        "KmsKeyId": "arn:aws:kms:eu-west-1:222222222222:alias/mlops-kit-staging",
        "DefaultUserSettings": Match.object_like({"SecurityGroups": list(vpc.security_group_ids),
                                                  "SharingSettings": {"NotebookOutputOption": "Disabled"}}),
    })


def test_idle_apps_are_shut_down_after_the_configured_time(
    staging: Template, environments: dict[str, EnvironmentConfig]
) -> None:
    minutes = environments["staging"].experimentation.idle_timeout_minutes
    idle = {"AppLifecycleManagement": {"IdleSettings": Match.object_like(
        {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": minutes})}}
    staging.has_resource_properties("AWS::SageMaker::Domain", {"DefaultUserSettings": Match.object_like(
        {"JupyterLabAppSettings": idle, "CodeEditorAppSettings": idle})})


def test_one_user_profile_per_persona_runs_as_that_personas_role(staging: Template) -> None:
    profiles = staging.find_resources("AWS::SageMaker::UserProfile")
    by_name = {body["Properties"]["UserProfileName"]: body["Properties"] for body in profiles.values()}
    assert sorted(by_name) == sorted(PERSONAS)
    (domain,) = staging.find_resources("AWS::SageMaker::Domain")
    for persona, properties in by_name.items():
        role = f"arn:aws:iam::222222222222:role/mlops-kit-staging-{persona}"
        assert properties["UserSettings"]["ExecutionRole"] == role
        assert properties["DomainId"] == {"Fn::GetAtt": [domain, "DomainId"]}


def test_mlflow_server_keeps_artifacts_in_the_artifacts_bucket(
    staging: Template, synthesized_app: SynthesizedApp
) -> None:
    artifacts = synthesized_app.template("mlops-kit-staging-governance")
    bucket_names = [body["Properties"].get("BucketName") for body in artifacts["Resources"].values()
                    if body["Type"] == "AWS::S3::Bucket"]
    (bucket,) = [name for name in bucket_names if isinstance(name, str) and "artifacts" in name]
    staging.has_resource_properties("AWS::SageMaker::MlflowTrackingServer", {
        "TrackingServerName": "mlops-kit-staging-mlflow", "ArtifactStoreUri": f"s3://{bucket}/mlflow/",
        "RoleArn": "arn:aws:iam::222222222222:role/mlops-kit-staging-sagemaker-execution",
        "TrackingServerSize": "Small"})


def test_prod_has_no_experimentation_stack_by_default(synthesized_app: SynthesizedApp,
                                                      environments: dict[str, EnvironmentConfig]) -> None:
    assert environments["prod"].experimentation.enabled is None
    assert not environments["prod"].experimentation_enabled
    assert "mlops-kit-prod-experimentation" not in synthesized_app.templates


def test_an_environment_without_a_vpc_gets_a_note_not_a_broken_domain(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    import aws_cdk as cdk

    from stacks.experimentation_stack import ExperimentationStack
    from stacks.stage import experimentation_note

    assert environments["dev"].experimentation_enabled
    assert environments["dev"].vpc is None
    assert "mlops-kit-dev-experimentation" not in synthesized_app.templates
    assert "vpc block" in experimentation_note(environments["dev"])
    with pytest.raises(ConfigError, match=r"environment 'dev'.*vpc block"):
        ExperimentationStack(cdk.App(), "NoVpc", env_config=environments["dev"])


@pytest.mark.parametrize(("values", "message"), [
    ({"idle_timeout_minutes": 30}, "idle_timeout_minutes"),
    ({"mlflow_server_size": "Huge"}, "mlflow_server_size"),
])
def test_bad_experimentation_values_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentationConfig.model_validate(values)


def test_the_stack_passes_every_pack(synthesized_app: SynthesizedApp) -> None:
    # Synthesis ran both nag packs and the MLOps pack; the stack is in it, so none found anything unaccepted.
    assert STACK in synthesized_app.template_files


def test_execution_role_may_log_to_this_tracking_server_only(staging: Template,
                                                              synthesized_app: SynthesizedApp) -> None:
    (server,) = staging.find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    name = server["Properties"]["TrackingServerName"]
    governance = synthesized_app.template("mlops-kit-staging-governance")
    statements = [statement for body in governance["Resources"].values() if body["Type"] == "AWS::IAM::ManagedPolicy"
                  for statement in body["Properties"]["PolicyDocument"]["Statement"]]
    mlflow = [statement for statement in statements
              if any(str(action).startswith("sagemaker-mlflow:") for action in _as_list(statement["Action"]))]
    assert mlflow == [{"Sid": "LogToTrackingServer", "Effect": "Allow", "Action": sorted(TRAINING_JOB_MLFLOW_ACTIONS),
                       "Resource": f"arn:aws:sagemaker:eu-west-1:222222222222:mlflow-tracking-server/{name}"}]


def test_environments_without_a_tracking_server_grant_no_mlflow_access(synthesized_app: SynthesizedApp) -> None:
    for env in ("dev", "prod"):
        text = str(synthesized_app.template(f"mlops-kit-{env}-governance"))
        assert "sagemaker-mlflow" not in text, env


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
