"""Roles SageMaker assumes (pipeline, execution, Studio roles) carry the permission boundary."""

from __future__ import annotations

from typing import Any

from governance.rules.base import Resource, Rule, is_set

SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def assumed_by_sagemaker(resource: Resource) -> bool:
    statements = resource.get("AssumeRolePolicyDocument", "Statement") or []
    for statement in _as_list(statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        if SAGEMAKER_SERVICE in _as_list(services):
            return True
    return False


def _complies(resource: Resource) -> bool:
    return not assumed_by_sagemaker(resource) or is_set(resource.get("PermissionsBoundary"))


RULE = Rule(
    name="SageMakerRoleBoundary",
    resource_types=frozenset({"AWS::IAM::Role"}),
    description="A role SageMaker can assume has no PermissionsBoundary: pipeline and job code would run with "
    "whatever its policies grant, outside the limits the boundary sets for the environment.",
    complies=_complies,
)
