"""A model container's server as a pipeline job's helper process (batch transform): start, wait for /ping, stop.

The loop's endpoint (`loop/serving.py`) serves with capture for the whole run; a Transform step needs
the same server only while its job runs, inside the step's sandbox, listed in the executor's ledger.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import tarfile
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops.local.engine.jobs import JobFailed, Sandbox, forget, log_tail, spawn, stop_process
from mlops.local.workdir import WorkDir, file_uri_path

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unpack_model(work: WorkDir, model_data: str, model_dir: Path) -> None:
    """`ModelDataUrl` (a model.tar.gz) unpacked into the job's `/opt/ml/model`; JobFailed (client) if bad."""
    archive = file_uri_path(model_data) or work.s3_path(model_data)
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:  # a truncated archive: EOFError
        raise JobFailed(f"ModelDataUrl {model_data}: cannot unpack the model ({error})", "client") from None


@dataclass
class ModelServer:
    process: subprocess.Popen[bytes]
    port: int
    sandbox: Sandbox
    ledger: Path | None

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise JobFailed(f"the model server exited with code {self.process.returncode}: "
                                f"{log_tail(self.sandbox.log, 5)}", "algorithm")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    connection.request("GET", "/ping")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.05)
        raise JobFailed(f"the model server did not answer /ping within {timeout:g}s", "algorithm")

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT_S)
        forget(self.process, self.ledger)


def start_model_server(command: Sequence[str], env: Mapping[str, str], sandbox: Sandbox, *, port: int,
                       ledger: Path | None, title: str) -> ModelServer:
    with sandbox.log.open("ab") as log:
        log.write(f"--- {title} on 127.0.0.1:{port}: {' '.join(command)}\n".encode())
        log.flush()
        try:
            process = spawn(command, env=env, cwd=sandbox.root, log=log, ledger=ledger)
        except OSError as error:
            raise JobFailed(f"cannot start the model server: {error.strerror}", "internal") from None
    server = ModelServer(process=process, port=port, sandbox=sandbox, ledger=ledger)
    try:
        server.wait_ready()
    except JobFailed:
        server.stop()
        raise
    return server
