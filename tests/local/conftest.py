"""Helpers for the local-mode tests: hand-written definitions whose steps are tiny Python scripts."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config.naming import Names
from mlops.local.aws.moto_server import LocalAws, local_aws
from mlops.local.engine.executor import Executor, ExecutorSettings, Observer
from mlops.local.engine.images import ImageCatalog
from mlops.local.workdir import WorkDir

ACCOUNT = "111111111111"
REGION = "eu-west-1"
BUCKET = "test-bucket"
TRAINING_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/demo-dev-training:tag"
# The project "demo" in environment "dev": its repositories are demo-dev-training and so on.
IMAGES = ImageCatalog.of(Names(project="demo", env="dev", account=ACCOUNT, region=REGION))
ANALYZER_IMAGE = f"468650794304.dkr.ecr.{REGION}.amazonaws.com/sagemaker-model-monitor-analyzer"


def output_uri(step: str, name: str) -> dict[str, Any]:
    return {"Std:Join": {"On": "/", "Values": [f"s3://{BUCKET}/runs", {"Get": "Execution.PipelineExecutionId"},
                                               step, name]}}


def processing_step(
    name: str, script: str, *, inputs: dict[str, Any] | None = None, outputs: tuple[str, ...] = (),
    arguments: list[Any] | None = None, **extra: Any,
) -> dict[str, Any]:
    """A Processing step of the training image running `python3 -c script ARGUMENTS`.

    Inputs land in /opt/ml/processing/input/<name>, outputs come from /opt/ml/processing/output/<name>.
    """
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": TRAINING_IMAGE, "ContainerEntrypoint": ["python3", "-c", script],
                                 "ContainerArguments": arguments or []},
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/test",
            "ProcessingInputs": [
                {"InputName": key, "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{key}",
                                               "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                for key, uri in (inputs or {}).items()
            ],
            "ProcessingOutputConfig": {"Outputs": [
                {"OutputName": key, "S3Output": {"S3Uri": output_uri(name, key),
                                                 "LocalPath": f"/opt/ml/processing/output/{key}",
                                                 "S3UploadMode": "EndOfJob"}}
                for key in outputs
            ]},
        },
        **extra,
    }


def definition(*steps: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": list(steps)}


def executor(definition_: dict[str, Any], work: WorkDir, execution_id: str = "run1", *,
             sagemaker: Any = None, observer: Observer | None = None, code_tag: str = "code-1") -> Executor:
    def no_registry() -> Any:
        raise AssertionError("this definition should not need the model registry")

    settings = ExecutorSettings(
        work=work, execution_id=execution_id, pipeline_name="demo", region=REGION, account=ACCOUNT,
        code_tag=code_tag, sagemaker=(lambda: sagemaker) if sagemaker is not None else no_registry,
        images=IMAGES, max_parallel=2, backoff_scale=0.001,
    )
    return Executor(definition_, settings, observer)


def put_object(work: WorkDir, uri: str, text: str) -> Path:
    path = work.s3_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_json(work: WorkDir, uri: str) -> Any:
    return json.loads(work.s3_path(uri).read_text(encoding="utf-8"))


@pytest.fixture
def work(tmp_path: Path) -> WorkDir:
    return WorkDir(tmp_path / "work").ensure()


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    """A moto server on loopback for this module (state reset when it starts)."""
    with local_aws(REGION, ACCOUNT) as running:
        yield running


def shared_once(factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], Any]) -> tuple[Path, Any]:
    """Compute `compute(folder)` once per test session, even across xdist workers; (folder, result).

    pytest-xdist's loadgroup does not group tests with pytest 9 here, so a module fixture would
    run the expensive loop once per worker. Workers share the parent of their base temp folder: the
    first one computes under a file lock and stores the (JSON) result, the others read it.
    """
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / "result.json"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result_file.exists():
            result_file.write_text(json.dumps(compute(folder)), encoding="utf-8")
        return folder, json.loads(result_file.read_text(encoding="utf-8"))
