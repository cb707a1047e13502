"""Experiment tracking of the training job: an MLflow run with the job's parameters, metrics, model and tags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from containers.training.tracking import (
    TAG_JOB_ARN,
    TAG_JOB_NAME,
    TAG_PIPELINE_EXECUTION,
    TRACKING_URI_VARIABLE,
    artifact_location,
    tracking_uri,
)
from tests.containers.conftest import REPO_ROOT, make_tabular_frame, write_training_job

JOB = "pipelines-abc123-Train-XYZ"
JOB_ARN = f"arn:aws:sagemaker:eu-west-1:111111111111:training-job/{JOB}"
EXECUTION_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/p/execution/abc123"


def train(base: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """The entry point with the test process's environment minus any tracking configuration it carries."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env |= {"SAGEMAKER_BASE_DIR": str(base), **variables}
    return subprocess.run([sys.executable, "-m", "containers.training", "train"], env=env, capture_output=True,
                          text=True, timeout=180, cwd=REPO_ROOT, check=False)


def test_training_job_logs_its_hyperparameters_metrics_model_and_job_tags_to_mlflow(tmp_path: Path) -> None:
    base, store = tmp_path / "ml", tmp_path / "tracking"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    write_training_job(base, make_tabular_frame(600, seed=5), {"n_estimators": "15", "max_depth": "3"},
                       validation=make_tabular_frame(150, seed=6))
    result = train(base, MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="kit-dev", TRAINING_JOB_NAME=JOB,
                   TRAINING_JOB_ARN=JOB_ARN, SAGEMAKER_PIPELINE_EXECUTION_ARN=EXECUTION_ARN)
    assert result.returncode == 0, result.stdout + result.stderr
    metadata = json.loads((base / "model" / "metadata.json").read_text())

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("kit-dev")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == JOB
    assert run.data.params["n_estimators"] == "15"
    assert run.data.params["max_depth"] == "3"
    # The trainer's default estimator, recorded from the model where the job left it unset.
    assert run.data.params["estimator"] == metadata["hyperparameters"]["estimator"]
    assert run.data.metrics == metadata["metrics"]
    assert {"train_accuracy", "validation_accuracy"} <= set(run.data.metrics)
    assert run.data.tags[TAG_JOB_NAME] == JOB
    assert run.data.tags[TAG_JOB_ARN] == JOB_ARN
    assert run.data.tags[TAG_PIPELINE_EXECUTION] == EXECUTION_ARN
    assert run.data.tags["model.problem_type"] == "BinaryClassification"
    logged = {item.path for item in client.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.joblib", "model/metadata.json"} <= logged
    # Artifacts live beside the store, never in ./mlruns of the folder the job ran in.
    assert Path(experiment.artifact_location.removeprefix("file://")) == store / "artifacts"
    assert not (REPO_ROOT / "mlruns").exists()
    assert f"experiment tracking: run {run.info.run_id}" in result.stdout


def test_without_a_tracking_uri_tracking_is_off_and_says_so_once(tmp_path: Path) -> None:
    write_training_job(tmp_path, make_tabular_frame(200, seed=7), {"n_estimators": "5"})
    result = train(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("experiment tracking: off") == 1
    assert "MLFLOW_TRACKING_URI is not set" in result.stdout
    assert (tmp_path / "model" / "model.joblib").is_file()


def test_a_store_that_cannot_be_written_costs_the_record_with_a_warning_not_the_model(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    base = tmp_path / "ml"
    write_training_job(base, make_tabular_frame(200, seed=8), {"n_estimators": "5"})
    result = train(base, MLFLOW_TRACKING_URI=f"sqlite:///{blocker / 'mlflow.db'}")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if "experiment tracking: WARNING" in line]
    assert len(warnings) == 1
    assert str(blocker) in warnings[0]
    assert (base / "model" / "model.joblib").is_file()
    assert not (base / "output" / "failure").exists()


def test_tracking_uri_is_off_when_empty_and_sqlite_artifacts_sit_beside_the_database() -> None:
    assert tracking_uri({}) is None
    assert tracking_uri({TRACKING_URI_VARIABLE: "  "}) is None
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/kit-dev-mlflow"
    assert tracking_uri({TRACKING_URI_VARIABLE: arn}) == arn
    assert artifact_location(arn) is None  # the managed server keeps artifacts in its artifact store
    assert artifact_location("sqlite:////work/.mlops/tracking/mlflow.db") == "file:///work/.mlops/tracking/artifacts"
