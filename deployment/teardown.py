"""What a teardown removes and the endpoint's time-to-live, as data: read by `mlops teardown` and the
endpoint stack's hourly teardown Lambda, so both remove the same resources (mlops/teardown.py does it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig

# The Lambda's one environment variable: the targets as JSON, keyed as mlops.teardown.TeardownTargets'
# fields (that module ships alone in the Lambda, so it cannot import this one; a test ties the two).
TARGETS_VARIABLE = "MLOPS_TEARDOWN_TARGETS"

# The teardown checks the endpoint's age once an hour: it goes at most an hour after its time-to-live.
TIME_TO_LIVE_CHECK = "rate(1 hour)"

# CloudFormation's read calls the teardown makes on each stack before and while deleting it.
STACK_READ_ACTIONS = ("cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
                      "cloudformation:ListStackResources", "cloudformation:GetTemplate")


def teardown_stacks(env: EnvironmentConfig) -> list[str]:
    """The stacks that serve, in deletion order: the monitoring stack names the endpoint (stacks/stage.py
    makes it depend on the endpoint stack), so it goes first. Never the alerts stack: its topic, budget and
    training schedule outlive serving (stacks/alerts_stack.py)."""
    names = Names.of(env)
    return [names.stack("monitoring"), names.stack("endpoint")]


def teardown_targets(env: EnvironmentConfig, *, studio: bool = True) -> dict[str, Any]:
    """The environment's serving stacks and its Studio domain (whose apps are not stack resources)."""
    names = Names.of(env)
    return {"stacks": teardown_stacks(env), "studio_domain": names.studio_domain if studio else None}


@dataclass(frozen=True)
class TimeToLiveSpec:
    """An hourly rule runs the teardown Lambda, which deletes the serving stacks once the endpoint stack
    is `hours` old. Its role may only ask CloudFormation to delete (and describe) those two stacks:
    CloudFormation deletes their resources with each stack's own service role."""

    hours: int
    name: str
    schedule_expression: str
    environment: dict[str, str]
    stack_arns: tuple[str, ...]


def time_to_live_spec(env: EnvironmentConfig) -> TimeToLiveSpec | None:
    hours = env.endpoint.time_to_live_hours
    if hours is None:
        return None
    names = Names.of(env)
    stacks = teardown_stacks(env)
    # Studio apps have their own idle shutdown (experimentation stack): the timer removes serving only.
    # It lives in the endpoint stack (stacks/endpoint_stack.py says why), deleted last and not waited for.
    targets = {**teardown_targets(env, studio=False), "older_than_hours": hours, "own_stack": names.stack("endpoint")}
    return TimeToLiveSpec(
        hours=hours, name=names.endpoint_teardown, schedule_expression=TIME_TO_LIVE_CHECK,
        environment={TARGETS_VARIABLE: json.dumps(targets, sort_keys=True)},
        # A stack's ARN ends with its id (stack/<name>/<uuid>): a new one after each re-creation.
        stack_arns=tuple(names.arn("cloudformation", f"stack/{stack}/*") for stack in stacks),
    )
