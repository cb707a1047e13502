"""The processing job: read settings and data, analyse, write the analyzer's files and exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from containers.contracts.capture import format_capture_time
from containers.contracts.constraints import Constraints, parse_constraints
from containers.contracts.data_schema import DataSchema
from containers.contracts.statistics import Statistics, parse_statistics
from containers.contracts.violations import ConstraintViolations
from containers.monitor.checks import evaluate
from containers.monitor.errors import MonitorError
from containers.monitor.metrics import cloudwatch_metric_records
from containers.monitor.profile import compute_statistics
from containers.monitor.reader import read_dataset
from containers.monitor.schema_check import report_schema_violations, schema_from_environ
from containers.monitor.settings import DEFAULT_BASE_DIR, AnalyzerSettings, settings_from_environ
from containers.monitor.suggest import suggest_constraints

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
METRICS_FILE = "cloudwatch_metrics.jsonl"


@dataclass(frozen=True)
class AnalysisResult:
    """What a run produced: always statistics; constraints when baselining, violations when monitoring."""

    statistics: Statistics
    constraints: Constraints | None = None
    violations: ConstraintViolations | None = None
    metrics: tuple[dict[str, Any], ...] = ()

    @property
    def message(self) -> str:
        """The `/opt/ml/output/message` text, as the prebuilt analyzer words it."""
        count = len(self.violations.violations) if self.violations else 0
        if count == 0:
            return "Completed: Job completed successfully with no violations."
        return f"CompletedWithViolations: Job completed successfully with {count} violations."


def _load(path: Path, key: str, parse: Any) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise MonitorError(f"{key} file {path} does not exist") from error
    except OSError as error:
        raise MonitorError(f"{key} file {path} cannot be read: {error.strerror}") from error
    try:
        return parse(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<document>"
        raise MonitorError(f"{key} file {path} is not valid: {where}: {first['msg']}") from error


def load_baseline(settings: AnalyzerSettings) -> tuple[Statistics | None, Constraints | None]:
    """The baseline files; constraints are suggested from the statistics when only those are given."""
    statistics = (
        _load(settings.baseline_statistics, "baseline_statistics", parse_statistics)
        if settings.baseline_statistics
        else None
    )
    constraints = (
        _load(settings.baseline_constraints, "baseline_constraints", parse_constraints)
        if settings.baseline_constraints
        else None
    )
    if constraints is None and statistics is not None:
        constraints = suggest_constraints(statistics)
    return statistics, constraints


def analyze(settings: AnalyzerSettings, schema: DataSchema | None = None) -> AnalysisResult:
    """Baselining (no baseline given) or monitoring; writes nothing but the data-schema report."""
    if not settings.is_monitoring:
        frame = read_dataset(settings)
        statistics = compute_statistics(frame)
        suggested = suggest_constraints(statistics, settings.categorical_drift_method or "LInfinity")
        return AnalysisResult(statistics=statistics, constraints=suggested)
    baseline, loaded = load_baseline(settings)
    if loaded is None:  # unreachable: is_monitoring means one of the two files was given
        raise MonitorError("monitoring needs baseline_constraints or baseline_statistics")
    constraints: Constraints = loaded
    reference: Statistics | Constraints = baseline or constraints
    feature_names = [feature.name for feature in reference.features]
    string_features = {feature.name for feature in reference.features if feature.inferred_type == "String"}
    frame = read_dataset(settings, feature_names, string_features)
    report_schema_violations(frame, schema, settings.output_path)
    statistics = compute_statistics(frame)
    outcome = evaluate(frame, constraints, baseline, settings.categorical_drift_method)
    metrics: tuple[dict[str, Any], ...] = ()
    if settings.publish_cloudwatch_metrics and constraints.monitoring_config.emit_metrics == "Enabled":
        timestamp = settings.metric_time or format_capture_time(datetime.now(UTC))
        metrics = tuple(
            cloudwatch_metric_records(
                statistics,
                outcome.drift,
                endpoint_name=settings.endpoint_name,
                schedule_name=settings.schedule_name,
                timestamp=timestamp,
            )
        )
    return AnalysisResult(
        statistics=statistics, violations=ConstraintViolations(violations=outcome.violations), metrics=metrics
    )


def write_result(settings: AnalyzerSettings, result: AnalysisResult) -> None:
    """The output files in output_path, the metric records, and the message file."""
    settings.output_path.mkdir(parents=True, exist_ok=True)
    (settings.output_path / STATISTICS_FILE).write_text(result.statistics.to_json(), encoding="utf-8")
    if result.constraints is not None:
        (settings.output_path / CONSTRAINTS_FILE).write_text(result.constraints.to_json(), encoding="utf-8")
    if result.violations is not None:
        (settings.output_path / VIOLATIONS_FILE).write_text(result.violations.to_json(), encoding="utf-8")
    if result.metrics:
        settings.metrics_directory.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in result.metrics)
        (settings.metrics_directory / METRICS_FILE).write_text(lines, encoding="utf-8")
    _write_message(settings.message_file, result.message)


def _write_message(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def run_job(environ: Mapping[str, str] | None = None) -> int:
    """The container's whole job; returns the exit code (0 also with violations)."""
    env = os.environ if environ is None else environ
    fallback_message = Path(env.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR) / "output" / "message"
    message_file = fallback_message
    try:
        settings = settings_from_environ(env)
        message_file = settings.message_file
        mode = "monitoring" if settings.is_monitoring else "baselining"
        print(f"Model monitor analysis ({mode}) of {settings.dataset_source} -> {settings.output_path}", flush=True)
        result = analyze(settings, schema_from_environ(env))
        write_result(settings, result)
    except MonitorError as error:
        return _fail(message_file, f"ClientError: {error}", 1)
    except Exception as error:  # last resort: the job must still leave a reason and a non-zero code
        return _fail(message_file, f"AlgorithmError: {type(error).__name__}: {error}", 2)
    print(result.message, flush=True)
    return 0


def _fail(message_file: Path, reason: str, code: int) -> int:
    try:
        _write_message(message_file, reason[:1024])
    except OSError as error:
        print(f"cannot write {message_file}: {error.strerror}", file=sys.stderr)
    print(reason, file=sys.stderr, flush=True)
    return code
