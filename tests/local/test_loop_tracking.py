"""Experiment tracking in `mlops local run`: the runs of the shared loop (tests/local/test_loop.py), read
back from the work folder's MLflow store with MLflow's own client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from mlops.experiments import TAG_MODEL_PACKAGE_VERSION, TAG_MODEL_PACKAGE_VERSIONS
from tests.local.conftest import shared_once
from tests.local.test_loop import Run, _run_the_loop, mlops_local, step

pytestmark = [pytest.mark.local, pytest.mark.slow]
EXPERIMENT = "mlops-kit-dev-training"


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Run]]:
    folder, result = shared_once(tmp_path_factory, "local-loop", _run_the_loop)
    runs = {name: Run(**result[name]) for name in ("first", "second", "resumed")}
    return folder / ".mlops", runs


def training_job(run: Run) -> str:
    return str(step(run, "Train")["properties"]["TrainingJobName"])


def mlflow_runs(work: Path) -> dict[str, Any]:
    """Run name (the training job) -> MLflow run, from the store summary.json names."""
    client = MlflowClient(tracking_uri=f"sqlite:///{work.resolve() / 'tracking' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    return {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}


def test_summary_names_the_embedded_store_in_the_work_folder(loop: tuple[Path, dict[str, Run]]) -> None:
    work, runs = loop
    for run in runs.values():
        assert run.summary["tracking_uri"] == f"sqlite:///{work.resolve() / 'tracking' / 'mlflow.db'}"
        assert run.summary["tracking_problem"] is None
        assert f"tracked: MLflow run {run.summary['tracking_run']} in {run.summary['tracking_uri']}" in run.stdout
    assert (work / "tracking" / "mlflow.db").is_file()


def test_each_trained_model_has_one_mlflow_run_with_its_parameters_metrics_model_and_version(
    loop: tuple[Path, dict[str, Run]],
) -> None:
    work, runs = loop
    first, second, resumed = runs["first"], runs["second"], runs["resumed"]
    by_job = mlflow_runs(work)
    # The second run's Train step is a cache hit: no new training, so no new run (its version joins the first's).
    assert training_job(second) == training_job(first)
    assert set(by_job) == {training_job(first), training_job(resumed)}

    tracked = by_job[training_job(first)]
    assert tracked.info.run_id == first.summary["tracking_run"] == second.summary["tracking_run"]
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params["n_estimators"] == "20"
    assert tracked.data.params["target"] == first.summary["data"]["target"]
    assert {"train_auc", "validation_auc", "test_auc"} <= set(tracked.data.metrics)
    # The evaluation metric the approval gate read is the test_ metric of the run.
    assert tracked.data.metrics["test_auc"] == pytest.approx(first.summary["approval"]["metric"])
    assert tracked.data.tags["sagemaker.pipeline_execution_arn"].endswith(f"/execution/{first.summary['execution_id']}")
    assert tracked.data.tags[TAG_MODEL_PACKAGE_VERSIONS] == "1,2"
    assert tracked.data.tags[TAG_MODEL_PACKAGE_VERSION] == "2"
    assert tracked.data.tags["sagemaker.model_package_arn"].endswith("/mlops-kit-dev-models/2")
    client = MlflowClient(tracking_uri=first.summary["tracking_uri"])
    assert {"model/model.joblib", "model/metadata.json"} <= {
        item.path for item in client.list_artifacts(tracked.info.run_id, "model")}

    retrained = by_job[training_job(resumed)]
    assert retrained.data.params["n_estimators"] == "21"
    assert retrained.data.tags[TAG_MODEL_PACKAGE_VERSION] == str(resumed.summary["registered"]["version"])
    assert retrained.data.tags["sagemaker.training_job_name"] == training_job(resumed)


def test_local_registry_compare_shows_the_two_trainings_side_by_side(loop: tuple[Path, dict[str, Run]]) -> None:
    work, runs = loop
    newest = int(runs["resumed"].summary["registered"]["version"])
    compared = mlops_local(work, "registry", "compare", "1", str(newest), "--json")
    assert compared.code == 0, compared.stderr
    sections = {name: {row["name"]: row for row in rows}
                for name, rows in json.loads(compared.stdout)["sections"].items()}
    assert (sections["parameters"]["n_estimators"]["a"], sections["parameters"]["n_estimators"]["b"]) == ("20", "21")
    auc = sections["metrics"]["auc"]
    assert auc["delta"] == pytest.approx(auc["b"] - auc["a"])
    assert {"train_auc", "validation_auc"} <= set(sections["metrics"])
    assert sections["artifacts"]["training job"]["b"] == training_job(runs["resumed"])
    table = mlops_local(work, "registry", "compare", "1", str(newest))
    assert table.code == 0, table.stderr
    assert "n_estimators" in table.stdout
    assert f"delta ({newest} - 1)" in table.stdout
