"""Job processes: an interrupted run stops its jobs, none starts after the interruption, and none
outlives a killed run."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlops.local.engine import jobs
from mlops.local.engine.jobs import JobFailed, JobTable, Sandbox

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_no_job_starts_after_terminate_all_and_the_next_run_has_its_own_table(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "job")
    marker = tmp_path / "ran.txt"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran')"]
    interrupted = JobTable()
    interrupted.terminate_all()
    with pytest.raises(JobFailed, match="interrupted"):
        interrupted.run(command, {}, sandbox, 30, "late job")
    assert not marker.exists()
    JobTable().run(command, {}, sandbox, 30, "next run's job")
    assert marker.read_text() == "ran"


# Started by a stand-in for `mlops local run` that then dies by kill -9 before its child ends.
DYING_PARENT = """
import os, signal, sys
from pathlib import Path
from mlops.local.engine import jobs
with open(os.devnull, "wb") as log:
    child = jobs.spawn([sys.executable, "-c", "import signal; signal.pause()"], env=dict(os.environ),
                       cwd=Path(sys.argv[1]).parent, log=log, ledger=Path(sys.argv[1]))
print(child.pid, flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _wait_for_exit(pid: int) -> bool:
    """True once `pid` has exited (a pidfd wakes at its death; no sleeping)."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([descriptor], [], [], 30)[0])
    finally:
        os.close(descriptor)


def test_a_child_dies_with_its_parent_even_by_kill_9(tmp_path: Path) -> None:
    ledger = tmp_path / "children"
    parent = subprocess.Popen([sys.executable, "-c", DYING_PARENT, str(ledger)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    assert json.loads((ledger / f"{child}.json").read_text())["start_time"] == jobs.start_time(child)
    parent.kill()
    parent.wait(timeout=30)
    assert _wait_for_exit(child)  # PR_SET_PDEATHSIG: the kernel kills it with its parent


def test_the_next_run_stops_what_a_dead_run_left_and_only_that(tmp_path: Path) -> None:
    ledger = tmp_path / "children"
    ledger.mkdir()
    # A leftover that outlived its run (started without the parent-death signal, as by an older version).
    leftover = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                                start_new_session=True)
    # Another process whose pid the ledger names with a different start time: a recycled pid.
    stranger = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                                start_new_session=True)
    try:
        for process, started in ((leftover, jobs.start_time(leftover.pid)),
                                 (stranger, (jobs.start_time(stranger.pid) or 0) - 1)):
            (ledger / f"{process.pid}.json").write_text(json.dumps(
                {"pid": process.pid, "pgid": process.pid, "start_time": started, "command": ["python"]}))
        (ledger / "garbage.json").write_text("{not json")
        assert jobs.stop_leftovers(ledger) == [leftover.pid]
        assert leftover.wait(timeout=30) == -signal.SIGKILL
        assert stranger.poll() is None
        assert list(ledger.iterdir()) == []
    finally:
        for process in (leftover, stranger):
            process.kill()
            process.wait()
