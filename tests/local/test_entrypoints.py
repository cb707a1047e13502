"""Container entrypoints as SageMaker runs them: a script processor's code under
/opt/ml/processing/input/code/ and a training job's ContainerEntrypoint/ContainerArguments run in the
step's /opt/ml; what cannot run is refused by name before anything runs."""

from __future__ import annotations

import tarfile
from typing import Any

import pytest

from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import BUCKET, definition, executor, processing_step, put_object, read_json
from tests.local.test_executor import _training_step

WRITE_ARGUMENTS = """import json, sys, pathlib
target = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
target.mkdir(parents=True, exist_ok=True)
(target / "result.json").write_text(json.dumps({"script": __file__, "arguments": sys.argv[1:]}))
"""


def test_a_script_processors_code_input_is_its_entrypoint(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/code/process.py", WRITE_ARGUMENTS)
    step = processing_step("Process", "unused", inputs={"code": f"s3://{BUCKET}/code/"}, outputs=("result",),
                           arguments=["--out", "/opt/ml/processing/output/result"])
    step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "python3", "/opt/ml/processing/input/code/process.py"]
    properties = executor(definition(step), work).run().steps["Process"].properties or {}
    uri = properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    written = read_json(work, f"{uri}/result.json")
    sandbox = work.run_dir("run1") / "steps" / "Process" / "opt" / "ml"
    assert written["script"] == str(sandbox / "processing" / "input" / "code" / "process.py")
    assert written["arguments"] == ["--out", str(sandbox / "processing" / "output" / "result")]


def test_a_training_entrypoint_and_arguments_run_instead_of_the_projects_trainer(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/splits/train/train.csv", "target,a\n1,2\n0,3\n")
    put_object(work, f"s3://{BUCKET}/code/train.py", WRITE_ARGUMENTS)
    step = _training_step({})
    step["Arguments"]["AlgorithmSpecification"] |= {
        "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/train.py"],
        "ContainerArguments": ["--out", "/opt/ml/model"]}
    step["Arguments"]["InputDataConfig"].append({"ChannelName": "code", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/code/", "S3DataDistributionType": "FullyReplicated"}}})
    properties = executor(definition(step), work).run().steps["Train"].properties or {}
    with tarfile.open(work.s3_path(properties["ModelArtifacts"]["S3ModelArtifacts"])) as archive:
        assert archive.getnames() == ["result.json"]  # the script's output only: no model.joblib of ours


def _with_entrypoint(step: dict[str, Any], entrypoint: list[str]) -> dict[str, Any]:
    spec = step["Arguments"].get("AlgorithmSpecification") or step["Arguments"]["AppSpecification"]
    spec["ContainerEntrypoint"] = entrypoint
    return step


@pytest.mark.parametrize("step", [
    _with_entrypoint(processing_step("Process", "unused"), ["bash", "-c", "echo hi"]),
    _with_entrypoint(_training_step({}), ["/usr/bin/java", "-jar", "train.jar"]),
], ids=["processing", "training"])
def test_an_entrypoint_that_is_not_python_is_refused_before_anything_runs(work: WorkDir, step: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedDefinitionError, match="is not a Python interpreter") as refused:
        executor(definition(step), work)
    assert repr(step["Name"]) in str(refused.value)
    assert not any(work.runs_root.iterdir())


def test_a_foreign_training_image_with_its_own_entrypoint_is_refused_not_replaced_by_ours(work: WorkDir) -> None:
    step = _with_entrypoint(_training_step({}), ["python3", "train.py"])
    step["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1-cpu-py310")
    with pytest.raises(UnsupportedDefinitionError, match="pytorch-training"):
        executor(definition(step), work)
    assert not any(work.runs_root.iterdir())
