"""The executor on small hand-written definitions: real step processes, local S3 as plain files."""

from __future__ import annotations

import json
import tarfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mlops.local.aws.moto_server import LocalAws
from mlops.local.engine.checks import check_definition
from mlops.local.engine.expressions import ExpressionError
from mlops.local.engine.record import RUN_RECORD, ExecutionRecord
from mlops.local.errors import PipelineFailedError, StepFailedError, UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from tests.local.conftest import (
    ANALYZER_IMAGE,
    BUCKET,
    IMAGES,
    TRAINING_IMAGE,
    definition,
    executor,
    output_uri,
    processing_step,
    put_object,
    read_json,
)

COPY_UPPER = """
import os, sys, pathlib
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
(target / "out.txt").write_text((source / "data.txt").read_text().upper())
(target / "where.txt").write_text(os.environ["WHERE"])
"""
WRITE_SCORE = """
import json, sys, pathlib
folder = pathlib.Path(sys.argv[1]); folder.mkdir(parents=True, exist_ok=True)
(folder / "report.json").write_text(json.dumps({"metrics": {"score": {"value": 0.4}}}))
"""
COUNT_AND_WRITE = """
import sys, pathlib
counter = pathlib.Path(sys.argv[1])
counter.write_text(str(int(counter.read_text()) + 1) if counter.exists() else "1")
out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True); (out / "x.txt").write_text("x")
"""


def test_processing_step_reads_local_s3_input_and_uploads_its_output(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/raw/data.txt", "hello")
    step = processing_step("Upper", COPY_UPPER, inputs={"raw": {"Get": "Parameters.Input"}}, outputs=("result",),
                           arguments=["/opt/ml/processing/input/raw", "/opt/ml/processing/output/result"])
    step["Arguments"]["Environment"] = {"WHERE": "/opt/ml/processing/output/result"}
    record = executor(definition(step, parameters=[
        {"Name": "Input", "Type": "String", "DefaultValue": f"s3://{BUCKET}/raw/"}]), work).run()

    result = f"s3://{BUCKET}/runs/run1/Upper/result"
    assert work.s3_path(f"{result}/out.txt").read_text() == "HELLO"
    # /opt/ml in the job's environment points into the step's sandbox, not the real /opt/ml.
    assert work.s3_path(f"{result}/where.txt").read_text().startswith(str(work.run_dir("run1")))
    properties = record.steps["Upper"].properties or {}
    assert properties["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == result
    assert properties["ProcessingJobStatus"] == "Completed"
    assert Path(record.steps["Upper"].log or "").is_file()



def test_a_relative_work_folder_works_like_make_run_passes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make run` passes `--work-dir .mlops`; steps run in their own folders, so paths must not be relative.
    monkeypatch.chdir(tmp_path)
    work = WorkDir(Path(".mlops")).ensure()
    assert work.root == tmp_path / ".mlops"
    put_object(work, f"s3://{BUCKET}/raw/data.txt", "relative")
    step = processing_step("Upper", COPY_UPPER, inputs={"raw": {"Get": "Parameters.Input"}}, outputs=("result",),
                           arguments=["/opt/ml/processing/input/raw", "/opt/ml/processing/output/result"])
    step["Arguments"]["Environment"] = {"WHERE": "/opt/ml/processing/output/result"}
    executor(definition(step, parameters=[
        {"Name": "Input", "Type": "String", "DefaultValue": f"s3://{BUCKET}/raw/"}]), work).run()
    assert work.s3_path(f"s3://{BUCKET}/runs/run1/Upper/result/out.txt").read_text() == "RELATIVE"

def _gated_pipeline() -> dict[str, Any]:
    score = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Score.PropertyFiles.Report"},
                             "Path": "metrics.score.value"}}
    return definition(
        processing_step("Score", WRITE_SCORE, outputs=("report",), arguments=["/opt/ml/processing/output/report"],
                        PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "report",
                                        "FilePath": "report.json"}]),
        {"Name": "Gate", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": score,
                            "RightValue": {"Get": "Parameters.Threshold"}}],
            "IfSteps": [processing_step("Publish", "print('published')")],
            "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                "On": " ", "Values": ["score", score, "is below", {"Get": "Parameters.Threshold"}]}}}}],
        }},
        parameters=[{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5}],
    )


def test_condition_takes_the_else_branch_into_fail_with_its_evaluated_message(work: WorkDir) -> None:
    run = executor(_gated_pipeline(), work)
    with pytest.raises(PipelineFailedError, match=r"score 0\.4 is below 0\.5"):
        run.run()
    record = ExecutionRecord.load(work.run_dir("run1") / RUN_RECORD)
    assert record.status == "Failed"
    assert record.failed_step == "Stop"
    assert record.steps["Publish"].status == "NotExecuted"
    assert record.steps["Gate"].outcome is False


def test_condition_takes_the_if_branch_when_a_param_override_lowers_the_threshold(work: WorkDir) -> None:
    record = executor(_gated_pipeline(), work).run({"Threshold": "0.3"})
    assert record.status == "Succeeded"
    assert record.parameters["Threshold"] == 0.3
    assert record.steps["Publish"].status == "Succeeded"
    assert record.steps["Stop"].status == "NotExecuted"


def test_a_job_killed_by_a_signal_is_retried_by_its_retry_policy(work: WorkDir, tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt-done"
    script = ("import os, signal, sys, pathlib\nm = pathlib.Path(sys.argv[1])\n"
              "if not m.exists():\n    m.touch()\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    step = processing_step("Flaky", script, arguments=[str(marker)], RetryPolicies=[
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 10, "BackoffRate": 2.0,
         "MaxAttempts": 2}])
    record = executor(definition(step), work).run()
    assert record.steps["Flaky"].status == "Succeeded"
    assert record.steps["Flaky"].attempts == 2
    assert "SIGKILL" in Path(record.steps["Flaky"].log or "").read_text()


def test_a_retry_policy_allows_exactly_max_attempts_retries(work: WorkDir, tmp_path: Path) -> None:
    # SageMaker's MaxAttempts counts retries: a job that always dies runs 1 + MaxAttempts times, not one more.
    attempts = tmp_path / "attempts"
    script = ("import os, signal, sys\nwith open(sys.argv[1], 'a') as f:\n    f.write('x')\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    step = processing_step("Doomed", script, arguments=[str(attempts)], RetryPolicies=[
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 1, "BackoffRate": 2.0,
         "MaxAttempts": 2}])
    with pytest.raises(StepFailedError, match="SIGKILL"):
        executor(definition(step), work).run()
    record = ExecutionRecord.load(work.run_dir("run1") / RUN_RECORD)
    assert record.steps["Doomed"].status == "Failed"
    assert record.steps["Doomed"].attempts == 3
    assert attempts.read_text() == "xxx"


def test_a_script_error_fails_at_once_with_its_message_and_log_tail(work: WorkDir) -> None:
    script = ("import os, pathlib, sys\nprint('reading rows')\n"
              "p = pathlib.Path(os.environ['SAGEMAKER_BASE_DIR'], 'output', 'message')\n"
              "p.parent.mkdir(parents=True, exist_ok=True); p.write_text('bad value in row 3')\nsys.exit(1)\n")
    step = processing_step("Broken", script, RetryPolicies=[
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR", "Step.SERVICE_FAULT"], "IntervalSeconds": 1,
         "BackoffRate": 2.0, "MaxAttempts": 3}])
    with pytest.raises(StepFailedError) as failure:
        executor(definition(step), work).run()
    assert failure.value.step == "Broken"
    assert "bad value in row 3" in failure.value.reason
    assert "reading rows" in failure.value.log_tail
    record = ExecutionRecord.load(work.run_dir("run1") / RUN_RECORD)
    assert record.steps["Broken"].attempts == 1


def test_resume_reuses_earlier_steps_and_reruns_the_failed_one(work: WorkDir, tmp_path: Path) -> None:
    counter, fixed = tmp_path / "count", tmp_path / "fixed"
    first = processing_step("First", COUNT_AND_WRITE, outputs=("out",),
                            arguments=[str(counter), "/opt/ml/processing/output/out"])
    second = processing_step(
        "Second", "import sys, pathlib\nsys.exit(0 if pathlib.Path(sys.argv[1]).exists() else 2)",
        inputs={"x": {"Get": "Steps.First.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}},
        arguments=[str(fixed)],
    )
    pipeline = definition(first, second)
    with pytest.raises(StepFailedError, match="Second"):
        executor(pipeline, work).run()
    fixed.touch()
    failed = ExecutionRecord.load(work.run_dir("run1") / RUN_RECORD)
    record = executor(pipeline, work).run(resume=failed)
    assert record.status == "Succeeded"
    assert record.steps["First"].reused
    assert counter.read_text() == "1"
    assert record.steps["Second"].status == "Succeeded"


def test_unchanged_cacheable_step_is_reused_and_changed_input_or_code_runs_again(
    work: WorkDir, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    put_object(work, f"s3://{BUCKET}/raw/data.txt", "v1")
    step = processing_step("Cached", COUNT_AND_WRITE, inputs={"raw": f"s3://{BUCKET}/raw/"}, outputs=("out",),
                           arguments=[str(counter), "/opt/ml/processing/output/out"],
                           CacheConfig={"Enabled": True, "ExpireAfter": "P30D"})
    pipeline = definition(step)
    executor(pipeline, work, "run1").run()
    second = executor(pipeline, work, "run2").run()
    assert second.steps["Cached"].cached_from == "run1"
    # A cached step's properties point at the outputs of the run that made them.
    outputs = (second.steps["Cached"].properties or {})["ProcessingOutputConfig"]["Outputs"]
    assert "/run1/" in outputs[0]["S3Output"]["S3Uri"]
    assert counter.read_text() == "1"
    put_object(work, f"s3://{BUCKET}/raw/data.txt", "v2")
    assert executor(pipeline, work, "run3").run().steps["Cached"].cached_from is None
    assert executor(pipeline, work, "run4", code_tag="code-2").run().steps["Cached"].cached_from is None
    assert counter.read_text() == "3"


@pytest.mark.parametrize(
    ("step", "named"),
    [
        ({"Name": "Notify", "Type": "Lambda", "Arguments": {}}, ["Notify", "Lambda"]),
        (processing_step("Odd", "print()", arguments=[{"Std:Split": {"On": ","}}]), ["Std:Split"]),
        ({**processing_step("Foreign", "print()")} | {"Arguments": {
            **processing_step("Foreign", "print()")["Arguments"],
            "AppSpecification": {"ImageUri": "123.dkr.ecr.eu-west-1.amazonaws.com/someone-else:1"}}},
         ["someone-else"]),
        (processing_step("Lost", "print()", arguments=[{"Get": "Steps.Nowhere.Properties"}]), ["Steps.Nowhere"]),
    ],
    ids=["step type", "expression", "image", "reference"],
)
def test_unsupported_parts_are_refused_by_name_before_anything_runs(
    work: WorkDir, step: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(UnsupportedDefinitionError) as refused:
        executor(definition(step), work)
    for word in named:
        assert word in str(refused.value)
    assert not any(work.runs_root.iterdir())


def test_depends_on_orders_steps_without_a_data_reference(work: WorkDir, tmp_path: Path) -> None:
    marker = str(tmp_path / "first-done")
    first = processing_step("First", "import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('done')",
                            arguments=[marker])
    # Fails unless First has finished; no timing involved.
    second = processing_step("Second", "import sys, pathlib\nsys.exit(0 if pathlib.Path(sys.argv[1]).is_file() else 3)",
                             arguments=[marker], DependsOn=["First"])
    # Listed first, but it waits for the step it depends on.
    record = executor(definition(second, first), work).run()
    assert record.status == "Succeeded"
    first_ended, second_started = record.steps["First"].ended, record.steps["Second"].started
    assert first_ended is not None
    assert second_started is not None
    assert datetime.fromisoformat(second_started) >= datetime.fromisoformat(first_ended)


def test_dependency_cycle_is_refused() -> None:
    a = processing_step("A", "print()", DependsOn=["B"])
    b = processing_step("B", "print()", DependsOn=["A"])
    with pytest.raises(UnsupportedDefinitionError, match="cycle"):
        check_definition(definition(a, b), IMAGES)


def test_max_runtime_stops_a_step_that_runs_too_long(work: WorkDir) -> None:
    step = processing_step("Slow", "import time; time.sleep(30)")
    step["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    started = time.monotonic()
    with pytest.raises(StepFailedError, match="MaxRuntimeInSeconds"):
        executor(definition(step), work).run()
    assert time.monotonic() - started < 15


def test_bad_parameter_value_names_the_parameter_and_its_type(work: WorkDir) -> None:
    run = executor(_gated_pipeline(), work)
    with pytest.raises(ExpressionError, match=r"'Threshold' is a Float"):
        run.run({"Threshold": "high"})


def _training_step(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "accuracy", "Regex": r"train_accuracy=([0-9.]+);"}]},
        "OutputDataConfig": {"S3OutputPath": output_uri("Train", "model")},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "RoleArn": "arn:aws:iam::111111111111:role/test",
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/splits/train/",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "HyperParameters": hyperparameters,
    }}


def test_training_step_runs_train_in_the_sagemaker_layout_and_packs_model_tar_gz(work: WorkDir) -> None:
    rows = ["target,a,b"] + [f"{i % 2},{(i % 2) * 3 + i % 5 * 0.1},{i % 7}" for i in range(40)]
    put_object(work, f"s3://{BUCKET}/splits/train/train.csv", "\n".join(rows) + "\n")
    step = _training_step({"n_estimators": {"Get": "Parameters.Trees"}, "target": "target",
                           "problem_type": "BinaryClassification"})
    record = executor(definition(step, parameters=[{"Name": "Trees", "Type": "Integer", "DefaultValue": 5}]),
                      work).run()

    properties = record.steps["Train"].properties or {}
    model_uri = properties["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"s3://{BUCKET}/runs/run1/Train/model/pipelines-run1-Train/output/model.tar.gz"
    with tarfile.open(work.s3_path(model_uri)) as archive:
        assert {"model.joblib", "metadata.json"} <= set(archive.getnames())
    config = work.run_dir("run1") / "steps" / "Train" / "opt" / "ml" / "input" / "config"
    # SageMaker hands every hyperparameter over as a string.
    assert json.loads((config / "hyperparameters.json").read_text())["n_estimators"] == "5"
    assert json.loads((config / "inputdataconfig.json").read_text())["train"]["ContentType"] == "text/csv"
    assert properties["FinalMetricDataList"][0]["MetricName"] == "accuracy"


def test_training_failure_reason_comes_from_the_failure_file(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/splits/train/train.csv", "target,a\n1,2\n0,3\n")
    step = _training_step({"no_such_hyperparameter": "1"})
    with pytest.raises(StepFailedError, match="no_such_hyperparameter"):
        executor(definition(step), work).run()


def _quality_check(**settings: Any) -> dict[str, Any]:
    return {"Name": "Baseline", "Type": "QualityCheck", "CheckType": "DATA_QUALITY", "SkipCheck": True,
            "RegisterNewBaseline": True, "FailOnViolation": True, "ModelPackageGroupName": "demo-models",
            "Arguments": {
                "AppSpecification": {"ImageUri": ANALYZER_IMAGE},
                "ProcessingInputs": [{"InputName": "baseline_dataset_input", "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/baseline/", "LocalPath": "/opt/ml/processing/input/baseline_dataset_input",
                    "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
                "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output", "S3Output": {
                    "S3Uri": output_uri("Baseline", "result"), "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "EndOfJob"}}]},
                "Environment": {"output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled",
                                "dataset_format": '{"csv": {"header": true}}',
                                "dataset_source": "/opt/ml/processing/input/baseline_dataset_input"},
            }} | settings


def _baseline_data(offset: float = 0.0) -> str:
    return "a,b,color\n" + "".join(f"{i + offset},{i * 0.5},{'red' if i % 3 else 'blue'}\n" for i in range(30))


def test_quality_check_step_calculates_a_baseline_and_exposes_it_as_drift_check_baseline(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/baseline/baseline.csv", _baseline_data())
    properties = executor(definition(_quality_check()), work).run().steps["Baseline"].properties or {}
    statistics = properties["CalculatedBaselineStatistics"]
    assert statistics == f"s3://{BUCKET}/runs/run1/Baseline/result/statistics.json"
    assert properties["BaselineUsedForDriftCheckStatistics"] == statistics
    assert properties["BaselineUsedForDriftCheckConstraints"].endswith("/constraints.json")
    names = [feature["name"] for feature in read_json(work, statistics)["features"]]
    assert names == ["a", "b", "color"]


def test_quality_check_against_a_supplied_baseline_fails_on_violations(work: WorkDir) -> None:
    put_object(work, f"s3://{BUCKET}/baseline/baseline.csv", _baseline_data())
    first = executor(definition(_quality_check()), work).run().steps["Baseline"].properties or {}
    put_object(work, f"s3://{BUCKET}/baseline/baseline.csv", _baseline_data(offset=100.0))
    check = _quality_check(SkipCheck=False, RegisterNewBaseline=False,
                           SuppliedBaselineStatistics=first["CalculatedBaselineStatistics"],
                           SuppliedBaselineConstraints=first["CalculatedBaselineConstraints"])
    with pytest.raises(StepFailedError, match=r"violation\(s\): a: baseline_drift_check"):
        executor(definition(check), work, "run2").run()
    tolerant = executor(definition({**check, "FailOnViolation": False}), work, "run3").run()
    properties = tolerant.steps["Baseline"].properties or {}
    assert properties["BaselineUsedForDriftCheckStatistics"] == first["CalculatedBaselineStatistics"]
    violations = read_json(work, properties["ViolationReport"])["violations"]
    assert {item["feature_name"] for item in violations} == {"a"}


def test_register_model_step_creates_a_version_in_the_local_registry(work: WorkDir, aws: LocalAws) -> None:
    sm = aws.client("sagemaker")
    metrics_uri = {"Std:Join": {"On": "/", "Values": [f"s3://{BUCKET}/eval", "evaluation.json"]}}
    step = {"Name": "Register-RegisterModel", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "demo-registered-models",
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}},
        "InferenceSpecification": {"Containers": [{"Image": TRAINING_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": {"Get": "Parameters.Status"},
    }}
    pipeline = definition(step, parameters=[{"Name": "Status", "Type": "String",
                                             "DefaultValue": "PendingManualApproval"}])
    properties = executor(pipeline, work, sagemaker=sm).run().steps["Register-RegisterModel"].properties or {}
    described = sm.describe_model_package(ModelPackageName=properties["ModelPackageArn"])
    assert described["ModelPackageVersion"] == 1
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == f"s3://{BUCKET}/eval/evaluation.json"
