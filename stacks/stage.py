"""One environment's stacks, wired together: used by app.py (top level) and by the CI/CD route (a Stage)."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig
from governance.compliance import add_compliance_checks
from stacks.governance_stack import GovernanceStack


@dataclass(frozen=True)
class EnvironmentStacks:
    """The stacks of one environment, for callers (tests, CI/CD) that need their attributes."""

    governance: GovernanceStack


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
    for stack in (governance,):
        for key, value in tags.items():
            cdk.Tags.of(stack).add(key, value)
    return EnvironmentStacks(governance=governance)


class MlopsStage(cdk.Stage):
    """An environment as a deployable unit of the CI/CD route, with the compliance checks attached."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=env_config.account, region=env_config.region))
        add_compliance_checks(self)
        self.stacks = add_environment(self, env_config)
