"""The governance stack of every environment: encryption, TLS-only buckets, roles and boundaries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config.naming import BUCKET_PURPOSES, Names
from config.settings import EnvironmentConfig
from tests.conftest import ENVIRONMENTS, SynthesizedApp


def _governance(synthesized_app: SynthesizedApp, env: EnvironmentConfig) -> Template:
    return Template.from_json(synthesized_app.template(Names.of(env).stack("governance")))


def _resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {key: dict(value) for key, value in template.find_resources(kind).items()}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_kms_key_rotates(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    template = _governance(synthesized_app, environments[name])
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/mlops-kit-{name}"})


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_project_buckets_are_kms_encrypted_versioned_private_and_logged(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    template = _governance(synthesized_app, environments[name])
    for purpose in BUCKET_PURPOSES:
        template.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "BucketName": names.bucket(purpose),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": Match.any_value(),
                            },
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "LoggingConfiguration": {
                    "DestinationBucketName": Match.any_value(),
                    "LogFilePrefix": f"{names.bucket(purpose)}/",
                },
                "LifecycleConfiguration": {"Rules": Match.array_with([Match.object_like({"Status": "Enabled"})])},
            },
        )


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_bucket_policy_denies_plain_http(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    template = _governance(synthesized_app, environments[name])
    buckets = _resources(template, "AWS::S3::Bucket")
    policies = _resources(template, "AWS::S3::BucketPolicy")
    tls_only = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ):
            tls_only.add(policy["Properties"]["Bucket"]["Ref"])
    assert tls_only == set(buckets), "every bucket, the log bucket included, must refuse non-TLS requests"


def _managed_policy(template: Template, policy_name: str) -> dict[str, Any]:
    for resource in _resources(template, "AWS::IAM::ManagedPolicy").values():
        if resource["Properties"]["ManagedPolicyName"] == policy_name:
            return dict(resource["Properties"]["PolicyDocument"])
    raise AssertionError(f"no managed policy named {policy_name}")


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_persona_role_carries_the_one_permission_boundary(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    template = _governance(synthesized_app, environments[name])
    roles = {r["Properties"]["RoleName"]: r["Properties"] for r in _resources(template, "AWS::IAM::Role").values()}
    boundary_ids = {
        logical_id
        for logical_id, r in _resources(template, "AWS::IAM::ManagedPolicy").items()
        if r["Properties"]["ManagedPolicyName"] == names.permission_boundary
    }
    assert len(boundary_ids) == 1
    for persona in ("data-scientist", "ml-engineer", "model-approver", "auditor"):
        role = roles[names.persona_role(persona)]
        assert role["PermissionsBoundary"] == {"Ref": next(iter(boundary_ids))}


def _statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
        for logical_id, resource in _resources(template, kind).items():
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                found.append((logical_id, statement))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_no_statement_allows_wildcard_admin(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    template = _governance(synthesized_app, environments[name])
    statements = _statements(template)
    assert statements
    for logical_id, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement["Action"])
        assert "*" not in actions, logical_id
        assert not any(a.endswith(":*") for a in actions), f"{logical_id}: service-wide wildcard {actions}"
    for role in _resources(template, "AWS::IAM::Role").values():
        arns = str(role["Properties"].get("ManagedPolicyArns", ""))
        assert "FullAccess" not in arns
        assert "AdministratorAccess" not in arns


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_execution_role_is_scoped_to_the_environment(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    template = _governance(synthesized_app, environments[name])
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": names.execution_role,
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]
            },
        },
    )
    document = _managed_policy(template, f"{names.execution_role}-policy")
    s3_resources = [
        r
        for s in document["Statement"]
        if any(a.startswith("s3:") for a in _as_list(s["Action"]))
        for r in _as_list(s["Resource"])
    ]
    assert s3_resources
    assert all(names.prefix in r for r in s3_resources), s3_resources
    other_envs = {e for e in ENVIRONMENTS if e != name}
    assert not any(f"mlops-kit-{other}-" in str(document) for other in other_envs)


def test_vpc_environments_let_jobs_attach_network_interfaces(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    def has_eni(env: EnvironmentConfig) -> bool:
        names = Names.of(env)
        document = _managed_policy(_governance(synthesized_app, env), f"{names.execution_role}-policy")
        return "ec2:CreateNetworkInterface" in str(document)

    assert not has_eni(environments["dev"])
    assert has_eni(environments["prod"])


def test_only_prod_stacks_have_termination_protection(synthesized_app: SynthesizedApp) -> None:
    # Termination protection is a stack property, visible in the assembly manifest rather than the template.
    manifest = json.loads((synthesized_app.outdir / "manifest.json").read_text())
    protection = {
        name: artifact["properties"].get("terminationProtection", False)
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack" and name.endswith("-governance")
    }
    assert protection == {
        "mlops-kit-dev-governance": False,
        "mlops-kit-staging-governance": False,
        "mlops-kit-prod-governance": True,
    }


# --- persona trust (issue 12): principals from config, MFA for people, the approver narrowest ---------

SSO_PATH = "role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_"


def _roles(template: Template) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["RoleName"]: r["Properties"] for r in _resources(template, "AWS::IAM::Role").values()}


def test_staging_persona_roles_trust_exactly_the_configured_principals(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    roles = _roles(_governance(synthesized_app, environments["staging"]))
    sso = {
        "Sid": "IdentityCenterPermissionSets", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "sts:AssumeRole",
    }
    assert roles["mlops-kit-staging-data-scientist"]["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{**sso, "Condition": {"ArnLike": {"aws:PrincipalArn": [
            f"arn:aws:iam::222222222222:{SSO_PATH}MlopsKitDataScientist_*"]}}}, STUDIO_STAGING],
    }
    engineer = roles["mlops-kit-staging-ml-engineer"]["AssumeRolePolicyDocument"]["Statement"]
    # 444444444444 is the CI/CD tooling account: its route retrains and checks the endpoint as this persona.
    assert engineer[1] == {
        "Sid": "IamRoles", "Effect": "Allow",
        "Principal": {"AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::444444444444:root"]},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": [
            "arn:aws:iam::111111111111:role/mlops-kit-ci", "arn:aws:iam::444444444444:role/mlops-kit-cicd-stage-access"
        ]}},
    }
    approver = roles["mlops-kit-staging-model-approver"]
    assert approver["AssumeRolePolicyDocument"]["Statement"][1] == {
        "Sid": "IamUsersWithMfa", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        "Action": "sts:AssumeRole",
        "Condition": {
            "ArnEquals": {"aws:PrincipalArn": ["arn:aws:iam::222222222222:user/release-manager"]},
            "Bool": {"aws:MultiFactorAuthPresent": "true"},
            "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
        },
    }
    assert approver["MaxSessionDuration"] == 3600
    assert roles["mlops-kit-staging-auditor"]["MaxSessionDuration"] == 4 * 3600


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_no_persona_role_trusts_an_account_without_a_condition(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    names = Names.of(environments[name])
    roles = _roles(_governance(synthesized_app, environments[name]))
    for persona in ("data-scientist", "ml-engineer", "model-approver", "auditor"):
        for statement in roles[names.persona_role(persona)]["AssumeRolePolicyDocument"]["Statement"]:
            # People and machines by principal ARN; SageMaker (Studio) only for this account.
            key = "aws:SourceAccount" if "Service" in statement["Principal"] else "aws:PrincipalArn"
            assert key in json.dumps(statement["Condition"]), (persona, statement)
            assert statement["Action"] == "sts:AssumeRole"


STUDIO_STAGING = {"Sid": "StudioUserProfile", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                  "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "222222222222"}}}


def _trusts_sagemaker(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in role["AssumeRolePolicyDocument"]["Statement"]
            if s["Principal"].get("Service") == "sagemaker.amazonaws.com"]


def test_persona_roles_with_a_studio_profile_trust_sagemaker_of_their_account_only(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    staging = environments["staging"]
    roles = _roles(_governance(synthesized_app, staging))
    profiles = _resources(Template.from_json(synthesized_app.template(Names.of(staging).stack("experimentation"))),
                          "AWS::SageMaker::UserProfile")
    profile_roles = {p["Properties"]["UserSettings"]["ExecutionRole"] for p in profiles.values()}
    assert len(profile_roles) == 4
    for arn in profile_roles:
        assert _trusts_sagemaker(roles[arn.split("/")[-1]]) == [STUDIO_STAGING], arn
    # No Studio in dev (no VPC) or prod (experimentation off): no persona role there trusts SageMaker.
    for name in ("dev", "prod"):
        names = Names.of(environments[name])
        assert f"{names.prefix}-experimentation" not in synthesized_app.templates
        for role_name, role in _roles(_governance(synthesized_app, environments[name])).items():
            assert _trusts_sagemaker(role) == [] or role_name == names.execution_role, role_name
