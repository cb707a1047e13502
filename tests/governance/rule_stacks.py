"""Small stacks for the MLOps rule tests: L1 resources in a fresh app, judged on the synthesized template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aws_cdk as cdk

from governance.rules import Rule
from governance.rules.pack import findings

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111111111111:role/mlops-kit-dev-sagemaker-execution"
IMAGE = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops-kit-dev-monitor:src-test"


def template_of(build: Callable[[cdk.Stack], Any], tags: dict[str, str] | None = None) -> dict[str, Any]:
    app = cdk.App()
    stack = cdk.Stack(app, "RuleUnderTest", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    build(stack)
    for key, value in (tags or {}).items():
        cdk.Tags.of(stack).add(key, value)
    return dict(cdk.assertions.Template.from_stack(stack).to_json())


def broken_by(rule: Rule, build: Callable[[cdk.Stack], Any], tags: dict[str, str] | None = None) -> list[str]:
    """Logical ids of the resources `rule` finds at fault in the stack `build` makes."""
    return [logical_id for found, logical_id in findings(template_of(build, tags), (rule,)) if found is rule]
