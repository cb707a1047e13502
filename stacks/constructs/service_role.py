"""A role an AWS service (EventBridge Scheduler, EventBridge) assumes to start this environment's jobs."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from constructs import Construct

from config.naming import Names
from governance.compliance import acknowledge_policy_wildcards


def start_pipeline_statement(names: Names) -> dict[str, Any]:
    """What a retraining trigger (schedule or drift rule) may do: start this environment's pipeline."""
    return {"Sid": "StartTheTrainingPipeline", "Effect": "Allow", "Action": "sagemaker:StartPipelineExecution",
            "Resource": names.pipeline_arn}


def service_role(scope: Construct, construct_id: str, *, service: str, names: Names,
                 statements: list[dict[str, Any]]) -> iam.Role:
    """Assumable by `service` on behalf of this account only; its one managed policy is `statements`."""
    document = {"Version": "2012-10-17", "Statement": statements}
    policy = iam.ManagedPolicy(scope, f"{construct_id}Policy", document=iam.PolicyDocument.from_json(document))
    acknowledge_policy_wildcards(policy, document)
    return iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal(
        service, conditions={"StringEquals": {"aws:SourceAccount": names.account}}),
        managed_policies=[policy], description=f"{service} starts {names.prefix} jobs")
