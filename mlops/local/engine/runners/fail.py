"""Fail steps: stop the execution with the step's evaluated ErrorMessage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.local.engine.expressions import evaluate, text_of
from mlops.local.engine.registry import StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.errors import PipelineFailedError


def run_fail_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    message = text_of(evaluate(arguments.get("ErrorMessage", ""), ctx.scope))
    raise PipelineFailedError(str(step["Name"]), message or "Fail step reached")


register(StepRunner(type="Fail", run=run_fail_step, evaluate_arguments=False))
