"""Condition steps: every condition must hold for the IfSteps, else the ElseSteps run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.local.engine.conditions import CONDITION_TYPES, condition_holds, condition_types_in
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.errors import UnsupportedDefinitionError


def check_condition_step(step: Mapping[str, Any], _: CheckContext) -> None:
    for condition in step["Arguments"].get("Conditions", []):
        for condition_type in condition_types_in(condition):
            if condition_type not in CONDITION_TYPES:
                raise UnsupportedDefinitionError(
                    f"step {step.get('Name')!r}: condition type {condition_type!r} is not supported "
                    f"(supported: {', '.join(CONDITION_TYPES)})"
                )


def run_condition_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    conditions = arguments.get("Conditions", [])
    outcome = all(condition_holds(condition, ctx.scope) for condition in conditions)
    return StepResult(properties={"Outcome": outcome}, outcome=outcome,
                      detail="if branch" if outcome else "else branch")


def condition_branches(step: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    arguments = step["Arguments"]
    return ([str(item["Name"]) for item in arguments.get("IfSteps", [])],
            [str(item["Name"]) for item in arguments.get("ElseSteps", [])])


register(StepRunner(
    type="Condition", run=run_condition_step, check=check_condition_step, properties=frozenset({"Outcome"}),
    evaluate_arguments=False, branches=condition_branches,
))
