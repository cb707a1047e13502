"""Governance enforced, not just declared: the synthesized persona policies judged by IAM evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.sagemaker.responses import SageMakerResponse

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.local.aws import moto_extensions
from tests.conftest import SynthesizedApp

REGION = "eu-west-1"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0d4e9a52-5c3f-4b59-9f5e-6a7b8c9d0e1f"


def _resolve_tokens(value: Any) -> Any:
    """The template's policies reference the KMS key by Fn::GetAtt; evaluation needs a concrete ARN."""
    if isinstance(value, dict):
        if set(value) & {"Fn::GetAtt", "Ref", "Fn::Join", "Fn::Sub"}:
            return KEY_ARN
        return {k: _resolve_tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_tokens(v) for v in value]
    return value


def _synthesized_policy(synthesized_app: SynthesizedApp, names: Names, policy_name: str) -> dict[str, Any]:
    template = synthesized_app.template(names.stack("governance"))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and properties["ManagedPolicyName"] == policy_name:
            return dict(_resolve_tokens(properties["PolicyDocument"]))
    raise AssertionError(f"{policy_name} is not in the template")


@pytest.fixture(scope="module")
def dev(environments: dict[str, EnvironmentConfig]) -> Names:
    return Names.of(environments["dev"])


def _effective(identity: dict[str, Any], boundary: dict[str, Any], action: str, resource: str) -> bool:
    """IAM's rule for a role with a boundary: allowed by both, denied by neither."""
    results = [IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource) for doc in (identity, boundary)]
    return all(r == PermissionResult.PERMITTED for r in results)


def _matrix_cases(names: Names) -> list[tuple[str, str, str, bool]]:
    package = f"arn:aws:sagemaker:{names.region}:{names.account}:model-package/{names.model_package_group}/3"
    other_group = f"arn:aws:sagemaker:{names.region}:{names.account}:model-package/someone-elses-models/1"
    data_object = f"arn:aws:s3:::{names.bucket('data')}/datasets/raw.csv"
    report_object = f"arn:aws:s3:::{names.bucket('reports')}/monitoring/constraint_violations.json"
    pipeline = names.pipeline_arn
    return [
        # (persona, action, resource, allowed)
        ("model-approver", "sagemaker:UpdateModelPackage", package, True),
        ("model-approver", "sagemaker:UpdateModelPackage", other_group, False),
        ("data-scientist", "sagemaker:UpdateModelPackage", package, False),
        ("ml-engineer", "sagemaker:UpdateModelPackage", package, False),
        ("auditor", "sagemaker:UpdateModelPackage", package, False),
        *[
            (p, "sagemaker:CreateModelPackage", package, False)
            for p in ("data-scientist", "ml-engineer", "model-approver", "auditor")
        ],
        ("data-scientist", "sagemaker:StartPipelineExecution", pipeline, True),
        ("ml-engineer", "sagemaker:StartPipelineExecution", pipeline, True),
        ("ml-engineer", "sagemaker:StopPipelineExecution", f"{pipeline}/execution/abc", True),
        ("auditor", "sagemaker:StartPipelineExecution", pipeline, False),
        ("model-approver", "sagemaker:StartPipelineExecution", pipeline, False),
        ("data-scientist", "s3:PutObject", data_object, True),
        ("auditor", "s3:PutObject", data_object, False),
        ("auditor", "s3:GetObject", report_object, True),
        ("auditor", "sagemaker:DescribeModelPackage", package, True),
        ("data-scientist", "iam:CreateRole", "*", False),
        ("ml-engineer", "iam:PassRole", names.execution_role_arn, False),
        # The route's Images step starts the environment's own image build as the ml-engineer, nothing more.
        ("ml-engineer", "codebuild:StartBuild", names.image_build_project_arn, True),
        ("ml-engineer", "codebuild:BatchGetBuilds", names.image_build_project_arn, True),
        ("ml-engineer", "codebuild:StartBuild", names.arn("codebuild", "project/someone-elses-build"), False),
        ("ml-engineer", "codebuild:UpdateProject", names.image_build_project_arn, False),
        *[(p, "codebuild:StartBuild", names.image_build_project_arn, False)
          for p in ("data-scientist", "model-approver", "auditor")],
    ]


def test_persona_by_action_matrix_on_real_arns(synthesized_app: SynthesizedApp, dev: Names) -> None:
    boundary = _synthesized_policy(synthesized_app, dev, dev.permission_boundary)
    failures = []
    for persona, action, resource, expected in _matrix_cases(dev):
        identity = _synthesized_policy(synthesized_app, dev, f"{dev.persona_role(persona)}-policy")
        if _effective(identity, boundary, action, resource) != expected:
            failures.append(f"{persona} {action} {resource}: expected {'allowed' if expected else 'denied'}")
    assert not failures, "\n".join(failures)


def test_boundary_caps_even_an_admin_policy(synthesized_app: SynthesizedApp, dev: Names) -> None:
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    boundary = _synthesized_policy(synthesized_app, dev, dev.permission_boundary)
    package = f"arn:aws:sagemaker:{dev.region}:{dev.account}:model-package/{dev.model_package_group}/1"
    assert not _effective(admin, boundary, "sagemaker:CreateModelPackage", package)
    assert not _effective(admin, boundary, "iam:AttachRolePolicy", "*")
    assert not _effective(admin, boundary, "kms:ScheduleKeyDeletion", KEY_ARN)
    assert not _effective(admin, boundary, "ec2:RunInstances", "*")


# --- request-level enforcement: real SageMaker calls through moto with IAM checks switched on ---

SETUP_CALLS = 10  # the calls below that run before enforcement starts (moto counts them)


@dataclass
class Enforced:
    as_persona: Callable[[str], Any]
    package_arn: str


def _setup(synthesized_app: SynthesizedApp, names: Names) -> Enforced:
    """SETUP_CALLS unauthenticated calls as the account admin; every later call is IAM-checked."""
    iam = boto3.client("iam", region_name=REGION)
    keys = {}
    for persona in ("data-scientist", "model-approver"):
        document = _synthesized_policy(synthesized_app, names, f"{names.persona_role(persona)}-policy")
        arn = iam.create_policy(PolicyName=persona, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
        iam.create_user(UserName=persona)
        iam.attach_user_policy(UserName=persona, PolicyArn=arn)
        keys[persona] = iam.create_access_key(UserName=persona)["AccessKey"]
    admin = boto3.client("sagemaker", region_name=REGION)
    admin.create_model_package_group(ModelPackageGroupName=names.model_package_group)
    package_arn = admin.create_model_package(
        ModelPackageGroupName=names.model_package_group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification=_inference(names, "v1"),
    )["ModelPackageArn"]

    def as_persona(persona: str) -> Any:
        key = keys[persona]
        return boto3.client(
            "sagemaker",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )

    return Enforced(as_persona=as_persona, package_arn=package_arn)


def _inference(names: Names, tag: str) -> dict[str, Any]:
    return {
        "Containers": [{"Image": names.image_uri("inference", tag)}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }


@contextmanager
def installed_moto_extensions() -> Iterator[None]:
    """moto_extensions.install() for one block: moto's classes are then put back as they were, so no
    later test passes or fails because of a patch made here."""
    before = dict(vars(SageMakerResponse))
    moto_extensions.install()
    try:
        yield
    finally:
        for name in set(vars(SageMakerResponse)) - set(before):
            delattr(SageMakerResponse, name)
        for name, value in before.items():
            if vars(SageMakerResponse).get(name) is not value:
                setattr(SageMakerResponse, name, value)


def test_the_moto_extension_is_undone_after_its_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(SageMakerResponse, "_determine_resource", raising=False)  # moto as shipped
    with installed_moto_extensions():
        assert hasattr(SageMakerResponse, "_determine_resource")
    assert not hasattr(SageMakerResponse, "_determine_resource")


@pytest.fixture
def enforced(synthesized_app: SynthesizedApp, dev: Names,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Runs a scenario inside mock_aws with IAM enforcement after the setup calls."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", dev.account)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def run(scenario: Callable[[Enforced], None]) -> None:
        @set_initial_no_auth_action_count(SETUP_CALLS)
        def enforced_block() -> None:
            scenario(_setup(synthesized_app, dev))

        with mock_aws():
            enforced_block()

    with installed_moto_extensions():
        yield run


def test_data_scientist_is_denied_model_approval(enforced: Callable[..., None]) -> None:
    def scenario(aws: Enforced) -> None:
        client = aws.as_persona("data-scientist")
        with pytest.raises(ClientError) as denied:
            client.update_model_package(ModelPackageArn=aws.package_arn, ModelApprovalStatus="Approved")
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    enforced(scenario)


def test_model_approver_may_approve_and_the_status_changes(enforced: Callable[..., None]) -> None:
    def scenario(aws: Enforced) -> None:
        client = aws.as_persona("model-approver")
        client.update_model_package(ModelPackageArn=aws.package_arn, ModelApprovalStatus="Approved")
        assert client.describe_model_package(ModelPackageName=aws.package_arn)["ModelApprovalStatus"] == "Approved"

    enforced(scenario)


def test_model_approver_cannot_register_a_model(enforced: Callable[..., None], dev: Names) -> None:
    def scenario(aws: Enforced) -> None:
        client = aws.as_persona("model-approver")
        with pytest.raises(ClientError) as denied:
            client.create_model_package(
                ModelPackageGroupName=dev.model_package_group, InferenceSpecification=_inference(dev, "v2")
            )
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    enforced(scenario)
