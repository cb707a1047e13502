"""Serving benchmark: our inference server vs the classic Flask+gunicorn BYOC server and MLServer, with wrk.

Run: `.venv/bin/python bench/serving.py [--duration 2] [--rounds 1] [--peer-threads 1]`. Trains a model with
the training entry point (4 numeric + 1 categorical feature, 100 trees) and starts on free 127.0.0.1 ports:
- ours: `python -m containers.inference serve`;
- bare: the limit, an ASGI app that answers a constant on our server stack and workers (bench/serving_bare.py);
- mlserver: MLServer 1.7.1 with mlserver-sklearn in its own virtualenv, V2 protocol with the pandas codec,
  the same fitted pipeline (bench/serving_mlserver.py; the virtualenv is made on first use);
- flask: the Flask+gunicorn BYOC server (bench/baseline_flask/app.py).
It checks that ours and flask answer byte-identical CSV and that MLServer's probabilities equal ours, then
runs wrk (installed with apt-get if missing) for single-row and 1,000-row bodies at concurrency 1, 8 and 32,
the servers interleaved within each cell so that their ratios come from the same minutes of a shared
machine; with --rounds N each cell is run N times and the median kept. It prints a table with the ratios,
the in-process ceilings, the goals and the load average. Server and load generator share the machine's
cores: the figures include that contention. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
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
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE")
wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT")
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


def wait_ping(port: int, process: subprocess.Popen[bytes], path: str = "/ping", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"server on port {port} not ready")


def post(target: Target, body: bytes) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{target.port}{target.path}", data=body, method="POST",
                                     headers={"Content-Type": target.content_type, "Accept": target.accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


@dataclass(frozen=True)
class Target:
    """A server under test: where wrk sends which bodies."""

    name: str
    port: int
    path: str
    content_type: str
    accept: str
    bodies: dict[str, Path]
    process: subprocess.Popen[bytes]


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


def run_wrk(wrk: str, script: Path, target: Target, payload: str, *, concurrency: int,
            duration: int) -> dict[str, int]:
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "-s", str(script),
               f"http://127.0.0.1:{target.port}{target.path}"]
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "BENCH_BODY": str(target.bodies[payload]),
                                 "BENCH_CONTENT_TYPE": target.content_type, "BENCH_ACCEPT": target.accept})
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH "))
    return dict(json.loads(line[6:]))


def in_process_ceilings(model_dir: Path, single: bytes, batch: bytes) -> dict[str, float]:
    """The fitted estimator alone on a ready float array (what no server can beat), median of runs."""
    sys.path.insert(0, str(REPO_ROOT))
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from containers.contracts.model_artifact import load_model_artifact
    from containers.inference.codec import encode_csv, parse_csv
    from containers.inference.predictor import Predictor

    pipeline, metadata = load_model_artifact(model_dir)
    predictor = Predictor(pipeline, metadata)
    assert predictor.preprocessor is not None
    figures = {}
    # One thread, as each server worker scores (OpenMP teams only spin against each other on a loaded machine).
    threadpool_limits(1)
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
        timings = []
        for _ in range(parsed_repeat):
            start = time.perf_counter()
            encode_csv(predictor.predict(parse_csv(body, predictor.layout)))
            timings.append(time.perf_counter() - start)
        figures[f"{name}_request_ms"] = statistics.median(timings) * 1000
    return figures


def tree_cpu_ticks(pid: int) -> int:
    """CPU time (clock ticks) of a process and all its descendants, from /proc."""
    total = 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_cpu_ticks(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def wait_idle(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the server has worked off what wrk left in flight (a slow peer keeps scoring queued requests
    after wrk stops, which would land in the next server's measurement): under 10% of a core for 0.5 s."""
    deadline = time.monotonic() + timeout
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    before = tree_cpu_ticks(process.pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = tree_cpu_ticks(process.pid)
        if after - before < 0.05 * ticks_per_s:
            return
        before = after
    print(f"  (server {process.pid} still busy after {timeout:g} s)", flush=True)


BARE_SERVER = ("from containers.inference.server import serve; from containers.inference.settings import "
               "ServingSettings; serve(ServingSettings.from_env(), app='bench.serving_bare:create_app')")


def start_servers(work: Path, model_dir: Path, requests: pd.DataFrame, *, workers: int, peer_threads: int,
                  processes: list[subprocess.Popen[bytes]]) -> list[Target]:
    """All four servers, each answering; `processes` collects them for the caller to stop."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench import serving_mlserver

    csv_bodies = {"single": work / "single.csv", "batch": work / "batch.csv"}
    csv_bodies["single"].write_bytes(requests.iloc[:1].to_csv(header=False, index=False).encode())
    csv_bodies["batch"].write_bytes(requests.to_csv(header=False, index=False).encode())
    v2_bodies = {"single": work / "single.json", "batch": work / "batch.json"}
    v2_bodies["single"].write_bytes(serving_mlserver.v2_request(requests.iloc[:1]))
    v2_bodies["batch"].write_bytes(serving_mlserver.v2_request(requests))
    mlserver = serving_mlserver.mlserver_command()

    ports = {name: free_port() for name in ("ours", "bare", "flask", "mlserver", "mlserver-grpc", "mlserver-metrics")}
    log = (work / "servers.log").open("wb")
    # The peers score with scikit-learn's public API, whose tree predictors start an OpenMP team per tree
    # and call: with the workers already filling the cores, more threads only spin against each other
    # (on a loaded machine MLServer fell to ~20 req/s). By default one thread per worker process, as ours
    # runs; --peer-threads 0 leaves the libraries' default (all cores per worker), as the peers ship.
    peers = {**os.environ, **({"OMP_NUM_THREADS": str(peer_threads)} if peer_threads else {})}
    stack = {**os.environ, "SAGEMAKER_BIND_TO_HOST": "127.0.0.1", "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
             "SM_MODEL_DIR": str(model_dir), "PYTHONPATH": str(REPO_ROOT)}
    started = {
        "ours": subprocess.Popen([PYTHON, "-m", "containers.inference", "serve"], cwd=REPO_ROOT, stdout=log,
                                 stderr=log, env={**stack, "SAGEMAKER_BIND_TO_PORT": str(ports["ours"])}),
        "bare": subprocess.Popen([PYTHON, "-c", BARE_SERVER], cwd=REPO_ROOT, stdout=log, stderr=log,
                                 env={**stack, "SAGEMAKER_BIND_TO_PORT": str(ports["bare"])}),
        "flask": subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{ports['flask']}",
             "--chdir", str(REPO_ROOT / "bench" / "baseline_flask"), "app:app"],
            cwd=REPO_ROOT, stdout=log, stderr=log,
            env={**peers, "BASELINE_MODEL_DIR": str(model_dir), "PYTHONPATH": str(REPO_ROOT)}),
        # Its own session: MLServer's inference workers are its children, stopped with it as one group.
        "mlserver": subprocess.Popen(
            [*mlserver, str(serving_mlserver.write_repository(
                work / "mlserver", model_dir, http_port=ports["mlserver"], grpc_port=ports["mlserver-grpc"],
                metrics_port=ports["mlserver-metrics"], workers=workers))],
            cwd=work / "mlserver", env=peers, stdout=log, stderr=log, start_new_session=True),
    }
    processes.extend(started.values())
    for name, process in started.items():
        ready = f"/v2/models/{serving_mlserver.MODEL_NAME}/ready" if name == "mlserver" else "/ping"
        wait_ping(ports[name], process, ready)
    return [
        Target("ours", ports["ours"], "/invocations", "text/csv", "text/csv", csv_bodies, started["ours"]),
        Target("bare", ports["bare"], "/invocations", "text/csv", "text/csv", csv_bodies, started["bare"]),
        Target("mlserver", ports["mlserver"], serving_mlserver.INFER_PATH, "application/json", "application/json",
               v2_bodies, started["mlserver"]),
        Target("flask", ports["flask"], "/invocations", "text/csv", "text/csv", csv_bodies, started["flask"]),
    ]


def check_answers(targets: list[Target], requests: pd.DataFrame) -> None:
    """Ours and flask byte for byte; MLServer's probabilities against ours, number for number, on the rows
    whose category is present: the pandas codec hands the pipeline a null category as None, which the
    fitted imputer does not take for missing (it is an unknown category there), so those rows differ."""
    from bench import serving_mlserver

    by_name = {target.name: target for target in targets}
    ours, flask, mlserver = by_name["ours"], by_name["flask"], by_name["mlserver"]
    comparable = requests.select_dtypes(exclude="number").notna().all(axis=1).to_numpy()
    for payload in ("single", "batch"):
        answer = post(ours, ours.bodies[payload].read_bytes())
        if answer != post(flask, flask.bodies[payload].read_bytes()):
            sys.exit(f"ours and flask differ for the {payload} body")
        ours_rows = [[float(value) for value in line.split(",")[1:]] for line in answer.decode().splitlines()]
        peer_rows = serving_mlserver.probabilities(post(mlserver, mlserver.bodies[payload].read_bytes()))
        if len(peer_rows) != len(ours_rows):
            sys.exit(f"MLServer answered {len(peer_rows)} rows for the {payload} body, ours {len(ours_rows)}")
        pairs = [(mine, theirs) for mine, theirs, same in zip(ours_rows, peer_rows, comparable, strict=False) if same]
        worst = max((abs(a - b) for mine, theirs in pairs for a, b in zip(mine, theirs, strict=True)), default=0.0)
        if worst > 1e-12:
            sys.exit(f"MLServer's probabilities differ from ours by up to {worst:g} for the {payload} body")
    print(f"answers checked: ours = flask byte for byte (single row and 1,000 rows); MLServer's probabilities = "
          f"ours on the {int(comparable.sum())} of 1,000 rows with the category present")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run (wrk takes whole seconds)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measured run")
    parser.add_argument("--rounds", type=int, default=1, help="runs per cell (median kept)")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--servers", default="ours,bare,mlserver,flask",
                        help="which servers wrk measures (all four are started and their answers checked)")
    parser.add_argument("--payloads", default="single,batch", help="which bodies to run (single, batch)")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)),
                        help="wrk connections per cell, comma-separated")
    parser.add_argument("--peer-threads", type=int, default=1,
                        help="OpenMP threads of MLServer's and flask's workers (0: the libraries' default)")
    args = parser.parse_args()
    payloads = set(args.payloads.split(","))
    concurrencies = [int(value) for value in args.concurrency.split(",")]
    wrk = ensure_wrk()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    processes: list[subprocess.Popen[bytes]] = []
    runs: list[Run] = []
    try:
        model_dir = train_model(work)
        requests = make_data(1000, seed=7).drop(columns="target")
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT)
        targets = start_servers(work, model_dir, requests, workers=args.workers, peer_threads=args.peer_threads,
                                processes=processes)
        check_answers(targets, requests)
        measured = [target for target in targets if target.name in args.servers.split(",")]
        for round_number in range(args.rounds):
            for payload, rows in (("single", 1), ("batch", 1000)):
                if payload not in payloads:
                    continue
                for concurrency in concurrencies:
                    for target in measured:  # interleaved: each cell's servers measured minutes apart at most
                        run_wrk(wrk, script, target, payload, concurrency=concurrency, duration=args.warmup)
                        wait_idle(target.process)
                        figures = run_wrk(wrk, script, target, payload, concurrency=concurrency,
                                          duration=args.duration)
                        wait_idle(target.process)
                        run = Run(target.name, payload, rows, concurrency,
                                  figures["requests"] / (figures["duration_us"] / 1e6),
                                  figures["p50_us"] / 1000, figures["p99_us"] / 1000,
                                  figures["errors"] + figures["status_errors"])
                        runs.append(run)
                        print(f"  round {round_number + 1} {run.server:8s} {payload:6s} c={concurrency:<3d} "
                              f"{run.requests_per_s:9.0f} req/s p50 {run.p50_ms:7.2f} ms p99 {run.p99_ms:7.2f} ms "
                              f"errors {run.errors}", flush=True)
    finally:
        for process in processes:
            if process.poll() is None:
                if process.pid == os.getpgid(process.pid):  # MLServer: its own process group
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    load_after = os.getloadavg()
    ceilings = in_process_ceilings(model_dir, (work / "single.csv").read_bytes(), (work / "batch.csv").read_bytes())
    shutil.rmtree(work, ignore_errors=True)
    print_report(median_runs(runs), ceilings, args.workers, args.peer_threads, (load_before, load_after))
    return 0


def median_runs(runs: list[Run]) -> list[Run]:
    """One run per (server, payload, concurrency): the median of its rounds, in first-seen order."""
    cells: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        cells.setdefault((run.server, run.payload, run.concurrency), []).append(run)
    return [Run(server, payload, group[0].rows, concurrency,
                statistics.median(r.requests_per_s for r in group), statistics.median(r.p50_ms for r in group),
                statistics.median(r.p99_ms for r in group), sum(r.errors for r in group))
            for (server, payload, concurrency), group in cells.items()]


def ratio(run: Run, other: Run) -> float:
    """Requests (of the same payload, so also rows) per second of `run` over `other`'s; inf when other is 0."""
    return run.requests_per_s / other.requests_per_s if other.requests_per_s else math.inf


def print_report(runs: list[Run], ceilings: dict[str, float], workers: int, peer_threads: int,
                 load: tuple[tuple[float, float, float], tuple[float, float, float]]) -> None:
    def find(server: str, payload: str, concurrency: int) -> Run | None:
        return next((r for r in runs if (r.server, r.payload, r.concurrency) == (server, payload, concurrency)), None)

    def times(run: Run, server: str) -> str:
        other = find(server, run.payload, run.concurrency)
        return "-" if other is None else f"{ratio(run, other):.1f}"

    threads = f"{peer_threads} OpenMP thread(s)" if peer_threads else "default OpenMP threads"
    print(f"\nServing benchmark ({os.cpu_count()} cores shared by servers and wrk; {workers} workers each, peers with "
          f"{threads}; load average {load[0][0]:.2f} before, {load[1][0]:.2f} after)")
    print(f"{'server':9s} {'payload':8s} {'c':>3s} {'req/s':>9s} {'rows/s':>11s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'errors':>6s} {'x flask':>8s} {'x mlserver':>10s} {'% bare':>7s}")
    for run in runs:
        bare = find("bare", run.payload, run.concurrency)
        share = "-" if bare is None else f"{100 * ratio(run, bare):.0f}%"
        print(f"{run.server:9s} {run.payload:8s} {run.concurrency:3d} {run.requests_per_s:9.0f} "
              f"{run.rows_per_s:11.0f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} {run.errors:6d} "
              f"{times(run, 'flask'):>8s} {times(run, 'mlserver'):>10s} {share:>7s}")
    print("\nIn-process ceilings (median per call):")
    print(f"  estimator.predict_proba on a ready array: 1 row {ceilings['single_estimator_ms']:.3f} ms, "
          f"1,000 rows {ceilings['batch_estimator_ms']:.3f} ms")
    print(f"  CSV parse + fast path + estimator:        1 row {ceilings['single_parse_and_score_ms']:.3f} ms, "
          f"1,000 rows {ceilings['batch_parse_and_score_ms']:.3f} ms")
    print(f"  ... + CSV answer (what a request costs):  1 row {ceilings['single_request_ms']:.3f} ms, "
          f"1,000 rows {ceilings['batch_request_ms']:.3f} ms")

    goals: list[tuple[str, str, bool]] = []

    def against(payload: str, concurrency: int, peer: str) -> tuple[Run, Run] | None:
        ours, other = find("ours", payload, concurrency), find(peer, payload, concurrency)
        return None if ours is None or other is None else (ours, other)

    for concurrency, factor, p99 in ((8, 20, 3.0), (32, 40, 8.0)):
        if pair := against("single", concurrency, "flask"):
            ours, x = pair[0], ratio(*pair)
            goals.append((f"single row c={concurrency}: >= {factor}x flask req/s, p99 <= {p99:g} ms",
                          f"{x:.1f}x, p99 {ours.p99_ms:.2f} ms", x >= factor and ours.p99_ms <= p99))
    for concurrency, p99 in ((8, 3.0), (32, 8.0)):
        if pair := against("single", concurrency, "mlserver"):
            ours, x = pair[0], ratio(*pair)
            goals.append((f"single row c={concurrency}: >= 30x MLServer req/s, p99 <= {p99:g} ms",
                          f"{x:.1f}x, p99 {ours.p99_ms:.2f} ms", x >= 30 and ours.p99_ms <= p99))
    for concurrency in (8, 32):
        if pair := against("single", concurrency, "bare"):
            (ours, bare), fraction = pair, ratio(*pair)
            goals.append((f"single row c={concurrency}: >= 40% of the bare app's req/s (ours / bare)",
                          f"{100 * fraction:.0f}% ({ours.requests_per_s:.0f} / {bare.requests_per_s:.0f})",
                          fraction >= 0.4))
    if pair := against("batch", 8, "flask"):
        ours, x = pair[0], ratio(*pair)
        goals.append(("1,000-row batches c=8: >= 3x flask rows/s, p99 <= 60 ms",
                      f"{x:.1f}x, p99 {ours.p99_ms:.2f} ms", x >= 3 and ours.p99_ms <= 60))
    if (ours_c1 := find("ours", "single", 1)) is not None:
        limit = 2 * ceilings["single_estimator_ms"]
        goals.append(("c=1 median latency <= 2x in-process single-row estimator call",
                      f"{ours_c1.p50_ms:.3f} ms vs {limit:.3f} ms", ours_c1.p50_ms <= limit))
    errors = sum(run.errors for run in runs if run.server == "ours")
    goals.append(("no errors from our server", str(errors), errors == 0))
    print("\nGoals:")
    for name, measured, passed in goals:
        print(f"  [{'PASS' if passed else 'FAIL'}] {name}: {measured}")


if __name__ == "__main__":
    sys.exit(main())
