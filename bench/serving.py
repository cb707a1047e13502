"""Serving benchmark: our inference server vs the classic Flask+gunicorn BYOC server, with wrk on loopback.

Run: `.venv/bin/python bench/serving.py [--duration 5]`. Trains a model with the training entry point
(4 numeric + 1 categorical feature, 100 trees), starts both servers on free 127.0.0.1 ports, checks
that they answer byte-identical CSV, then runs wrk (installed with apt-get if missing) for single-row
and 1,000-row CSV bodies at concurrency 1, 8 and 32, and prints a table, the in-process ceilings and
the goals. Server and load generator share the machine's cores: the figures include that contention.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CONCURRENCY = (1, 8, 32)
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/csv"
wrk.headers["Accept"] = "text/csv"
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_data(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "target": 0,
        "tenure": rng.integers(0, 72, size=rows).astype(float),
        "monthly_charges": rng.normal(70, 30, size=rows).round(2),
        "support_calls": rng.poisson(1.5, size=rows).astype(float),
        "usage_gb": rng.gamma(2.0, 10.0, size=rows).round(3),
        "plan": rng.choice(["basic", "plus", "premium", "family"], size=rows).astype(object),
    })
    score = (-0.04 * frame["tenure"] + 0.02 * frame["monthly_charges"] + 0.5 * frame["support_calls"]
             + np.where(frame["plan"] == "basic", 0.8, 0.0) + rng.normal(scale=0.7, size=rows))
    frame["target"] = (score > score.median()).astype(int)
    frame.loc[::13, "usage_gb"] = np.nan
    frame.loc[::17, "plan"] = None
    return frame


def train_model(work: Path) -> Path:
    base = work / "job"
    train_dir = base / "input" / "data" / "train"
    train_dir.mkdir(parents=True)
    make_data(5000).to_csv(train_dir / "train.csv", index=False)
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text("{}")
    result = subprocess.run([PYTHON, "-m", "containers.training", "train"], cwd=REPO_ROOT, check=False,
                            env={**os.environ, "SAGEMAKER_BASE_DIR": str(base)}, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"training failed: {result.stderr}")
    print(next(line for line in result.stdout.splitlines() if line.startswith("train_accuracy")))
    return base / "model"


def wait_ping(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"server on port {port} not ready")


def post(port: int, body: bytes) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body, method="POST",
                                     headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


@dataclass(frozen=True)
class Run:
    server: str
    payload: str
    rows: int
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package 'wrk')")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk could not be installed")
    return found


def run_wrk(wrk: str, script: Path, body: Path, *, port: int, concurrency: int, duration: float) -> dict[str, int]:
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(script),
               f"http://127.0.0.1:{port}/invocations"]
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "BENCH_BODY": str(body)})
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH "))
    return dict(json.loads(line[6:]))


def in_process_ceilings(model_dir: Path, single: bytes, batch: bytes) -> dict[str, float]:
    """The fitted estimator alone on a ready float array (what no server can beat), median of runs."""
    sys.path.insert(0, str(REPO_ROOT))
    from containers.contracts.model_artifact import load_model_artifact
    from containers.inference.codec import parse_csv
    from containers.inference.predictor import Predictor

    pipeline, metadata = load_model_artifact(model_dir)
    predictor = Predictor(pipeline, metadata)
    assert predictor.preprocessor is not None
    figures = {}
    for name, body, repeat in (("single", single, 2000), ("batch", batch, 100)):
        ready = predictor.preprocessor.transform(parse_csv(body, predictor.layout))
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            predictor.estimator.predict_proba(ready)
            timings.append(time.perf_counter() - start)
        figures[f"{name}_estimator_ms"] = statistics.median(timings) * 1000
        timings = []
        parsed_repeat = repeat // 2
        for _ in range(parsed_repeat):
            start = time.perf_counter()
            predictor.predict(parse_csv(body, predictor.layout))
            timings.append(time.perf_counter() - start)
        figures[f"{name}_parse_and_score_ms"] = statistics.median(timings) * 1000
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        model_dir = train_model(work)
        requests = make_data(1000, seed=7).drop(columns="target")
        single = requests.iloc[:1].to_csv(header=False, index=False).encode()
        batch = requests.to_csv(header=False, index=False).encode()
        bodies = {"single": work / "single.csv", "batch": work / "batch.csv"}
        bodies["single"].write_bytes(single)
        bodies["batch"].write_bytes(batch)
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT)

        ours_port, base_port = free_port(), free_port()
        log = (work / "servers.log").open("wb")
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "containers.inference", "serve"], cwd=REPO_ROOT, stdout=log, stderr=log,
            env={**os.environ, "SM_MODEL_DIR": str(model_dir), "SAGEMAKER_BIND_TO_HOST": "127.0.0.1",
                 "SAGEMAKER_BIND_TO_PORT": str(ours_port), "SAGEMAKER_MODEL_SERVER_WORKERS": str(args.workers)}))
        processes.append(subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "--workers", str(args.workers), "--bind",
             f"127.0.0.1:{base_port}", "--chdir", str(REPO_ROOT / "bench" / "baseline_flask"), "app:app"],
            cwd=REPO_ROOT, stdout=log, stderr=log,
            env={**os.environ, "BASELINE_MODEL_DIR": str(model_dir), "PYTHONPATH": str(REPO_ROOT)}))
        wait_ping(ours_port, processes[0])
        wait_ping(base_port, processes[1])

        for name, body in (("single", single), ("batch", batch)):
            ours, theirs = post(ours_port, body), post(base_port, body)
            if ours != theirs:
                sys.exit(f"outputs differ for the {name} body:\nours: {ours[:200]!r}\nbaseline: {theirs[:200]!r}")
        print("outputs identical: single row and 1,000-row batch (byte for byte)")

        runs: list[Run] = []
        for payload, rows in (("single", 1), ("batch", 1000)):
            for concurrency in CONCURRENCY:
                for server, port in (("ours", ours_port), ("baseline", base_port)):
                    for warmup in (True, False):
                        figures = run_wrk(wrk, script, bodies[payload], port=port, concurrency=concurrency,
                                          duration=1.0 if warmup else args.duration)
                    runs.append(Run(server, payload, rows, concurrency,
                                    figures["requests"] / (figures["duration_us"] / 1e6),
                                    figures["p50_us"] / 1000, figures["p99_us"] / 1000,
                                    figures["errors"] + figures["status_errors"]))
                    print(f"  {server:8s} {payload:6s} c={concurrency:<3d} {runs[-1].requests_per_s:9.0f} req/s "
                          f"p50 {runs[-1].p50_ms:7.2f} ms p99 {runs[-1].p99_ms:7.2f} ms errors {runs[-1].errors}",
                          flush=True)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    ceilings = in_process_ceilings(model_dir, single, batch)
    shutil.rmtree(work, ignore_errors=True)
    print_report(runs, ceilings, args.workers)
    return 0


def print_report(runs: list[Run], ceilings: dict[str, float], workers: int) -> None:
    print(f"\nServing benchmark ({os.cpu_count()} cores shared by servers and wrk; {workers} workers each)")
    print(f"{'server':9s} {'payload':8s} {'c':>3s} {'req/s':>9s} {'rows/s':>11s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'errors':>6s}")
    for run in runs:
        print(f"{run.server:9s} {run.payload:8s} {run.concurrency:3d} {run.requests_per_s:9.0f} "
              f"{run.rows_per_s:11.0f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} {run.errors:6d}")
    print("\nIn-process ceilings (median per call):")
    print(f"  estimator.predict_proba on a ready array: 1 row {ceilings['single_estimator_ms']:.3f} ms, "
          f"1,000 rows {ceilings['batch_estimator_ms']:.3f} ms")
    print(f"  CSV parse + fast path + estimator:        1 row {ceilings['single_parse_and_score_ms']:.3f} ms, "
          f"1,000 rows {ceilings['batch_parse_and_score_ms']:.3f} ms")

    def find(server: str, payload: str, concurrency: int) -> Run:
        return next(r for r in runs if (r.server, r.payload, r.concurrency) == (server, payload, concurrency))

    goals = []
    for concurrency, factor, p99 in ((8, 20, 3.0), (32, 40, 8.0)):
        ours, base = find("ours", "single", concurrency), find("baseline", "single", concurrency)
        ratio = ours.requests_per_s / base.requests_per_s
        goals.append((f"single row c={concurrency}: >= {factor}x baseline req/s, p99 <= {p99:g} ms",
                      f"{ratio:.1f}x, p99 {ours.p99_ms:.2f} ms", ratio >= factor and ours.p99_ms <= p99))
    ours, base = find("ours", "batch", 8), find("baseline", "batch", 8)
    ratio = ours.rows_per_s / base.rows_per_s
    goals.append(("1,000-row batches c=8: >= 3x baseline rows/s, p99 <= 60 ms",
                  f"{ratio:.1f}x, p99 {ours.p99_ms:.2f} ms", ratio >= 3 and ours.p99_ms <= 60))
    ours = find("ours", "single", 1)
    limit = 2 * ceilings["single_estimator_ms"]
    goals.append(("c=1 median latency <= 2x in-process single-row estimator call",
                  f"{ours.p50_ms:.3f} ms vs {limit:.3f} ms", ours.p50_ms <= limit))
    errors = sum(run.errors for run in runs if run.server == "ours")
    goals.append(("no errors from our server", str(errors), errors == 0))
    print("\nGoals:")
    for name, measured, passed in goals:
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {measured}")


if __name__ == "__main__":
    sys.exit(main())
