"""Compliance as code: the cdk-nag packs on every environment, and the one way to acknowledge a finding.

Every acknowledgement in the project goes through `acknowledge()`, whose reasons live in REASONS below,
so an auditor reads one table to see what was accepted and why.
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks
from constructs import Construct, IConstruct

from governance.rules.pack import PACK_NAME, MlopsChecks

AWS = "AwsSolutions::AwsSolutions-"
NIST = "NIST.800.53.R5::NIST.800.53.R5-"
MLOPS = f"{PACK_NAME}::{PACK_NAME}-"

ANY = "<any>"

# The CI/CD route (stacks/cicd_stack.py): findings on what CDK Pipelines generates. Listed before REASONS'
# own entries because the first match wins and several ids also occur in the environments' stacks.
ROUTE_REASONS: dict[str, str] = {
    f"{AWS}IAM5[Action::kms:GenerateDataKey*]": "CDK Pipelines' grant on the route's own artifact key: actions "
    "encrypt and decrypt the artifacts they pass on.",
    f"{AWS}IAM5[Action::kms:ReEncrypt*]": "CDK Pipelines' grant on the route's own artifact key: actions "
    "encrypt and decrypt the artifacts they pass on.",
    f"{AWS}IAM5[Action::s3:Abort*]": "CDK Pipelines' read/write grant on the route's own artifact bucket.",
    f"{AWS}IAM5[Action::s3:DeleteObject*]": "CDK Pipelines' read/write grant on the route's own artifact bucket.",
    f"{AWS}IAM5[Action::s3:GetObject*]": "CDK's read grant on a bucket a build reads: the image sources asset, or "
    "the CI/CD route's own artifact bucket.",
    f"{AWS}IAM5[Action::s3:GetBucket*]": "CDK's read grant on a bucket a build reads: the image sources asset, or "
    "the CI/CD route's own artifact bucket.",
    f"{AWS}IAM5[Action::s3:List*]": "CDK's read grant on a bucket a build reads: the image sources asset, or "
    "the CI/CD route's own artifact bucket.",
    f"{AWS}IAM5[Resource::<{ANY}RoutePipelineArtifactsBucket{ANY}.Arn>/*]": "Objects of the route's own artifact "
    "bucket, named per execution by CodePipeline.",
    f"{AWS}IAM5[Resource::arn:*:iam::{ANY}:role/*]": "CDK Pipelines' self-mutation assumes only the CDK bootstrap "
    "roles (condition iam:ResourceTag/aws-cdk:bootstrap-role), whose names carry the bootstrap qualifier.",
    f"{AWS}IAM5[Resource::arn:{ANY}:codebuild:{ANY}:report-group/*]": "CDK Pipelines' asset publishing role "
    "writes the report groups of the asset projects it creates, named only at deploy time.",
    f"{AWS}IAM5[Resource::arn:{ANY}:logs:{ANY}:log-group:/aws/codebuild/*]": "CDK Pipelines' asset publishing "
    "role writes the log groups of the asset projects it creates, named only at deploy time.",
    f"{AWS}IAM5[Resource::arn:{ANY}:codebuild:{ANY}:report-group/<{ANY}Route{ANY}>-*]": "CodeBuild's own "
    "test-report groups of the route's build projects, named after each project.",
    f"{AWS}IAM5[Resource::arn:{ANY}:logs:{ANY}:log-group:/aws/codebuild/<{ANY}Route{ANY}>:*]": "The log streams "
    "of the route's build projects' own log groups.",
    f"{AWS}IAM5[Resource::*]": "Only actions without resource-level permissions (ecr:GetAuthorizationToken, "
    "cloudwatch:PutMetricData scoped by a namespace condition, read-only list/describe calls such as the route's "
    "cloudformation:DescribeStacks, EC2 ENI calls of VPC jobs) or explicit Deny statements use Resource '*'.",
    f"{AWS}S1": "Access logs of a bucket are written to the project's log bucket, except for the log bucket "
    "itself (logging it into itself would loop) and the CI/CD route's artifact buckets (per-execution "
    "intermediate files, KMS-encrypted and readable only by the route's roles; CloudTrail records their use).",
    f"{NIST}S3BucketLoggingEnabled": "Access logs of a bucket are written to the project's log bucket, except "
    "for the log bucket itself (logging it into itself would loop) and the CI/CD route's artifact buckets "
    "(per-execution intermediate files; CloudTrail records their use).",
    f"{NIST}S3BucketVersioningEnabled": "The CI/CD route's artifact buckets hold per-execution intermediate files "
    "that a re-run regenerates from Git; versions would keep copies nobody restores.",
}

# Rule id (as the validation report prints it; ANY stands for any text) -> why it is accepted where it is
# acknowledged. The first matching entry gives the reason.
REASONS: dict[str, str] = {
    **ROUTE_REASONS,
    f"{AWS}S1": "This is the access-log bucket itself; logging it into itself would loop.",
    f"{NIST}S3BucketLoggingEnabled": "This is the access-log bucket itself; logging it into itself would loop.",
    f"{NIST}S3DefaultEncryptionKMS": "S3 server access logging cannot deliver to a KMS-encrypted bucket; "
    "the log bucket uses SSE-S3 and is TLS-only, versioned and private.",
    f"{NIST}S3BucketReplicationEnabled": "Buckets are versioned with lifecycle retention in one region; cross-region "
    "replication is a per-organisation disaster-recovery choice outside this kit.",
    f"{AWS}IAM5[Resource::*]": "Only actions without resource-level permissions (ecr:GetAuthorizationToken, "
    "cloudwatch:PutMetricData scoped by a namespace condition, read-only list/describe calls, EC2 ENI calls of "
    "VPC jobs) or explicit Deny statements use Resource '*'.",
    f"{AWS}IAM5[Resource::arn:{ANY}:s3:::{ANY}/*]": "Object-level access inside the project's own buckets, whose names "
    "come from config/naming.py.",
    f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:processing-job/*]": "SageMaker names pipeline jobs itself "
    "(pipelines-<execution>-<step>), so job ARNs are only known as a pattern within this account and region.",
    f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:training-job/*]": "SageMaker names pipeline jobs itself "
    "(pipelines-<execution>-<step>), so job ARNs are only known as a pattern within this account and region.",
    f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:model-package/{ANY}/*]": "Versions of the environment's one model "
    "package group; version numbers are assigned at registration.",
    f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:pipeline/{ANY}/*]": "Executions of the environment's one pipeline; "
    "execution ids are assigned at start.",
    f"{AWS}IAM5[Resource::arn:{ANY}:ecr:{ANY}:repository/{ANY}-*]": "The project's own image repositories "
    "(<project>-<env>-<image>).",
    f"{AWS}IAM5[Resource::arn:{ANY}:ecr:{ANY}:*:repository/sagemaker-model-monitor-analyzer]": "The prebuilt Model "
    "Monitor analyzer image lives in an AWS-owned account that differs per region.",
    f"{AWS}IAM5[Resource::arn:{ANY}:logs:{ANY}:log-group:/aws/sagemaker/*]": "SageMaker writes job and endpoint logs "
    "to log groups under /aws/sagemaker/ whose streams it names.",
    f"{AWS}IAM5[Resource::arn:{ANY}:kms:{ANY}:key/*]": "The project key's id is assigned at creation; the boundary "
    "caps KMS use to this account and region.",
    f"{AWS}IAM5[Resource::arn:{ANY}:ec2:{ANY}:network-interface/*]": "Network interfaces of VPC jobs get their ids at "
    "creation: creating one is scoped by the configured subnets and security groups named beside it, every later "
    "call by ec2:Vpc and ec2:Subnet conditions.",
    **{
        f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:{kind}/{ANY}-*]": "The personas read only SageMaker "
        "resources named with the environment's prefix (<project>-<env>-...)."
        for kind in ("endpoint", "endpoint-config", "model", "monitoring-schedule", "data-quality-job-definition",
                     "model-quality-job-definition")
    },
    f"{AWS}CB3": "The image build runs `docker build`, which needs CodeBuild's privileged mode; the project "
    "builds only this repository's Dockerfiles.",
    f"{NIST}IAMNoInlinePolicy": "The inline policy is the least-privilege grant CDK generates for the construct "
    "(e.g. CodeBuild's pull/push on the project's repositories); every persona and job policy is managed.",
    f"{AWS}IAM5[Action::s3:GetObject*]": "CDK's read grant on the build's source asset object.",
    f"{AWS}IAM5[Action::s3:GetBucket*]": "CDK's read grant on the build's source asset bucket.",
    f"{AWS}IAM5[Action::s3:List*]": "CDK's read grant on the build's source asset bucket.",
    f"{AWS}IAM5[Resource::arn:{ANY}:codebuild:{ANY}:report-group/{ANY}-*]": "CodeBuild's own "
    "test-report groups of the image build project, named after the project.",
    f"{AWS}IAM5[Resource::arn:{ANY}:logs:{ANY}:log-group:/aws/codebuild/{ANY}:*]": "The log streams "
    "of the image build project's own log group.",
    f"{AWS}IAM5[Action::sagemaker:Describe*]": "Read-only SageMaker describe calls: reading is the personas' job.",
    f"{AWS}IAM5[Action::sagemaker:List*]": "Read-only SageMaker list calls have no resource-level permissions.",
    f"{AWS}IAM5[Action::cloudwatch:Get*]": "Read-only observation calls in the persona boundary.",
    # --- Endpoint and Monitoring stacks ---
    f"{AWS}IAM5[Resource::arn:{ANY}:sagemaker:{ANY}:processing-job/{ANY}-*]": "EventBridge Scheduler starts one "
    "monitoring job per period, named <schedule>-<execution id>; the prefix is the environment's own schedule.",
    f"{NIST}SageMakerEndpointConfigurationKMSKeyConfigured": "A serverless variant (endpoint.serverless, non-prod "
    "only) has no ML storage volume to encrypt; SageMaker refuses a KmsKeyId for it.",
    # --- The endpoint's time-to-live (stacks/constructs/endpoint_time_to_live.py) ---
    f"{NIST}LambdaDLQ": "The time-to-live teardown runs hourly from a schedule rule with retries; a failed run is "
    "repeated by the next one, so a dead-letter queue would hold nothing anyone replays.",
    f"{NIST}LambdaInsideVPC": "The time-to-live teardown calls only CloudFormation's control-plane API and touches "
    "no data; it needs no network of the environment.",
    f"{NIST}CloudWatchLogGroupEncrypted": "The time-to-live teardown logs only resource names it removed or kept, "
    "encrypted at rest by CloudWatch Logs' own key.",
    f"{AWS}IAM5[Resource::arn:{ANY}:cloudformation:{ANY}:stack/{ANY}/*]": "One named stack of the environment (its "
    "monitoring or endpoint stack); a stack's ARN ends with the id CloudFormation gives each creation of it.",
    # --- The MLOps pack (governance/rules/) ---
    f"{MLOPS}MonitoringJobNetworkIsolation": "The scheduled-job monitoring engine's container puts its CloudWatch "
    "metrics itself (PutMetricData), which network isolation would block; it runs with the execution role as its "
    "only credentials, inside the configured VPC when there is one. Model Monitor's engine keeps isolation on.",
    f"{MLOPS}SageMakerRoleBoundary": "The execution role's one managed policy is the jobs' least-privilege grant, "
    "scoped to the environment's buckets, key, images, group and pipeline (governance/execution_role.py); the "
    "permission boundary is written for the persona roles and would deny job actions, so jobs get no boundary yet.",
    f"{AWS}IAM5[Action::{ANY}*]": "Wildcard actions appear only in explicit Deny statements (the boundary's and "
    "the auditor's), where a wider match denies more, or in read-only prefixes (Describe*, List*, Get*).",
}


class UnknownAcknowledgementError(KeyError):
    """An acknowledgement asked for a rule id that has no reason in REASONS."""


def _pattern(key: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(piece) for piece in key.split(ANY)))


_PATTERNS = [(_pattern(key), reason) for key, reason in REASONS.items()]


def reason_for(rule_id: str) -> str:
    for pattern, reason in _PATTERNS:
        if pattern.fullmatch(rule_id):
            return reason
    raise UnknownAcknowledgementError(f"no reason recorded in governance/compliance.py REASONS for {rule_id!r}")


def acknowledge(scope: IConstruct, *rule_ids: str) -> None:
    """Accept the named findings on `scope` (and below) with the reason recorded in REASONS."""
    cdk.Validations.of(scope).acknowledge(
        *(cdk.Acknowledgment(id=rule_id, reason=reason_for(rule_id)) for rule_id in rule_ids)
    )


def wildcard_findings(document: dict[str, Any]) -> list[str]:
    """The AwsSolutions-IAM5 ids a policy document will raise: one per wildcard resource or action."""
    found: list[str] = []
    for statement in document["Statement"]:
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                found.append(f"{AWS}IAM5[Action::{action}]")
        for resource in _as_list(statement.get("Resource")):
            if isinstance(resource, str) and "*" in resource:
                found.append(f"{AWS}IAM5[Resource::{resource}]")
    return sorted(set(found))


def acknowledge_policy_wildcards(scope: IConstruct, document: dict[str, Any]) -> None:
    """Acknowledge exactly the wildcards of `document` on the construct that carries it; each needs a reason."""
    acknowledge(scope, *wildcard_findings(document))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def add_compliance_checks(scope: Construct) -> None:
    """Run both nag packs and the MLOps pack on an App or Stage: any unacknowledged finding fails synthesis."""
    cdk.Validations.of(scope).add_plugins(AwsSolutionsChecks(scope), NIST80053R5Checks(scope), MlopsChecks())
