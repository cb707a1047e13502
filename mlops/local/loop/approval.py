"""The approval gate of local mode: auto-approve a new version only when it beats the approved one.

Auto-approval is a separate, audited step after registration (the pipeline always registers versions
as pending): the decision, who took it, the rule and the metric values are written onto the version
(ApprovalDescription and CustomerMetadataProperties), so they travel with it into the saved state.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from deployment.approval import AUDIT_PREFIX
from mlops import registry
from mlops.local.engine.expressions import ExpressionError, parse_path, walk
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir


@dataclass(frozen=True)
class Decision:
    approve: bool
    reason: str


@dataclass(frozen=True)
class ApprovedVersion:
    """The version currently served and its gate metric."""

    version: int
    value: float


def approval_rule(metric: str, direction: Literal["higher", "lower"]) -> str:
    """The auto-approval rule in words (also recorded on every version it decides)."""
    better = "higher" if direction == "higher" else "lower"
    return (f"approval_mode auto: approve when {metric} is strictly {better} than the approved version - "
            "a tie is not better - or when no version is approved yet")


def decide_approval(
    mode: Literal["auto", "manual"],
    *,
    metric: str,
    direction: Literal["higher", "lower"],
    new_value: float,
    approved: ApprovedVersion | None,
) -> Decision:
    """Approve in auto mode when nothing is approved yet or the new value is strictly better."""
    if mode == "manual":
        return Decision(False, "approval_mode is manual: an approver decides")
    if approved is None:
        return Decision(True, f"auto-approved: {metric} {new_value:.4f}, no version approved before")
    better = new_value > approved.value if direction == "higher" else new_value < approved.value
    comparison = f"{metric} {new_value:.4f} vs {approved.value:.4f} of approved version {approved.version}"
    if better:
        return Decision(True, f"auto-approved: {comparison}")
    return Decision(False, f"not better: {comparison}")


class MetricUnreadableError(LocalModeError):
    """A version's registered gate metric cannot be read; the message names the file."""


def read_gate_metric(work: WorkDir, sm: Any, arn: str, json_path: str) -> float:
    """The quality-gate metric of a version, read from its registered model-quality statistics file."""
    described = sm.describe_model_package(ModelPackageName=arn)
    uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        raise MetricUnreadableError(f"{arn} registers no ModelMetrics.ModelQuality.Statistics file")
    try:
        document = json.loads(work.s3_path(uri).read_text(encoding="utf-8"))
        value = walk(document, parse_path(json_path), uri)
    except (OSError, ValueError, ExpressionError, LocalModeError) as error:
        raise MetricUnreadableError(f"{uri}: cannot read {json_path} ({error})") from error
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetricUnreadableError(f"{uri}: {json_path} is {value!r}, not a number")
    return float(value)


def gate_metric(work: WorkDir, sm: Any, arn: str, json_path: str) -> float | None:
    """The gate metric for display: None where it cannot be read."""
    try:
        return read_gate_metric(work, sm, arn, json_path)
    except MetricUnreadableError:
        return None


@dataclass(frozen=True)
class ApprovalOutcome:
    version: int
    status: str
    decision: Decision
    metric: float | None
    audit: dict[str, str]


def _who() -> str:
    try:
        return f"local user {getpass.getuser()}"
    except OSError:  # no login name in this environment (e.g. a container without a passwd entry)
        return "local user unknown"


def audit_record(decision: Decision, *, status: str, command: str, rule: str, metric: str, value: float,
                 approved: ApprovedVersion | None, when: datetime | None = None) -> dict[str, str]:
    """What is written onto the version: who decided, by which rule, on which values."""
    return {
        f"{AUDIT_PREFIX}decision": status,
        f"{AUDIT_PREFIX}by": f"{command} - {_who()}",
        f"{AUDIT_PREFIX}rule": rule,
        f"{AUDIT_PREFIX}metric": metric,
        f"{AUDIT_PREFIX}value": f"{value:.6f}",
        f"{AUDIT_PREFIX}compared-with": (f"version {approved.version}: {approved.value:.6f}" if approved
                                         else "no approved version"),
        f"{AUDIT_PREFIX}at": (when or datetime.now(UTC)).isoformat(timespec="seconds"),
    }


def apply_approval(
    work: WorkDir, sm: Any, group: str, arn: str, *, mode: Literal["auto", "manual"], metric: str,
    direction: Literal["higher", "lower"], json_path: str, command: str = "mlops local run",
) -> ApprovalOutcome:
    """Decide on the newly registered version `arn` and, in auto mode, record the decision on it (and
    approve it when decided so). An approved version whose metric cannot be read stops the step:
    comparing against nothing would approve the new version unchecked."""
    versions = registry.list_versions(sm, group)
    new = next((version for version in versions if version.arn == arn), None)
    if new is None:
        raise LocalModeError(f"registered model package {arn} is not in group {group!r}")
    try:
        value = read_gate_metric(work, sm, arn, json_path)
    except MetricUnreadableError as error:
        raise LocalModeError(f"version {new.version}: no {metric} in its registered model-quality metrics "
                             f"({error})") from error
    current = next((v for v in versions if v.status == registry.APPROVED and v.version != new.version), None)
    approved = None
    if current is not None and mode == "auto":
        try:
            approved = ApprovedVersion(current.version, read_gate_metric(work, sm, current.arn, json_path))
        except MetricUnreadableError as error:
            raise LocalModeError(
                f"approved version {current.version}: its {metric} cannot be read ({error}); version "
                f"{new.version} stays {new.status}: fix that file, or decide with `mlops local registry "
                "approve/reject`"
            ) from error
    decision = decide_approval(mode, metric=metric, direction=direction, new_value=value, approved=approved)
    if mode == "manual":
        return ApprovalOutcome(version=new.version, status=new.status, decision=decision, metric=value, audit={})
    status = registry.APPROVED if decision.approve else new.status
    audit = audit_record(decision, status=status, command=command, rule=approval_rule(metric, direction),
                         metric=metric, value=value, approved=approved)
    # One call with status, description and metadata: moto replaces (rather than merges) whatever an
    # UpdateModelPackage call leaves out.
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status,
                            ApprovalDescription=f"{command}: {decision.reason}", CustomerMetadataProperties=audit)
    return ApprovalOutcome(version=new.version, status=status, decision=decision, metric=value, audit=audit)
