"""Fail steps: stop the execution with the step's evaluated ErrorMessage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.local.errors import PipelineFailedError
from mlops.local.expressions import evaluate, text_of
from mlops.local.steps.context import StepContext


def run_fail_step(step: Mapping[str, Any], ctx: StepContext) -> None:
    message = text_of(evaluate(step.get("Arguments", {}).get("ErrorMessage", ""), ctx.scope))
    raise PipelineFailedError(str(step["Name"]), message or "Fail step reached")
