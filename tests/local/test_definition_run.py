"""`mlops local run --definition FILE.json --param ...`: a definition file on a SageMaker image, inputs in local S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.images import REPO_ROOT

SKLEARN_IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPT = """
import glob, os, sys
rows = sum(len(open(path).read().splitlines()) for path in glob.glob("/opt/ml/processing/input/data/*.csv"))
os.makedirs("/opt/ml/processing/output", exist_ok=True)
open("/opt/ml/processing/output/count.txt", "w").write(f"{sys.argv[1]}={rows}\\n")
"""


def _definition() -> dict[str, object]:
    code, data = "s3://team-bucket/code/count.py", {"Get": "Parameters.InputData"}
    inputs = [("data", data, "/opt/ml/processing/input/data"), ("code", code, "/opt/ml/processing/input/code")]
    return {"Version": "2020-12-01", "Parameters": [
        {"Name": "InputData", "Type": "String", "DefaultValue": "s3://team-bucket/none/"},
        {"Name": "Label", "Type": "String", "DefaultValue": "rows"}],
        "Steps": [{"Name": "Count", "Type": "Processing", "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": SKLEARN_IMAGE,
                                 "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/count.py"],
                                 "ContainerArguments": [{"Get": "Parameters.Label"}]},
            "RoleArn": "arn:aws:iam::111111111111:role/r",
            "ProcessingInputs": [{"InputName": name, "S3Input": {
                "S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                for name, uri, path in inputs],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "count", "S3Output": {
                "S3Uri": "s3://team-bucket/out", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob"}}]}}}]}


@pytest.mark.local
def test_definition_file_runs_a_script_processor_on_local_s3_with_parameters(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for key, text in (("code/count.py", SCRIPT), ("data/a.csv", "1\n2\n"), ("data/b.csv", "3\n")):
        path = work / "s3" / "team-bucket" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    definition = tmp_path / "pipeline.json"
    definition.write_text(json.dumps(_definition()))
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", "--definition", str(definition), "--work-dir", str(work),
         "--param", "InputData=s3://team-bucket/data/", "--param", "Label=lines"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (work / "s3" / "team-bucket" / "out" / "count.txt").read_text() == "lines=3\n"
    assert "Succeeded" in result.stdout
