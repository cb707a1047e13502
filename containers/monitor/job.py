"""The processing job: read settings and data, analyse, write the analyzer's files and exit code."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from containers.contracts.capture import format_capture_time
from containers.contracts.constraints import Constraints, parse_constraints
from containers.contracts.data_schema import DataSchema
from containers.contracts.model_quality import ModelQualityStatistics
from containers.contracts.model_quality_constraints import (
    ModelQualityConstraints,
    ModelQualityContractError,
    ModelQualityViolations,
    parse_model_quality_constraints,
)
from containers.contracts.statistics import Statistics, parse_statistics
from containers.contracts.violations import ConstraintViolations
from containers.monitor.checks import evaluate
from containers.monitor.errors import MonitorError
from containers.monitor.merge import merged_from_capture, read_merged, write_merged
from containers.monitor.metrics import cloudwatch_metric_records, metric_dimensions, metrics_namespace
from containers.monitor.profile import ColumnViews, compute_statistics
from containers.monitor.publish import put_metric_records
from containers.monitor.quality import (
    check_model_quality,
    compute_model_quality,
    model_quality_metric_records,
    predictions_from_frame,
    predictions_from_merged,
    suggest_model_quality_constraints,
)
from containers.monitor.reader import read_dataset, read_table_dataset
from containers.monitor.schema_check import report_schema_violations, schema_from_environ
from containers.monitor.scripts import run_postprocessor
from containers.monitor.settings import DEFAULT_BASE_DIR, AnalyzerSettings, settings_from_environ
from containers.monitor.suggest import suggest_constraints

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"
METRICS_FILE = "cloudwatch_metrics.jsonl"


@dataclass(frozen=True)
class AnalysisResult:
    """What a run produced: always statistics; constraints when baselining, violations when monitoring."""

    statistics: Statistics | ModelQualityStatistics
    constraints: Constraints | ModelQualityConstraints | None = None
    violations: ConstraintViolations | ModelQualityViolations | None = None
    metrics: tuple[dict[str, Any], ...] = ()
    # Data-quality monitoring: each compared feature's distance to the baseline (drift or not).
    drift: dict[str, float] = field(default_factory=dict)

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


def exclude_features(frame: pd.DataFrame, names: tuple[str, ...]) -> tuple[pd.DataFrame, set[str]]:
    """`exclude_features_attribute`: drop columns named (or 0-based indexed) in the comma list."""
    if not names:
        return frame, set()
    columns = [str(column) for column in frame.columns]
    dropped = set()
    for name in names:
        if name in columns:
            dropped.add(name)
        elif name.isdigit() and int(name) < len(columns):
            dropped.add(columns[int(name)])
        else:
            raise MonitorError(
                f"exclude_features_attribute names {name!r}, which is not a column of the dataset (columns: {columns})"
            )
    return frame.drop(columns=sorted(dropped)), dropped


def _timestamp(settings: AnalyzerSettings) -> str:
    return settings.metric_time or format_capture_time(datetime.now(UTC))


def _publishes(settings: AnalyzerSettings, emit: bool = True) -> bool:
    return settings.publish_cloudwatch_metrics and emit


def analyze(settings: AnalyzerSettings, schema: DataSchema | None = None) -> AnalysisResult:
    """Baselining (no baseline given) or monitoring; writes nothing but the data-schema report."""
    if settings.analysis_type == "MODEL_QUALITY":
        return analyze_model_quality(settings)
    if not settings.is_monitoring:
        frame, _ = exclude_features(read_dataset(settings), settings.exclude_features)
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
    fractional = {feature.name for feature in reference.features if feature.inferred_type == "Fractional"}
    frame, dropped = exclude_features(
        read_dataset(settings, feature_names, string_features, fractional), settings.exclude_features
    )
    if dropped:
        constraints = constraints.model_copy(
            update={"features": [f for f in constraints.features if f.name not in dropped]}
        )
        if baseline is not None:
            baseline = baseline.model_copy(update={"features": [f for f in baseline.features if f.name not in dropped]})
    report_schema_violations(frame, schema, settings.output_path)
    views = ColumnViews(frame)
    statistics = compute_statistics(frame, views)
    outcome = evaluate(frame, constraints, baseline, settings.categorical_drift_method, views)
    metrics: tuple[dict[str, Any], ...] = ()
    if _publishes(settings, constraints.monitoring_config.emit_metrics == "Enabled"):
        metrics = tuple(
            cloudwatch_metric_records(
                statistics,
                outcome.drift,
                endpoint_name=settings.endpoint_name,
                schedule_name=settings.schedule_name,
                timestamp=_timestamp(settings),
            )
        )
    return AnalysisResult(
        statistics=statistics,
        violations=ConstraintViolations(violations=outcome.violations),
        metrics=metrics,
        drift=outcome.drift,
    )


def _load_model_quality_constraints(settings: AnalyzerSettings) -> ModelQualityConstraints | None:
    path = settings.baseline_constraints
    if path is None:
        return None
    try:
        return parse_model_quality_constraints(path.read_bytes(), f"baseline_constraints file {path}")
    except OSError as error:
        raise MonitorError(f"baseline_constraints file {path} cannot be read: {error.strerror}") from error
    except ModelQualityContractError as error:
        raise MonitorError(str(error)) from error


def analyze_model_quality(settings: AnalyzerSettings) -> AnalysisResult:
    """Metrics of predictions against labels; violations when model-quality constraints are given.

    Data: merged capture + ground truth (`sagemakerMergeJson`), capture merged here with
    `ground_truth_source`, or a CSV/JSON table whose columns the attributes name (baselining).
    """
    quality = settings.model_quality
    if quality is None:  # settings_from_environ always sets it for MODEL_QUALITY
        raise MonitorError("analysis_type MODEL_QUALITY needs problem_type")
    kind = settings.dataset_format.kind
    if kind == "merge":
        predictions = predictions_from_merged(
            read_merged(settings.dataset_source, settings.start_time, settings.end_time), quality
        )
    elif kind == "capture":
        if quality.ground_truth_source is None:
            raise MonitorError(
                "model quality over sagemakerCaptureJson needs ground_truth_source (or merged data: sagemakerMergeJson)"
            )
        merged = merged_from_capture(
            settings.dataset_source, quality.ground_truth_source, settings.start_time, settings.end_time
        )
        # Keep the merge output, as Model Monitor's merge job does, for inspection and replays.
        write_merged(settings.output_path / "merge", settings.endpoint_name or "endpoint", "AllTraffic", merged)
        predictions = predictions_from_merged(merged, quality)
    else:
        predictions = predictions_from_frame(read_table_dataset(settings), quality)
    statistics = compute_model_quality(predictions, quality)
    constraints = _load_model_quality_constraints(settings)
    if constraints is None:
        return AnalysisResult(
            statistics=statistics, constraints=suggest_model_quality_constraints(statistics, quality.problem_type)
        )
    violations = ModelQualityViolations(violations=check_model_quality(statistics, constraints))
    metrics: tuple[dict[str, Any], ...] = ()
    if _publishes(settings):
        dimensions = metric_dimensions(settings.endpoint_name, settings.schedule_name)
        metrics = tuple(model_quality_metric_records(statistics, dimensions, _timestamp(settings)))
    return AnalysisResult(statistics=statistics, violations=violations, metrics=metrics)


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
        print(result.message, flush=True)
        finish(settings, result)
    except MonitorError as error:
        return _fail(message_file, f"ClientError: {error}", 1)
    except Exception as error:  # last resort: the job must still leave a reason and a non-zero code
        return _fail(message_file, f"AlgorithmError: {type(error).__name__}: {error}", 2)
    return 0


def finish(settings: AnalyzerSettings, result: AnalysisResult) -> None:
    """After the files are written: put the metrics (scheduled-job engine), then the post-analytics script."""
    if settings.engine == "scheduled-job" and result.metrics:
        namespace = metrics_namespace(settings.analysis_type, settings.endpoint_name)
        sent = put_metric_records(result.metrics, namespace)
        print(f"put {sent} metrics into CloudWatch namespace {namespace}", flush=True)
    if settings.post_analytics_processor_script is not None:
        run_postprocessor(settings.post_analytics_processor_script)


def _fail(message_file: Path, reason: str, code: int) -> int:
    try:
        _write_message(message_file, reason[:1024])
    except OSError as error:
        print(f"cannot write {message_file}: {error.strerror}", file=sys.stderr)
    print(reason, file=sys.stderr, flush=True)
    return code
