"""Step properties as SageMaker documents them: a step produces its Describe* response (the
members botocore's SageMaker model defines), later steps may read any of them, and a Get of a
property the step type does not have is refused by name before anything runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import botocore.session
import pytest

from mlops.local.aws.moto_server import LocalAws
from mlops.local.engine.registry import runner_for
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import (
    BUCKET,
    TRAINING_IMAGE,
    definition,
    executor,
    processing_step,
    put_object,
)
from tests.local.test_executor import _training_step

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
# Step type -> the shape SageMaker Pipelines documents as its properties.
SHAPES = {"Training": "DescribeTrainingJobResponse", "Processing": "DescribeProcessingJobResponse",
          "RegisterModel": "DescribeModelPackageOutput", "QualityCheck": "QualityCheckStepMetadata"}
WRITE_MODEL = "import pathlib, sys; pathlib.Path(sys.argv[1], 'model.txt').write_text('m')"


def _members(step_type: str) -> set[str]:
    return set(SAGEMAKER.shape_for(SHAPES[step_type]).members)


def _required(step_type: str) -> set[str]:
    return set(SAGEMAKER.shape_for(SHAPES[step_type]).required_members)


@pytest.mark.parametrize("step_type", sorted(SHAPES))
def test_each_runner_declares_the_documented_properties(step_type: str) -> None:
    runner = runner_for(step_type)
    assert runner is not None
    extra = {"PropertyFiles"} if step_type == "Processing" else set()
    assert set(runner.properties) == _members(step_type) | extra


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _pipeline() -> dict[str, Any]:
    train = _training_step({})
    train["Arguments"]["AlgorithmSpecification"] |= {"ContainerEntrypoint": ["python3", "-c", WRITE_MODEL],
                                                     "ContainerArguments": ["/opt/ml/model"]}
    # A later step reads the times and the documented statuses of the two before it.
    report = processing_step("Report", "print('report')", DependsOn=["Prep"])
    report["Arguments"]["Environment"] = {
        "TRAINED": {"Std:Join": {"On": " ", "Values": [
            {"Get": "Steps.Train.TrainingStartTime"}, {"Get": "Steps.Train.TrainingEndTime"},
            {"Get": "Steps.Train.SecondaryStatus"}, {"Get": "Steps.Train.TrainingTimeInSeconds"}]}},
        "PREPARED": {"Get": "Steps.Prep.ProcessingEndTime"},
    }
    return definition(processing_step("Prep", "print('prep')"), train, report)


def test_training_and_processing_properties_are_the_describe_responses(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/splits/train/train.csv", "target,a\n1,2\n")
    steps = executor(_pipeline(), work).run().steps
    train, prep = steps["Train"].properties or {}, steps["Prep"].properties or {}
    assert _required("Training") <= set(train) <= _members("Training")
    assert _required("Processing") <= set(prep) <= _members("Processing")
    assert _time(train["CreationTime"]) <= _time(train["TrainingStartTime"]) <= _time(train["TrainingEndTime"])
    assert _time(prep["CreationTime"]) <= _time(prep["ProcessingStartTime"]) <= _time(prep["ProcessingEndTime"])
    assert [item["Status"] for item in train["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert train["TrainingTimeInSeconds"] >= 1
    job_config = work.run_dir("run1") / "steps" / "Report" / "opt" / "ml" / "config" / "processingjobconfig.json"
    environment = json.loads(job_config.read_text(encoding="utf-8"))["Environment"]
    assert environment["TRAINED"] == (f"{train['TrainingStartTime']} {train['TrainingEndTime']} Completed "
                                      f"{train['TrainingTimeInSeconds']}")
    assert environment["PREPARED"] == prep["ProcessingEndTime"]


def test_register_model_properties_are_the_described_package(work: WorkDir, aws: LocalAws) -> None:
    inference = {"Containers": [{"Image": TRAINING_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                 "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}
    step = {"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "demo-properties", "InferenceSpecification": inference,
        "ModelApprovalStatus": "PendingManualApproval"}}
    properties = executor(definition(step), work, sagemaker=aws.client("sagemaker")).run() \
        .steps["Register"].properties or {}
    assert _required("RegisterModel") <= set(properties) <= _members("RegisterModel")
    assert properties["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == f"s3://{BUCKET}/m.tar.gz"
    assert properties["ModelPackageGroupName"] == "demo-properties"
    _time(properties["CreationTime"])


@pytest.mark.parametrize("path", ["Steps.Train.ModelArtifact.S3ModelArtifacts", "Steps.Prep.TrainingJobStatus2"])
def test_a_property_the_step_type_does_not_have_is_refused_before_anything_runs(work: WorkDir, path: str) -> None:
    report = processing_step("Report", "print(1)")
    report["Arguments"]["Environment"] = {"VALUE": {"Get": path}}
    pipeline = definition(processing_step("Prep", "print(1)"), _training_step({}), report)
    with pytest.raises(UnsupportedDefinitionError, match=f"no property {path.split('.')[2]!r}"):
        executor(pipeline, work)
    assert not any(work.runs_root.iterdir())
