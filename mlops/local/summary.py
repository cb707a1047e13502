"""What one local run found (summary.json): filled stage by stage, rendered by the report and the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops.local.workdir import write_atomic

RUNNING = "Running"

@dataclass
class RunSummary:
    """Everything a run found, in the order the stages ran (summary.json, the report, the summary)."""

    execution_id: str
    environment: str
    work_dir: str
    run_dir: str
    started: str
    status: str = RUNNING
    failure: str | None = None
    failed_step: str | None = None
    failure_log: str | None = None
    failure_log_tail: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    registered: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    approve_command: str | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    served: dict[str, Any] | None = None
    serve_note: str | None = None
    replay: dict[str, Any] = field(default_factory=dict)
    drifted_features: list[dict[str, str]] = field(default_factory=list)
    monitoring: dict[str, Any] | None = None
    baseline_statistics: dict[str, Any] | None = None
    metrics_published: int = 0
    drift: dict[str, float] = field(default_factory=dict)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=1, default=str))
