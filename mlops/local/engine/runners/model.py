"""Model steps (CreateModel arguments, what `ModelStep(step_args=model.create())` renders): the model in the
local SageMaker, for Transform steps to serve. Preflight: the model's container is one local mode serves."""

from __future__ import annotations

import ast
import tarfile
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import JobFailed
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult, without_nulls
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir, file_uri_path

PROGRAM_VARIABLE = "SAGEMAKER_PROGRAM"
SUBMIT_VARIABLE = "SAGEMAKER_SUBMIT_DIRECTORY"
# SageMaker's framework serving containers have defaults for these; our server's defaults serve the
# project's model artifact, not a framework model, so a framework model's code must define them.
SERVING_HANDLERS = ("input_fn", "predict_fn", "output_fn")


def _defined_functions(source: str) -> set[str]:
    return {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}


def check_serving_code(work: WorkDir | None, environment: Mapping[str, Any], where: str) -> None:
    """A framework model's inference code (in local S3 before the run): model_fn and either transform_fn
    or input_fn, predict_fn and output_fn, which our server then calls as SageMaker's container would."""
    program, source = environment.get(PROGRAM_VARIABLE), environment.get(SUBMIT_VARIABLE)
    if not isinstance(program, str) or not isinstance(source, str):
        raise UnsupportedDefinitionError(
            f"{where}: a framework model needs {PROGRAM_VARIABLE} and {SUBMIT_VARIABLE} (its inference code) "
            "to be served locally")
    if work is None or source.startswith("/opt/ml"):
        return  # inside the model artifact: checked when the server loads it
    archive = file_uri_path(source) or work.s3_path(source)
    if not archive.is_file():
        return  # produced by an earlier step
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(program)
            text = member.read().decode("utf-8") if member is not None else None
    except KeyError:
        text = None
    except (tarfile.TarError, OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        raise UnsupportedDefinitionError(f"{where}: {source} is not a readable source tarball ({error})") from None
    if text is None:
        raise UnsupportedDefinitionError(f"{where}: {PROGRAM_VARIABLE}={program!r} is not in {source}")
    try:
        defined = _defined_functions(text)
    except SyntaxError as error:
        raise UnsupportedDefinitionError(f"{where}: {program} does not parse ({error})") from None
    missing = [name for name in ("model_fn", *SERVING_HANDLERS) if name not in defined]
    if "transform_fn" in defined and "model_fn" in defined:
        return
    if missing:
        raise UnsupportedDefinitionError(
            f"{where}: {program} does not define {', '.join(missing)}; local mode serves a framework model "
            "through its own handlers (the framework container's defaults are not emulated): define them")


def check_container(container: Mapping[str, Any], images: ImageCatalog, work: WorkDir | None, where: str) -> None:
    image = container.get("Image")
    if not isinstance(image, str):
        return  # an expression: resolved and checked when the model is served
    try:
        kind = images.image_for(image).kind
    except UnsupportedDefinitionError as error:
        raise UnsupportedDefinitionError(f"{where}: {error}") from None
    if kind == "framework":
        check_serving_code(work, container.get("Environment") or {}, where)
    elif kind != "inference":
        raise UnsupportedDefinitionError(f"{where}: image {image!r} has no `serve` command")


def check_model_step(step: Mapping[str, Any], check: CheckContext) -> None:
    name, arguments = str(step.get("Name")), step.get("Arguments", {})
    if "Containers" in arguments or "InferenceExecutionConfig" in arguments:
        raise UnsupportedDefinitionError(f"step {name}: multi-container models are not served locally")
    container = arguments.get("PrimaryContainer")
    if not isinstance(container, Mapping):
        raise UnsupportedDefinitionError(f"step {name}: the model has no PrimaryContainer")
    if container.get("ModelPackageName") is not None:
        raise UnsupportedDefinitionError(f"step {name}: a model from a model package is not served locally")
    check_container(container, check.images, check.work, f"step {name}")




def run_model_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    name = ctx.job_name(str(step["Name"]))
    request = {key: value for key, value in without_nulls(dict(arguments)).items() if key != "ModelName"}
    check_container(request["PrimaryContainer"], ctx.images, ctx.work, f"step {step['Name']}")  # resolved
    sm = ctx.sagemaker()
    try:
        created = sm.create_model(ModelName=name, **request)
    except ParamValidationError as error:
        raise JobFailed(f"CreateModel refused the step's arguments: {error}", "client") from error
    except ClientError as error:
        details = error.response.get("Error", {})
        raise JobFailed(f"CreateModel: {details.get('Code')}: {details.get('Message')}", "client") from error
    properties = {**request, "ModelName": name, "ModelArn": str(created["ModelArn"]),
                  "CreationTime": datetime.now(UTC).isoformat()}
    return StepResult(properties=properties, detail=name)


register(StepRunner(type="Model", run=run_model_step, check=check_model_step,
                    properties=frozenset({"ModelName", "ModelArn", "PrimaryContainer", "ExecutionRoleArn",
                                          "CreationTime", "VpcConfig", "EnableNetworkIsolation", "Tags"})))
