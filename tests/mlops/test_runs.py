"""Pipeline upsert, start and wait against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.sagemaker.models import sagemaker_backends

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops import runs
from mlops.aws import AwsTarget, client
from mlops.errors import ExecutionFailedError, RunError
from mlops.local.aws import moto_extensions

MOTO_ACCOUNT = "123456789012"
DEFINITION: dict[str, Any] = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "InputDataUrl", "Type": "String", "DefaultValue": "s3://somewhere/"},
        {"Name": "MetricThreshold", "Type": "Float", "DefaultValue": 0.9},
    ],
    "Steps": [],
}


def _data_bucket(target: AwsTarget, env: EnvironmentConfig) -> str:
    bucket = Names.of(env).bucket("data")
    client("s3", target).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": target.region})
    return bucket


def _execution(target: AwsTarget, env: EnvironmentConfig, arn: str) -> Any:
    pipeline = sagemaker_backends[MOTO_ACCOUNT][target.region].pipelines[Names.of(env).pipeline]
    return pipeline.pipeline_executions[arn]


def test_run_creates_the_pipeline_then_updates_it(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    bucket = _data_bucket(aws, dev)
    sm, s3 = client("sagemaker", aws), client("s3", aws)
    first = runs.run_pipeline(sm, s3, dev, DEFINITION, {})
    assert first.action == "created"
    assert first.uploaded_dataset == f"s3://{bucket}/datasets/default/breast_cancer.csv"
    changed = {**DEFINITION, "Parameters": [*DEFINITION["Parameters"], {"Name": "Extra", "Type": "String"}]}
    second = runs.run_pipeline(sm, s3, dev, changed, {"MetricThreshold": "0.5"})
    assert second.action == "updated"
    assert second.uploaded_dataset is None, "the data set is uploaded once"
    described = sm.describe_pipeline(PipelineName=Names.of(dev).pipeline)
    assert json.loads(described["PipelineDefinition"]) == changed
    assert described["RoleArn"] == Names.of(dev).execution_role_arn
    executions = sm.list_pipeline_executions(PipelineName=Names.of(dev).pipeline)["PipelineExecutionSummaries"]
    assert {e["PipelineExecutionArn"] for e in executions} == {first.execution_arn, second.execution_arn}
    parameters = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=second.execution_arn)
    assert parameters["PipelineParameters"] == [{"Name": "MetricThreshold", "Value": "0.5"}]


def test_run_with_another_input_does_not_upload_the_default_data(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    bucket = _data_bucket(aws, dev)
    sm, s3 = client("sagemaker", aws), client("s3", aws)
    started = runs.run_pipeline(sm, s3, dev, DEFINITION, {"InputDataUrl": "s3://elsewhere/data/"})
    assert started.uploaded_dataset is None
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_parameter_overrides_must_name_known_parameters_once() -> None:
    assert runs.parse_parameter_overrides(["MetricThreshold=0.8"], DEFINITION) == {"MetricThreshold": "0.8"}
    assert runs.parse_parameter_overrides(["InputDataUrl=s3://b/k=v"], DEFINITION) == {"InputDataUrl": "s3://b/k=v"}
    with pytest.raises(RunError, match="'Nope': not a pipeline parameter; known: InputDataUrl, MetricThreshold"):
        runs.parse_parameter_overrides(["Nope=1"], DEFINITION)
    with pytest.raises(RunError, match="expected NAME=VALUE"):
        runs.parse_parameter_overrides(["MetricThreshold"], DEFINITION)
    with pytest.raises(RunError, match="given twice"):
        runs.parse_parameter_overrides(["MetricThreshold=1", "MetricThreshold=2"], DEFINITION)


def test_wait_returns_a_succeeded_execution(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(aws, dev)
    sm = client("sagemaker", aws)
    started = runs.run_pipeline(sm, client("s3", aws), dev, DEFINITION, {})
    seen: list[runs.ExecutionState] = []
    state = runs.wait_for_execution(sm, started.execution_arn, on_update=seen.append, sleep=lambda _: None)
    assert state.status == "Succeeded"
    assert state.steps is None, "moto has no list_pipeline_execution_steps"
    assert [s.status for s in seen] == ["Succeeded"]


def test_wait_polls_until_failure_and_reports_the_reason(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(aws, dev)
    sm = client("sagemaker", aws)
    started = runs.run_pipeline(sm, client("s3", aws), dev, DEFINITION, {})
    execution = _execution(aws, dev, started.execution_arn)
    execution.pipeline_execution_status = "Executing"
    polls: list[str] = []

    def finish(_: float) -> None:
        execution.pipeline_execution_status = "Failed"

    # moto always answers FailureReason "" (and has no step listing), hence the fallback wording.
    with pytest.raises(ExecutionFailedError, match="pipeline execution Failed: no reason given"):
        runs.wait_for_execution(sm, started.execution_arn, on_update=lambda s: polls.append(s.status), sleep=finish)
    assert polls == ["Executing", "Failed"]


def test_wait_gives_up_after_the_timeout(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(aws, dev)
    sm = client("sagemaker", aws)
    started = runs.run_pipeline(sm, client("s3", aws), dev, DEFINITION, {})
    _execution(aws, dev, started.execution_arn).pipeline_execution_status = "Executing"
    ticks = iter([0.0, 100.0, 200.0])
    with pytest.raises(RunError, match="still Executing after 150 s"):
        runs.wait_for_execution(sm, started.execution_arn, timeout_seconds=150, sleep=lambda _: None,
                                clock=lambda: next(ticks))


def test_failure_message_names_the_failed_step() -> None:
    state = runs.ExecutionState(
        arn="arn", status="Failed", failure_reason="Step failure",
        steps=(runs.StepState("Preprocess", "Succeeded"),
               runs.StepState("Fail", "Failed", "Quality gate failed: auc 0.81 is below the threshold 0.9")),
    )
    assert runs.failure_message(state) == (
        "pipeline execution Failed: step Fail failed: Quality gate failed: auc 0.81 is below the threshold 0.9"
    )


def test_a_run_cannot_choose_the_approval_status_or_lower_a_manual_gate(
    environments: dict[str, EnvironmentConfig]
) -> None:
    staging, dev_env = environments["staging"], environments["dev"]
    with pytest.raises(RunError, match=r"^--param ModelApprovalStatus: not a pipeline parameter; every version is "
                                       r"registered as PendingManualApproval"):
        runs.parse_parameter_overrides(["ModelApprovalStatus=Approved"], DEFINITION, staging)
    with pytest.raises(RunError, match="ModelApprovalStatus: not a pipeline parameter"):
        runs.parse_parameter_overrides(["ModelApprovalStatus=Approved"], DEFINITION, dev_env)
    with pytest.raises(RunError, match=r"^--param MetricThreshold: environment 'staging' has approval_mode manual, "
                                       r"so its quality gate is fixed at auc 0.92"):
        runs.parse_parameter_overrides(["MetricThreshold=0"], DEFINITION, staging)
    # Auto-approval environments keep the threshold as a parameter (the approval step still compares).
    assert runs.parse_parameter_overrides(["MetricThreshold=0.5"], DEFINITION, dev_env) == {"MetricThreshold": "0.5"}


# --- `--wait` through moto_extensions: executions with steps, a parameter's type, a missing bucket ------


@pytest.fixture
def stepping(aws: AwsTarget, monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    """moto with pipeline progress, restored afterwards: other tests see moto's own answers."""
    from moto.sagemaker.responses import SageMakerResponse

    for name in moto_extensions.PIPELINE_PROGRESS_ACTIONS:
        monkeypatch.setattr(SageMakerResponse, name, getattr(SageMakerResponse, name, None), raising=False)
    moto_extensions.install_pipeline_progress()
    return aws


def _progress(target: AwsTarget, arn: str, status: str, *steps: moto_extensions.ExecutionStep,
              reason: str | None = None) -> None:
    moto_extensions.set_execution_progress(MOTO_ACCOUNT, target.region, arn, status=status, steps=steps,
                                           failure_reason=reason)


Step = moto_extensions.ExecutionStep


def test_wait_follows_the_steps_until_the_execution_succeeds(stepping: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(stepping, dev)
    sm = client("sagemaker", stepping)
    arn = runs.run_pipeline(sm, client("s3", stepping), dev, DEFINITION, {}).execution_arn
    _progress(stepping, arn, "Executing", Step("Preprocess", "Executing", "Processing"))
    script = iter([
        ("Executing", (Step("Preprocess", "Succeeded", "Processing"), Step("Train", "Executing"))),
        ("Succeeded", (Step("Preprocess", "Succeeded", "Processing"), Step("Train", "Succeeded"))),
    ])

    def next_poll(_: float) -> None:  # each sleep moves the execution on: deterministic, no real waiting
        status, steps = next(script)
        _progress(stepping, arn, status, *steps)

    seen: list[runs.ExecutionState] = []
    state = runs.wait_for_execution(sm, arn, on_update=seen.append, sleep=next_poll)
    assert state.status == "Succeeded"
    assert [(s.status, [(step.name, step.status) for step in s.steps or ()]) for s in seen] == [
        ("Executing", [("Preprocess", "Executing")]),
        ("Executing", [("Preprocess", "Succeeded"), ("Train", "Executing")]),
        ("Succeeded", [("Preprocess", "Succeeded"), ("Train", "Succeeded")]),
    ]


def test_wait_fails_with_the_failed_steps_name_and_reason(stepping: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(stepping, dev)
    sm = client("sagemaker", stepping)
    arn = runs.run_pipeline(sm, client("s3", stepping), dev, DEFINITION, {}).execution_arn
    _progress(stepping, arn, "Failed", Step("Preprocess", "Succeeded", "Processing"),
              Step("CheckQuality", "Failed", "Fail", "Quality gate failed: auc 0.81 is below 0.9"),
              reason="Step failure: One or multiple steps failed.")
    with pytest.raises(ExecutionFailedError, match=r"^pipeline execution Failed: step CheckQuality failed: "
                                                   r"Quality gate failed: auc 0.81 is below 0.9$"):
        runs.wait_for_execution(sm, arn, sleep=lambda _: None)


def test_wait_reports_the_executions_reason_when_no_step_failed(stepping: AwsTarget, dev: EnvironmentConfig) -> None:
    _data_bucket(stepping, dev)
    sm = client("sagemaker", stepping)
    arn = runs.run_pipeline(sm, client("s3", stepping), dev, DEFINITION, {}).execution_arn
    _progress(stepping, arn, "Stopped", Step("Train", "Stopped"), reason="Stopped by user")
    with pytest.raises(ExecutionFailedError, match=r"^pipeline execution Stopped: Stopped by user$"):
        runs.wait_for_execution(sm, arn, sleep=lambda _: None)


def test_cli_run_wait_exits_non_zero_naming_the_failed_step(
    stepping: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops.cli import main

    _data_bucket(stepping, dev)

    # The execution fails as soon as it is started: hook the moment moto records it.
    original = runs.start_execution

    def start_then_fail(sm: Any, name: str, parameters: Any, display_name: str | None = None) -> str:
        arn = original(sm, name, parameters, display_name)
        _progress(stepping, arn, "Failed", Step("Train", "Failed", failure_reason="AlgorithmError: out of memory"))
        return arn

    monkeypatch.setattr(runs, "start_execution", start_then_fail)
    assert main(["pipeline", "run", "--env", "dev", "--wait", "--poll-seconds", "0"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: pipeline execution Failed: step Train failed: AlgorithmError: out of memory"
    )


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("MetricThreshold=abc", r"^--param MetricThreshold=abc: parameter 'MetricThreshold' is a Float; 'abc' is not "
                                r"a number$"),
        ("MetricThreshold=nan", "is not a finite number"),
    ],
)
def test_parameter_values_are_checked_against_their_declared_type(pair: str, message: str) -> None:
    with pytest.raises(RunError, match=message):
        runs.parse_parameter_overrides([pair], DEFINITION)


def test_a_bad_parameter_is_refused_before_any_aws_call(
    dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops import cli

    def no_aws(*_: Any) -> Any:
        raise AssertionError("an AWS client was made")

    monkeypatch.setattr(cli, "client", no_aws)
    assert cli.main(["pipeline", "run", "--env", "dev", "--param", "MetricThreshold=abc"]) == 1
    assert "is a Float; 'abc' is not a number" in capsys.readouterr().err


def test_a_missing_data_bucket_says_to_deploy_the_governance_stack(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    sm, s3 = client("sagemaker", aws), client("s3", aws)
    with pytest.raises(RunError, match=r"the data bucket mlops-kit-dev-data-111111111111-eu-west-1 does not exist: "
                                       r"deploy the governance stack first \(npx --no-install cdk deploy -c env=dev "
                                       r"mlops-kit-dev-governance\)"):
        runs.run_pipeline(sm, s3, dev, DEFINITION, {})
    assert sm.list_pipelines()["PipelineSummaries"] == [], "nothing was created"


def test_an_unchanged_definition_is_not_updated(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    # The route retrains right after the pipeline stack deployed the same definition, as a role that may
    # start executions but not update pipelines.
    _data_bucket(aws, dev)
    sm, s3 = client("sagemaker", aws), client("s3", aws)
    assert runs.run_pipeline(sm, s3, dev, DEFINITION, {}).action == "created"
    pipeline = sagemaker_backends[MOTO_ACCOUNT][aws.region].pipelines[Names.of(dev).pipeline]
    modified = pipeline.last_modified_time
    again = runs.run_pipeline(sm, s3, dev, DEFINITION, {})
    assert again.action == "unchanged"
    assert pipeline.last_modified_time == modified
    assert _execution(aws, dev, again.execution_arn).pipeline_execution_status == "Succeeded"
