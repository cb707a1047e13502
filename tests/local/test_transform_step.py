"""Model and Transform steps by hand: a scikit-learn framework model served by the project's inference server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mlops.local.aws.moto_server import LocalAws
from mlops.local.engine.checks import check_definition
from mlops.local.engine.framework import PATH_HOOK
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import ACCOUNT, BUCKET, IMAGES, REGION, definition, executor

SKLEARN_IMAGE = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SERVE_SCRIPT = '''
import json, os
def model_fn(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as handle:
        return json.load(handle)
def input_fn(body, content_type):
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]
def predict_fn(rows, model):
    return [sum(w * x for w, x in zip(model["w"], row["x"])) for row in rows]
def output_fn(predictions, accept):
    return "".join(json.dumps({"score": p}) + "\\n" for p in predictions), accept
'''
NO_HANDLERS = "def model_fn(model_dir):\n    return None\n"


def _tar(path: Path, files: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _pipeline(work: WorkDir, script: str) -> dict[str, Any]:
    _tar(work.s3_path(f"s3://{BUCKET}/model/model.tar.gz"), {"weights.json": json.dumps({"w": [1.0, 10.0]})})
    _tar(work.s3_path(f"s3://{BUCKET}/code/sourcedir.tar.gz"), {"serve.py": script})
    rows = [{"id": index, "x": [index, 1]} for index in range(5)]
    data = work.s3_path(f"s3://{BUCKET}/batch/in/part-0.jsonl")
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = {"Name": "MakeModel", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/test",
        "PrimaryContainer": {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz",
                             "Environment": {"SAGEMAKER_PROGRAM": "serve.py",
                                             "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{BUCKET}/code/sourcedir.tar.gz"}}}}
    transform = {"Name": "Score", "Type": "Transform", "Arguments": {
        "ModelName": {"Get": "Steps.MakeModel.ModelName"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": f"s3://{BUCKET}/batch/in"}},
                           "ContentType": "application/jsonlines", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/batch/out", "Accept": "application/jsonlines",
                            "AssembleWith": "Line"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        "BatchStrategy": "SingleRecord",
        "DataProcessing": {"JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"}}}
    return definition(model, transform)


@pytest.mark.local
def test_transform_step_serves_a_framework_model_record_by_record_and_joins_json(
        work: WorkDir, aws: LocalAws) -> None:
    pipeline = _pipeline(work, SERVE_SCRIPT)
    record = executor(pipeline, work, sagemaker=aws.client("sagemaker")).run()
    assert record.status == "Succeeded"
    assert record.steps["MakeModel"].properties is not None
    assert record.steps["MakeModel"].properties["ModelName"] == "pipelines-run1-MakeModel"
    output = work.s3_path(f"s3://{BUCKET}/batch/out/part-0.jsonl.out").read_text().splitlines()
    assert [json.loads(line) for line in output] == [
        {"id": index, "SageMakerOutput": {"score": index * 1.0 + 10.0}} for index in range(5)]


def test_framework_model_without_the_handlers_its_container_would_default_is_refused_before_the_run(
        work: WorkDir) -> None:
    with pytest.raises(UnsupportedDefinitionError, match="does not define input_fn, predict_fn, output_fn"):
        check_definition(_pipeline(work, NO_HANDLERS), IMAGES, work)


def test_container_paths_in_a_jobs_python_open_its_sandbox(tmp_path: Path) -> None:
    sandbox = tmp_path / "opt" / "ml"
    sandbox.mkdir(parents=True)  # the job's /opt/ml exists, as in a container
    script = ("import glob, pathlib, pandas\n"
              "pathlib.Path('/opt/ml/processing/out').mkdir(parents=True)\n"
              "pandas.DataFrame({'a': [1]}).to_csv('/opt/ml/processing/out/x.csv', index=False)\n"
              "print(glob.glob('/opt/ml/processing/out/*.csv'), open('/opt/ml/processing/out/x.csv').read())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(PATH_HOOK), "MLOPS_CONTAINER_OPT_ML": str(sandbox)})
    assert result.stdout.split("]")[0] == "['/opt/ml/processing/out/x.csv'"
    assert (sandbox / "processing" / "out" / "x.csv").read_text() == "a\n1\n"
