"""The approval gate cannot be bypassed from `mlops local run` (issue 12): real processes, real state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.local]


def _mlops_local(work: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", *arguments, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_staging_run_cannot_approve_its_version_or_lower_the_gate(tmp_path: Path) -> None:
    work = tmp_path / ".mlops"
    bypass = _mlops_local(work, "run", "--env", "staging", "--param", "ModelApprovalStatus=Approved",
                          "--param", "MetricThreshold=0")
    assert bypass.returncode != 0
    assert bypass.stderr.strip().splitlines() == [
        "error: --param ModelApprovalStatus: not a pipeline parameter; every version is registered as "
        "PendingManualApproval and approved separately (approval_mode manual in environment 'staging')"
    ]
    lowered = _mlops_local(work, "run", "--env", "staging", "--param", "MetricThreshold=0")
    assert lowered.returncode != 0
    assert lowered.stderr.strip().splitlines() == [
        "error: --param MetricThreshold: environment 'staging' has approval_mode manual, so its quality gate is "
        "fixed at auc 0.92 (quality_gate.threshold in config/environments.yaml) and cannot be changed per run"
    ]
    # Refused before anything ran: no run folder, no registry state.
    assert not (work / "runs").exists() or not any((work / "runs").iterdir())
    assert not (work / "state" / "registry.json").exists()


@pytest.mark.slow
def test_a_staging_run_registers_a_pending_version_and_serves_nothing(tmp_path: Path) -> None:
    work = tmp_path / ".mlops"
    run = _mlops_local(work, "run", "--env", "staging", "--param", "NEstimators=20")
    assert run.returncode == 0, run.stdout + run.stderr
    registry = json.loads((work / "state" / "registry.json").read_text())
    assert [(p["ModelPackageVersion"], p["ModelApprovalStatus"]) for p in registry["packages"]] == [
        (1, "PendingManualApproval")
    ]
    assert "mlops local registry approve --env staging --version 1" in run.stdout
    # Manual mode records no auto-approval on the version (only its lineage).
    metadata = registry["packages"][0].get("CustomerMetadataProperties", {})
    assert not [key for key in metadata if key.startswith("mlops:approval:")]
    assert metadata["lineage:data_sha256"]
