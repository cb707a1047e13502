"""The MLOps compliance pack: rules cdk-nag lacks for SageMaker MLOps resources, one rule per module."""

from __future__ import annotations

from governance.rules import (
    data_capture_kms,
    model_isolation_or_vpc,
    monitoring_job_kms,
    monitoring_job_network_isolation,
    prod_endpoint_instances,
    sagemaker_role_boundary,
)
from governance.rules.base import Resource, Rule

RULES: tuple[Rule, ...] = (
    monitoring_job_kms.RULE,
    monitoring_job_network_isolation.RULE,
    data_capture_kms.RULE,
    model_isolation_or_vpc.RULE,
    sagemaker_role_boundary.RULE,
    prod_endpoint_instances.RULE,
)

__all__ = ["RULES", "Resource", "Rule"]
