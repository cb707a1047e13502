"""Transform steps (CreateTransformJob arguments): batch transform through the project's inference server.

The step's model (from the local SageMaker, as CreateModel left it) is unpacked into the job's
`/opt/ml/model`; a framework model's inference code (`SAGEMAKER_SUBMIT_DIRECTORY`/`SAGEMAKER_PROGRAM`) goes
to `code/inference.py`, where the server loads user handlers as SageMaker's framework containers do.
Each input object is split, filtered, sent in batches to `/invocations`, joined and assembled per
`engine/batch_records.py`, and written as `<S3OutputPath>/<input key relative to the prefix>.out`.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import shutil
import tarfile
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from mlops.local.engine.batch_records import (
    ASSEMBLE_WITH,
    BATCH_STRATEGIES,
    SPLIT_TYPES,
    JsonPath,
    RecordError,
    batches,
    check_data_processing,
    filtered_input,
    joined_output,
    split_records,
)
from mlops.local.engine.framework import framework_environment
from mlops.local.engine.images import IMAGES
from mlops.local.engine.jobs import JobFailed, Sandbox, environment
from mlops.local.engine.model_server import ModelServer, free_port, start_model_server, unpack_model
from mlops.local.engine.registry import CheckContext, StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult
from mlops.local.engine.runners.model import PROGRAM_VARIABLE, SUBMIT_VARIABLE
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir, file_uri_path, join_s3, prefix_files

DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_INVOCATION_TIMEOUT_S = 600
OUTPUT_SUFFIX = ".out"
INFERENCE_MODULE = "inference.py"


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def check_transform_step(step: Mapping[str, Any], _: CheckContext) -> None:
    """Before the run: what the step asks of batch transform is emulated, or it is refused by name."""
    name, arguments = str(step.get("Name")), step.get("Arguments", {})
    transform_input = arguments.get("TransformInput", {})
    source = transform_input.get("DataSource", {}).get("S3DataSource")
    if not isinstance(source, Mapping):
        raise UnsupportedDefinitionError(f"step {name}: only S3DataSource inputs are supported locally")
    checks = {
        "S3DataType": (source.get("S3DataType", "S3Prefix"), ("S3Prefix",)),
        "SplitType": (transform_input.get("SplitType", "None"), SPLIT_TYPES),
        "CompressionType": (transform_input.get("CompressionType", "None"), ("None", "Gzip")),
        "BatchStrategy": (arguments.get("BatchStrategy", "MultiRecord"), BATCH_STRATEGIES),
        "AssembleWith": (arguments.get("TransformOutput", {}).get("AssembleWith", "None"), ASSEMBLE_WITH),
    }
    for key, (value, allowed) in checks.items():
        if isinstance(value, str) and value not in allowed:
            raise UnsupportedDefinitionError(f"step {name}: {key} {value!r} is not emulated locally "
                                             f"(supported: {', '.join(allowed)})")
    if arguments.get("DataCaptureConfig"):
        raise UnsupportedDefinitionError(f"step {name}: batch transform data capture is not emulated locally")
    processing = arguments.get("DataProcessing") or {}
    content_type = _literal(transform_input.get("ContentType")) or ""
    accept = _literal(arguments.get("TransformOutput", {}).get("Accept")) or ""
    if isinstance(processing, Mapping) and processing:
        check_data_processing(dict(processing), content_type, accept, name)


def _prepare_model(ctx: StepContext, sandbox: Sandbox, container: Mapping[str, Any]) -> None:
    model_dir = sandbox.opt_ml / "model"
    data = container.get("ModelDataUrl")
    if data:
        unpack_model(ctx.work, str(data), model_dir)
    else:
        model_dir.mkdir(parents=True, exist_ok=True)
    variables = container.get("Environment") or {}
    program, source = variables.get(PROGRAM_VARIABLE), variables.get(SUBMIT_VARIABLE)
    if ctx.images.image_for(str(container["Image"])).kind != "framework" or not program or not source:
        return
    code = model_dir / "code"
    if not str(source).startswith("/opt/ml"):
        archive = file_uri_path(str(source)) or ctx.work.s3_path(str(source))
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(code, filter="data")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise JobFailed(f"{SUBMIT_VARIABLE} {source}: cannot unpack ({error})", "client") from None
    else:
        code = sandbox.container_path(str(source))
    script = code / str(program)
    if not script.is_file():
        raise JobFailed(f"{PROGRAM_VARIABLE}={program!r} is not in {source}", "client")
    # The server loads code/inference.py: the framework container's SAGEMAKER_PROGRAM, under that name.
    served = model_dir / "code" / INFERENCE_MODULE
    if script.resolve() != served.resolve():
        served.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(script, served)


def _start_server(ctx: StepContext, sandbox: Sandbox, model: Mapping[str, Any],
                  variables: Mapping[str, str]) -> ModelServer:
    container = model["PrimaryContainer"]
    port = free_port()
    env = environment(sandbox, {
        **{str(k): str(v) for k, v in (container.get("Environment") or {}).items()},
        **variables,
        "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    })
    if ctx.images.image_for(str(container["Image"])).kind == "framework":
        env = framework_environment(sandbox, env)
    return start_model_server(IMAGES["inference"].command(), env, sandbox, port=port, ledger=ctx.jobs.ledger,
                              title=f"model server for {model.get('ModelName')}")


def _records_of(path: Path, compression: str, split_type: str) -> list[bytes]:
    data = path.read_bytes()
    if compression == "Gzip":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise JobFailed(f"{path.name}: not gzip ({error})", "client") from None
    return split_records(data, split_type)


def _invoke(connection: http.client.HTTPConnection, body: bytes, content_type: str, accept: str) -> bytes:
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    connection.request("POST", "/invocations", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise JobFailed(f"ClientError: the model container answered {response.status} for a batch: "
                        f"{answer[:300].decode(errors='replace')}", "algorithm")
    return answer


def _transform_object(connection: http.client.HTTPConnection, records: list[bytes], arguments: Mapping[str, Any],
                      ) -> bytes:
    transform_input, output = arguments["TransformInput"], arguments["TransformOutput"]
    content_type, accept = str(transform_input.get("ContentType", "")), str(output.get("Accept", ""))
    processing = arguments.get("DataProcessing") or {}
    input_filter = JsonPath.parse(str(processing["InputFilter"])) if processing.get("InputFilter") else None
    output_filter = JsonPath.parse(str(processing["OutputFilter"])) if processing.get("OutputFilter") else None
    join_input = processing.get("JoinSource") == "Input"
    per_record = join_input or (output_filter is not None and output_filter.text.strip() != "$")
    line_split = transform_input.get("SplitType", "None") == "Line"
    limit = int(arguments.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)) * 1024 * 1024
    outputs: list[bytes] = []
    for batch in batches(records, str(arguments.get("BatchStrategy", "MultiRecord")), limit):
        try:
            sent = [filtered_input(record, content_type, input_filter) for record in batch]
        except RecordError as error:
            raise JobFailed(f"InputFilter: {error}", "client") from None
        body = b"\n".join(sent) + (b"\n" if line_split else b"")
        answer = _invoke(connection, body, content_type, accept)
        if not per_record:
            outputs.append(answer)
            continue
        lines = [line for line in answer.split(b"\n") if line.strip()] if len(batch) > 1 or line_split else [answer]
        if len(lines) != len(batch):
            raise JobFailed(f"the model answered {len(lines)} record(s) for a batch of {len(batch)}: "
                            "SageMaker cannot join them to the input", "client")
        try:
            outputs.extend(joined_output(record, line, content_type, accept, join_input=join_input,
                                         output_filter=output_filter)
                           for record, line in zip(batch, lines, strict=True))
        except RecordError as error:
            raise JobFailed(f"DataProcessing: {error}", "client") from None
    # Line: one line per record (or per response), whatever newline the response ended with; None: the
    # responses concatenated as they came.
    if output.get("AssembleWith", "None") == "Line":
        return b"".join(item.rstrip(b"\n") + b"\n" for item in outputs)
    return b"".join(outputs)


def _output_path(work: WorkDir, uri: str) -> Path:
    return file_uri_path(uri) or work.s3_path(uri)


def run_transform_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    name = ctx.job_name(str(step["Name"]))
    started = datetime.now(UTC).isoformat()
    try:
        model = ctx.sagemaker().describe_model(ModelName=str(arguments["ModelName"]))
    except ClientError as error:
        raise JobFailed(f"Could not find model {arguments['ModelName']!r}: "
                        f"{error.response.get('Error', {}).get('Message')}", "client") from error
    container = model.get("PrimaryContainer") or {}
    source = arguments["TransformInput"]["DataSource"]["S3DataSource"]
    files = prefix_files(ctx.work, str(source["S3Uri"]))
    if not files:
        raise JobFailed(f"no input objects under {source['S3Uri']}", "client")
    sandbox = ctx.sandbox
    _prepare_model(ctx, sandbox, container)
    variables = {str(k): str(v) for k, v in (arguments.get("Environment") or {}).items()}
    server = _start_server(ctx, sandbox, model, variables)
    timeout = float((arguments.get("ModelClientConfig") or {}).get("InvocationsTimeoutInSeconds",
                                                                    DEFAULT_INVOCATION_TIMEOUT_S))
    compression = str(arguments["TransformInput"].get("CompressionType", "None"))
    split_type = str(arguments["TransformInput"].get("SplitType", "None"))
    output_uri = str(arguments["TransformOutput"]["S3OutputPath"])
    produced = []
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        with contextlib.closing(connection):
            for relative, path in files:
                result = _transform_object(connection, _records_of(path, compression, split_type), arguments)
                uri = join_s3(output_uri, relative + OUTPUT_SUFFIX)
                target = _output_path(ctx.work, uri)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result)
                produced.append(uri)
    except (OSError, http.client.HTTPException) as error:
        raise JobFailed(f"the model server failed: {error}", "algorithm") from None
    finally:
        server.stop()
    properties: dict[str, Any] = {
        **arguments,
        "TransformJobName": name,
        "TransformJobArn": ctx.arn("transform-job", name),
        "TransformJobStatus": "Completed",
        "ModelName": str(arguments["ModelName"]),
        "CreationTime": started,
        "TransformStartTime": started,
        "TransformEndTime": datetime.now(UTC).isoformat(),
    }
    return StepResult(properties=properties, detail=f"{len(produced)} object(s) transformed", produced=produced)


def transform_inputs(arguments: Mapping[str, Any]) -> list[str]:
    """The input prefix a transform job reads (its content is part of the cache key)."""
    source = arguments.get("TransformInput", {}).get("DataSource", {}).get("S3DataSource", {})
    return [str(source["S3Uri"])] if "S3Uri" in source else []


register(StepRunner(
    type="Transform", run=run_transform_step, check=check_transform_step, job=True, cacheable=True,
    inputs=transform_inputs,
    properties=frozenset({"TransformJobName", "TransformJobArn", "TransformJobStatus", "ModelName", "TransformInput",
                          "TransformOutput", "TransformResources", "DataProcessing", "BatchStrategy",
                          "MaxPayloadInMB", "MaxConcurrentTransforms", "Environment", "CreationTime",
                          "TransformStartTime", "TransformEndTime", "ModelClientConfig", "ExperimentConfig"}),
))
