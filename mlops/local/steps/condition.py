"""Condition steps: every condition must hold for the IfSteps, else the ElseSteps run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.local.expressions import condition_holds
from mlops.local.steps.context import StepContext, StepResult


def run_condition_step(step: Mapping[str, Any], ctx: StepContext) -> StepResult:
    conditions = step["Arguments"].get("Conditions", [])
    outcome = all(condition_holds(condition, ctx.scope) for condition in conditions)
    return StepResult(properties={"Outcome": outcome}, outcome=outcome,
                      detail="if branch" if outcome else "else branch")
