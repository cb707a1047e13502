"""The auto-approval rule and its audited step: only a strictly better model replaces the approved one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops.local.aws.moto_server import LocalAws, local_aws
from mlops.local.aws.state import load_state, save_state, snapshot_registry
from mlops.local.errors import LocalModeError
from mlops.local.loop.approval import ApprovedVersion, apply_approval, decide_approval
from mlops.local.workdir import WorkDir
from tests.local.conftest import ACCOUNT, REGION

GROUP = "demo-dev-models"
SPEC = {"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]}
AUC_PATH = "binary_classification_metrics.auc.value"
# What SageMaker accepts in CustomerMetadataProperties values (its \p{L}\p{Z}\p{N}_.:/=+-@ class, in ASCII).
METADATA_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]{0,256}$")


def test_first_version_is_approved_in_auto_mode() -> None:
    decision = decide_approval("auto", metric="auc", direction="higher", new_value=0.9, approved=None)
    assert decision.approve


def test_a_better_model_is_approved_and_an_equal_one_is_not() -> None:
    better = decide_approval("auto", metric="auc", direction="higher", new_value=0.95,
                             approved=ApprovedVersion(1, 0.9))
    equal = decide_approval("auto", metric="auc", direction="higher", new_value=0.9,
                            approved=ApprovedVersion(1, 0.9))
    assert better.approve
    assert not equal.approve
    assert "approved version 1" in equal.reason


def test_lower_is_better_metrics_compare_the_other_way() -> None:
    assert decide_approval("auto", metric="rmse", direction="lower", new_value=1.0,
                           approved=ApprovedVersion(3, 2.0)).approve
    assert not decide_approval("auto", metric="rmse", direction="lower", new_value=3.0,
                               approved=ApprovedVersion(3, 2.0)).approve


@pytest.mark.parametrize("metric", ["rmse", "mae", "mse"])
def test_a_lower_is_better_tie_is_not_approved(metric: str) -> None:
    tie = decide_approval("auto", metric=metric, direction="lower", new_value=2.5, approved=ApprovedVersion(3, 2.5))
    assert not tie.approve
    assert tie.reason == f"not better: {metric} 2.5000 vs 2.5000 of approved version 3"


def test_manual_mode_never_approves() -> None:
    assert not decide_approval("manual", metric="auc", direction="higher", new_value=1.0, approved=None).approve


# --- the approval step against a local registry (moto server) and the work folder's files ---------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[LocalAws, WorkDir]]:
    with local_aws(REGION, ACCOUNT) as aws:
        aws.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        yield aws, WorkDir(tmp_path / "work").ensure()


def _register(aws: LocalAws, work: WorkDir, version: int, auc: float | None, *, status: str = "PendingManualApproval",
              write: bool = True) -> str:
    uri = f"s3://artifacts/run{version}/evaluation.json"
    if write and auc is not None:
        path = work.s3_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"binary_classification_metrics": {"auc": {"value": auc}}}), encoding="utf-8")
    return str(aws.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=SPEC, ModelApprovalStatus=status,
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}},
    )["ModelPackageArn"])


def _apply(aws: LocalAws, work: WorkDir, arn: str, mode: str = "auto") -> Any:
    return apply_approval(work, aws.client("sagemaker"), GROUP, arn, mode=mode,  # type: ignore[arg-type]
                          metric="auc", direction="higher", json_path=AUC_PATH,
                          command="mlops local run --env dev execution 20261125000000abcd")


def test_an_unreadable_approved_metric_stops_instead_of_approving(registry: tuple[LocalAws, WorkDir]) -> None:
    aws, work = registry
    _register(aws, work, 1, 0.99, status="Approved", write=False)  # its evaluation.json is missing
    new = _register(aws, work, 2, 0.5)
    with pytest.raises(LocalModeError) as stopped:
        _apply(aws, work, new)
    message = str(stopped.value)
    assert message.startswith("approved version 1: its auc cannot be read (s3://artifacts/run1/evaluation.json:")
    assert "version 2 stays PendingManualApproval" in message
    described = aws.client("sagemaker").describe_model_package(ModelPackageName=new)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"


def test_auto_approval_is_recorded_on_the_version_and_survives_the_saved_state(
    registry: tuple[LocalAws, WorkDir], tmp_path: Path
) -> None:
    aws, work = registry
    first = _register(aws, work, 1, 0.91)
    outcome = _apply(aws, work, first)
    assert outcome.status == "Approved"
    tie = _register(aws, work, 2, 0.91)
    assert _apply(aws, work, tie).status == "PendingManualApproval"
    sm = aws.client("sagemaker")
    approved = sm.describe_model_package(ModelPackageName=first)
    assert approved["ApprovalDescription"] == (
        "mlops local run --env dev execution 20261125000000abcd: auto-approved: auc 0.9100, no version approved before"
    )
    audit = approved["CustomerMetadataProperties"]
    assert {key: audit[key] for key in ("mlops:approval:decision", "mlops:approval:metric", "mlops:approval:value",
                                         "mlops:approval:compared-with")} == {
        "mlops:approval:decision": "Approved", "mlops:approval:metric": "auc",
        "mlops:approval:value": "0.910000", "mlops:approval:compared-with": "no approved version",
    }
    assert audit["mlops:approval:by"].startswith("mlops local run --env dev execution 20261125000000abcd - local user ")
    assert "strictly higher than the approved version - a tie is not better" in audit["mlops:approval:rule"]
    left = sm.describe_model_package(ModelPackageName=tie)["CustomerMetadataProperties"]
    assert (left["mlops:approval:decision"], left["mlops:approval:compared-with"]) == (
        "PendingManualApproval", "version 1: 0.910000")
    for value in (*audit.values(), *left.values()):
        assert METADATA_VALUE.match(value), value
    # The record travels with the saved state into a fresh local AWS.
    state = tmp_path / "state"
    save_state(aws, state)
    with local_aws(REGION, ACCOUNT) as fresh:
        load_state(fresh, state)
        packages = snapshot_registry(fresh.client("sagemaker"))["packages"]
    assert [(p["ModelApprovalStatus"], p["CustomerMetadataProperties"]) for p in packages] == [
        ("Approved", audit), ("PendingManualApproval", left)
    ]


def test_manual_mode_leaves_the_version_pending_and_unrecorded(registry: tuple[LocalAws, WorkDir]) -> None:
    aws, work = registry
    arn = _register(aws, work, 1, 0.99)
    outcome = _apply(aws, work, arn, mode="manual")
    assert (outcome.status, outcome.audit) == ("PendingManualApproval", {})
    assert not aws.client("sagemaker").describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties")
