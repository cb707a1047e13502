"""A local endpoint: the inference image's server as a real process on a free loopback port, capture on."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import tarfile
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployment.endpoint import SERVING_ENVIRONMENT
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import Sandbox, environment, log_tail, spawn, stop_process
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir

READY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# What InvokeEndpoint sends for its InferenceId; the server records it as the capture's inferenceId.
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServedModel:
    """What the endpoint serves: a registered version's container and model."""

    version: int
    arn: str
    image: str
    model_data: str
    environment: dict[str, str]


def served_model(sm: Any, arn: str) -> ServedModel:
    return model_of(sm.describe_model_package(ModelPackageName=arn))


def model_of(described: Mapping[str, Any]) -> ServedModel:
    """The served model of a DescribeModelPackage answer (also as the local state file keeps it)."""
    arn = str(described["ModelPackageArn"])
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    if not containers:
        raise LocalModeError(f"model package {arn} has no inference container")
    container = containers[0]
    return ServedModel(
        version=int(described.get("ModelPackageVersion", 0)),
        arn=arn,
        image=str(container["Image"]),
        model_data=str(container.get("ModelDataUrl", "")),
        environment={str(k): str(v) for k, v in (container.get("Environment") or {}).items()},
    )


@dataclass
class ReplayStats:
    requests: int = 0
    rows: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Endpoint:
    process: subprocess.Popen[bytes]
    port: int
    sandbox: Sandbox
    model: ServedModel

    @property
    def log(self) -> Path:
        return self.sandbox.log

    def request(self, connection: http.client.HTTPConnection, method: str, path: str,
                body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalModeError(f"the inference server exited with code {self.process.returncode}:\n"
                                     f"{log_tail(self.log)}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    if self.request(connection, "GET", "/ping")[0] == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.05)
        raise LocalModeError(f"the inference server did not answer /ping within {timeout:g}s:\n{log_tail(self.log)}")

    def replay(self, payloads: Sequence[bytes], rows: int, inference_ids: Sequence[str] = ()) -> ReplayStats:
        """POST each CSV payload to /invocations over one keep-alive connection; with `inference_ids`
        (one per payload) each request carries its id, as InvokeEndpoint's InferenceId does."""
        stats = ReplayStats()
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            for index, body in enumerate(payloads):
                headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
                if inference_ids:
                    headers[INFERENCE_ID_HEADER] = inference_ids[index]
                status, answer = self.request(connection, "POST", "/invocations", body, headers)
                stats.requests += 1
                if status != 200:
                    stats.failures.append(f"HTTP {status}: {answer[:200].decode(errors='replace')}")
        finally:
            connection.close()
        stats.rows = rows
        stats.seconds = time.perf_counter() - started
        return stats

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT_S)


def unpack_model(work: WorkDir, model_data: str, model_dir: Path) -> None:
    archive = work.s3_path(model_data)
    if not archive.is_file():
        raise LocalModeError(f"model artifact {model_data} is missing ({archive})")
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:  # a truncated archive: EOFError
        raise LocalModeError(f"{archive}: cannot unpack the model ({error})") from error


def start_endpoint(
    work: WorkDir, model: ServedModel, folder: Path, *, endpoint_name: str, variant: str,
    capture_dir: Path, capture_percent: float, images: ImageCatalog, port: int | None = None,
    ledger: Path | None = None,
) -> Endpoint:
    """Start `serve` of the model's image with the model in `/opt/ml/model`; `wait_ready()` before use."""
    image = images.image_for(model.image)
    if image.kind != "inference":
        raise LocalModeError(f"version {model.version}: image {model.image!r} is not the inference image")
    sandbox = Sandbox(folder)
    sandbox.reset()
    unpack_model(work, model.model_data, sandbox.opt_ml / "model")
    port = free_port() if port is None else port
    # The package's container environment, then the Model's (the deployment spec), then what only a
    # local process needs (loopback port, one worker, capture written by the server itself).
    env = environment(sandbox, {
        **model.environment,
        **SERVING_ENVIRONMENT,
        "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "MLOPS_CAPTURE_DIR": str(capture_dir),
        "MLOPS_CAPTURE_SAMPLING_PERCENT": f"{capture_percent:g}",
        "MLOPS_ENDPOINT_NAME": endpoint_name,
        "MLOPS_VARIANT_NAME": variant,
    })
    with sandbox.log.open("ab") as log:
        process = spawn(image.command(), env=env, cwd=sandbox.root, log=log, ledger=ledger)  # dies with this process
    return Endpoint(process=process, port=port, sandbox=sandbox, model=model)
