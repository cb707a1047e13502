"""`registry track` (cloud): a registered version's evaluation metrics, package, approval status and lineage
land on the MLflow run its training job logged (here a sqlite store; in the cloud the tracking server ARN)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from config.naming import Names
from config.settings import EnvironmentConfig
from containers.training.tracking import TAG_JOB_NAME
from mlops.aws import AwsTarget
from mlops.cli import main
from mlops.experiments import training_job_of
from tests.mlops.test_compare import two_versions  # noqa: F401 - the fixture seeds versions 1 and 2


def test_version_is_recorded_on_its_training_jobs_run_with_lineage_and_test_metrics(
    two_versions: AwsTarget, dev: EnvironmentConfig, tmp_path: Path,  # noqa: F811 - the fixture above
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(Names.of(dev).pipeline, artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(experiment, tags={TAG_JOB_NAME: "pipelines-b-Train"})
    other = client.create_run(experiment, tags={TAG_JOB_NAME: "pipelines-a-Train"})

    assert main(["registry", "track", "--env", "dev", "--version", "2", "--tracking-uri", uri]) == 0
    assert f"MLflow run {run.info.run_id}" in capsys.readouterr().out
    recorded = client.get_run(run.info.run_id).data
    assert recorded.metrics["test_auc"] == pytest.approx(0.95)
    assert recorded.tags["sagemaker.model_package_version"] == "2"
    assert recorded.tags["sagemaker.model_approval_status"] == "PendingManualApproval"
    assert recorded.tags["lineage:code_commit"] == "bbbb"
    assert recorded.tags["lineage:images"] == "training@sha256:ff"
    assert "owner" not in recorded.tags  # only lineage: keys of the package metadata
    assert "sagemaker.model_package_version" not in client.get_run(other.info.run_id).data.tags


def test_track_without_the_training_run_is_one_clear_error(
    two_versions: AwsTarget, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["registry", "track", "--env", "dev", "--version", "1", "--tracking-uri", uri]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "no MLflow run of training job 'pipelines-a-Train'" in error[0]


def test_dev_without_a_tracking_server_needs_a_tracking_uri(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "track", "--env", "dev", "--version", "1"]) == 1
    assert "no MLflow tracking server" in capsys.readouterr().err


def test_training_job_is_read_from_the_model_data_url() -> None:
    assert training_job_of("s3://b/p/exec/Train/pipelines-x-Train/output/model.tar.gz") == "pipelines-x-Train"
    assert training_job_of("s3://b/m.tar.gz") is None
