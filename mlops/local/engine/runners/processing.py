"""Processing steps (CreateProcessingJob arguments): the image's code as a process on local files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops.local.engine.framework import check_framework_step, framework_environment, processing_command
from mlops.local.engine.images import check_entrypoint
from mlops.local.engine.jobs import (
    JobFailed,
    Sandbox,
    environment,
    read_reason,
    render_strings,
    stage_input,
    timeout_of,
    upload_output,
)
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult, timestamp
from mlops.local.errors import UnsupportedDefinitionError

RESOURCE_CONFIG = {"current_host": "algo-1", "hosts": ["algo-1"]}
# DescribeProcessingJob's response members (the step's properties), and the step's property files.
PROPERTIES = frozenset({
    "AppSpecification", "AutoMLJobArn", "CreationTime", "Environment", "ExitMessage", "ExperimentConfig",
    "FailureReason", "LastModifiedTime", "MonitoringScheduleArn", "NetworkConfig", "ProcessingEndTime",
    "ProcessingInputs", "ProcessingJobArn", "ProcessingJobName", "ProcessingJobStatus", "ProcessingOutputConfig",
    "ProcessingResources", "ProcessingStartTime", "RoleArn", "StoppingCondition", "TrainingJobArn",
    "PropertyFiles",
})


def _check_input(item: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    name = item.get("InputName", "?")
    if "S3Input" not in item:
        kinds = ", ".join(key for key in item if key not in ("InputName", "AppManaged"))
        raise UnsupportedDefinitionError(f"step {step}: input {name!r} of kind {kinds} is not supported locally")
    s3 = item["S3Input"]
    unsupported = {
        "S3DataType": (s3.get("S3DataType", "S3Prefix"), ("S3Prefix",)),
        "S3InputMode": (s3.get("S3InputMode", "File"), ("File",)),
        "S3CompressionType": (s3.get("S3CompressionType", "None"), ("None",)),
    }
    for key, (value, allowed) in unsupported.items():
        if value not in allowed:
            raise UnsupportedDefinitionError(f"step {step}: input {name!r} has {key} {value!r}; local mode "
                                             f"supports {', '.join(allowed)}")
    return dict(s3)


def _outputs(job: Mapping[str, Any], step: str) -> list[Mapping[str, Any]]:
    outputs = job.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for item in outputs:
        if "S3Output" not in item:
            raise UnsupportedDefinitionError(
                f"step {step}: output {item.get('OutputName', '?')!r} is not an S3Output; not supported locally"
            )
    return list(outputs)


def run_processing_job(job: Mapping[str, Any], ctx: StepContext, sandbox: Sandbox, step: str) -> dict[str, Any]:
    """Run one processing job in `sandbox`; its DescribeProcessingJob-shaped properties."""
    created = timestamp()
    job = render_strings(job)
    app = job["AppSpecification"]
    image = ctx.images.image_for(app["ImageUri"])
    entrypoint, mapped_arguments = container_command(app, sandbox)
    inputs = [(item.get("InputName", "?"), _check_input(item, step)) for item in job.get("ProcessingInputs", [])]
    outputs = _outputs(job, step)
    started = timestamp()
    for name, s3 in inputs:
        stage_input(ctx.work, str(s3["S3Uri"]), sandbox.container_path(str(s3["LocalPath"])), str(name))
    for item in outputs:
        sandbox.container_path(str(item["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
    name = ctx.job_name(step)
    config = sandbox.opt_ml / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "processingjobconfig.json").write_text(
        json.dumps({**job, "ProcessingJobName": name}, indent=1, default=str), encoding="utf-8"
    )
    (config / "resourceconfig.json").write_text(json.dumps(RESOURCE_CONFIG), encoding="utf-8")
    env = environment(sandbox, {str(k): str(v) for k, v in (job.get("Environment") or {}).items()})
    if image.kind == "framework":
        # After staging: a framework processor's shell entry point is one of the inputs.
        command = processing_command(app.get("ContainerEntrypoint") or [], mapped_arguments or [], sandbox)
        env = framework_environment(sandbox, env)
    else:
        command = image.command(entrypoint, mapped_arguments)
    message_file = sandbox.opt_ml / "output" / "message"
    try:
        ctx.jobs.run(command, env, sandbox, timeout_of(job), f"processing job {name}")
    except JobFailed as failure:
        reason = read_reason(message_file)
        if reason:
            raise JobFailed(f"{reason} ({failure.reason})", failure.kind) from None
        raise
    for item in outputs:
        s3 = item["S3Output"]
        upload_output(ctx.work, sandbox.container_path(str(s3["LocalPath"])), str(s3["S3Uri"]))
    properties: dict[str, Any] = {
        **job,
        "ProcessingJobName": name,
        "ProcessingJobArn": ctx.arn("processing-job", name),
        "ProcessingJobStatus": "Completed",
        "CreationTime": created,
        "ProcessingStartTime": started,
    }
    message = read_reason(message_file)
    if message:
        properties["ExitMessage"] = message
    properties["ProcessingEndTime"] = properties["LastModifiedTime"] = timestamp()
    return properties


def container_command(spec: Mapping[str, Any], sandbox: Sandbox) -> tuple[list[str] | None, list[str] | None]:
    """(ContainerEntrypoint, ContainerArguments) with their /opt/ml paths moved into the sandbox: a
    script processor's entrypoint names its code under /opt/ml/processing/input/code/."""
    entrypoint, arguments = spec.get("ContainerEntrypoint"), spec.get("ContainerArguments")
    return ([sandbox.rewrite(str(part)) for part in entrypoint] if entrypoint else None,
            [sandbox.rewrite(str(part)) for part in arguments] if arguments is not None else None)


def check_image(step: Mapping[str, Any], check: CheckContext) -> None:
    """The job's image must be one local mode can run and its entrypoint a Python one (a Get is
    resolved at run time)."""
    app = step.get("Arguments", {}).get("AppSpecification", {})
    uri = app.get("ImageUri")
    if isinstance(uri, str):
        try:
            image = check.images.image_for(uri)
        except UnsupportedDefinitionError as error:
            raise UnsupportedDefinitionError(f"step {step.get('Name')!r}: {error}") from None
        if image.kind == "framework":
            return  # its python3 or bash entry point is checked by framework.check_framework_step
    check_entrypoint(app.get("ContainerEntrypoint"), f"step {step.get('Name')!r}")


def check_processing_job(job: Mapping[str, Any], step: str) -> None:
    """The input and output kinds local mode stages (S3, File mode, uncompressed)."""
    for item in job.get("ProcessingInputs", []):
        _check_input(item, step)
    _outputs(job, step)


def check_processing_step(step: Mapping[str, Any], check: CheckContext) -> None:
    """Before the run: the image, a framework image's script mode, the input and output kinds."""
    check_framework_step(step, check.work)
    check_image(step, check)
    check_processing_job(step.get("Arguments", {}), str(step.get("Name")))


def input_uris(arguments: Mapping[str, Any]) -> list[str]:
    """The s3:// inputs a processing job reads (their content is part of its cache key)."""
    return [str(item["S3Input"]["S3Uri"]) for item in arguments.get("ProcessingInputs", []) if "S3Input" in item]


def output_uris(properties: Mapping[str, Any]) -> list[str]:
    return [str(item["S3Output"]["S3Uri"]) for item in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])]


def run_processing_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    name = str(step["Name"])
    properties = run_processing_job(arguments, ctx, ctx.sandbox, name)
    files = list(step.get("PropertyFiles", []))
    if files:
        properties["PropertyFiles"] = files
        outputs = {item["OutputName"]: item for item in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])}
        for spec in files:
            output = outputs.get(spec.get("OutputName"))
            if output is None:
                raise UnsupportedDefinitionError(
                    f"step {name}: property file {spec.get('PropertyFileName')!r} names output "
                    f"{spec.get('OutputName')!r}, which the step does not have"
                )
            path = ctx.work.s3_path(str(output["S3Output"]["S3Uri"])) / str(spec["FilePath"])
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise JobFailed(
                    f"property file {spec['PropertyFileName']!r}: {spec['FilePath']} in output "
                    f"{spec['OutputName']!r} is missing or not JSON ({error})", "client"
                ) from error
    return StepResult(properties=properties, produced=output_uris(properties))


register(StepRunner(type="Processing", run=run_processing_step, check=check_processing_step, properties=PROPERTIES,
                    job=True, cacheable=True, inputs=input_uris))
