"""One environment's stacks, wired together: used by app.py (top level) and by the CI/CD route (a Stage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from config.images import source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from governance.compliance import add_compliance_checks
from stacks.containers_stack import ContainersStack
from stacks.governance_stack import GovernanceStack
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack


@dataclass(frozen=True)
class EnvironmentStacks:
    """The stacks of one environment, for callers (tests, CI/CD) that need their attributes."""

    governance: GovernanceStack
    containers: ContainersStack
    registry: RegistryStack
    pipeline: PipelineStack


def add_environment(scope: Construct, env_config: EnvironmentConfig) -> EnvironmentStacks:
    """Create every stack of one environment in `scope` (an App or a Stage)."""
    names = Names.of(env_config)
    aws_env = cdk.Environment(account=env_config.account, region=env_config.region)
    tags = {"project": env_config.project, "environment": env_config.name, "managed-by": "cdk"}

    governance = GovernanceStack(
        scope,
        names.stack("governance"),
        env_config=env_config,
        env=aws_env,
        stack_name=names.stack("governance"),
        description=f"{names.prefix}: KMS key, encrypted buckets, execution role and persona roles",
        termination_protection=env_config.name == "prod",
    )
    common: dict[str, Any] = {"env": aws_env, "termination_protection": env_config.name == "prod"}
    image_tag = source_tag()
    containers = ContainersStack(
        scope,
        names.stack("containers"),
        env_config=env_config,
        key=governance.key,
        image_tag=image_tag,
        stack_name=names.stack("containers"),
        description=f"{names.prefix}: ECR repositories and the image build",
        **common,
    )
    registry = RegistryStack(
        scope,
        names.stack("registry"),
        env_config=env_config,
        stack_name=names.stack("registry"),
        description=f"{names.prefix}: model package group and approval events",
        **common,
    )
    pipeline = PipelineStack(
        scope,
        names.stack("pipeline"),
        env_config=env_config,
        execution_role_arn=names.execution_role_arn,
        image_tag=image_tag,
        stack_name=names.stack("pipeline"),
        description=f"{names.prefix}: the SageMaker training pipeline",
        **common,
    )
    # The pipeline names the role, buckets, images and group by name rather than by token; the
    # dependencies make CloudFormation create them first all the same.
    pipeline.add_stack_dependency(governance, reason="the pipeline definition names its resources")
    pipeline.add_stack_dependency(containers, reason="the pipeline definition names its resources")
    pipeline.add_stack_dependency(registry, reason="the pipeline definition names its resources")
    for stack in (governance, containers, registry, pipeline):
        for key, value in tags.items():
            cdk.Tags.of(stack).add(key, value)
    return EnvironmentStacks(governance=governance, containers=containers, registry=registry, pipeline=pipeline)


class MlopsStage(cdk.Stage):
    """An environment as a deployable unit of the CI/CD route, with the compliance checks attached."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=env_config.account, region=env_config.region))
        add_compliance_checks(self)
        self.stacks = add_environment(self, env_config)
