"""Step types: one runner each, registered by its own module under `runners/`.

As the SageMaker SDK's local pipeline (`sagemaker/local/pipeline.py`, in v3
`sagemaker-mlops/.../local/pipeline.py`: one `_StepExecutor` subclass per step type, picked by
`_StepExecutorFactory`) and kfp's local runner do, a step type is spelled in exactly one place: its
runner, which registers itself, so no factory lists the types. The checks, the executor and the
cache ask the registry whether a type runs, what it refuses before the run, whether it is a job or
cacheable, and which properties it produces.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.engine.unsupported_steps import refuse_step_type
from mlops.local.workdir import WorkDir

Step = Mapping[str, Any]
# (the step as the definition has it, its Arguments, the context) -> the finished step. Arguments are
# evaluated against the scope unless the runner says otherwise (Condition and Fail evaluate their
# own parts: a Condition's Arguments hold its branches' steps, which may refer to steps not run yet).
Run = Callable[[Step, Any, StepContext], StepResult]


@dataclass(frozen=True)
class CheckContext:
    """What a runner's check may consult about the run before anything runs."""

    images: ImageCatalog
    # The work folder, when the run has one: code the SDK uploaded is in its local S3 before the run,
    # so a check can read it (a framework job's source tarball, a model's inference script).
    work: WorkDir | None = None


def _nothing(_: Step, __: CheckContext) -> None:
    return None


def _no_inputs(_: Any) -> list[str]:
    return []


def _no_branches(_: Step) -> tuple[list[str], list[str]]:
    return [], []


@dataclass(frozen=True)
class StepRunner:
    """How one step type (the definition's `Type`) runs locally."""

    type: str
    run: Run
    # Refuses, before anything runs, what this runner cannot do with the step (raises
    # UnsupportedDefinitionError naming the step); receives the step as written, unevaluated.
    check: Callable[[Step, CheckContext], None] = _nothing
    # Top-level names of the properties the step produces (what `Get Steps.<name>.<property>...`
    # may read); empty: any name (not checked).
    properties: frozenset[str] = frozenset()
    # A job: runs processes in the step's sandbox (a fresh /opt/ml per attempt, a step.log).
    job: bool = False
    # CacheConfig applies; `inputs` gives the s3:// URIs the step reads (their content is in the key).
    cacheable: bool = False
    inputs: Callable[[Any], list[str]] = _no_inputs
    # False: `run` receives the step's Arguments unevaluated.
    evaluate_arguments: bool = True
    # Condition steps: the names of the steps directly in (IfSteps, ElseSteps).
    branches: Callable[[Step], tuple[list[str], list[str]]] = _no_branches


_RUNNERS: dict[str, StepRunner] = {}
_loaded = False


def register(runner: StepRunner) -> StepRunner:
    """Called once by each runner module at import."""
    if runner.type in _RUNNERS and _RUNNERS[runner.type] is not runner:
        raise ValueError(f"step type {runner.type!r} is registered twice")
    _RUNNERS[runner.type] = runner
    return runner


def _load() -> None:
    """Import every module of `runners/` (each registers its step type)."""
    global _loaded  # noqa: PLW0603 - a one-time import of the runner modules
    if _loaded:
        return
    package = importlib.import_module("mlops.local.engine.runners")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def step_types() -> tuple[str, ...]:
    _load()
    return tuple(sorted(_RUNNERS))


def runner_for(step_type: str) -> StepRunner | None:
    _load()
    return _RUNNERS.get(step_type)


def runner_of(step: Step) -> StepRunner:
    """The runner of a step's type; UnsupportedDefinitionError naming the step and its type otherwise."""
    runner = runner_for(str(step.get("Type")))
    if runner is None:
        raise refuse_step_type(str(step.get("Name")), str(step.get("Type")), step_types())
    return runner
