"""What a step runner is given (its sandbox, the scope, the local registry) and what it returns."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.arns import arn
from mlops.local.engine.expressions import Scope
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import JobTable, Sandbox
from mlops.local.workdir import WorkDir

_NOT_IN_JOB_NAME = re.compile(r"[^A-Za-z0-9\-]+")
JOB_NAME_LIMIT = 63


@dataclass
class StepContext:
    work: WorkDir
    execution_id: str
    pipeline_name: str
    region: str
    account: str
    sandbox: Sandbox
    scope: Scope
    # The local SageMaker client (model registry); only RegisterModel and QualityCheck need it.
    sagemaker: Callable[[], Any]
    # Where the step's job processes are started (and stopped when the run is interrupted).
    jobs: JobTable
    # The images this run may run (the project's repositories and the Model Monitor analyzer).
    images: ImageCatalog

    def job_name(self, step: str) -> str:
        """`pipelines-<execution>-<step>`, as SageMaker Pipelines names the jobs it starts."""
        name = f"pipelines-{self.execution_id}-{_NOT_IN_JOB_NAME.sub('-', step)}".strip("-")
        return name[:JOB_NAME_LIMIT].rstrip("-")

    def arn(self, resource: str, name: str) -> str:
        return arn("sagemaker", f"{resource}/{name.lower()}", region=self.region, account=self.account)


def timestamp() -> str:
    """A property's time (CreationTime, TrainingStartTime, ...): UTC, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class StepResult:
    """A finished step: its properties (what `Get Steps.<name>...` reads) and a line for the display."""

    properties: dict[str, Any]
    detail: str = ""
    # Condition steps only: which branch was taken.
    outcome: bool | None = None
    produced: list[str] = field(default_factory=list)


def without_nulls(value: Any) -> Any:
    """A request as boto sends it: the SDK renders unset members as null, which the API would refuse."""
    if isinstance(value, Mapping):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value
