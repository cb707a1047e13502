"""Training steps (CreateTrainingJob arguments): `train` in the SageMaker layout, model.tar.gz out."""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops.local.engine.framework import check_framework_step, framework_environment, stage_source
from mlops.local.engine.images import check_entrypoint
from mlops.local.engine.jobs import (
    JobFailed,
    environment,
    read_reason,
    render_strings,
    stage_input,
    timeout_of,
)
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult, timestamp
from mlops.local.engine.runners.processing import container_command
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import join_s3

MODEL_ARCHIVE = "model.tar.gz"
OUTPUT_ARCHIVE = "output.tar.gz"
# DescribeTrainingJob's response members: the step's properties.
PROPERTIES = frozenset({
    "AlgorithmSpecification", "AutoMLJobArn", "BillableTimeInSeconds", "BillableTokenCount", "CheckpointConfig",
    "CreationTime", "DebugHookConfig", "DebugRuleConfigurations", "DebugRuleEvaluationStatuses",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "EnableNetworkIsolation", "Environment",
    "ExperimentConfig", "FailureReason", "FinalMetricDataList", "HyperParameters", "InfraCheckConfig",
    "InputDataConfig", "LabelingJobArn", "LastModifiedTime", "MlflowConfig", "MlflowDetails", "ModelArtifacts",
    "ModelPackageConfig", "OutputDataConfig", "OutputModelPackageArn", "ProfilerConfig",
    "ProfilerRuleConfigurations", "ProfilerRuleEvaluationStatuses", "ProfilingStatus", "ProgressInfo",
    "RemoteDebugConfig", "ResourceConfig", "RetryStrategy", "RoleArn", "SecondaryStatus",
    "SecondaryStatusTransitions", "ServerlessJobConfig", "StoppingCondition", "TensorBoardOutputConfig",
    "TrainingEndTime", "TrainingJobArn", "TrainingJobName", "TrainingJobStatus", "TrainingStartTime",
    "TrainingTimeInSeconds", "TuningJobArn", "VpcConfig", "WarmPoolStatus",
})
# The secondary statuses a completed job went through, with SageMaker's messages.
TRANSITIONS = (
    ("Starting", "Preparing the instances for training"),
    ("Downloading", "Downloading input data"),
    ("Training", "Training image download completed. Training in progress."),
    ("Uploading", "Uploading generated training model"),
    ("Completed", "Training job completed"),
)


def hyperparameter_text(value: Any) -> str:
    """SageMaker passes every hyperparameter as a string."""
    return value if isinstance(value, str) else json.dumps(value)


def _pack(folder: Path, archive: Path) -> None:
    """A tar.gz of a folder's contents at the archive root, as SageMaker packs /opt/ml/model."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    partial.replace(archive)


def final_metrics(log: Path, definitions: list[Mapping[str, Any]], when: str) -> list[dict[str, Any]]:
    """The last value each MetricDefinitions regex matches in the job's log (FinalMetricDataList)."""
    if not definitions:
        return []
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    found = []
    for definition in definitions:
        try:
            matches = re.findall(str(definition["Regex"]), text)
        except re.error as error:
            raise UnsupportedDefinitionError(f"metric {definition.get('Name')!r}: bad Regex ({error})") from error
        if matches:
            last = matches[-1]
            value = last[0] if isinstance(last, tuple) else last
            try:
                found.append({"MetricName": definition["Name"], "Value": float(value), "Timestamp": when})
            except ValueError:
                continue
    return found


def check_image(step: Mapping[str, Any], check: CheckContext) -> None:
    """The job's image must be one local mode can run, and its ContainerEntrypoint a Python one (a
    Get is resolved at run time); a foreign image's entrypoint never falls back to our trainer."""
    spec = step.get("Arguments", {}).get("AlgorithmSpecification", {})
    uri = spec.get("TrainingImage")
    if isinstance(uri, str):
        try:
            check.images.image_for(uri)
        except UnsupportedDefinitionError as error:
            raise UnsupportedDefinitionError(f"step {step.get('Name')!r}: {error}") from None
    check_entrypoint(spec.get("ContainerEntrypoint"), f"step {step.get('Name')!r}")


def input_uris(arguments: Mapping[str, Any]) -> list[str]:
    """The s3:// channels a training job reads (their content is part of its cache key)."""
    return [
        str(channel["DataSource"]["S3DataSource"]["S3Uri"])
        for channel in arguments.get("InputDataConfig", [])
        if "S3DataSource" in channel.get("DataSource", {})
    ]


def check_training_job(job: Mapping[str, Any], name: str) -> None:
    """What local mode stages for a training job: an image, File/FastFile mode, S3Prefix channels."""
    spec = job.get("AlgorithmSpecification", {})
    if "TrainingImage" not in spec:
        raise UnsupportedDefinitionError(f"step {name}: only TrainingImage algorithms run locally (got {sorted(spec)})")
    mode = spec.get("TrainingInputMode", "File")
    if mode not in ("File", "FastFile"):
        raise UnsupportedDefinitionError(f"step {name}: TrainingInputMode {mode!r} is not supported locally")
    for channel in job.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise UnsupportedDefinitionError(f"step {name}: channel {channel.get('ChannelName')!r} is not an "
                                             "S3DataSource")
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise UnsupportedDefinitionError(
                f"step {name}: channel {channel.get('ChannelName')!r} has S3DataType {source.get('S3DataType')!r}; "
                "local mode supports S3Prefix"
            )


def check_training_step(step: Mapping[str, Any], check: CheckContext) -> None:
    """Before the run: the image, a framework image's script mode, the input kinds."""
    check_framework_step(step, check.work)
    check_image(step, check)
    check_training_job(step.get("Arguments", {}), str(step.get("Name")))


def run_training_step(step: Mapping[str, Any], job: Mapping[str, Any], ctx: StepContext) -> StepResult:
    times = [timestamp()]  # the start of each of TRANSITIONS, then the end
    job = render_strings(job)
    name = str(step["Name"])
    check_training_job(job, name)  # again with the resolved values
    spec = job.get("AlgorithmSpecification", {})
    mode = spec.get("TrainingInputMode", "File")
    image = ctx.images.image_for(str(spec["TrainingImage"]))
    if image.kind not in ("training", "framework"):
        raise UnsupportedDefinitionError(f"step {name}: image {spec['TrainingImage']!r} has no `train` command")
    sandbox = ctx.sandbox
    base = sandbox.opt_ml
    times.append(timestamp())
    clock = time.perf_counter()
    channels: dict[str, dict[str, str]] = {}
    for channel in job.get("InputDataConfig", []):
        channel_name = str(channel["ChannelName"])
        source = channel["DataSource"]["S3DataSource"]
        stage_input(ctx.work, str(source["S3Uri"]), base / "input" / "data" / channel_name, channel_name)
        channels[channel_name] = {
            "ContentType": str(channel.get("ContentType", "")),
            "TrainingInputMode": mode,
            "S3DistributionType": str(source.get("S3DataDistributionType", "FullyReplicated")),
            "RecordWrapperType": str(channel.get("RecordWrapperType", "None")),
        }
    job_name = ctx.job_name(name)
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    hyperparameters = {str(k): hyperparameter_text(v) for k, v in (job.get("HyperParameters") or {}).items()}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
    (config / "inputdataconfig.json").write_text(json.dumps(channels), encoding="utf-8")
    # One host: local mode runs InstanceCount 1 whatever the request says.
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}),
        encoding="utf-8",
    )
    (config / "trainingjobconfig.json").write_text(
        json.dumps({**job, "TrainingJobName": job_name}, indent=1, default=str), encoding="utf-8"
    )
    for folder in ("model", "output/data"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    # SageMaker sets the job's name and ARN in every training container.
    env = environment(sandbox, {**{str(k): str(v) for k, v in (job.get("Environment") or {}).items()},
                                "TRAINING_JOB_NAME": job_name, "TRAINING_JOB_ARN": ctx.arn("training-job", job_name)})
    if image.kind == "framework":
        stage_source(ctx.work, job.get("HyperParameters") or {}, sandbox)
        env = framework_environment(sandbox, env)
    try:
        command = image.command(*container_command(spec, sandbox))
        times.append(timestamp())
        ctx.jobs.run(command, env, sandbox, timeout_of(job), f"training job {job_name}")
    except JobFailed as failure:
        reason = read_reason(base / "output" / "failure")
        if reason:
            raise JobFailed(f"{reason} ({failure.reason})", failure.kind) from None
        raise
    times.append(timestamp())
    output_prefix = join_s3(str(job["OutputDataConfig"]["S3OutputPath"]), job_name, "output")
    model_uri = join_s3(output_prefix, MODEL_ARCHIVE)
    _pack(base / "model", ctx.work.s3_path(model_uri))
    produced = [model_uri]
    if any((base / "output" / "data").iterdir()):
        output_uri = join_s3(output_prefix, OUTPUT_ARCHIVE)
        _pack(base / "output" / "data", ctx.work.s3_path(output_uri))
        produced.append(output_uri)
    seconds = max(1, round(time.perf_counter() - clock))
    times += [timestamp()] * 2
    properties: dict[str, Any] = {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": False,
        "EnableManagedSpotTraining": False,
        **job,
        "TrainingJobName": job_name,
        "TrainingJobArn": ctx.arn("training-job", job_name),
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": final_metrics(sandbox.log, list(spec.get("MetricDefinitions", [])), times[-1]),
        "CreationTime": times[0],
        "TrainingStartTime": times[1],
        "TrainingEndTime": times[-1],
        "LastModifiedTime": times[-1],
        "TrainingTimeInSeconds": seconds,
        "BillableTimeInSeconds": seconds,
        "SecondaryStatusTransitions": [
            {"Status": status, "StartTime": times[index], "EndTime": times[index + 1], "StatusMessage": message}
            for index, (status, message) in enumerate(TRANSITIONS)
        ],
    }
    return StepResult(properties=properties, produced=produced)


register(StepRunner(type="Training", run=run_training_step, check=check_training_step, properties=PROPERTIES,
                    job=True, cacheable=True, inputs=input_uris))
