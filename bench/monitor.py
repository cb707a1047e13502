"""Benchmark of the monitor analyzer against Evidently's DataDriftPreset on what users have.

Data: 1,000,000 rows x 20 features per file (14 numeric with ~3% missing cells, 6 categorical),
a reference CSV and a live CSV in which 4 numeric and 2 categorical features are shifted.
- ours: the monitoring job (`python -m containers.monitor`, a fresh process) reading the live CSV
  and checking it against the baseline statistics/constraints (made beforehand by a baselining
  job on the reference CSV, as Model Monitor does): read + profile + checks + files written.
- Evidently 0.7.23: `Report([DataDriftPreset()])` on both CSVs, read with pandas (it needs
  pandas < 3, so it runs in its own virtualenv, bench/.venv-evidently, created on first use).
Each side runs in its own process: wall time of the work (after imports: read, analysis, files),
of the whole process, its CPU time, peak RSS (wait4), and the features it flags. Goals: ours
<= 1.5 s with the read, >= 30x Evidently, <= 1 GB peak, the same flags. Data lives in a temp
folder and is deleted afterwards.

Run: `.venv/bin/python bench/monitor.py [rows] [--ours-only]`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
EVIDENTLY_VENV = REPO_ROOT / "bench" / ".venv-evidently"
EVIDENTLY_PINS = ("evidently==0.7.23", "pandas==2.3.3")
NUMERIC = [f"num_{i:02d}" for i in range(14)]
CATEGORICAL = [f"cat_{i}" for i in range(6)]
SHIFTED = {"num_00", "num_01", "num_02", "num_03", "cat_0", "cat_1"}
MISSING_SHARE = 0.03
CATEGORIES = [f"v{i:02d}" for i in range(12)]
GOAL_SECONDS, GOAL_SPEEDUP, GOAL_PEAK_MB = 1.5, 30.0, 1024.0


def _numeric_column(rng: np.random.Generator, rows: int, shift: float) -> np.ndarray:
    pool = np.clip(rng.normal(shift, 1.0, 1 << 16), -9.99999, 9.99999)
    text = np.array([f"{value:+.5f}".encode() for value in pool], dtype="S8")
    cells = text[rng.integers(0, pool.size, rows)]
    cells[rng.random(rows) < MISSING_SHARE] = b""
    return cells


def _categorical_column(rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
    weights = np.full(len(CATEGORIES), 1.0)
    if shifted:  # one value takes a third of the traffic: L-infinity ~0.25, Jensen-Shannon ~0.2
        weights[0] = 5.5
    return np.array([value.encode() for value in CATEGORIES], dtype="S3")[
        rng.choice(len(CATEGORIES), rows, p=weights / weights.sum())
    ]


def write_csv(path: Path, rows: int, live: bool, seed: int) -> None:
    """Header + rows; columns are built as byte arrays and joined, so 1M rows take seconds."""
    rng = np.random.default_rng(seed)
    columns = [_numeric_column(rng, rows, 0.5 if live and name in SHIFTED else 0.0) for name in NUMERIC]
    columns += [_categorical_column(rng, rows, live and name in SHIFTED) for name in CATEGORICAL]
    with path.open("wb") as handle:
        handle.write((",".join(NUMERIC + CATEGORICAL) + "\n").encode())
        for start in range(0, rows, 200_000):
            part = [column[start : start + 200_000] for column in columns]
            line = part[0].astype(object)
            for column in part[1:]:
                line = line + b"," + column.astype(object)
            handle.write(b"\n".join(line.tolist()) + b"\n")


@dataclass(frozen=True)
class Measured:
    work_seconds: float
    process_seconds: float
    work_cpu_seconds: float  # CPU time of the work: a figure a loaded machine disturbs less
    cpu_seconds: float  # user + system of the whole process
    peak_mb: float
    flagged: set[str]


def measure(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run a process; its timings, peak RSS (wait4) and the flags it printed as JSON on its last line."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO_ROOT, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if status:
            raise SystemExit(f"{command[0]} failed:\n{err.read().decode()[-2000:]}")
        answer = json.loads(out.read().decode().strip().splitlines()[-1])
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(
        float(answer["seconds"]), elapsed, float(answer["cpu"]), cpu, usage.ru_maxrss / 1024, set(answer["flagged"])
    )


# ------------------------------------------------------------------ the two sides, run as children

OURS = """
import json, time
from containers.monitor.job import analyze, write_result
from containers.monitor.settings import settings_from_environ
started, cpu = time.perf_counter(), time.process_time()
settings = settings_from_environ()
result = analyze(settings)
write_result(settings, result)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
found = result.violations.violations if result.violations else []
flagged = sorted({v.feature_name for v in found if v.constraint_check_type == "baseline_drift_check"})
print(json.dumps({"seconds": seconds, "cpu": cpu, "flagged": flagged}))
"""

EVIDENTLY = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
started, cpu = time.perf_counter(), time.process_time()
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
reference = Dataset.from_pandas(pd.read_csv(sys.argv[1]), data_definition=definition)
current = Dataset.from_pandas(pd.read_csv(sys.argv[2]), data_definition=definition)
snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
flagged = []
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    column = config.get("column")
    if column is None or "threshold" not in config:
        continue
    value, threshold = float(metric["value"]), float(config["threshold"])
    method = str(config.get("method", "")).lower()
    # p-value tests drift below the threshold, distances above it.
    drifted = value < threshold if ("p_value" in method or "test" in method) else value >= threshold
    if drifted:
        flagged.append(column)
print(json.dumps({"seconds": seconds, "cpu": cpu, "flagged": sorted(flagged)}))
"""


def evidently_python() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    ready = EVIDENTLY_VENV / ".installed"  # a venv whose install was interrupted is redone
    if not ready.exists():
        print(f"creating {EVIDENTLY_VENV} with {', '.join(EVIDENTLY_PINS)} (first use only)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_PINS], check=True)
        ready.write_text(" ".join(EVIDENTLY_PINS) + "\n")
    return python


def run_ours(root: Path) -> Measured:
    base = {"SAGEMAKER_BASE_DIR": str(root / "ml"), "dataset_format": '{"csv": {"header": true}}',
            "PYTHONPATH": str(REPO_ROOT)}
    baseline_env = {**base, "dataset_source": str(root / "reference"), "output_path": str(root / "baseline")}
    measure([sys.executable, "-c", OURS], baseline_env)  # the baselining job, made once beforehand
    live_env = {
        **base, "dataset_source": str(root / "live"), "output_path": str(root / "monitoring"),
        "baseline_statistics": str(root / "baseline" / "statistics.json"),
        "baseline_constraints": str(root / "baseline" / "constraints.json"),
    }
    return measure([sys.executable, "-c", OURS], live_env)


def run_evidently(root: Path) -> Measured:
    command = [str(evidently_python()), "-c", EVIDENTLY, str(root / "reference" / "data.csv"),
               str(root / "live" / "data.csv"), json.dumps(NUMERIC), json.dumps(CATEGORICAL)]
    return measure(command)


def main() -> None:
    numbers = [arg for arg in sys.argv[1:] if arg.isdigit()]
    rows = int(numbers[0]) if numbers else 1_000_000
    print(f"monitor bench: {rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} features "
          f"({len(NUMERIC)} numeric, ~{MISSING_SHARE:.0%} missing; {len(CATEGORICAL)} categorical), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"shifted in the live set: {', '.join(sorted(SHIFTED))}")
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as scratch:
        root = Path(scratch)
        for name, live, seed in (("reference", False, 1), ("live", True, 2)):
            (root / name).mkdir()
            started = time.perf_counter()
            write_csv(root / name / "data.csv", rows, live, seed)
            size = (root / name / "data.csv").stat().st_size / 1e6
            print(f"generated {name} CSV: {size:.0f} MB in {time.perf_counter() - started:.1f} s")
        ours = run_ours(root)
        if "--ours-only" in sys.argv:
            print(f"ours: {ours.work_seconds:.2f} s work, {ours.process_seconds:.2f} s process, "
                  f"{ours.cpu_seconds:.2f} s cpu, {ours.peak_mb:.0f} MB, flagged {sorted(ours.flagged)}")
            return
        theirs = run_evidently(root)
    print(f"load average now {os.getloadavg()[0]:.1f} (figures on a loaded machine are not the quiet ones)")
    print(f"{'':<10} {'work s':>8} {'work cpu s':>11} {'process s':>10} {'cpu s':>7} {'peak MB':>8}  flagged")
    for label, m in (("ours", ours), ("evidently", theirs)):
        print(f"{label:<10} {m.work_seconds:8.2f} {m.work_cpu_seconds:11.2f} {m.process_seconds:10.2f} "
              f"{m.cpu_seconds:7.2f} {m.peak_mb:8.0f}  {', '.join(sorted(m.flagged)) or '-'}")
    speedup = theirs.work_seconds / ours.work_seconds
    cpu_ratio = theirs.work_cpu_seconds / ours.work_cpu_seconds
    print(f"ours with the read: {ours.work_seconds:.2f} s (goal <= {GOAL_SECONDS} s)  "
          f"{'OK' if ours.work_seconds <= GOAL_SECONDS else 'OVER GOAL'}")
    print(f"speed-up over Evidently: {speedup:.1f}x (goal >= {GOAL_SPEEDUP:.0f}x)  "
          f"{'OK' if speedup >= GOAL_SPEEDUP else 'UNDER GOAL'}; work CPU time ratio {cpu_ratio:.1f}x")
    print(f"peak RSS: {ours.peak_mb:.0f} MB (goal <= {GOAL_PEAK_MB:.0f} MB)  "
          f"{'OK' if ours.peak_mb <= GOAL_PEAK_MB else 'OVER GOAL'}")
    same = ours.flagged == theirs.flagged == SHIFTED
    print(f"flags: ours {'==' if ours.flagged == SHIFTED else '!='} shifted set, "
          f"Evidently {'==' if theirs.flagged == SHIFTED else '!='} shifted set  {'OK' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
