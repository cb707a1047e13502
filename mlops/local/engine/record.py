"""The run record (`runs/<id>/run.json`): every step's status, attempts, properties and cache use.

The executor saves it at every change, so `--resume` and the crash tests read the truth of a
killed run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.local.errors import LocalModeError
from mlops.local.workdir import write_atomic

RUN_RECORD = "run.json"


@dataclass
class StepRecord:
    """One step of an execution, as `run.json` keeps it."""

    name: str
    type: str
    status: str = "Pending"
    attempts: int = 0
    started: str | None = None
    ended: str | None = None
    seconds: float | None = None
    detail: str = ""
    failure_reason: str | None = None
    log: str | None = None
    properties: dict[str, Any] | None = None
    cache_key: str | None = None
    cached_from: str | None = None
    reused: bool = False
    outcome: bool | None = None


@dataclass
class ExecutionRecord:
    execution_id: str
    pipeline_name: str
    status: str
    started: str
    parameters: dict[str, Any]
    steps: dict[str, StepRecord] = field(default_factory=dict)
    ended: str | None = None
    seconds: float | None = None
    failed_step: str | None = None
    failure_reason: str | None = None

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=1, default=str))

    @classmethod
    def load(cls, path: Path) -> ExecutionRecord:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            steps = {name: StepRecord(**item) for name, item in raw.pop("steps").items()}
            return cls(**raw, steps=steps)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise LocalModeError(f"{path}: cannot read the run record ({error})") from error


def now() -> str:
    """A record's timestamp: UTC, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
