"""The approval gate of local mode: auto-approve a new version only when it beats the approved one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from mlops import registry
from mlops.local.errors import LocalModeError
from mlops.local.expressions import ExpressionError, parse_path, walk
from mlops.local.workdir import WorkDir


@dataclass(frozen=True)
class Decision:
    approve: bool
    reason: str


def decide_approval(
    mode: Literal["auto", "manual"],
    *,
    metric: str,
    direction: Literal["higher", "lower"],
    new_value: float,
    approved_value: float | None,
    approved_version: int | None,
) -> Decision:
    """Approve in auto mode when nothing is approved yet or the new value is strictly better."""
    if mode == "manual":
        return Decision(False, "approval_mode is manual: an approver decides")
    if approved_version is None:
        return Decision(True, f"auto-approved: {metric} {new_value:.4f}, no version approved before")
    if approved_value is None:
        return Decision(True, f"auto-approved: {metric} {new_value:.4f}; approved version {approved_version} "
                              "has no readable metric")
    better = new_value > approved_value if direction == "higher" else new_value < approved_value
    comparison = f"{metric} {new_value:.4f} vs {approved_value:.4f} of approved version {approved_version}"
    if better:
        return Decision(True, f"auto-approved: {comparison}")
    return Decision(False, f"not better: {comparison}")


def gate_metric(work: WorkDir, sm: Any, arn: str, json_path: str) -> float | None:
    """The quality-gate metric of a version, read from its registered model-quality statistics file."""
    described = sm.describe_model_package(ModelPackageName=arn)
    uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return None
    try:
        document = json.loads(work.s3_path(uri).read_text(encoding="utf-8"))
        value = walk(document, parse_path(json_path), uri)
    except (OSError, ValueError, ExpressionError, LocalModeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ApprovalOutcome:
    version: int
    status: str
    decision: Decision
    metric: float | None


def apply_approval(
    work: WorkDir, sm: Any, group: str, arn: str, *, mode: Literal["auto", "manual"], metric: str,
    direction: Literal["higher", "lower"], json_path: str,
) -> ApprovalOutcome:
    """Decide on the newly registered version `arn` and approve it in the registry when decided so."""
    versions = registry.list_versions(sm, group)
    new = next((version for version in versions if version.arn == arn), None)
    if new is None:
        raise LocalModeError(f"registered model package {arn} is not in group {group!r}")
    value = gate_metric(work, sm, arn, json_path)
    if value is None:
        raise LocalModeError(f"version {new.version}: no {metric} in its registered model-quality metrics")
    approved = next((v for v in versions if v.status == registry.APPROVED and v.version != new.version), None)
    approved_value = gate_metric(work, sm, approved.arn, json_path) if approved else None
    decision = decide_approval(mode, metric=metric, direction=direction, new_value=value,
                               approved_value=approved_value,
                               approved_version=approved.version if approved else None)
    status = new.status
    if decision.approve:
        status = registry.set_status(sm, new, registry.APPROVED, f"local mode {decision.reason}").status
    return ApprovalOutcome(version=new.version, status=status, decision=decision, metric=value)
