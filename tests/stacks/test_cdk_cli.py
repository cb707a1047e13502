"""The pinned CDK CLI synthesizes one environment offline, exactly as a user's `cdk synth -c env=...`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from config.images import REPO_ROOT

pytestmark = pytest.mark.slow

OFFLINE = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}


def _cdk(*arguments: str, outdir: Path) -> subprocess.CompletedProcess[str]:
    if not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists() or shutil.which("npx") is None:
        pytest.fail("the pinned CDK CLI is missing: `make test` installs it from package-lock.json")
    return subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", str(outdir), *arguments],
        cwd=REPO_ROOT, env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=300, check=False,
    )


def test_cli_synthesizes_prod_serving_a_version_offline_with_every_compliance_check(tmp_path: Path) -> None:
    result = _cdk("-c", "env=prod", "-c", "model_version=3", outdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    templates = sorted(path.name for path in tmp_path.glob("*.template.json"))
    assert templates == [f"mlops-kit-prod-{part}.template.json" for part in
                         ("alerts", "containers", "endpoint", "governance", "monitoring", "pipeline", "registry")]
    assert "note:" not in result.stderr


def test_cli_refuses_a_model_version_that_names_no_version(tmp_path: Path) -> None:
    result = _cdk("-c", "env=prod", "-c", "model_version=latest", outdir=tmp_path)
    assert result.returncode != 0
    assert "model_version 'latest' is neither a version number nor a model package ARN" in result.stderr


def test_cli_refuses_an_unknown_environment_by_name(tmp_path: Path) -> None:
    result = _cdk("-c", "env=qa", outdir=tmp_path)
    assert result.returncode != 0
    assert "unknown environment 'qa'" in result.stderr
