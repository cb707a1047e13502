"""A model's serving container is network-isolated or confined to a VPC."""

from __future__ import annotations

from governance.rules.base import Resource, Rule, is_set, is_true


def _complies(resource: Resource) -> bool:
    return is_true(resource.get("EnableNetworkIsolation")) or is_set(resource.get("VpcConfig"))


RULE = Rule(
    name="ModelIsolationOrVpc",
    resource_types=frozenset({"AWS::SageMaker::Model"}),
    description="A model sets neither EnableNetworkIsolation nor a VpcConfig: its serving container could reach "
    "the internet with every request it scores.",
    complies=_complies,
)
