"""Fixtures for the container tests: generated tabular data, a trained model, real server processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
COLORS = ("red", "green", "blue")


def make_tabular_frame(rows: int, seed: int = 0, *, target: str = "target") -> pd.DataFrame:
    """Target first, then 3 numeric features and 1 categorical one, with missing values in both kinds."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    b = rng.normal(size=rows)
    c = rng.integers(0, 50, size=rows).astype(float)
    color = rng.choice(COLORS, size=rows).astype(object)
    label = ((a + 0.5 * b + (color == "red") + rng.normal(scale=0.3, size=rows)) > 0.6).astype(int)
    frame = pd.DataFrame({target: label, "a": a, "b": b, "c": c, "color": color})
    frame.loc[::7, "a"] = np.nan
    frame.loc[::11, "color"] = None
    return frame


def write_training_job(base: Path, frame: pd.DataFrame, hyperparameters: Mapping[str, str] | None = None,
                       validation: pd.DataFrame | None = None) -> None:
    """Lay out a SageMaker training job's inputs under `base` (as /opt/ml)."""
    train_dir = base / "input" / "data" / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    frame.to_csv(train_dir / "train.csv", index=False)
    if validation is not None:
        validation_dir = base / "input" / "data" / "validation"
        validation_dir.mkdir(parents=True, exist_ok=True)
        validation.to_csv(validation_dir / "validation.csv", index=False)
    config = base / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(dict(hyperparameters or {})))


def run_entry_point(module: str, argument: str, env: Mapping[str, str],
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", module, argument], env=full_env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO_ROOT, check=False)


def run_monitor_job(ml_dir: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The monitor image's entry point as a processing job starts it: the job's environment and PATH only,
    so nothing of the test process's environment leaks into the analyzer's settings."""
    full_env = {"PATH": os.environ.get("PATH", ""), "SAGEMAKER_BASE_DIR": str(ml_dir), **env}
    return subprocess.run([sys.executable, "-m", "containers.monitor"], env=full_env, capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT, check=False)


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per test process by the real training entry point (30 trees: quick)."""
    base = tmp_path_factory.mktemp("training-job")
    write_training_job(base, make_tabular_frame(1500, seed=1), {"n_estimators": "30"})
    result = run_entry_point("containers.training", "train", {"SAGEMAKER_BASE_DIR": str(base)})
    assert result.returncode == 0, result.stderr
    return base / "model"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A real `python -m containers.inference serve` process on a loopback port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def wait_ready(self, timeout: float = 30, expect: int = 200) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                if self.request("GET", "/ping", timeout=2)[0] == expect:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not answering {expect} on /ping in {timeout}s: {self.log.read_text()}")

    def worker_pids(self) -> set[int]:
        """The supervisor's live child processes (uvicorn workers), from /proc."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = {int(pid) for pid in children.read_text().split()} if children.exists() else set()
        # multiprocessing's resource tracker is a child too; workers are the ones running our app.
        return {pid for pid in pids if b"resource_tracker" not in _cmdline(pid)}

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def start_server(model_dir: Path, log: Path, **env: str) -> ServerProcess:
    port = free_port()
    full_env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        **env,
    }
    handle = log.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "containers.inference", "serve"], env=full_env,
                               stdout=handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    handle.close()
    return ServerProcess(process, port, log)


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers that are stopped when the module ends (each gets its own log file)."""
    started: list[ServerProcess] = []

    def factory(model_dir: Path, **env: str) -> ServerProcess:
        log = tmp_path_factory.mktemp("server-log") / "server.log"
        server = start_server(model_dir, log, **env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
