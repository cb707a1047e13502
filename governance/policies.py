"""IAM policy documents of the four personas and their boundary, as plain data.

They are pure functions of the environment's names, so tests can evaluate them against real ARNs
(moto's IAMPolicy) without synthesizing an app, and the stack turns them into managed policies.
"""

from __future__ import annotations

from config.naming import Names
from config.settings import APPROVER, PERSONAS
from governance.documents import (
    APPROVAL_ACTIONS,
    REGISTRATION_ACTIONS,
    PolicyDocument,
    Statement,
    allow,
    bucket_arns,
    deny,
    document,
    job_arns,
    key_use,
    object_arns,
)
from governance.execution_role import execution_role_policy

__all__ = ["PERSONAS", "execution_role_policy", "permission_boundary", "persona_policy", "project_sagemaker_arns"]

# Reads that accept resource ARNs: scoped to the project's own resources.
SAGEMAKER_SCOPED_READ_ACTIONS = [
    "sagemaker:Describe*",
    "sagemaker:ListModelPackages",
    "sagemaker:ListPipelineExecutions",
    "sagemaker:ListPipelineExecutionSteps",
    "sagemaker:ListPipelineParametersForExecution",
    "sagemaker:ListTags",
]
# Reads whose API takes no resource (the authorization reference lists no resource type): only "*" works.
SAGEMAKER_UNSCOPED_READ_ACTIONS = [
    "sagemaker:ListModelPackageGroups",
    "sagemaker:ListPipelines",
    "sagemaker:ListProcessingJobs",
    "sagemaker:ListTrainingJobs",
    "sagemaker:ListModels",
    "sagemaker:ListEndpoints",
    "sagemaker:ListEndpointConfigs",
    "sagemaker:ListMonitoringSchedules",
    "sagemaker:ListMonitoringExecutions",
    "sagemaker:ListDataQualityJobDefinitions",
    "sagemaker:ListModelQualityJobDefinitions",
    "sagemaker:Search",
    "sagemaker:GetSearchSuggestions",
]



def project_sagemaker_arns(names: Names) -> list[str]:
    """The SageMaker resources of this environment, for the personas' scoped reads.

    Pipeline jobs are named by SageMaker (pipelines-<execution>-<step>-...), so they are only known as
    account-wide job patterns; everything else carries the environment's prefix.
    """
    prefixed = ("endpoint", "endpoint-config", "model", "monitoring-schedule", "data-quality-job-definition",
                "model-quality-job-definition")
    return [
        names.model_package_group_arn,
        names.model_packages_arn_pattern,
        names.pipeline_arn,
        f"{names.pipeline_arn}/*",
        *job_arns(names),
        *(names.arn("sagemaker", f"{kind}/{names.prefix}-*") for kind in prefixed),
    ]


def persona_policy(persona: str, names: Names, key_arn: str) -> PolicyDocument:
    """The identity policy of one persona role."""
    read_sagemaker = allow("ReadProjectSageMaker", SAGEMAKER_SCOPED_READ_ACTIONS, project_sagemaker_arns(names))
    list_sagemaker = allow("ListSageMaker", SAGEMAKER_UNSCOPED_READ_ACTIONS, ["*"])
    read_results = allow(
        "ReadResults",
        ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
        bucket_arns(names, ("artifacts", "reports")) + object_arns(names, ("artifacts", "reports")),
    )
    no_registration = deny("OnlyThePipelineRegistersModels", REGISTRATION_ACTIONS, ["*"])
    no_approval = deny("OnlyTheApproverApproves", APPROVAL_ACTIONS, ["*"])
    pipeline = [names.pipeline_arn, f"{names.pipeline_arn}/*"]
    if persona == "data-scientist":
        return document(
            read_sagemaker,
            list_sagemaker,
            read_results,
            key_use(key_arn, write=True),
            allow(
                "WorkWithData",
                ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"],
                bucket_arns(names, ("data",)) + object_arns(names, ("data",)),
            ),
            allow("RunExperimentsThroughThePipeline", ["sagemaker:StartPipelineExecution"], pipeline),
            no_registration,
            no_approval,
        )
    if persona == "ml-engineer":
        return document(
            read_sagemaker,
            list_sagemaker,
            read_results,
            key_use(key_arn, write=False),
            allow(
                "OperatePipeline",
                [
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:StopPipelineExecution",
                    "sagemaker:RetryPipelineExecution",
                ],
                pipeline,
            ),
            # The route's Images step starts the environment's own image build (stacks/containers_stack.py) as
            # this persona and follows it: the images are pushed inside the account, never across accounts.
            allow("BuildImages", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
                  [names.image_build_project_arn]),
            allow(
                "OperateEndpoint",
                ["sagemaker:InvokeEndpoint"],
                [names.arn("sagemaker", f"endpoint/{names.endpoint}")],
            ),
            allow(
                "ReadOperations",
                [
                    "cloudwatch:GetMetricData",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:ListMetrics",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                    "logs:DescribeLogStreams",
                ],
                ["*"],
            ),
            no_registration,
            no_approval,
        )
    if persona == "model-approver":
        return document(
            read_sagemaker,
            list_sagemaker,
            read_results,
            key_use(key_arn, write=False),
            allow("ApproveOrRejectModelVersions", APPROVAL_ACTIONS, [names.model_packages_arn_pattern]),
            no_registration,
        )
    if persona == "auditor":
        return document(
            read_sagemaker,
            list_sagemaker,
            read_results,
            key_use(key_arn, write=False),
            allow(
                "ReadAudit",
                [
                    "cloudtrail:LookupEvents",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:GetMetricData",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                    "iam:GetRole",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListAttachedRolePolicies",
                ],
                ["*"],
            ),
            deny(
                "ReadOnly",
                [
                    "sagemaker:Create*",
                    "sagemaker:Update*",
                    "sagemaker:Delete*",
                    "sagemaker:Start*",
                    "sagemaker:Stop*",
                    "s3:PutObject",
                    "s3:DeleteObject",
                ],
                ["*"],
            ),
            no_registration,
            no_approval,
        )
    raise ValueError(f"unknown persona {persona!r}; known: {', '.join(PERSONAS)}")


def permission_boundary(names: Names, key_arn: str) -> PolicyDocument:
    """The ceiling for every persona role: the union of what the personas are granted, nothing more.

    Anything attached to a persona role later (even an AWS managed admin policy) stays capped by this,
    and the denies hold whatever is attached. The union would let every persona approve (the approver
    may), so approval is capped to the approver role's own principal: a second layer behind each other
    persona's explicit deny.
    """
    approver_role = names.arn("iam", f"role/{names.persona_role(APPROVER)}", global_service=True)
    allowed: list[Statement] = []
    for persona in PERSONAS:
        for statement in persona_policy(persona, names, key_arn)["Statement"]:
            if statement["Effect"] == "Allow":
                merged = {**statement, "Sid": f"{statement['Sid']}{len(allowed)}"}
                if statement["Action"] == APPROVAL_ACTIONS:
                    merged["Condition"] = {"StringEquals": {"aws:PrincipalArn": approver_role}}
                if not any(
                    s["Action"] == statement["Action"] and s["Resource"] == statement["Resource"] for s in allowed
                ):
                    allowed.append(merged)
    return document(
        *allowed,
        deny(
            "NoPrivilegeEscalation",
            [
                "iam:Create*",
                "iam:Put*",
                "iam:Attach*",
                "iam:Detach*",
                "iam:Delete*",
                "iam:Update*",
                "iam:PassRole",
                "iam:AddUserToGroup",
                "iam:SetDefaultPolicyVersion",
            ],
            ["*"],
        ),
        deny("OnlyThePipelineRegistersModels", [*REGISTRATION_ACTIONS, "sagemaker:DeleteModelPackageGroup"], ["*"]),
        deny(
            "ProtectTheKeyAndBuckets",
            [
                "kms:ScheduleKeyDeletion",
                "kms:DisableKey",
                "kms:PutKeyPolicy",
                "s3:DeleteBucket",
                "s3:PutBucketPolicy",
                "s3:PutEncryptionConfiguration",
            ],
            ["*"],
        ),
    )
