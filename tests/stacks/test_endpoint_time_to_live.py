"""The endpoint's time-to-live (`endpoint.time_to_live_hours`): an hourly rule, a Lambda running
mlops/teardown.py with the spec's targets, a role that may only delete and read the environment's
monitoring and endpoint stacks (CloudFormation deletes their resources with each stack's service role),
a retained log group; the config refuses it for prod. Nag-clean: the variants' synthesis runs both packs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from moto.iam.access_control import IAMPolicy, PermissionResult

from config.naming import Names
from config.settings import ConfigError, load_project
from deployment.teardown import TARGETS_VARIABLE, time_to_live_spec
from stacks.constructs.endpoint_time_to_live import LAMBDA_MODULES
from tests.config.test_settings import _write_config
from tests.stacks.conftest import Variant


@pytest.fixture(scope="module")
def ttl(variants: dict[str, Variant]) -> tuple[Variant, dict[str, Any]]:
    variant = variants["time-to-live"]
    return variant, variant.template("endpoint")


def _policy(template: dict[str, Any]) -> dict[str, Any]:
    policies: list[dict[str, Any]] = [r["Properties"]["PolicyDocument"] for r in template["Resources"].values()
                                      if r["Type"] == "AWS::IAM::ManagedPolicy"]
    (policy,) = policies
    return policy


def test_an_hourly_rule_runs_the_teardown_lambda_with_the_specs_targets(ttl: tuple[Variant, dict[str, Any]]) -> None:
    variant, template = ttl
    names = Names.of(variant.env)
    spec = time_to_live_spec(variant.env)
    assert spec is not None
    assembly = Template.from_json(template)
    assembly.has_resource_properties("AWS::Events::Rule", {
        "Name": names.endpoint_teardown, "ScheduleExpression": "rate(1 hour)", "State": "ENABLED",
        "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("TimeToLiveFunction"),
                                                              "Arn"]}})],
    })
    assembly.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": names.endpoint_teardown, "Handler": "mlops.teardown.handler", "Runtime": "python3.14",
        "ReservedConcurrentExecutions": 1,
        "Environment": {"Variables": {TARGETS_VARIABLE: spec.environment[TARGETS_VARIABLE]}},
    })
    targets = json.loads(spec.environment[TARGETS_VARIABLE])
    assert targets == {"stacks": [names.stack("monitoring"), names.stack("endpoint")], "older_than_hours": 12,
                       "studio_domain": None, "own_stack": names.stack("endpoint")}
    # The longest a Lambda runs: it follows the monitoring stack's deletion.
    assembly.has_resource_properties("AWS::Lambda::Function", {"Timeout": 900})


def test_the_teardown_role_may_only_delete_and_read_the_two_serving_stacks(
    ttl: tuple[Variant, dict[str, Any]],
) -> None:
    variant, template = ttl
    names = Names.of(variant.env)
    policy = IAMPolicy(json.dumps(_policy(template)))

    def allowed(action: str, resource: str) -> bool:
        return bool(policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED)

    def stack_arn(name: str) -> str:
        return names.arn("cloudformation", f"stack/{name}/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

    for stack in (names.stack("monitoring"), names.stack("endpoint")):
        for action in ("cloudformation:DeleteStack", "cloudformation:DescribeStacks",
                       "cloudformation:DescribeStackEvents", "cloudformation:ListStackResources",
                       "cloudformation:GetTemplate"):
            assert allowed(action, stack_arn(stack)), (action, stack)
    # Never another stack (the data-holding governance stack, the registry, another environment's endpoint),
    # never a stack change other than deletion, never SageMaker, data or a role to pass.
    for action, resource in (
        ("cloudformation:DeleteStack", stack_arn(names.stack("governance"))),
        ("cloudformation:DeleteStack", stack_arn(names.stack("registry"))),
        ("cloudformation:DeleteStack", stack_arn(names.stack("pipeline"))),
        ("cloudformation:DeleteStack", stack_arn(names.stack("endpoint").replace(names.prefix, "mlops-kit-prod"))),
        ("cloudformation:UpdateStack", stack_arn(names.stack("endpoint"))),
        ("cloudformation:CreateStack", stack_arn(names.stack("endpoint"))),
        ("sagemaker:DeleteEndpoint", names.arn("sagemaker", f"endpoint/{names.endpoint}")),
        ("sagemaker:DeleteModel", names.arn("sagemaker", f"model/{names.model(3)}")),
        ("sagemaker:DeleteModelPackageGroup", names.model_package_group_arn),
        ("s3:DeleteObject", f"arn:aws:s3:::{names.bucket('data')}/x"),
        ("iam:PassRole", "*"),
    ):
        assert not allowed(action, resource), (action, resource)


def test_the_lambda_log_group_outlives_the_stack_without_blocking_its_redeploy(
    ttl: tuple[Variant, dict[str, Any]],
) -> None:
    _, template = ttl
    (log_group,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert log_group["DeletionPolicy"] == "Retain"
    assert log_group["Properties"]["RetentionInDays"] == 365
    # A fixed name would make the next deploy's group collide with the retained one.
    assert "LogGroupName" not in log_group["Properties"]


def test_the_lambda_ships_the_teardown_module_alone(ttl: tuple[Variant, dict[str, Any]]) -> None:
    variant, template = ttl
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    folder = next(iter(variant.template_files.values())).parent / f"asset.{asset_hash}"
    shipped = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert shipped == sorted(LAMBDA_MODULES)
    # It imports from what it ships (and boto3, which the runtime has), not config/ or deployment/.
    check = ("import sys, mlops.teardown as t; assert t.__file__.startswith(sys.argv[1]), t.__file__; "
             "assert not {'config', 'deployment'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", check, str(folder)], cwd=folder, check=True)


def test_no_time_to_live_without_the_setting(variants: dict[str, Variant]) -> None:
    template = variants["serverless"].template("endpoint")
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]


def test_time_to_live_is_refused_for_prod(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {"endpoint.time_to_live_hours": 24}, env="prod")
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert "environment 'prod'" in str(caught.value)
    assert "endpoint.time_to_live_hours is refused for prod" in str(caught.value)


@pytest.mark.parametrize("hours", [0, 721, "soon"])
def test_time_to_live_must_be_whole_hours_within_a_month(tmp_path: Path, hours: object) -> None:
    path = _write_config(tmp_path, {"endpoint.time_to_live_hours": hours}, env="dev")
    with pytest.raises(ConfigError, match=r"environment 'dev', key 'endpoint.time_to_live_hours'"):
        load_project(path)


def test_staging_may_have_a_time_to_live(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {"endpoint.time_to_live_hours": 8})
    assert load_project(path).environments["staging"].endpoint.time_to_live_hours == 8
