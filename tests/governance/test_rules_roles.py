"""MLOps pack, roles: every role SageMaker can assume (pipeline, execution, Studio) carries the boundary."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

from governance.rules import sagemaker_role_boundary
from tests.governance.rule_stacks import broken_by


def role(service: str, *, bounded: bool) -> Any:
    def build(stack: cdk.Stack) -> None:
        boundary = iam.ManagedPolicy(stack, "Boundary", statements=[iam.PolicyStatement(
            effect=iam.Effect.DENY, actions=["iam:CreateUser"], resources=["*"])])
        iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal(service),
                 permissions_boundary=boundary if bounded else None)
    return build


def logical_ids_of_roles(found: list[str]) -> list[str]:
    return [logical_id for logical_id in found if logical_id.startswith("Role")]


def test_sagemaker_role_without_boundary_breaks_role_rule() -> None:
    found = broken_by(sagemaker_role_boundary.RULE, role("sagemaker.amazonaws.com", bounded=False))
    assert len(logical_ids_of_roles(found)) == 1


def test_sagemaker_role_under_a_boundary_passes_role_rule() -> None:
    assert broken_by(sagemaker_role_boundary.RULE, role("sagemaker.amazonaws.com", bounded=True)) == []


def test_roles_of_other_services_are_not_judged() -> None:
    assert broken_by(sagemaker_role_boundary.RULE, role("scheduler.amazonaws.com", bounded=False)) == []
