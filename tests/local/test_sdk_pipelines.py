"""Other people's pipelines, built with the SageMaker SDK (seed-code style), run locally without Docker.

The seed pipeline (tests/fixtures/seed_pipelines/sklearn_pipeline.py) has an SKLearnProcessor step, a
script-mode SKLearn training step, a FrameworkProcessor step, a Condition, a Model step and a Transform
step, all on SageMaker's scikit-learn images; `mlops local run --pipeline` builds it offline and runs
it. The refused pipelines each hold one step local mode cannot run faithfully: refused by name before
any step starts.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from config.images import REPO_ROOT
from mlops.local.engine.checks import check_definition
from mlops.local.errors import StepFailedError, UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import IMAGES, executor, shared_once

SEED = "tests.fixtures.seed_pipelines.sklearn_pipeline:get_pipeline"
ROWS = 200
pytestmark = [pytest.mark.local, pytest.mark.slow]


def mlops_local_run(work: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def write_data(folder: Path) -> Path:
    """A separable binary problem: label first, four features (what the seed scripts expect)."""
    import numpy as np

    rng = np.random.default_rng(7)
    features = rng.normal(size=(ROWS, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "data.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "f0", "f1", "f2", "f3"])
        writer.writerows([label, *row] for label, row in zip(labels, features.round(5), strict=True))
    return folder


def _seed_run(folder: Path) -> dict[str, Any]:
    data = write_data(folder / "data")
    result = mlops_local_run(folder / "work", "--pipeline", SEED, "--param", f"InputDataUrl=file://{data}/")
    record = None
    runs = sorted((folder / "work" / "runs").glob("*/run.json"))
    if runs:
        record = json.loads(runs[-1].read_text())
    return {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr, "record": record}


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return shared_once(tmp_path_factory, "seed-pipeline", _seed_run)


def _local_s3(folder: Path, uri: str) -> Path:
    return folder / "work" / "s3" / uri.removeprefix("s3://")


def test_sdk_built_sklearn_pipeline_runs_every_step_without_docker(seed_run: tuple[Path, dict[str, Any]]) -> None:
    _, run = seed_run
    assert run["returncode"] == 0, run["stdout"] + run["stderr"]
    statuses = {name: step["status"] for name, step in run["record"]["steps"].items()}
    assert statuses == {
        "PreprocessData": "Succeeded", "TrainModel": "Succeeded", "EvaluateModel": "Succeeded",
        "CheckAccuracy": "Succeeded", "AccuracyTooLow": "NotExecuted", "CreateModel-CreateModel": "Succeeded",
        "ScoreTestSet": "Succeeded",
    }


def test_sklearn_processor_step_reads_a_file_uri_and_writes_its_outputs(
        seed_run: tuple[Path, dict[str, Any]]) -> None:
    folder, run = seed_run
    step = run["record"]["steps"]["PreprocessData"]
    outputs = {item["OutputName"]: item["S3Output"]["S3Uri"]
               for item in step["properties"]["ProcessingOutputConfig"]["Outputs"]}
    rows = {name: (_local_s3(folder, uri) / f"{name}.csv").read_text().strip().splitlines()
            for name, uri in outputs.items()}
    assert len(rows["train"]) + len(rows["test"]) == ROWS
    assert len(rows["test"]) == ROWS // 4
    log = Path(step["log"]).read_text()
    # The script processor's entry point /opt/ml/processing/input/code/preprocess.py, mapped into the job.
    assert "opt/ml/processing/input/code/preprocess.py --test-fraction 0.25" in log


def test_script_mode_training_step_runs_the_entry_point_from_the_source_tarball(
        seed_run: tuple[Path, dict[str, Any]]) -> None:
    folder, run = seed_run
    step = run["record"]["steps"]["TrainModel"]
    assert json.loads(step["properties"]["HyperParameters"]["sagemaker_program"]) == "train.py"
    assert "train.py --C 0.5" in Path(step["log"]).read_text()
    metrics = {item["MetricName"]: item["Value"] for item in step["properties"]["FinalMetricDataList"]}
    assert metrics["train:accuracy"] > 0.8
    archive = _local_s3(folder, step["properties"]["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["model.joblib"]


def test_framework_processor_step_runs_its_runproc_script(seed_run: tuple[Path, dict[str, Any]]) -> None:
    folder, run = seed_run
    step = run["record"]["steps"]["EvaluateModel"]
    assert "/bin/bash" in Path(step["log"]).read_text()
    output = step["properties"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    report = json.loads((_local_s3(folder, output) / "evaluation.json").read_text())
    assert report["metrics"]["accuracy"]["value"] > 0.8
    assert run["record"]["steps"]["CheckAccuracy"]["outcome"] is True


def test_transform_step_joins_each_test_row_to_its_prediction(seed_run: tuple[Path, dict[str, Any]]) -> None:
    folder, run = seed_run
    test_uri = next(item["S3Output"]["S3Uri"] for item in
                    run["record"]["steps"]["PreprocessData"]["properties"]["ProcessingOutputConfig"]["Outputs"]
                    if item["OutputName"] == "test")
    test_rows = (_local_s3(folder, test_uri) / "test.csv").read_text().strip().splitlines()
    step = run["record"]["steps"]["ScoreTestSet"]
    assert step["properties"]["TransformJobStatus"] == "Completed"
    # SageMaker names the output after the input object: <S3OutputPath>/test.csv.out
    output = _local_s3(folder, step["properties"]["TransformOutput"]["S3OutputPath"]) / "test.csv.out"
    lines = output.read_text().splitlines()
    assert len(lines) == len(test_rows)
    for source, line in zip(test_rows, lines, strict=True):
        label, probability = line.split(",")  # OutputFilter $[0,-1] of the input joined to the output
        assert label == source.split(",")[0]
        assert 0.0 <= float(probability) <= 1.0
    correct = sum((float(line.split(",")[1]) > 0.5) == (line.split(",")[0] == "1") for line in lines)
    assert correct / len(lines) > 0.8


# --------------------------------------------------------------------------- refusals


BUILD_REFUSED = """
import json, os, sys
from moto import mock_aws
with mock_aws():
    import pipelines.sdk  # stubs the SDK's telemetry request
    from tests.fixtures.seed_pipelines.refused_pipelines import KINDS, RUNS, get_pipeline
    built = {kind: json.loads(get_pipeline(sys.argv[1], role="arn:aws:iam::111111111111:role/r",
                                           default_bucket="sagemaker-bucket", kind=kind).definition())
             for kind in (*KINDS, *RUNS)}
sys.stdout = sys.__stdout__
print(json.dumps(built))
"""


def _build_refused(folder: Path) -> dict[str, Any]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true",
           "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", BUILD_REFUSED, "eu-west-1"], capture_output=True, text=True,
                            cwd=REPO_ROOT, env=env, timeout=300, check=True)
    built: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    for kind, definition in built.items():
        (folder / f"{kind}.json").write_text(json.dumps(definition))
    return built


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return shared_once(tmp_path_factory, "refused-pipelines", _build_refused)


def _kinds() -> dict[str, tuple[str, ...]]:
    # The fixture module imports the SDK: read its table without importing it.
    import ast

    source = (REPO_ROOT / "tests/fixtures/seed_pipelines/refused_pipelines.py").read_text()
    tree = ast.parse(source)
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "KINDS")
    kinds: dict[str, tuple[str, ...]] = ast.literal_eval(table)
    return kinds


@pytest.mark.parametrize(("kind", "words"), sorted(_kinds().items()), ids=sorted(_kinds()))
def test_step_local_mode_cannot_run_faithfully_is_refused_by_name(
        refused: tuple[Path, dict[str, Any]], kind: str, words: tuple[str, ...]) -> None:
    _, built = refused
    with pytest.raises(UnsupportedDefinitionError) as refusal:
        check_definition(built[kind], IMAGES)
    for word in words:
        assert word.lower() in str(refusal.value).lower()


def test_refused_definition_file_stops_before_any_step_with_one_line(
        refused: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, _ = refused
    work = tmp_path / "work"
    result = mlops_local_run(work, "--definition", str(folder / "xgboost-builtin.json"))
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()
    assert len(message) == 1, result.stderr
    assert "built-in xgboost algorithm" in message[0]
    assert "Traceback" not in result.stderr
    assert not (work / "runs").exists() or not any((work / "runs").iterdir())  # nothing ran


def test_pipeline_option_names_a_malformed_target(tmp_path: Path) -> None:
    result = mlops_local_run(tmp_path / "work", "--pipeline", "not a target")
    assert result.returncode != 0
    assert "MODULE:FUNCTION" in result.stderr
    assert "Traceback" not in result.stderr


def _predictions(work: WorkDir, uri: str, accuracy: float) -> None:
    """label,prediction rows (what ModelQualityCheckConfig's _c0/_c1 name) with the given accuracy."""
    rows = [(index % 2, index % 2 if index < accuracy * 100 else 1 - index % 2) for index in range(100)]
    path = work.s3_path(uri) / "predictions.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{label},{prediction}\n" for label, prediction in rows))


def test_model_quality_check_step_baselines_then_fails_on_a_worse_model(
        refused: tuple[Path, dict[str, Any]], work: WorkDir) -> None:
    _, built = refused
    baseline = built["model-quality"]
    step = baseline["Steps"][0]
    data = step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    _predictions(work, data, accuracy=0.9)
    first = executor(baseline, work, "run1").run().steps["CheckModelQuality"].properties
    assert first is not None
    constraints = json.loads(work.s3_path(first["CalculatedBaselineConstraints"]).read_text())
    assert constraints["binary_classification_constraints"]["accuracy"]["threshold"] == pytest.approx(0.9)
    # The same step checking a worse model against that baseline, as a later run would.
    check = {**step, "SkipCheck": False, "RegisterNewBaseline": False,
             "SuppliedBaselineConstraints": first["CalculatedBaselineConstraints"]}
    _predictions(work, data, accuracy=0.6)
    with pytest.raises(StepFailedError, match=r"violation.*accuracy: LessThanThreshold"):
        executor({**baseline, "Steps": [check]}, work, "run2").run()


def test_seed_code_with_its_own_pipelines_package_builds_offline_into_local_s3(tmp_path: Path) -> None:
    """SageMaker project seed code keeps its pipeline in `pipelines/<name>/pipeline.py`: its package,
    not the project's `pipelines`, is imported; the code the SDK uploads lands in local S3."""
    import shutil

    from mlops.local.engine.pipeline_sources import definition_from_module

    seed = tmp_path / "seed"
    package = seed / "pipelines" / "demo"
    shutil.copytree(REPO_ROOT / "tests/fixtures/seed_pipelines/code", package / "code")
    shutil.copyfile(REPO_ROOT / "tests/fixtures/seed_pipelines/sklearn_pipeline.py", package / "pipeline.py")
    (seed / "pipelines" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    s3_root = tmp_path / "s3"
    source = definition_from_module("pipelines.demo.pipeline:get_pipeline", {"transform": False},
                                    region="eu-west-1", account="111111111111", s3_root=s3_root, cwd=seed)
    assert source.name == "SklearnSeedPipeline"
    assert [step["Name"] for step in source.definition["Steps"]] == [
        "PreprocessData", "TrainModel", "EvaluateModel", "CheckAccuracy"]
    uploaded = sorted(path.name for path in (s3_root / "sagemaker-eu-west-1-111111111111").rglob("*") if path.is_file())
    assert uploaded == ["preprocess.py", "runproc.sh", "sourcedir.tar.gz", "sourcedir.tar.gz"]
