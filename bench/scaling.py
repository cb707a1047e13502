"""A default that scales: the local loop and the training job on larger data, and model quality.

Generates binary-classification CSVs of 20,000 and 200,000 rows x 20 features (16 numeric, 4
categorical, a few missing values) and prints, next to the goals of issue 11:
- the whole local loop (`mlops local run --data ... --target y`) with the default estimator, with
  its stages and the Train step's own time;
- the training job alone (`python -m containers.training train` on the CSV), for the default
  HistGradientBoosting and for scikit-learn's GradientBoosting (the previous default);
- model quality on the default data set (test-split AUC from the Evaluate step's script) for both.
Goals: whole loop on 200,000 rows <= 20 s on 2 cores; AUC on the default data no worse than 0.984.

    .venv/bin/python bench/scaling.py [--rows 20000 200000] [--skip-gradient-boosting]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LOOP_GOAL_SECONDS = 20.0
LOOP_GOAL_ROWS = 200_000
AUC_GOAL = 0.984
PREVIOUS = {"estimator": "sklearn.ensemble.GradientBoostingClassifier", "n_estimators": "100", "max_depth": "3",
            "learning_rate": "0.1"}


def scaling_data(rows: int, seed: int = 0) -> pd.DataFrame:
    """16 numeric and 4 categorical features; the label depends on both kinds, with noise."""
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, 16))
    frame = pd.DataFrame(numeric, columns=[f"x{i:02d}" for i in range(16)])
    levels = [["a", "b", "c"], ["north", "south", "east", "west"], [f"k{i}" for i in range(12)], ["yes", "no"]]
    for i, values in enumerate(levels):
        frame[f"c{i}"] = rng.choice(values, size=rows)
    score = (numeric[:, 0] - 0.8 * numeric[:, 1] + 0.5 * numeric[:, 2] * numeric[:, 3] + np.sin(numeric[:, 4])
             + (frame["c0"] == "a") - 0.7 * (frame["c1"] == "west") + rng.normal(scale=0.8, size=rows))
    frame["y"] = (score > 0).astype(int)
    frame.loc[frame.sample(frac=0.02, random_state=seed).index, "x05"] = np.nan
    frame.loc[frame.sample(frac=0.02, random_state=seed + 1).index, "c2"] = None
    return frame


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds, result


def local_loop(root: Path, data: Path) -> tuple[float, dict[str, Any]]:
    work = root / f"loop-{data.stem}"
    seconds, _ = run([PYTHON, "-m", "mlops.cli", "local", "run", "--work-dir", str(work), "--data", str(data),
                      "--target", "y"])
    summary = json.loads(sorted((work / "runs").glob("*/summary.json"))[-1].read_text())
    return seconds, summary


def training_job(root: Path, name: str, train_dir: Path, hyperparameters: dict[str, str]) -> tuple[float, Path]:
    base = root / name
    (base / "input" / "config").mkdir(parents=True)
    (base / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    seconds, _ = run([PYTHON, "-m", "containers.training", "train"],
                     {"SAGEMAKER_BASE_DIR": str(base), "SM_CHANNEL_TRAIN": str(train_dir)})
    return seconds, base / "model"


def default_data_quality(root: Path) -> dict[str, float]:
    """Test-split AUC on the default data set: Preprocess, Train and Evaluate scripts as the pipeline runs them."""
    from config.settings import load_environment

    env = load_environment("dev")
    raw, out = root / "quality-raw", root / "quality-out"
    run([PYTHON, "-c", "import sys; from pathlib import Path; from pipelines.datasets import write_default_dataset; "
         "write_default_dataset(Path(sys.argv[1]), sys.argv[2])", str(raw), env.data.target])
    outputs = [arg for name in ("train", "validation", "test", "baseline", "report")
               for arg in (f"--{name}", str(out / name))]
    run([PYTHON, "-m", "pipelines.steps.preprocess", "--input", str(raw), *outputs,
         "--target", env.data.target, "--problem-type", env.data.problem_type.value])
    common = {"target": env.data.target, "problem_type": env.data.problem_type.value}
    found: dict[str, float] = {}
    for label, hyperparameters in (("GradientBoosting (before)", {**PREVIOUS, **common}),
                                   ("HistGradientBoosting (default now)", {**env.training.hyperparameters, **common})):
        _, model = training_job(root, f"quality-{len(found)}", out / "train", hyperparameters)
        evaluation = root / f"quality-eval-{len(found)}"
        run([PYTHON, "-m", "pipelines.steps.evaluate", "--model", str(model), "--test", str(out / "test"),
             "--output", str(evaluation)])
        report = json.loads((evaluation / "evaluation.json").read_text())
        found[label] = float(report["binary_classification_metrics"]["auc"]["value"])
    return found


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--skip-gradient-boosting", action="store_true",
                        help="do not time the previous default (GradientBoosting is slow on 200,000 rows)")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    try:
        print(f"cores: {os.cpu_count()}, load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        for rows in options.rows:
            data = root / f"scaling-{rows}.csv"
            scaling_data(rows).to_csv(data, index=False)
            train_dir = root / f"train-{rows}"
            train_dir.mkdir()
            shutil.copy(data, train_dir / "train.csv")
            loop_seconds, summary = local_loop(root, data)
            train_step = next(step["seconds"] for step in summary["steps"] if step["name"] == "Train")
            goal = f" (goal <= {LOOP_GOAL_SECONDS:.0f} s: {verdict(loop_seconds <= LOOP_GOAL_SECONDS)})" \
                if rows == LOOP_GOAL_ROWS else ""
            print(f"\n{rows:,} rows x 20 features")
            print(f"  whole local loop, default estimator: {loop_seconds:6.1f} s{goal}")
            print("    stages: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in summary["stages"].items()))
            auc = summary["evaluation"]["binary_classification_metrics"]["auc"]["value"]
            print(f"    Train step: {train_step:.1f} s; test-split AUC {auc:.4f}")
            hyperparameters = {"target": "y", "problem_type": "BinaryClassification"}
            seconds, _ = training_job(root, f"hgb-{rows}", train_dir, hyperparameters)
            print(f"  training job alone, HistGradientBoosting (default): {seconds:6.1f} s")
            if not options.skip_gradient_boosting:
                seconds, _ = training_job(root, f"gb-{rows}", train_dir, {**hyperparameters, **PREVIOUS})
                print(f"  training job alone, GradientBoosting (before):      {seconds:6.1f} s")
        print("\nmodel quality on the default data set (test split):")
        for label, auc in default_data_quality(root).items():
            print(f"  {label:<36} AUC {auc:.4f} (goal >= {AUC_GOAL}: {verdict(round(auc, 3) >= AUC_GOAL)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
