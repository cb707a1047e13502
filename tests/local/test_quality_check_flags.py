"""QualityCheck flags as SageMaker reads them: FailOnViolation absent or null fails on violations (the
SDK's default is True), and every flag may be a pipeline parameter."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.local.errors import StepFailedError
from mlops.local.workdir import WorkDir
from tests.local.conftest import BUCKET, definition, executor, put_object
from tests.local.test_executor import _baseline_data, _quality_check

FLAGS = [{"Name": "Skip", "Type": "Boolean", "DefaultValue": False},
         {"Name": "FailOnViolation", "Type": "Boolean", "DefaultValue": True}]


def _drifted_check(work: WorkDir, **flags: Any) -> dict[str, Any]:
    """A check of drifted data against the baseline of an earlier run."""
    put_object(work, f"s3://{BUCKET}/baseline/baseline.csv", _baseline_data())
    first = executor(definition(_quality_check()), work, "baseline").run().steps["Baseline"].properties or {}
    put_object(work, f"s3://{BUCKET}/baseline/baseline.csv", _baseline_data(offset=100.0))
    check = _quality_check(SkipCheck=False, RegisterNewBaseline=False,
                           SuppliedBaselineStatistics=first["CalculatedBaselineStatistics"],
                           SuppliedBaselineConstraints=first["CalculatedBaselineConstraints"])
    check.pop("FailOnViolation")
    return check | flags


@pytest.mark.parametrize("flags", [{}, {"FailOnViolation": None}], ids=["absent", "null"])
def test_violations_fail_the_step_unless_fail_on_violation_is_false(work: WorkDir, flags: dict[str, Any]) -> None:
    check = _drifted_check(work, **flags)
    with pytest.raises(StepFailedError, match=r"violation\(s\): a: baseline_drift_check"):
        executor(definition(check), work, "run2").run()


def test_flags_given_as_parameters_take_the_parameter_values(work: WorkDir) -> None:
    check = _drifted_check(work, SkipCheck={"Get": "Parameters.Skip"},
                           FailOnViolation={"Get": "Parameters.FailOnViolation"}, CacheConfig={"Enabled": True})
    pipeline = definition(check, parameters=FLAGS)
    with pytest.raises(StepFailedError, match=r"violation\(s\)"):
        executor(pipeline, work, "run2").run()
    tolerant = executor(pipeline, work, "run3").run({"FailOnViolation": "false"}).steps["Baseline"]
    assert tolerant.properties is not None
    assert tolerant.properties["SkipCheck"] is False
    assert "ViolationReport" in tolerant.properties
    assert tolerant.properties["CheckJobArn"] == tolerant.properties["ProcessingJobArn"]
    assert tolerant.properties["ModelPackageGroupName"] == "demo-models"
    skipped = executor(pipeline, work, "run4").run({"Skip": "true"}).steps["Baseline"]
    assert skipped.properties is not None
    assert skipped.properties["SkipCheck"] is True
    assert "ViolationReport" not in skipped.properties
    assert skipped.cached_from is None  # another parameter value is another cache key
