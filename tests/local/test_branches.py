"""Condition branches: a step of the branch not taken never runs, however the worker threads interleave."""

from __future__ import annotations

import threading
from typing import Any

from mlops.local.engine.record import StepRecord
from mlops.local.workdir import WorkDir
from tests.local.conftest import definition, executor

# A guard against a hang if the ordering below were never reached; the ordering itself comes from events.
GUARD_SECONDS = 60


def _condition(name: str, holds: bool, *, if_steps: list[dict[str, Any]] | None = None,
               else_steps: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Type": "Condition", **extra, "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1 if holds else 2}],
        "IfSteps": if_steps or [], "ElseSteps": else_steps or []}}


def test_the_else_branch_never_runs_while_the_condition_step_is_still_being_recorded(work: WorkDir) -> None:
    """The Condition step has recorded Succeeded but its worker is still in the (slow) observer when
    another step finishes and the main loop schedules what became ready: the else-branch Fail step
    must not be among it."""
    pipeline = definition(
        _condition("Gate", True, else_steps=[{"Name": "Stop", "Type": "Fail",
                                              "Arguments": {"ErrorMessage": "the else branch ran"}}]),
        _condition("Other", True),
        _condition("AfterOther", True, DependsOn=["Other"]),
    )
    after_other_started = threading.Event()
    seen: list[tuple[str, str]] = []

    def slow_observer(step: StepRecord) -> None:
        seen.append((step.name, step.status))
        if step.name == "AfterOther" and step.status == "Executing":
            after_other_started.set()
        if step.name == "Gate" and step.status == "Succeeded":
            # Held here until the main loop has collected Other and scheduled what became ready.
            assert after_other_started.wait(GUARD_SECONDS), "the main loop never scheduled AfterOther"

    run = executor(pipeline, work, observer=slow_observer)
    run.settings.max_parallel = 3
    record = run.run()
    assert record.status == "Succeeded", record.failure_reason
    assert record.steps["Stop"].status == "NotExecuted"
    assert ("Stop", "Executing") not in seen
    assert record.steps["Gate"].outcome is True
