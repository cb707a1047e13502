"""Local mode: `mlops local run` cold and warm, and the executor against the bare step scripts.

Prints, for the default data set on this machine:
- the full loop in a fresh work folder (definition built with the SDK, every step run),
- the second run in the same folder (unchanged data and code: cached steps),
- the pipeline stage of the loop next to the same four scripts run bare, one after another
  (preprocess -> train -> evaluate -> data-quality baseline), sequential and as the executor runs
  them by default (independent steps side by side), and the overhead ratio.
Goals (docs/architecture.md, section 5): loop < 30 s on 2 cores, executor <= 1.15x the bare chain, second run
< half the first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from config.settings import load_environment  # noqa: E402
from mlops.experiments import local_tracking_uri  # noqa: E402
from pipelines.contract import hyperparameter_parameters  # noqa: E402

ENV = "dev"
REPEATS = 2


def local_run(work: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mlops.cli", "local", "run", "--env", ENV, "--work-dir", str(work),
                             *extra], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"mlops local run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    summary = json.loads(sorted((work / "runs").glob("*/summary.json"))[-1].read_text())
    return seconds, summary


def bare_chain(folder: Path) -> float:
    """The pipeline's four scripts as plain subprocesses, with the arguments and the tracking store the
    definition gives them."""
    env = load_environment(ENV)
    python = sys.executable
    raw = folder / "raw"
    subprocess.run([python, "-c", "import sys; from pathlib import Path; from pipelines.datasets import "
                    "write_default_dataset; write_default_dataset(Path(sys.argv[1]), sys.argv[2])", str(raw),
                    env.data.target], check=True, cwd=REPO_ROOT)
    out = folder / "out"
    hyperparameters = {key: env.training.hyperparameters[key] for key in hyperparameter_parameters(env)}
    hyperparameters |= {"target": env.data.target, "problem_type": env.data.problem_type.value}
    train = folder / "train"
    (train / "input" / "config").mkdir(parents=True)
    (train / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    base = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    commands: list[tuple[list[str], dict[str, str]]] = [
        ([python, "-m", "pipelines.steps.preprocess", "--input", str(raw),
          *[arg for name in ("train", "validation", "test", "baseline", "report")
            for arg in (f"--{name}", str(out / name))],
          "--target", env.data.target, "--problem-type", env.data.problem_type.value], base),
        # The Train step logs its run to the work folder's MLflow store (a fresh one, as in a fresh work
        # folder): the bare job does the same work, so the ratio measures the executor alone.
        ([python, "-m", "containers.training", "train"],
         {**base, "SAGEMAKER_BASE_DIR": str(train), "SM_CHANNEL_TRAIN": str(out / "train"),
          "SM_CHANNEL_VALIDATION": str(out / "validation"), "TRAINING_JOB_NAME": "bench-train",
          "MLFLOW_TRACKING_URI": local_tracking_uri(folder), "MLFLOW_EXPERIMENT_NAME": "bench"}),
        ([python, "-m", "pipelines.steps.evaluate", "--model", str(train / "model"), "--test", str(out / "test"),
          "--output", str(folder / "evaluation")], base),
        ([python, "-m", "containers.monitor"],
         {**base, "SAGEMAKER_BASE_DIR": str(folder / "monitor"), "dataset_format": '{"csv": {"header": true}}',
          "dataset_source": str(out / "baseline"), "output_path": str(folder / "baseline")}),
    ]
    started = time.perf_counter()
    for command, variables in commands:
        subprocess.run(command, env=variables, check=True, cwd=REPO_ROOT, capture_output=True)
    return time.perf_counter() - started


def fresh_work(root: Path, name: str, definitions_from: Path | None) -> Path:
    work = root / name
    if definitions_from is not None:
        # Same definition cache as the cold run: this measures the executor, not the SDK.
        shutil.copytree(definitions_from / "cache" / "definitions", work / "cache" / "definitions")
    return work


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-local-"))
    try:
        cold_work = root / "cold"
        first, first_summary = local_run(cold_work)
        second, second_summary = local_run(cold_work)
        bare = min(bare_chain(root / f"bare{i}") for i in range(REPEATS))
        parallel = min(local_run(fresh_work(root, f"par{i}", cold_work))[1]["stages"]["pipeline"]
                       for i in range(REPEATS))
        sequential = min(local_run(fresh_work(root, f"seq{i}", cold_work), "--max-parallel", "1")[1]["stages"][
            "pipeline"] for i in range(REPEATS))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    stages = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in first_summary["stages"].items())
    print(f"cores: {os.cpu_count()}")
    print(f"full loop, fresh work folder:       {first:6.1f} s  (goal < 30 s: {verdict(first < 30)})")
    print(f"  stages: {stages}")
    print(f"second run, unchanged data/code:    {second:6.1f} s  = {second / first:.2f}x the first "
          f"(goal < 0.5x: {verdict(second < first / 2)})")
    cached = [step["name"] for step in second_summary["steps"] if step.get("cached_from")]
    print(f"  cached steps: {', '.join(cached)}")
    print(f"bare step scripts, one after another: {bare:5.1f} s  (best of {REPEATS})")
    print(f"executor pipeline stage, sequential:  {sequential:5.1f} s  = {sequential / bare:.2f}x bare "
          f"(goal <= 1.15x: {verdict(sequential / bare <= 1.15)})")
    print(f"executor pipeline stage, default:     {parallel:5.1f} s  = {parallel / bare:.2f}x bare "
          "(independent steps side by side)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
