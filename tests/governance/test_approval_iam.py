"""The approval gate in IAM (issue 12): the synthesized execution role cannot register an Approved version
or change an approval, a broad policy attached later changes neither, and VPC jobs stay in their VPC.

moto's IAMPolicy evaluates `StringEquals` conditions only (other operators count as met) and reports a
Deny statement naming the action as a denial whatever its condition: so the denials are evaluated on the
whole synthesized policy, what the Allow permits on the Allow statements alone, and the Deny statements
are asserted as written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from config.naming import Names
from config.settings import EnvironmentConfig
from governance.execution_role import execution_role_policy
from governance.policies import permission_boundary, persona_policy
from tests.conftest import ENVIRONMENTS, SynthesizedApp
from tests.governance.test_personas import KEY_ARN, _synthesized_policy

STATUS_KEY = "sagemaker:ModelApprovalStatus"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _evaluate(document: dict[str, Any], action: str, resource: str, **context: str) -> PermissionResult:
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource, incoming_condition_values=context)


def _package(names: Names, version: int = 7) -> str:
    return f"arn:aws:sagemaker:eu-west-1:{names.account}:model-package/{names.model_package_group}/{version}"


def _execution_policy(synthesized_app: SynthesizedApp, env: EnvironmentConfig) -> dict[str, Any]:
    names = Names.of(env)
    return _synthesized_policy(synthesized_app, names, f"{names.execution_role}-policy")


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_execution_role_cannot_register_an_approved_version(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    policy = _execution_policy(synthesized_app, environments[name])
    package = _package(names)
    for status in ("Approved", "Rejected"):
        assert _evaluate(policy, "sagemaker:CreateModelPackage", package, **{STATUS_KEY: status}) == \
            PermissionResult.DENIED
    assert _evaluate(policy, "sagemaker:UpdateModelPackage", package, **{STATUS_KEY: "Approved"}) == \
        PermissionResult.DENIED
    allows = {**policy, "Statement": [s for s in policy["Statement"] if s["Effect"] == "Allow"]}
    assert _evaluate(allows, "sagemaker:CreateModelPackage", package, **{STATUS_KEY: "PendingManualApproval"}) == \
        PermissionResult.PERMITTED
    assert _evaluate(allows, "sagemaker:CreateModelPackage", package, **{STATUS_KEY: "Approved"}) != \
        PermissionResult.PERMITTED
    assert _evaluate(allows, "sagemaker:UpdateModelPackage", package) != PermissionResult.PERMITTED


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_registration_condition_and_denies_are_in_the_template(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    statements = {s["Sid"]: s for s in _execution_policy(synthesized_app, environments[name])["Statement"]}
    group = f"arn:aws:sagemaker:eu-west-1:{names.account}:model-package-group/mlops-kit-{name}-models"
    assert statements["RegisterModelsAsPending"] == {
        "Sid": "RegisterModelsAsPending", "Effect": "Allow", "Action": "sagemaker:CreateModelPackage",
        "Resource": [group, f"arn:aws:sagemaker:eu-west-1:{names.account}:model-package/mlops-kit-{name}-models/*"],
        "Condition": {"StringEquals": {STATUS_KEY: "PendingManualApproval"}},
    }
    # A missing status counts as "not equal" for StringNotEquals: a request must name the pending status.
    assert statements["RegisterNothingButPending"] == {
        "Sid": "RegisterNothingButPending", "Effect": "Deny", "Action": "sagemaker:CreateModelPackage",
        "Resource": "*", "Condition": {"StringNotEquals": {STATUS_KEY: "PendingManualApproval"}},
    }
    assert statements["NeverChangeApproval"] == {
        "Sid": "NeverChangeApproval", "Effect": "Deny", "Action": "sagemaker:UpdateModelPackage", "Resource": "*",
    }
    granted = [s for s in statements.values() if s["Effect"] == "Allow"]
    creating = [s for s in granted if "sagemaker:CreateModelPackage" in json.dumps(s["Action"])]
    assert [s["Sid"] for s in creating] == ["RegisterModelsAsPending"]
    assert not [s for s in granted if "sagemaker:UpdateModelPackage" in json.dumps(s["Action"])]


def test_a_broad_policy_attached_to_the_execution_role_still_cannot_approve(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    names = Names.of(environments["prod"])
    policy = _execution_policy(synthesized_app, environments["prod"])
    package = _package(names)
    for action, status in (("sagemaker:CreateModelPackage", "Approved"), ("sagemaker:UpdateModelPackage", "Approved")):
        results = [_evaluate(doc, action, package, **{STATUS_KEY: status}) for doc in (ADMIN, policy)]
        assert PermissionResult.DENIED in results, action


def _effective(identity: list[dict[str, Any]], boundary: dict[str, Any] | None, action: str, resource: str,
               principal: str | None = None) -> bool:
    """IAM's rule for a role with a boundary: an explicit Deny anywhere wins; otherwise some identity
    policy and the boundary (when there is one) must both allow. `principal` is the caller's
    aws:PrincipalArn (moto evaluates StringEquals on it)."""
    context = {"aws:PrincipalArn": principal} if principal else {}
    identity_results = [_evaluate(doc, action, resource, **context) for doc in identity]
    boundary_result = PermissionResult.PERMITTED if boundary is None else _evaluate(boundary, action, resource,
                                                                                     **context)
    if PermissionResult.DENIED in (*identity_results, boundary_result):
        return False
    return PermissionResult.PERMITTED in identity_results and boundary_result == PermissionResult.PERMITTED


def _role(names: Names, persona: str) -> str:
    return f"arn:aws:iam::{names.account}:role/{names.persona_role(persona)}"


def test_the_data_scientists_own_deny_stops_approval_under_a_later_admin_policy(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    names = Names.of(environments["dev"])
    data_scientist = _synthesized_policy(synthesized_app, names, f"{names.persona_role('data-scientist')}-policy")
    boundary = _synthesized_policy(synthesized_app, names, names.permission_boundary)
    package = _package(names)
    # Layer 1, the data scientist's own explicit deny: it holds under an admin policy even without
    # the boundary (this fails if the deny is removed; see the next test).
    assert not _effective([data_scientist, ADMIN], None, "sagemaker:UpdateModelPackage", package)
    assert not _effective([data_scientist, ADMIN], boundary, "sagemaker:UpdateModelPackage", package,
                          _role(names, "data-scientist"))
    # Layer 2, the boundary: its union includes the approver's right, capped to the approver's principal.
    weakened = {**data_scientist, "Statement": [s for s in data_scientist["Statement"]
                                                if "sagemaker:UpdateModelPackage" not in s["Action"]]}
    assert not _effective([weakened, ADMIN], boundary, "sagemaker:UpdateModelPackage", package,
                          _role(names, "data-scientist"))
    approver = _synthesized_policy(synthesized_app, names, f"{names.persona_role('model-approver')}-policy")
    assert _effective([approver], boundary, "sagemaker:UpdateModelPackage", package, _role(names, "model-approver"))
    # ... and the boundary caps everything the admin policy adds beyond the personas' union.
    for action, resource in (("ec2:RunInstances", "*"), ("iam:CreateRole", "*"), ("sagemaker:CreateModelPackage",
                                                                                   package)):
        assert not _effective([data_scientist, ADMIN], boundary, action, resource), action
    # What the data scientist is granted still works under the boundary.
    assert _effective([data_scientist], boundary, "sagemaker:StartPipelineExecution", names.pipeline_arn)


def test_the_deny_test_above_can_fail() -> None:
    # With the data scientist's deny removed, an admin policy allows approval (the first assertion above
    # would fail), and so would a boundary that did not cap approval to the approver.
    names = Names(project="mlops-kit", env="dev", account="111111111111", region="eu-west-1")
    data_scientist = persona_policy("data-scientist", names, KEY_ARN)
    weakened = {**data_scientist, "Statement": [s for s in data_scientist["Statement"]
                                                if s["Sid"] != "OnlyTheApproverApproves"]}
    assert _effective([weakened, ADMIN], None, "sagemaker:UpdateModelPackage", _package(names))
    boundary = permission_boundary(names, KEY_ARN)
    uncapped = {**boundary, "Statement": [{k: v for k, v in s.items() if k != "Condition"}
                                          if s["Action"] == ["sagemaker:UpdateModelPackage"] else s
                                          for s in boundary["Statement"]]}
    assert _effective([weakened, ADMIN], uncapped, "sagemaker:UpdateModelPackage", _package(names),
                      _role(names, "data-scientist"))
    assert not _effective([weakened, ADMIN], boundary, "sagemaker:UpdateModelPackage", _package(names),
                          _role(names, "data-scientist"))


# --- VPC jobs: network interfaces only in the configured VPC and subnets --------------------------


def test_staging_job_network_interfaces_are_scoped_to_its_vpc(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    statements = {s["Sid"]: s for s in _execution_policy(synthesized_app, environments["staging"])["Statement"]}
    ec2 = "arn:aws:ec2:eu-west-1:222222222222"
    subnets = [f"{ec2}:subnet/subnet-0a1b2c3d4e5f60001", f"{ec2}:subnet/subnet-0a1b2c3d4e5f60002"]
    vpc = f"{ec2}:vpc/vpc-0a1b2c3d4e5f60001"
    assert sorted(statements["CreateJobInterfacesInProjectSubnets"]["Resource"]) == sorted([
        f"{ec2}:network-interface/*", *subnets, f"{ec2}:security-group/sg-0a1b2c3d4e5f60001"
    ])
    assert statements["ManageJobInterfacesInProjectVpc"]["Action"] == [
        "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"
    ]
    assert statements["ManageJobInterfacesInProjectVpc"]["Resource"] == f"{ec2}:network-interface/*"
    assert statements["ManageJobInterfacesInProjectVpc"]["Condition"] == {
        "ArnEquals": {"ec2:Vpc": vpc, "ec2:Subnet": subnets}
    }
    assert statements["DropInterfacePermissionsInProjectVpc"]["Condition"] == {
        "ArnEqualsIfExists": {"ec2:Vpc": vpc, "ec2:Subnet": subnets}
    }
    # Only EC2's describe calls (which take no resource) remain unscoped.
    for statement in statements.values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        ec2_writes = [a for a in actions if a.startswith("ec2:") and not a.startswith("ec2:Describe")]
        if ec2_writes and statement["Resource"] == "*":
            assert "ArnEqualsIfExists" in statement.get("Condition", {}), statement["Sid"]
    policy = _execution_policy(synthesized_app, environments["staging"])
    other_subnet = f"{ec2}:subnet/subnet-0ffffffffffffffff"
    assert _evaluate(policy, "ec2:CreateNetworkInterface", subnets[0]) == PermissionResult.PERMITTED
    assert _evaluate(policy, "ec2:CreateNetworkInterface", other_subnet) == PermissionResult.NEUTRAL


def test_environments_without_a_vpc_grant_no_network_interfaces(environments: dict[str, EnvironmentConfig]) -> None:
    names = Names.of(environments["dev"])
    policy = execution_role_policy(names, KEY_ARN, vpc=None)
    assert not [s for s in policy["Statement"] if any(str(a).startswith("ec2:") for a in s["Action"])]


# --- personas read the project's resources; unscoped only where the API takes no resource ----------


def test_personas_describe_only_the_projects_sagemaker_resources(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    names = Names.of(environments["prod"])
    auditor = _synthesized_policy(synthesized_app, names, f"{names.persona_role('auditor')}-policy")
    boundary = _synthesized_policy(synthesized_app, names, names.permission_boundary)
    sm = "arn:aws:sagemaker:eu-west-1:333333333333"
    ours = [f"{sm}:model-package/mlops-kit-prod-models/3", f"{sm}:model-package-group/mlops-kit-prod-models",
            f"{sm}:pipeline/mlops-kit-prod-training", f"{sm}:endpoint/mlops-kit-prod-endpoint"]
    theirs = [f"{sm}:model-package/payments-fraud-models/3", f"{sm}:pipeline/payments-training",
              f"{sm}:endpoint/payments-endpoint"]
    for resource in ours:
        kind = resource.split(":")[5].split("/")[0]
        action = {"model-package": "sagemaker:DescribeModelPackage", "model-package-group":
                  "sagemaker:DescribeModelPackageGroup", "pipeline": "sagemaker:DescribePipeline",
                  "endpoint": "sagemaker:DescribeEndpoint"}[kind]
        assert _effective([auditor], boundary, action, resource), resource
        other = next(r for r in theirs if r.split(":")[5].split("/")[0] == kind) if kind != "model-package-group" \
            else f"{sm}:model-package-group/payments-fraud-models"
        assert not _effective([auditor], boundary, action, other), other
    assert _effective([auditor], boundary, "sagemaker:ListModelPackages",
                      f"{sm}:model-package-group/mlops-kit-prod-models")
    assert not _effective([auditor], boundary, "sagemaker:ListModelPackages",
                          f"{sm}:model-package-group/payments-fraud-models")
    # ListModelPackageGroups and friends take no resource: "*" is the only way to grant them.
    assert _effective([auditor], boundary, "sagemaker:ListModelPackageGroups", "*")
    unscoped = [s for s in auditor["Statement"] if s["Effect"] == "Allow" and s["Resource"] == "*"
                and any(str(a).startswith("sagemaker:") for a in s["Action"])]
    assert all(not str(a).startswith("sagemaker:Describe") for s in unscoped for a in s["Action"])
