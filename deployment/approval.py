"""The approval policy as data: how a newly registered version becomes Approved in an environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from config.settings import EnvironmentConfig

# CustomerMetadataProperties keys of an auto-approval's audit record (written by the approval step,
# shown by `registry describe` and the model card); their values keep to the characters SageMaker
# accepts there (letters, digits, spaces and _.:/=+-@).
AUDIT_PREFIX = "mlops:approval:"


@dataclass(frozen=True)
class ApprovalPolicy:
    """How a new version becomes Approved: auto when it beats the approved one on the gate metric."""

    mode: Literal["auto", "manual"]
    metric: str
    direction: Literal["higher", "lower"]
    threshold: float


def approval_policy(env: EnvironmentConfig) -> ApprovalPolicy:
    gate = env.quality_gate
    return ApprovalPolicy(mode=env.approval_mode, metric=gate.metric, direction=gate.direction,
                          threshold=gate.threshold)
