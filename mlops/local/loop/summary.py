"""What one local run found (summary.json): filled stage by stage, rendered by the report and the CLI.

The sub-records are TypedDicts: typed for the stages that fill them, plain JSON objects for
summary.json, the report and the CLI that read them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from mlops.local.workdir import write_atomic

RUNNING = "Running"


class DataSource(TypedDict, total=False):
    source: str
    uri: str
    target: str
    problem_type: str
    rows: int


class Registered(TypedDict):
    version: int
    arn: str
    status: str | None


class Approval(TypedDict):
    version: int
    status: str
    reason: str
    metric: float | None
    audit: Any


class VersionRow(TypedDict):
    version: int
    status: str
    created: str | None
    metric: float | None
    arn: str


class Served(TypedDict):
    version: int
    arn: str
    port: int
    image: str
    model_data: str


class Replay(TypedDict, total=False):
    test_rows: int
    drifted_rows: int
    sent_rows: int
    capture_percent: float
    requests: int
    failures: list[str]
    seconds: float
    refused_by_data_schema: int


class Monitoring(TypedDict):
    output: str
    statistics: dict[str, Any]
    violations: list[dict[str, Any]]
    log: str
    data_schema_violations: NotRequired[list[dict[str, Any]]]


class AlarmRow(TypedDict):
    name: str
    metric: str
    old: str
    state: str
    reason: str
    latest: float | None
    threshold: float


class ModelQualityAlarm(TypedDict):
    name: str
    state: str
    reason: str
    threshold: float


class ModelQuality(TypedDict):
    """The model-quality job over the replayed test requests, joined with their ground truth."""

    output: str
    ground_truth: str
    labelled_requests: int
    metrics: dict[str, float]
    gate_metric: str
    violations: list[dict[str, Any]]
    metrics_published: int
    log: str
    alarm: NotRequired[ModelQualityAlarm]


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
    data: DataSource = field(default_factory=DataSource)
    parameters: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    registered: Registered | None = None
    approval: Approval | None = None
    approve_command: str | None = None
    versions: list[VersionRow] = field(default_factory=list)
    served: Served | None = None
    serve_note: str | None = None
    replay: Replay = field(default_factory=Replay)
    drifted_features: list[dict[str, str]] = field(default_factory=list)
    monitoring: Monitoring | None = None
    baseline_statistics: dict[str, Any] | None = None
    metrics_published: int = 0
    drift: dict[str, float] = field(default_factory=dict)
    model_quality: ModelQuality | None = None
    alarms: list[AlarmRow] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    # Experiment tracking: the MLflow store the training job logged to (None: off), the run, a problem.
    tracking_uri: str | None = None
    tracking_run: str | None = None
    tracking_problem: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    # The registered version's model card (mlops/model_card.py), shown in the report.
    model_card: dict[str, Any] | None = None
    # The registered version beside the one before it (mlops/compare.py's JSON), shown in the report.
    comparison: dict[str, Any] | None = None

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=1, default=str))
