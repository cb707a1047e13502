"""kill -9 at each stage of `mlops local run`, then a plain run or `--resume`: nothing is lost, nothing survives.

The kills are deterministic: MLOPS_LOCAL_CRASH_AT names the point where the run sends itself SIGKILL
(mlops/local/faults.py). After each kill no process of the dead run may be alive (its children die
with it), and the registry state file holds every version the run had registered or decided.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.local.faults import CRASH_VARIABLE
from tests.local.conftest import shared_once

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--param", "NEstimators=20")
EXIT_TIMEOUT_S = 30.0

pytestmark = [pytest.mark.local, pytest.mark.slow]


@dataclass(frozen=True)
class Outcome:
    """One invocation: its exit code, last stderr line, the registry state file after it, orphans."""

    kill_point: str | None
    code: int
    stderr: str
    stdout: str
    versions: list[tuple[int, str]]
    orphans: list[str]
    journal_left: bool
    latest_run: str | None


def _live_processes_in(work: Path) -> list[int]:
    """Processes (not zombies) whose working folder is inside the work folder: jobs and servers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if not os.readlink(entry / "cwd").startswith(str(work)):
                continue
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] not in "ZX":
                found.append(int(entry.name))
    return found


def _orphans(work: Path) -> list[str]:
    """What of the dead run is still alive once each of its processes had EXIT_TIMEOUT_S to die.

    Waits on pidfds (an event, not a sleep): a process that dies wakes the wait at once.
    """
    survivors = []
    for pid in _live_processes_in(work):
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([descriptor], [], [], EXIT_TIMEOUT_S)
        finally:
            os.close(descriptor)
        if not ready:
            with contextlib.suppress(OSError):
                survivors.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_text().replace(chr(0), ' ')}")
    return survivors


def _versions(work: Path) -> list[tuple[int, str]]:
    path = work / "state" / "registry.json"
    if not path.is_file():
        return []
    return [(item["ModelPackageVersion"], item["ModelApprovalStatus"])
            for item in json.loads(path.read_text())["packages"]]


def mlops_run(work: Path, *arguments: str, kill_point: str | None = None) -> Outcome:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop(CRASH_VARIABLE, None)
    if kill_point:
        env[CRASH_VARIABLE] = kill_point
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False, env=env,
    )
    orphans = _orphans(work) if kill_point else []
    latest = (work / "latest-run").read_text().strip() if (work / "latest-run").is_file() else None
    return Outcome(kill_point, result.returncode, result.stderr, result.stdout, _versions(work), orphans,
                   (work / "state" / "commit.json").is_file(), latest)


P, A = "PendingManualApproval", "Approved"


def _kill_and_recover(folder: Path) -> dict[str, Any]:
    """Each kill point, then --resume or a plain run (alternating), in one work folder."""
    work = folder / ".mlops"
    steps: list[Outcome] = []

    def run(*arguments: str, kill_point: str | None = None) -> None:
        steps.append(mlops_run(work, *arguments, kill_point=kill_point))

    run(*QUICK, kill_point="job:Train")          # 0: the training job is running
    run("--resume", kill_point="approved")       # 1: v1 decided in the registry, not yet committed
    run("--resume")                              # 2
    run(*QUICK, kill_point="stage:serve")        # 3: v1's server runs; v2 registered and decided
    run(*QUICK)                                  # 4: plain run after it
    run(*QUICK, kill_point="registered")         # 5: run.json says Register done, registry not committed
    run("--resume")                              # 6
    run(*QUICK, kill_point="state:journaled")    # 7: journal written, state files not yet replaced
    run(*QUICK)                                  # 8: plain run finishes the commit first
    run(*QUICK, kill_point="serving")            # 9: the endpoint answers /ping
    run("--resume")                              # 10
    run(*QUICK, kill_point="job:monitor")        # 11: the monitoring job is running
    run("--resume")                              # 12
    run(*QUICK, kill_point="stage:alarms")       # 13
    run(*QUICK)                                  # 14
    run(*QUICK, kill_point="stage:report")       # 15
    run("--resume")                              # 16
    run(*QUICK, kill_point="stage:local AWS")    # 17
    run(*QUICK)                                  # 18
    run(*QUICK, kill_point="stage:definition")   # 19
    run("--resume")                              # 20: nothing to resume: the last complete run succeeded
    run(*QUICK, kill_point="stage:pipeline")     # 21
    run(*QUICK)                                  # 22
    run(*QUICK, kill_point="stage:approve")      # 23
    run("--resume")                              # 24
    return {"steps": [asdict(step) for step in steps]}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    _, result = shared_once(tmp_path_factory, "local-crash", _kill_and_recover)
    return [Outcome(**{**item, "versions": [tuple(v) for v in item["versions"]]}) for item in result["steps"]]


KILLS = [0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]


def test_every_kill_point_killed_the_run_and_left_no_process_alive(outcomes: list[Outcome]) -> None:
    for index in KILLS:
        outcome = outcomes[index]
        assert outcome.code == -9, (outcome.kill_point, outcome.stdout[-2000:], outcome.stderr[-2000:])
        assert outcome.orphans == [], outcome.kill_point


def test_every_recovery_after_a_kill_succeeds(outcomes: list[Outcome]) -> None:
    for index in (2, 4, 6, 8, 10, 12, 14, 16, 18, 22, 24):
        outcome = outcomes[index]
        assert outcome.code == 0, (index, outcome.stdout[-3000:], outcome.stderr[-2000:])
        assert not outcome.journal_left


def test_a_kill_during_training_then_resume_registers_and_approves_version_1(outcomes: list[Outcome]) -> None:
    assert outcomes[0].versions == []
    # The registration was committed when it happened; the approval decision died with the run.
    assert outcomes[1].versions == [(1, P)]
    assert outcomes[2].versions == [(1, A)]
    assert outcomes[2].latest_run == outcomes[0].latest_run


def test_a_kill_after_the_pipeline_keeps_the_registered_version(outcomes: list[Outcome]) -> None:
    # Killed while serving: version 2 was registered and decided (not better: pending) and is kept.
    assert outcomes[3].versions == [(1, A), (2, P)]
    assert outcomes[4].versions == [(1, A), (2, P), (3, P)]


def test_resume_after_a_kill_between_register_and_commit_registers_the_version_again(
    outcomes: list[Outcome],
) -> None:
    assert outcomes[5].versions == [(1, A), (2, P), (3, P)]
    assert outcomes[6].versions == [(1, A), (2, P), (3, P), (4, P)]
    assert outcomes[6].latest_run == outcomes[5].latest_run


def test_a_kill_mid_commit_is_finished_by_the_next_run(outcomes: list[Outcome]) -> None:
    assert outcomes[7].journal_left
    assert outcomes[7].versions == [(1, A), (2, P), (3, P), (4, P)]  # the files still agree: the old commit
    assert outcomes[8].versions == [(1, A), *[(n, P) for n in range(2, 7)]]


def test_resume_finishes_runs_killed_in_the_later_stages(outcomes: list[Outcome]) -> None:
    for killed, resumed, versions in ((9, 10, 7), (11, 12, 8), (15, 16, 11), (23, 24, 14)):
        assert outcomes[killed].versions == outcomes[resumed].versions, outcomes[killed].kill_point
        assert len(outcomes[resumed].versions) == versions
        assert outcomes[resumed].latest_run == outcomes[killed].latest_run
        assert "Succeeded" in outcomes[resumed].stdout


def test_kills_before_the_pipeline_lose_nothing_and_leave_nothing_to_resume(outcomes: list[Outcome]) -> None:
    assert outcomes[17].versions == outcomes[16].versions
    assert outcomes[18].versions == [*outcomes[16].versions, (12, P)]
    assert outcomes[20].code == 1
    assert "did not fail (Succeeded)" in outcomes[20].stderr
    assert len(outcomes[20].stderr.strip().splitlines()) == 1
    assert outcomes[21].versions == outcomes[18].versions
    assert outcomes[22].versions == [*outcomes[18].versions, (13, P)]
    # Killed at the approve stage: the version registered before it is kept and resume decides it.
    assert outcomes[23].versions == [*outcomes[22].versions, (14, P)]
    assert outcomes[24].versions == outcomes[23].versions
