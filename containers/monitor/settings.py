"""The job's configuration, read from the environment variables the prebuilt analyzer understands."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, cast

from containers.contracts.capture import parse_capture_time
from containers.contracts.constraints import CategoricalDriftMethod
from containers.monitor.errors import MonitorError

DatasetKind = Literal["csv", "json", "capture", "merge"]
OutputColumnsPosition = Literal["NONE", "START", "END"]
AnalysisType = Literal["DATA_QUALITY", "MODEL_QUALITY"]
ProblemType = Literal["BinaryClassification", "MulticlassClassification", "Regression"]
# Which service started the job. Model Monitor publishes the metric files the image writes; a
# plain Processing job (the `scheduled-job` engine) does not, so there the image puts them itself.
MonitoringEngine = Literal["model-monitor", "scheduled-job"]
ENGINE_VARIABLE = "monitoring_engine"
ANALYSIS_TYPES: tuple[str, ...] = ("DATA_QUALITY", "MODEL_QUALITY")
PROBLEM_TYPES: tuple[str, ...] = ("BinaryClassification", "MulticlassClassification", "Regression")
ENGINES: tuple[str, ...] = ("model-monitor", "scheduled-job")
# Settings of the prebuilt analyzer that only mean something for model quality.
MODEL_QUALITY_KEYS = (
    "problem_type",
    "inference_attribute",
    "probability_attribute",
    "ground_truth_attribute",
    "probability_threshold_attribute",
    "positive_label",
    "ground_truth_source",
)

DEFAULT_BASE_DIR = "/opt/ml"
# SageMaker's default processing paths (the SDK's and the analyzer's).
DEFAULT_BASELINE_SOURCE = "/opt/ml/processing/input/baseline_dataset_input"
DEFAULT_CAPTURE_SOURCE = "/opt/ml/processing/input/endpoint"
DEFAULT_OUTPUT_PATH = "/opt/ml/processing/output"


@dataclass(frozen=True)
class DatasetFormat:
    """The parsed `dataset_format`: CSV (header or not), JSON (lines or one document), or capture."""

    kind: DatasetKind
    header: bool = True
    lines: bool = True
    capture_index_names: tuple[str, ...] = ("endpointInput", "endpointOutput")


@dataclass(frozen=True)
class ModelQualitySettings:
    """`analysis_type=MODEL_QUALITY`: where predictions, probabilities and labels are found.

    Attributes are column names or 0-based indices (CSV) or JSON paths such as
    `predictions[*].score` (JSON payloads), as the SDK's ModelQualityMonitor documents them.
    """

    problem_type: ProblemType
    inference_attribute: str | None
    probability_attribute: str | None
    ground_truth_attribute: str | None
    probability_threshold: float
    positive_label: str | None
    # Ours: a folder of ground-truth uploads to merge with the capture in the job itself (the
    # scheduled-job engine has no separate merge job). Unset: the dataset is already merged.
    ground_truth_source: Path | None


@dataclass(frozen=True)
class AnalyzerSettings:
    dataset_format: DatasetFormat
    dataset_source: Path
    output_path: Path
    baseline_statistics: Path | None
    baseline_constraints: Path | None
    publish_cloudwatch_metrics: bool
    endpoint_name: str | None
    schedule_name: str | None
    metric_time: str | None
    start_time: datetime | None
    end_time: datetime | None
    categorical_drift_method: CategoricalDriftMethod | None
    record_preprocessor_script: Path | None
    # Ours, not the prebuilt analyzer's: whether endpointOutput columns join the features, and
    # where. Our baselines are features only (no label), so by default outputs are left out.
    endpoint_output_columns_position: OutputColumnsPosition
    message_file: Path
    metrics_directory: Path
    analysis_type: AnalysisType = "DATA_QUALITY"
    model_quality: ModelQualitySettings | None = None
    exclude_features: tuple[str, ...] = ()
    post_analytics_processor_script: Path | None = None
    engine: MonitoringEngine = "model-monitor"

    @property
    def is_monitoring(self) -> bool:
        """Monitoring (check against a baseline) when a baseline is given, else baselining."""
        return self.baseline_constraints is not None or self.baseline_statistics is not None


def parse_dataset_format(text: str) -> DatasetFormat:
    """Parse `dataset_format` JSON, e.g. `{"csv": {"header": true}}` or `{"sagemakerCaptureJson": {...}}`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise MonitorError(f"dataset_format is not valid JSON ({error.msg} at char {error.pos}): {text!r}") from error
    if not isinstance(document, dict) or len(document) != 1:
        raise MonitorError(f"dataset_format must be an object with exactly one format key, got: {text!r}")
    ((kind, options),) = document.items()
    options = options if isinstance(options, dict) else {}
    if kind == "csv":
        return DatasetFormat(kind="csv", header=_flag(options.get("header", True), "dataset_format.csv.header"))
    if kind == "json":
        return DatasetFormat(kind="json", lines=_flag(options.get("lines", True), "dataset_format.json.lines"))
    if kind == "sagemakerCaptureJson":
        names = options.get("captureIndexNames", ["endpointInput", "endpointOutput"])
        if not isinstance(names, list) or not all(name in ("endpointInput", "endpointOutput") for name in names):
            raise MonitorError(f"dataset_format.sagemakerCaptureJson.captureIndexNames is invalid: {names!r}")
        return DatasetFormat(kind="capture", capture_index_names=tuple(names))
    if kind == "sagemakerMergeJson":
        names = options.get("captureIndexNames", ["endpointOutput"])
        if not isinstance(names, list) or not all(name in ("endpointInput", "endpointOutput") for name in names):
            raise MonitorError(f"dataset_format.sagemakerMergeJson.captureIndexNames is invalid: {names!r}")
        return DatasetFormat(kind="merge", capture_index_names=tuple(names))
    raise MonitorError(
        f"dataset_format {kind!r} is not supported (supported: csv, json, sagemakerCaptureJson, sagemakerMergeJson)"
    )


def _flag(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MonitorError(f"{key} must be true or false, got {value!r}")


def _optional(environ: Mapping[str, str], key: str) -> str | None:
    value = environ.get(key, "").strip()
    return value or None


def _time(environ: Mapping[str, str], key: str) -> datetime | None:
    value = _optional(environ, key)
    if value is None:
        return None
    try:
        return parse_capture_time(value)
    except ValueError as error:
        raise MonitorError(f"{key} is not an ISO-8601 time: {value!r}") from error


def _window_start(environ: Mapping[str, str], start: datetime | None, end: datetime | None) -> datetime | None:
    """`monitoring_window_seconds` (the scheduled-job engine: EventBridge Scheduler passes only the
    scheduled time as end_time and cannot compute a start) gives start_time = end_time - window."""
    text = _optional(environ, "monitoring_window_seconds")
    if text is None:
        return start
    if not text.isdigit() or int(text) <= 0:
        raise MonitorError(f"monitoring_window_seconds must be a positive whole number of seconds, not {text!r}")
    if start is not None:
        raise MonitorError("set start_time or monitoring_window_seconds, not both")
    if end is None:
        raise MonitorError("monitoring_window_seconds needs end_time (the end of the window)")
    return end - timedelta(seconds=int(text))


def _choice(environ: Mapping[str, str], key: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = _optional(environ, key)
    if value is None:
        return default
    if value not in allowed:
        raise MonitorError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _threshold(environ: Mapping[str, str]) -> float:
    text = _optional(environ, "probability_threshold_attribute")
    if text is None:
        return 0.5
    try:
        return float(text)
    except ValueError as error:
        raise MonitorError(f"probability_threshold_attribute must be a number, got {text!r}") from error


def model_quality_settings(environ: Mapping[str, str]) -> ModelQualitySettings:
    problem = _choice(environ, "problem_type", PROBLEM_TYPES, None)
    if problem is None:
        raise MonitorError(f"problem_type must be set with analysis_type MODEL_QUALITY ({', '.join(PROBLEM_TYPES)})")
    ground_truth = _optional(environ, "ground_truth_source")
    return ModelQualitySettings(
        problem_type=cast(ProblemType, problem),
        inference_attribute=_optional(environ, "inference_attribute"),
        probability_attribute=_optional(environ, "probability_attribute"),
        ground_truth_attribute=_optional(environ, "ground_truth_attribute"),
        probability_threshold=_threshold(environ),
        positive_label=_optional(environ, "positive_label"),
        ground_truth_source=Path(ground_truth) if ground_truth else None,
    )


def _exclusions(environ: Mapping[str, str]) -> tuple[str, ...]:
    text = _optional(environ, "exclude_features_attribute")
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else ()


def settings_from_environ(environ: Mapping[str, str] | None = None) -> AnalyzerSettings:
    """Read and validate the job's environment (all values strings, as SageMaker passes them)."""
    env = os.environ if environ is None else environ
    base = Path(env.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR)
    format_text = _optional(env, "dataset_format")
    if format_text is None:
        raise MonitorError('dataset_format is not set (e.g. {"csv": {"header": true}})')
    dataset_format = parse_dataset_format(format_text)
    default_source = DEFAULT_CAPTURE_SOURCE if dataset_format.kind in ("capture", "merge") else DEFAULT_BASELINE_SOURCE
    statistics = _optional(env, "baseline_statistics")
    constraints = _optional(env, "baseline_constraints")
    script = _optional(env, "record_preprocessor_script")
    drift_method = _choice(env, "categorical_drift_method", ("LInfinity", "ChiSquared"), None)
    publish = _choice(env, "publish_cloudwatch_metrics", ("Enabled", "Disabled"), "Disabled")
    position = _choice(env, "endpoint_output_columns_position", ("NONE", "START", "END"), "NONE")
    analysis = _choice(env, "analysis_type", ANALYSIS_TYPES, "DATA_QUALITY")
    engine = _choice(env, ENGINE_VARIABLE, ENGINES, "model-monitor")
    quality = model_quality_settings(env) if analysis == "MODEL_QUALITY" else None
    if quality is None:
        for key in MODEL_QUALITY_KEYS:
            if _optional(env, key) is not None:
                raise MonitorError(f"{key} is only used with analysis_type MODEL_QUALITY (analysis_type is {analysis})")
        if dataset_format.kind == "merge":
            raise MonitorError("dataset_format sagemakerMergeJson needs analysis_type MODEL_QUALITY")
    else:
        for key in ("exclude_features_attribute", "record_preprocessor_script"):
            if _optional(env, key) is not None:
                raise MonitorError(f"{key} is not supported with analysis_type MODEL_QUALITY")
    post_script = _optional(env, "post_analytics_processor_script")
    start, end = _time(env, "start_time"), _time(env, "end_time")
    start = _window_start(env, start, end)
    if start and end and start >= end:
        raise MonitorError(f"start_time {env['start_time']} is not before end_time {env['end_time']}")
    return AnalyzerSettings(
        dataset_format=dataset_format,
        dataset_source=Path(_optional(env, "dataset_source") or default_source),
        output_path=Path(_optional(env, "output_path") or DEFAULT_OUTPUT_PATH),
        baseline_statistics=Path(statistics) if statistics else None,
        baseline_constraints=Path(constraints) if constraints else None,
        publish_cloudwatch_metrics=publish == "Enabled",
        endpoint_name=_optional(env, "sagemaker_endpoint_name"),
        schedule_name=_optional(env, "sagemaker_monitoring_schedule_name"),
        metric_time=_optional(env, "metric_time"),
        start_time=start,
        end_time=end,
        categorical_drift_method=cast(CategoricalDriftMethod | None, drift_method),
        record_preprocessor_script=Path(script) if script else None,
        endpoint_output_columns_position=cast(OutputColumnsPosition, position),
        message_file=Path(_optional(env, "output_message_file") or base / "output" / "message"),
        metrics_directory=Path(
            _optional(env, "cloudwatch_metrics_directory") or base / "output" / "metrics" / "cloudwatch"
        ),
        analysis_type=cast(AnalysisType, analysis),
        model_quality=quality,
        exclude_features=_exclusions(env),
        post_analytics_processor_script=Path(post_script) if post_script else None,
        engine=cast(MonitoringEngine, engine),
    )
