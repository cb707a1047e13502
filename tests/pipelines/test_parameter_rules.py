"""Instance parameters given with --param follow SageMaker's rules in `mlops pipeline run` and local mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops.errors import RunError
from mlops.runs import parse_parameter_overrides
from pipelines.parameter_rules import parameter_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITION: dict[str, Any] = {"Parameters": [
    {"Name": name, "Type": kind} for name, kind in (
        ("TrainingInstanceCount", "Integer"), ("TrainingInstanceType", "String"),
        ("ProcessingInstanceCount", "Integer"), ("ProcessingInstanceType", "String"))
]}


@pytest.mark.parametrize("value", ["ml.m5.large", "ml.c5.2xlarge", "ml.g5.12xlarge", "ml.trn1n.32xlarge",
                                   "ml.t3.medium", "ml.m5.xlarge"])
def test_real_instance_types_pass(value: str) -> None:
    assert parameter_problem("TrainingInstanceType", value) is None
    assert parameter_problem("ProcessingInstanceType", value) is None


@pytest.mark.parametrize("value", ["m5.large", "ml.m5", "ml.m5.huge", "garbage", "ml.M5.large", ""])
def test_garbage_instance_types_are_named(value: str) -> None:
    assert parameter_problem("TrainingInstanceType", value) == (
        f"--param TrainingInstanceType={value!r}: not a SageMaker instance type "
        "(ml.<family>.<size>, e.g. ml.m5.large or ml.c5.2xlarge)")


@pytest.mark.parametrize("value", ["-1", "0", "101", "1.5", "two"])
def test_instance_counts_outside_1_to_100_are_named(value: str) -> None:
    assert parameter_problem("ProcessingInstanceCount", value) == (
        f"--param ProcessingInstanceCount={value!r}: an instance count must be a whole number from 1 to 100")


def test_counts_within_range_and_other_parameters_pass() -> None:
    assert parameter_problem("TrainingInstanceCount", "1") is None
    assert parameter_problem("TrainingInstanceCount", "100") is None
    assert parameter_problem("NEstimators", "-1") is None  # the estimator's own validation names it


def test_pipeline_run_refuses_a_negative_instance_count() -> None:
    with pytest.raises(RunError, match=r"TrainingInstanceCount='-1': an instance count must be"):
        parse_parameter_overrides(["TrainingInstanceCount=-1"], DEFINITION)
    with pytest.raises(RunError, match=r"TrainingInstanceType='ml\.banana\.split': not a SageMaker instance type"):
        parse_parameter_overrides(["TrainingInstanceType=ml.banana.split"], DEFINITION)


@pytest.mark.parametrize(
    ("param", "expected"),
    [("TrainingInstanceCount=-1", "--param TrainingInstanceCount='-1': an instance count must be a whole number"),
     ("ProcessingInstanceType=potato", "--param ProcessingInstanceType='potato': not a SageMaker instance type")],
)
def test_local_run_refuses_bad_instance_parameters_before_anything_is_written(
    tmp_path: Path, param: str, expected: str,
) -> None:
    work = tmp_path / ".mlops"
    result = subprocess.run(
        [sys.executable, "-m", "mlops.cli", "local", "run", "--param", param, "--work-dir", str(work)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode != 0
    assert expected in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stderr
    assert not (work / "runs").exists()
