"""Ctrl-C at each stage of `mlops local run`: exit 130, nothing survives, and the run can be finished.

MLOPS_LOCAL_INTERRUPT_AT names the point where the run sends itself SIGINT (mlops/local/faults.py), so
the signal lands in every stage, not only where a timing window happens to catch it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.local.faults import INTERRUPT_VARIABLE
from tests.local.conftest import shared_once
from tests.local.test_crash import QUICK, REPO_ROOT, _orphans, _versions

pytestmark = [pytest.mark.local, pytest.mark.slow]

# In the order a run reaches them; job:Train first, while training is not cached yet.
POINTS = ("job:Train", "stage:local AWS", "stage:data", "stage:definition", "stage:pipeline", "registered",
          "stage:approve", "stage:serve", "serving", "job:monitor", "stage:alarms", "stage:report")


@dataclass(frozen=True)
class Pair:
    point: str
    code: int
    stdout: str
    stderr: str
    orphans: list[str]
    recovered_with: str
    recovery_code: int
    recovery_stdout: str
    versions: list[tuple[int, str]]


def _mlops(work: Path, *arguments: str, interrupt_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop(INTERRUPT_VARIABLE, None)
    if interrupt_at:
        env[INTERRUPT_VARIABLE] = interrupt_at
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False, env=env,
        # As from a terminal: a suite running in the background may have SIGINT ignored, and the run
        # would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt_each_stage(folder: Path) -> dict[str, Any]:
    work = folder / ".mlops"
    pairs = []
    for point in POINTS:
        latest_before = (work / "latest-run").read_text() if (work / "latest-run").is_file() else None
        interrupted = _mlops(work, *QUICK, interrupt_at=point)
        orphans = _orphans(work)
        latest = (work / "latest-run").read_text() if (work / "latest-run").is_file() else None
        # A run interrupted before its pipeline started has nothing to resume: a plain run follows.
        arguments = ("--resume",) if latest != latest_before else QUICK
        recovery = _mlops(work, *arguments)
        pairs.append(Pair(point, interrupted.returncode, interrupted.stdout, interrupted.stderr, orphans,
                          arguments[0], recovery.returncode, recovery.stdout + recovery.stderr, _versions(work)))
    return {"pairs": [asdict(pair) for pair in pairs]}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[Pair]:
    _, result = shared_once(tmp_path_factory, "local-interrupt", _interrupt_each_stage)
    return [Pair(**{**item, "versions": [tuple(v) for v in item["versions"]]}) for item in result["pairs"]]


def test_ctrl_c_at_every_stage_exits_130_with_the_summary_and_leaves_no_process(pairs: list[Pair]) -> None:
    assert [pair.point for pair in pairs] == list(POINTS)
    for pair in pairs:
        assert pair.code == 130, (pair.point, pair.stdout[-2000:], pair.stderr[-2000:])
        assert "(Interrupted)" in pair.stdout, pair.point
        assert "Traceback" not in pair.stderr, pair.point
        assert pair.orphans == [], pair.point


def test_a_run_interrupted_once_its_pipeline_started_is_resumed_and_finishes(pairs: list[Pair]) -> None:
    # Interrupted before the pipeline recorded anything: nothing to resume, a new run follows.
    before_pipeline = ("stage:local AWS", "stage:data", "stage:definition", "stage:pipeline")
    for pair in pairs:
        assert pair.recovered_with == ("--param" if pair.point in before_pipeline else "--resume"), pair.point
        assert pair.recovery_code == 0, (pair.point, pair.recovery_stdout[-3000:])
        # The advice the interrupted run printed: --resume only where there is something to resume.
        assert ("--resume" in pair.stdout) == (pair.recovered_with == "--resume"), pair.point


def test_each_interrupted_run_and_its_recovery_register_exactly_one_version(pairs: list[Pair]) -> None:
    for count, pair in enumerate(pairs, start=1):
        assert [version for version, _ in pair.versions] == list(range(1, count + 1)), pair.point
    assert pairs[-1].versions[0] == (1, "Approved")
