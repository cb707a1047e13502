"""A prod endpoint serves from at least two instances, so one instance or zone failing does not stop it."""

from __future__ import annotations

from governance.rules.base import Resource, Rule

# The stage tags every resource with its environment (stacks/stage.py); that tag says what is prod.
ENVIRONMENT_TAG = "environment"
PROD = "prod"
MIN_PROD_INSTANCES = 2


def _complies(resource: Resource) -> bool:
    if resource.tags.get(ENVIRONMENT_TAG) != PROD:
        return True
    variants = resource.get("ProductionVariants")
    if not isinstance(variants, list) or not variants:
        return False
    # A serverless variant has no instances at all; an intrinsic count cannot be judged, so it fails.
    return all(isinstance(variant, dict) and isinstance(variant.get("InitialInstanceCount"), int)
               and variant["InitialInstanceCount"] >= MIN_PROD_INSTANCES for variant in variants)


RULE = Rule(
    name="ProdEndpointInstances",
    resource_types=frozenset({"AWS::SageMaker::EndpointConfig"}),
    description=f"A prod endpoint config has a variant with fewer than {MIN_PROD_INSTANCES} instances: SageMaker "
    "spreads instances over availability zones, one instance is a single point of failure.",
    complies=_complies,
)
