"""Registry, pipeline and containers stacks: what each environment deploys, checked on the template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from config.images import IMAGES, source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from pipelines.definition import build_pipeline_definition
from stacks.containers_stack import build_commands
from stacks.registry_stack import approval_event_pattern
from tests.conftest import ENVIRONMENTS, SynthesizedApp


def _template(app: SynthesizedApp, env: EnvironmentConfig, part: str) -> Template:
    return Template.from_json(app.template(Names.of(env).stack(part)))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_template_carries_exactly_the_environments_pipeline_definition(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    pipelines = _template(synthesized_app, env, "pipeline").find_resources("AWS::SageMaker::Pipeline")
    assert len(pipelines) == 1
    properties = next(iter(pipelines.values()))["Properties"]
    assert properties["PipelineName"] == names.pipeline
    assert properties["RoleArn"] == names.execution_role_arn
    body = json.loads(properties["PipelineDefinition"]["PipelineDefinitionBody"])
    assert body == build_pipeline_definition(env, image_tag=source_tag())
    # Tokens resolved to this environment's role and buckets, never another's.
    text = json.dumps(body)
    assert names.execution_role_arn in text
    assert names.bucket("artifacts") in text
    assert not any(f"mlops-kit-{other}-" in text for other in ENVIRONMENTS if other != name)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_registry_has_the_group_and_an_approval_rule(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    template = _template(synthesized_app, env, "registry")
    template.has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": names.model_package_group}
    )
    # Written out, not rebuilt with approval_event_pattern(): the test must see a wrong pattern.
    expected = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [f"mlops-kit-{name}-models"], "ModelApprovalStatus": ["Approved"]},
    }
    template.has_resource_properties("AWS::Events::Rule", {"EventPattern": expected, "State": "ENABLED"})
    assert approval_event_pattern(names) == expected


def _group_policy(template: Template) -> Any:
    group = next(iter(template.find_resources("AWS::SageMaker::ModelPackageGroup").values()))
    return group["Properties"].get("ModelPackageGroupPolicy")


def test_registry_is_readable_by_exactly_the_trusted_accounts(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    # 444444444444 is the CI/CD tooling account (config cicd.account): the route reads each registry.
    (dev_statement,) = _group_policy(_template(synthesized_app, environments["dev"], "registry"))["Statement"]
    assert dev_statement["Principal"]["AWS"] == ["arn:aws:iam::444444444444:root"]
    prod = environments["prod"]
    policy = _group_policy(_template(synthesized_app, prod, "registry"))
    (statement,) = policy["Statement"]
    assert statement["Principal"]["AWS"] == [
        "arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root", "arn:aws:iam::444444444444:root"
    ]
    assert all(action.startswith(("sagemaker:Describe", "sagemaker:List")) for action in statement["Action"])


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_image_repositories_scan_on_push_are_immutable_and_kms_encrypted(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    template = _template(synthesized_app, env, "containers")
    template.resource_count_is("AWS::ECR::Repository", len(IMAGES))
    for image in IMAGES:
        template.has_resource_properties(
            "AWS::ECR::Repository",
            {
                "RepositoryName": names.ecr_repository(image),
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "ImageTagMutability": "IMMUTABLE",
                "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
                "LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp("countType")},
            },
        )


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_image_build_is_encrypted_and_pushes_the_tag_the_pipeline_names(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    template = _template(synthesized_app, env, "containers")
    project = next(iter(template.find_resources("AWS::CodeBuild::Project").values()))["Properties"]
    assert project["EncryptionKey"]
    assert project["Environment"]["PrivilegedMode"] is True
    buildspec = json.loads(project["Source"]["BuildSpec"])
    commands = buildspec["phases"]["build"]["commands"]
    # Written out, not rebuilt with build_commands(): the test must see a wrong command.
    tag = source_tag()
    registry = f"{env.account}.dkr.ecr.eu-west-1.amazonaws.com"
    expected = [
        f"aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin {registry}"
    ]
    for image in ("training", "inference", "monitor"):
        uri = f"{registry}/mlops-kit-{name}-{image}:{tag}"
        expected.append(
            f"if aws ecr describe-images --repository-name mlops-kit-{name}-{image} --image-ids imageTag={tag} "
            f'>/dev/null 2>&1; then echo "{uri} exists"; '
            f"else docker build -f containers/{image}/Dockerfile -t {uri} . && docker push {uri}; fi"
        )
    assert commands == expected
    assert build_commands(names, tag) == expected
    definition = json.dumps(build_pipeline_definition(env, image_tag=source_tag()))
    for image in ("training", "inference"):
        uri = names.image_uri(image, source_tag())
        assert uri in definition
        assert any(f"docker push {uri}" in command for command in commands)
