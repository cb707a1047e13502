"""Experiment tracking: a finished training job logged to MLflow (parameters, metrics, the model, tags).

The tracking URI comes from the job's environment (MLflow's own `MLFLOW_TRACKING_URI`): a SageMaker
MLflow tracking-server ARN in the cloud (the sagemaker-mlflow plugin signs the requests with the job's
role), local mode's sqlite store in the work folder. Without a URI tracking is off and the job says so
once. Tracking never fails a job: the model is what the job is for, so a store that cannot be reached
costs the run record (one warning line in the job log), not the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from containers.contracts.model_artifact import METADATA_FILE

TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
EXPERIMENT_VARIABLE = "MLFLOW_EXPERIMENT_NAME"
# Set by SageMaker in every training container (and by local mode's training step).
JOB_NAME_VARIABLE = "TRAINING_JOB_NAME"
JOB_ARN_VARIABLE = "TRAINING_JOB_ARN"
# Passed by the pipeline definition (Execution.PipelineExecutionArn) so a run names its execution.
PIPELINE_EXECUTION_VARIABLE = "SAGEMAKER_PIPELINE_EXECUTION_ARN"
DEFAULT_EXPERIMENT = "training"

# Tags that tie a run to SageMaker; the registry side adds the model package ones after registration.
TAG_JOB_NAME = "sagemaker.training_job_name"
TAG_JOB_ARN = "sagemaker.training_job_arn"
TAG_PIPELINE_EXECUTION = "sagemaker.pipeline_execution_arn"
TAG_PROBLEM_TYPE = "model.problem_type"
TAG_TARGET = "model.target"
MODEL_ARTIFACT_PATH = "model"
# MLflow refuses longer parameter values.
MAX_PARAM_LENGTH = 6000


@dataclass(frozen=True)
class TrainingRecord:
    """What one training job logs: parameters, metrics and tags, plus the model folder as the artifact."""

    run_name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    model_dir: Path


def tracking_uri(env: Mapping[str, str]) -> str | None:
    """The configured tracking URI; None (tracking off) when the variable is unset or empty."""
    return env.get(TRACKING_URI_VARIABLE, "").strip() or None


def training_record(env: Mapping[str, str], hyperparameters_file: Path, model_dir: Path) -> TrainingRecord:
    """The record of a job whose model folder holds metadata.json (the kit's trainer or a checked script)."""
    raw = json.loads(hyperparameters_file.read_text(encoding="utf-8")) if hyperparameters_file.is_file() else {}
    params = {str(key): str(value)[:MAX_PARAM_LENGTH] for key, value in raw.items()}
    metadata = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    for key, value in (metadata.get("hyperparameters") or {}).items():
        # The estimator's effective settings, where the job's hyperparameters left them to defaults.
        params.setdefault(str(key), json.dumps(value) if not isinstance(value, str) else value)
    metrics = {str(name): float(value) for name, value in (metadata.get("metrics") or {}).items()}
    tags = {TAG_PROBLEM_TYPE: str(metadata.get("problem_type", "")), TAG_TARGET: str(metadata.get("target", ""))}
    for variable, tag in ((JOB_NAME_VARIABLE, TAG_JOB_NAME), (JOB_ARN_VARIABLE, TAG_JOB_ARN),
                          (PIPELINE_EXECUTION_VARIABLE, TAG_PIPELINE_EXECUTION)):
        if env.get(variable):
            tags[tag] = env[variable]
    return TrainingRecord(run_name=env.get(JOB_NAME_VARIABLE) or "training", params=params, metrics=metrics,
                          tags=tags, model_dir=model_dir)


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: beside a sqlite store's file (MLflow would otherwise use
    ./mlruns of whatever folder the job runs in); the server decides for any other store."""
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite" or not parsed.path:
        return None
    return (Path(parsed.path).parent / "artifacts").resolve().as_uri()


def experiment_id(client: Any, name: str, uri: str) -> str:
    """The experiment's id, created on first use (a concurrent creator's experiment is taken)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location(uri)))
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def log_training_run(uri: str, experiment: str, record: TrainingRecord) -> str:
    """One finished MLflow run for the job; its run id."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(experiment_id(client, experiment, uri), run_name=record.run_name, tags=record.tags)
    run_id = str(run.info.run_id)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(name, value, now, 0) for name, value in record.metrics.items()],
                     params=[Param(name, value) for name, value in record.params.items()])
    client.log_artifacts(run_id, str(record.model_dir), artifact_path=MODEL_ARTIFACT_PATH)
    client.set_terminated(run_id)
    return run_id


def track_training_job(env: Mapping[str, str], hyperparameters_file: Path, model_dir: Path,
                       log: Callable[[str], Any] = print) -> str | None:
    """Log the finished job when a tracking URI is configured; the run id, or None (off or failed)."""
    uri = tracking_uri(env)
    if uri is None:
        log(f"experiment tracking: off ({TRACKING_URI_VARIABLE} is not set)")
        return None
    experiment = env.get(EXPERIMENT_VARIABLE, "").strip() or DEFAULT_EXPERIMENT
    started = time.perf_counter()
    try:
        record = training_record(env, hyperparameters_file, model_dir)
        run_id = log_training_run(uri, experiment, record)
    except Exception as error:  # any store problem costs the record, never the model
        log(f"experiment tracking: WARNING: the run was not recorded in {uri} ({type(error).__name__}: {error})")
        return None
    log(f"experiment tracking: run {run_id} in experiment {experiment!r} at {uri} "
        f"({time.perf_counter() - started:.2f}s)")
    return run_id
