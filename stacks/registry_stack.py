"""The Model Registry: the environment's model package group, who may read it, and the approval event."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig

# What another account (the tooling account, or dev for staging) needs to find and deploy a version.
CROSS_ACCOUNT_READ_ACTIONS = [
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
]


def registry_resource_policy(names: Names, trusted_accounts: tuple[str, ...]) -> dict[str, Any] | None:
    """The group's resource policy: trusted accounts may read it, nothing more; None when none are trusted."""
    if not trusted_accounts:
        return None
    roots = [names.arn("iam", "root", account=account, global_service=True) for account in trusted_accounts]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TrustedAccountsReadTheRegistry",
                "Effect": "Allow",
                "Principal": {"AWS": roots},
                "Action": CROSS_ACCOUNT_READ_ACTIONS,
                "Resource": [names.model_package_group_arn, names.model_packages_arn_pattern],
            }
        ],
    }


def approval_event_pattern(names: Names) -> dict[str, Any]:
    """EventBridge pattern of a version of this environment's group turning Approved."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [names.model_package_group], "ModelApprovalStatus": ["Approved"]},
    }


class RegistryStack(cdk.Stack):
    """Exposes `group_name`, `group_arn` and `approval_rule` (its target is wired by the CI/CD route)."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = Names.of(env_config)
        group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=names.model_package_group,
            model_package_group_description=f"Model versions trained by the {names.pipeline} pipeline",
            model_package_group_policy=registry_resource_policy(names, env_config.trusted_accounts),
        )
        self.group_name = names.model_package_group
        self.group_arn = group.attr_model_package_group_arn

        pattern = approval_event_pattern(names)
        self.approval_rule = events.Rule(
            self,
            "ModelApproved",
            rule_name=f"{names.prefix}-model-approved",
            description=f"A version of {names.model_package_group} was approved",
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
            ),
        )
        cdk.CfnOutput(self, "ModelPackageGroupName", value=names.model_package_group)
