"""Job processes: an interrupted run stops its jobs, and none starts after the interruption."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops.local import jobs
from mlops.local.jobs import JobFailed, Sandbox


def test_no_job_starts_after_terminate_all_until_the_next_run(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "job")
    marker = tmp_path / "ran.txt"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran')"]
    jobs.terminate_all()
    try:
        with pytest.raises(JobFailed, match="interrupted"):
            jobs.run_process(command, {}, sandbox, 30, "late job")
        assert not marker.exists()
    finally:
        jobs.accept_new_jobs()
    jobs.run_process(command, {}, sandbox, 30, "next run's job")
    assert marker.read_text() == "ran"
