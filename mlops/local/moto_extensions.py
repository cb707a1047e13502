"""Where local AWS (moto 5.2.5) needs more than it ships, extended in this one module.

moto authorizes every SageMaker request against resource "*", so an approver policy scoped to the
model-package ARNs of one group would be refused and a policy scoped elsewhere would be allowed. We
give moto's hook (`_determine_resource`) the real ARN of the model package a request names, so IAM
enforcement in local mode and in tests judges approval requests the way AWS does.
"""

from __future__ import annotations

from typing import Any

from moto.sagemaker.responses import SageMakerResponse

# Requests that name one model package; IAM evaluates them against that package's ARN.
_MODEL_PACKAGE_ACTIONS = {"UpdateModelPackage", "DescribeModelPackage", "DeleteModelPackage"}


def _determine_resource(self: Any) -> str:
    if self._get_action() in _MODEL_PACKAGE_ACTIONS:
        arn = self._get_param("ModelPackageArn") or self._get_param("ModelPackageName")
        if isinstance(arn, str) and arn.startswith("arn:"):
            return arn
    return "*"


def install() -> None:
    """Idempotent; call before moto serves requests (a server thread or a mock_aws block)."""
    SageMakerResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]
