"""Pipeline runs against SageMaker (boto3): upsert the definition, start an execution, wait for it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.errors import ExecutionFailedError, RunError
from pipelines.contract import (
    DEFAULT_DATASET_PREFIX,
    INPUT_DATA_URL,
    default_input_uri,
    run_parameter_refusal,
    training_code,
)
from pipelines.definition_json import render_definition
from pipelines.inference_code import inference_code_files, inference_code_uri
from pipelines.parameter_rules import parameter_problem

TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})
FAILED_STATUSES = frozenset({"Failed", "Stopped"})


@dataclass(frozen=True)
class StepState:
    name: str
    status: str
    failure_reason: str | None = None
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class ExecutionState:
    """One look at an execution; `steps` is None where the service cannot list them (local moto)."""

    arn: str
    status: str
    failure_reason: str | None
    steps: tuple[StepState, ...] | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def failed_step(self) -> StepState | None:
        return next((step for step in self.steps or () if step.status == "Failed"), None)


def definition_parameters(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter name -> default value, as declared in a definition."""
    return {item["Name"]: item.get("DefaultValue") for item in definition.get("Parameters", [])}


def parse_parameter_overrides(
    pairs: Sequence[str], definition: Mapping[str, Any], env: EnvironmentConfig | None = None
) -> dict[str, str]:
    """`["K=V", ...]` -> {K: V}; K must be a parameter of the definition, each K given once.

    With `env`, a parameter a run may not set there (the approval status, a manual environment's gate
    threshold) is refused with the reason rather than as merely unknown.
    """
    known = definition_parameters(definition)
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        name = name.strip()
        if not separator or not name:
            raise RunError(f"--param {pair!r}: expected NAME=VALUE")
        refusal = run_parameter_refusal(env, name) if env is not None else None
        if refusal is not None:
            raise RunError(refusal)
        if name not in known:
            raise RunError(f"--param {name!r}: not a pipeline parameter; known: {', '.join(known)}")
        if name in overrides:
            raise RunError(f"--param {name!r} given twice")
        _check_parameter_type(definition, name, value)
        if (problem := parameter_problem(name, value)) is not None:
            raise RunError(problem)
        overrides[name] = value
    return overrides


def _check_parameter_type(definition: Mapping[str, Any], name: str, value: str) -> None:
    """Refuse a value SageMaker would reject for the parameter's Type, before any AWS call.

    The conversion is local mode's (one rule for both), so `MetricThreshold=abc` fails the same way in both.
    """
    from mlops.local.engine.parameters import convert_parameter
    from mlops.local.errors import LocalModeError

    declared = next(item for item in definition.get("Parameters", []) if item["Name"] == name)
    try:
        convert_parameter(name, str(declared.get("Type", "String")), value)
    except LocalModeError as error:
        raise RunError(f"--param {name}={value}: {error}") from None


def _is_missing(error: ClientError) -> bool:
    # AWS answers ResourceNotFound; moto answers ValidationException "Could not find pipeline ...".
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "").lower()
    return code == "ResourceNotFound" or (
        code == "ValidationException" and ("could not find" in message or "does not exist" in message)
    )


def upsert_pipeline(
    sm: Any, name: str, definition_json: str, role_arn: str, *, description: str = "",
    tags: Mapping[str, str] | None = None,
) -> Literal["created", "updated", "unchanged"]:
    """Create the pipeline, or update its definition and role when it exists and differs.

    Unchanged is the CI/CD route's case: the pipeline stack has just deployed this very definition, and
    the role that retrains (the ml-engineer persona) may start executions but not update pipelines.
    """
    try:
        deployed = sm.describe_pipeline(PipelineName=name)
    except ClientError as error:
        if not _is_missing(error):
            raise
        sm.create_pipeline(
            PipelineName=name,
            PipelineDefinition=definition_json,
            PipelineDescription=description,
            RoleArn=role_arn,
            Tags=[{"Key": key, "Value": value} for key, value in (tags or {}).items()],
        )
        return "created"
    if deployed.get("RoleArn") == role_arn and _same_json(deployed.get("PipelineDefinition"), definition_json):
        return "unchanged"
    sm.update_pipeline(
        PipelineName=name, PipelineDefinition=definition_json, PipelineDescription=description, RoleArn=role_arn
    )
    return "updated"


def _same_json(deployed: str | None, wanted: str) -> bool:
    try:
        return deployed is not None and json.loads(deployed) == json.loads(wanted)
    except ValueError:
        return False


def start_execution(sm: Any, name: str, parameters: Mapping[str, str], display_name: str | None = None) -> str:
    """Start one execution with parameter overrides; returns its ARN."""
    request: dict[str, Any] = {
        "PipelineName": name,
        "PipelineParameters": [{"Name": key, "Value": value} for key, value in parameters.items()],
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name
    return str(sm.start_pipeline_execution(**request)["PipelineExecutionArn"])


def _list_steps(sm: Any, arn: str) -> tuple[StepState, ...] | None:
    try:
        pages = sm.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=arn, SortOrder="Ascending"
        )
        summaries = [summary for page in pages for summary in page.get("PipelineExecutionSteps", [])]
    except NotImplementedError:
        return None  # moto in-process: the action does not exist there (docs/architecture.md, section 7)
    except ClientError as error:
        # moto's server answers an unimplemented action with HTTP 500; progress then shows the
        # execution status alone. Any other error is real and reported.
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            return None
        raise
    return tuple(
        StepState(
            name=summary["StepName"],
            status=summary.get("StepStatus", "Unknown"),
            failure_reason=summary.get("FailureReason") or None,
            started=summary.get("StartTime"),
            ended=summary.get("EndTime"),
        )
        for summary in summaries
    )


def execution_state(sm: Any, arn: str) -> ExecutionState:
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    return ExecutionState(
        arn=arn,
        status=described.get("PipelineExecutionStatus", "Unknown"),
        failure_reason=described.get("FailureReason") or None,
        steps=_list_steps(sm, arn),
    )


def failure_message(state: ExecutionState) -> str:
    step = state.failed_step()
    if step is not None:
        return f"pipeline execution {state.status}: step {step.name} failed: {step.failure_reason or 'no reason given'}"
    return f"pipeline execution {state.status}: {state.failure_reason or 'no reason given'}"


def wait_for_execution(
    sm: Any,
    arn: str,
    *,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
    on_update: Callable[[ExecutionState], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ExecutionState:
    """Poll until the execution ends; ExecutionFailedError (with the failed step's reason) unless Succeeded."""
    deadline = None if timeout_seconds is None else clock() + timeout_seconds
    while True:
        state = execution_state(sm, arn)
        if on_update is not None:
            on_update(state)
        if state.finished:
            if state.status in FAILED_STATUSES:
                raise ExecutionFailedError(failure_message(state))
            return state
        if deadline is not None and clock() >= deadline:
            raise RunError(f"pipeline execution {arn} still {state.status} after {timeout_seconds:.0f} s")
        sleep(poll_seconds)


def uses_default_dataset(env: EnvironmentConfig, overrides: Mapping[str, str]) -> bool:
    return not env.data.input_uri and overrides.get(INPUT_DATA_URL, default_input_uri(env)) == default_input_uri(env)


def ensure_default_dataset(s3: Any, env: EnvironmentConfig) -> str | None:
    """Upload the bundled default data set to the data bucket unless something is there already.

    Returns the URI written, or None when the prefix already held data.
    """
    from pipelines.datasets import DEFAULT_FILE_NAME, default_dataset_csv  # pandas + sklearn: on demand

    names = Names.of(env)
    bucket = names.bucket("data")
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=DEFAULT_DATASET_PREFIX, MaxKeys=1)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        raise RunError(
            f"environment {env.name!r}: the data bucket {bucket} does not exist: deploy the governance stack "
            f"first (npx --no-install cdk deploy -c env={env.name} {names.stack('governance')})"
        ) from None
    if listed.get("KeyCount", 0):
        return None
    key = f"{DEFAULT_DATASET_PREFIX}{DEFAULT_FILE_NAME}"
    s3.put_object(Bucket=bucket, Key=key, Body=default_dataset_csv(env.data.target), ContentType="text/csv")
    return f"s3://{bucket}/{key}"


def ensure_inference_code(s3: Any, env: EnvironmentConfig) -> str | None:
    """Upload `inference.code_dir` to its content-addressed prefix (the Train step's `code` channel)
    unless it is there already; returns the URI, or None without inference code."""
    uri = inference_code_uri(env)
    if uri is None:
        return None
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0):
        return uri
    for name, path in inference_code_files(env).items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=path.read_bytes())
    return uri


def upload_training_code(s3: Any, env: EnvironmentConfig) -> str | None:
    """training.entry_point's script to the prefix the definition's `code` channel reads (named by
    its content, so an upload never changes what an earlier execution trained with)."""
    code = training_code(env)
    if code is None:
        return None
    bucket, _, prefix = code.uri.removeprefix("s3://").partition("/")
    s3.put_object(Bucket=bucket, Key=f"{prefix}{code.program}", Body=code.source.read_bytes(),
                  ContentType="text/x-python")
    return code.uri


@dataclass(frozen=True)
class StartedRun:
    pipeline: str
    action: Literal["created", "updated", "unchanged"]
    execution_arn: str
    uploaded_dataset: str | None


def run_pipeline(
    sm: Any, s3: Any, env: EnvironmentConfig, definition: Mapping[str, Any], overrides: Mapping[str, str]
) -> StartedRun:
    """Upsert the environment's pipeline with `definition` and start it with `overrides`."""
    names = Names.of(env)
    uploaded = ensure_default_dataset(s3, env) if uses_default_dataset(env, overrides) else None
    ensure_inference_code(s3, env)
    upload_training_code(s3, env)
    action = upsert_pipeline(
        sm,
        names.pipeline,
        render_definition(dict(definition)),
        names.execution_role_arn,
        description=f"{env.project} {env.name} training pipeline",
        tags={"project": env.project, "environment": env.name},
    )
    arn = start_execution(sm, names.pipeline, overrides)
    return StartedRun(pipeline=names.pipeline, action=action, execution_arn=arn, uploaded_dataset=uploaded)
