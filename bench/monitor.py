"""Benchmark of the monitor analyzer: 1,000,000 rows x 20 numeric features, CSV read included.

Goal (docs/architecture.md, section 5): <= 3 s per analysis on 2 cores. Data is generated in a temp folder
and deleted afterwards; nothing is committed. Run: `.venv/bin/python bench/monitor.py [rows]`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from containers.contracts.capture import capture_file_relative_path, encode_capture_line
from containers.monitor.job import analyze, write_result
from containers.monitor.settings import settings_from_environ

GOAL_SECONDS = 3.0
FEATURES = 20
CAPTURE_RECORDS = 100_000


def write_numeric_csv(path: Path, rows: int, shift: float, seed: int) -> None:
    """A header + `rows` x FEATURES fixed-width decimals, built as one byte array (fast to write)."""
    rng = np.random.default_rng(seed)
    # A pool of 2**16 formatted values per file; each cell picks one (8 bytes "+d.ddddd").
    pool = np.clip(rng.normal(shift, 1.0, 1 << 16), -9.99999, 9.99999)
    text = np.array([f"{value:+.5f}" for value in pool], dtype="S8").view(np.uint8).reshape(-1, 8)
    header = ",".join(f"f{i}" for i in range(FEATURES)).encode() + b"\n"
    with path.open("wb") as handle:
        handle.write(header)
        for start in range(0, rows, 100_000):
            count = min(100_000, rows - start)
            picks = rng.integers(0, pool.size, (count, FEATURES))
            cells = np.empty((count, FEATURES, 9), dtype=np.uint8)
            cells[:, :, :8] = text[picks]
            cells[:, :, 8] = ord(",")
            cells[:, -1, 8] = ord("\n")
            handle.write(cells.tobytes())


def write_capture(folder: Path, records: int) -> None:
    rng = np.random.default_rng(5)
    when = datetime(2024, 5, 6, 7, 30, tzinfo=UTC)
    values = rng.normal(0.0, 1.0, (records, FEATURES)).round(5)
    path = folder / capture_file_relative_path("bench-ep", "AllTraffic", when)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for row in values:
            line = encode_capture_line(
                input_data=",".join(map(str, row)),
                input_content_type="text/csv",
                output_data="0.5",
                output_content_type="text/csv",
                inference_time=when,
            )
            handle.write(line + "\n")


def timed(label: str, environ: dict[str, str], goal: float | None) -> float:
    settings = settings_from_environ(environ)
    started = time.perf_counter()
    result = analyze(settings)
    analysis = time.perf_counter() - started
    write_result(settings, result)
    total = time.perf_counter() - started
    verdict = "" if goal is None else ("  OK" if analysis <= goal else "  OVER GOAL")
    goal_text = "" if goal is None else f" (goal <= {goal:.1f} s)"
    print(f"{label:<44} {analysis:6.2f} s analysis, {total:6.2f} s with writing{goal_text}{verdict}")
    return analysis


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"monitor analyzer bench: {rows:,} rows x {FEATURES} numeric features, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as scratch:
        root = Path(scratch)
        for name, shift, seed in (("baseline", 0.0, 1), ("live", 0.5, 2)):
            (root / name).mkdir()
            started = time.perf_counter()
            write_numeric_csv(root / name / "data.csv", rows, shift, seed)
            size = (root / name / "data.csv").stat().st_size / 1e6
            print(f"generated {name} CSV: {size:.0f} MB in {time.perf_counter() - started:.1f} s")
        base = {"SAGEMAKER_BASE_DIR": str(root / "ml"), "dataset_format": '{"csv": {"header": true}}'}
        timed(
            "baselining (read + statistics + constraints)",
            {
                **base,
                "dataset_source": str(root / "baseline"),
                "output_path": str(root / "baseline-out"),
            },
            GOAL_SECONDS,
        )
        baseline = {
            "baseline_statistics": str(root / "baseline-out" / "statistics.json"),
            "baseline_constraints": str(root / "baseline-out" / "constraints.json"),
            "publish_cloudwatch_metrics": "Enabled",
            "sagemaker_endpoint_name": "bench-ep",
            "sagemaker_monitoring_schedule_name": "bench-schedule",
        }
        timed(
            "monitoring (read + statistics + checks)",
            {
                **base,
                **baseline,
                "dataset_source": str(root / "live"),
                "output_path": str(root / "live-out"),
            },
            GOAL_SECONDS,
        )
        write_capture(root / "capture", CAPTURE_RECORDS)
        timed(
            f"monitoring {CAPTURE_RECORDS:,} capture lines (info)",
            {
                **base,
                **baseline,
                "dataset_source": str(root / "capture"),
                "output_path": str(root / "capture-out"),
                "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}',
            },
            None,
        )


if __name__ == "__main__":
    main()
