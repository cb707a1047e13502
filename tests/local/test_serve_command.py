"""`mlops local serve` as a real subprocess: it serves the approved version of the local registry on
the runtime's path with capture on, refuses a version that is not approved by name, and Ctrl-C
(SIGINT) stops it cleanly with the capture intact."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from config.naming import Names
from config.settings import load_environment
from containers.contracts.capture import parse_capture_line
from deployment.endpoint import VARIANT, capture_destination
from mlops.local.aws.state import REGISTRY_FILE, STATE_VERSION
from mlops.local.loop.serving import free_port
from mlops.local.workdir import WorkDir
from tests.containers.conftest import REPO_ROOT, make_tabular_frame, run_entry_point, write_training_job

NAMES = Names.of(load_environment("dev"))
START_TIMEOUT_S = 90


def _package(version: int, status: str, model_data: str) -> dict[str, Any]:
    return {
        "ModelPackageGroupName": NAMES.model_package_group,
        "ModelPackageVersion": version,
        "ModelPackageArn": NAMES.arn("sagemaker", f"model-package/{NAMES.model_package_group}/{version}"),
        "ModelApprovalStatus": status,
        "InferenceSpecification": {"Containers": [{"Image": NAMES.image_uri("inference"), "ModelDataUrl": model_data}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> WorkDir:
    """A work folder whose registry holds version 1 (Approved) and 2 (PendingManualApproval) of a
    model trained by the real training entry point."""
    job = tmp_path_factory.mktemp("training-job")
    write_training_job(job, make_tabular_frame(600, seed=3), {"n_estimators": "10"})
    trained = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(job)})
    assert trained.returncode == 0, trained.stderr
    work = WorkDir(tmp_path_factory.mktemp("work") / ".mlops").ensure()
    model_data = f"s3://{NAMES.bucket('artifacts')}/models/v1/model.tar.gz"
    archive = work.s3_path(model_data)
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in (job / "model").iterdir():
            tar.add(path, arcname=path.name)
    packages = [_package(1, "Approved", model_data), _package(2, "PendingManualApproval", model_data)]
    (work.state_root / REGISTRY_FILE).write_text(json.dumps({"version": STATE_VERSION, "packages": packages}))
    return work


def mlops_local(*arguments: str, work: WorkDir) -> list[str]:
    return [sys.executable, "-m", "mlops.cli", "local", *arguments, "--work-dir", str(work.root)]


@pytest.fixture
def serving(work: WorkDir) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(mlops_local("serve", "--env", "dev", "--port", str(port), work=work), cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # As from a terminal: a pytest-xdist worker's children start with SIGINT
                               # ignored, which the command keeps (as a shell's background job would).
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_invoke_endpoint_and_ctrl_c_keeps_the_capture(
        serving: tuple[subprocess.Popen[str], int], work: WorkDir) -> None:
    process, port = serving
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()  # printed once the server answers /ping: the readiness trigger
    assert first.startswith(f"serving version 1 as endpoint {NAMES.endpoint}"), first + process.stderr.read()
    runtime = boto3.client("sagemaker-runtime", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-west-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
    answers = [runtime.invoke_endpoint(EndpointName=NAMES.endpoint, Body=b"0.5,-1.0,3,red\n", ContentType="text/csv",
                                       Accept="text/csv", InferenceId=f"id-{n}") for n in range(3)]
    assert {answer["InvokedProductionVariant"] for answer in answers} == {VARIANT}
    assert {answer["ContentType"] for answer in answers} == {"text/csv"}

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode == 0, err
    assert "stopped; data capture kept in" in out
    assert "Traceback" not in err
    capture_root = work.s3_path(capture_destination(NAMES)) / NAMES.endpoint / VARIANT
    records = [parse_capture_line(line) for path in sorted(capture_root.rglob("*.jsonl"))
               for line in path.read_text().splitlines()]
    assert sorted(record.event_metadata.inference_id or "" for record in records) == ["id-0", "id-1", "id-2"]


def test_a_version_that_is_not_approved_is_refused_by_name(work: WorkDir) -> None:
    result = subprocess.run(mlops_local("serve", "--version", "2", work=work), cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=START_TIMEOUT_S, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: version 2 of {NAMES.model_package_group} is PendingManualApproval, not "
                                     "Approved: approve it first with `mlops local registry approve --version 2`")


def test_no_local_registry_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(mlops_local("serve", work=WorkDir(tmp_path / "empty")), cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no local registry in")


def test_a_busy_port_is_one_clear_error(work: WorkDir) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(mlops_local("serve", "--port", str(port), work=work), cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the inference server exited with code")
    assert "Traceback" not in result.stderr.splitlines()[0]



def test_kill_stops_the_server_as_ctrl_c_does(serving: tuple[subprocess.Popen[str], int]) -> None:
    """SIGTERM (`kill`, a process manager) takes the same clean path as Ctrl-C."""
    process, _ = serving
    assert process.stdout is not None
    assert process.stdout.readline().startswith("serving version 1"), process.stderr
    process.terminate()
    out, err = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode == 0, err
    assert "stopped; data capture kept in" in out
    assert "Traceback" not in err
