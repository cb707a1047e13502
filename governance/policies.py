"""IAM policy documents as plain data: the execution role, the four personas and their boundary.

They are pure functions of the environment's names, so tests can evaluate them against real ARNs
(moto's IAMPolicy) without synthesizing an app, and the stack turns them into managed policies.
"""

from __future__ import annotations

from typing import Any

from config.naming import BUCKET_PURPOSES, DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, Names

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]

PERSONAS = ("data-scientist", "ml-engineer", "model-approver", "auditor")

# Approval is one action on one resource family; the whole governance story hangs on who holds it.
APPROVAL_ACTIONS = ["sagemaker:UpdateModelPackage"]
REGISTRATION_ACTIONS = ["sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage"]
SAGEMAKER_READ_ACTIONS = [
    "sagemaker:Describe*",
    "sagemaker:List*",
    "sagemaker:Search",
    "sagemaker:GetSearchSuggestions",
]


def _doc(*statements: Statement) -> PolicyDocument:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _deny(sid: str, actions: list[str], resources: list[str]) -> Statement:
    return {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resources}


def bucket_arns(names: Names, purposes: tuple[str, ...] = BUCKET_PURPOSES) -> list[str]:
    return [f"arn:aws:s3:::{names.bucket(p)}" for p in purposes]


def object_arns(names: Names, purposes: tuple[str, ...] = BUCKET_PURPOSES) -> list[str]:
    return [f"{arn}/*" for arn in bucket_arns(names, purposes)]


def _arn(names: Names, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{names.region}:{names.account}:{resource}"


def _job_arns(names: Names) -> list[str]:
    # Pipeline jobs are named by SageMaker (pipelines-<execution>-<step>-<hash>), so the name is a wildcard.
    return [_arn(names, "sagemaker", f"{kind}/*") for kind in ("processing-job", "training-job")]


def _key_use(key_arn: str, *, write: bool) -> Statement:
    actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write:
        actions += [
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ]
    return _allow("UseProjectKey", actions, [key_arn])


def execution_role_policy(names: Names, key_arn: str, *, vpc: bool = False) -> PolicyDocument:
    """What SageMaker jobs of the pipeline may do: exactly the project's buckets, key and resources."""
    statements = [
        _allow("ListProjectBuckets", ["s3:ListBucket", "s3:GetBucketLocation"], bucket_arns(names)),
        _allow(
            "ReadWriteProjectObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            object_arns(names),
        ),
        _key_use(key_arn, write=True),
        _allow(
            "PullProjectImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [
                _arn(names, "ecr", f"repository/{names.prefix}-*"),
                # The prebuilt Model Monitor analyzer used by the pipeline's QualityCheck step lives in an
                # AWS-owned account that differs per region.
                f"arn:aws:ecr:{names.region}:*:repository/sagemaker-model-monitor-analyzer",
            ],
        ),
        # ECR's token call has no resource-level permissions.
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        _allow(
            "WriteJobLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [_arn(names, "logs", "log-group:/aws/sagemaker/*")],
        ),
        # PutMetricData has no resource-level permissions; the namespace condition is the scope.
        _allow(
            "PublishMonitorMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={
                "StringLike": {
                    "cloudwatch:namespace": [DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, "/aws/sagemaker/*"]
                }
            },
        ),
        _allow(
            "RunPipelineJobs",
            [
                "sagemaker:CreateProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            _job_arns(names),
        ),
        _allow(
            "RegisterModels",
            [
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
                "sagemaker:AddTags",
            ],
            [names.model_package_group_arn, names.model_packages_arn_pattern],
        ),
        _allow(
            "PassOwnRoleToJobs",
            ["iam:PassRole"],
            [names.execution_role_arn],
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    ]
    if vpc:
        # Jobs in a VPC attach network interfaces; EC2's describe/create ENI calls take no resource ARNs.
        statements.append(
            _allow(
                "JobsInVpc",
                [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeDhcpOptions",
                ],
                ["*"],
            )
        )
    return _doc(*statements)


def persona_policy(persona: str, names: Names, key_arn: str) -> PolicyDocument:
    """The identity policy of one persona role."""
    read_sagemaker = _allow("ReadSageMaker", SAGEMAKER_READ_ACTIONS, ["*"])
    read_results = _allow(
        "ReadResults",
        ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
        bucket_arns(names, ("artifacts", "reports")) + object_arns(names, ("artifacts", "reports")),
    )
    no_registration = _deny("OnlyThePipelineRegistersModels", REGISTRATION_ACTIONS, ["*"])
    no_approval = _deny("OnlyTheApproverApproves", APPROVAL_ACTIONS, ["*"])
    pipeline = [names.pipeline_arn, f"{names.pipeline_arn}/*"]
    if persona == "data-scientist":
        return _doc(
            read_sagemaker,
            read_results,
            _key_use(key_arn, write=True),
            _allow(
                "WorkWithData",
                ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"],
                bucket_arns(names, ("data",)) + object_arns(names, ("data",)),
            ),
            _allow("RunExperimentsThroughThePipeline", ["sagemaker:StartPipelineExecution"], pipeline),
            no_registration,
            no_approval,
        )
    if persona == "ml-engineer":
        return _doc(
            read_sagemaker,
            read_results,
            _key_use(key_arn, write=False),
            _allow(
                "OperatePipeline",
                [
                    "sagemaker:StartPipelineExecution",
                    "sagemaker:StopPipelineExecution",
                    "sagemaker:RetryPipelineExecution",
                ],
                pipeline,
            ),
            _allow(
                "OperateEndpoint",
                ["sagemaker:InvokeEndpoint"],
                [_arn(names, "sagemaker", f"endpoint/{names.endpoint}")],
            ),
            _allow(
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
        return _doc(
            read_sagemaker,
            read_results,
            _key_use(key_arn, write=False),
            _allow("ApproveOrRejectModelVersions", APPROVAL_ACTIONS, [names.model_packages_arn_pattern]),
            no_registration,
        )
    if persona == "auditor":
        return _doc(
            read_sagemaker,
            read_results,
            _key_use(key_arn, write=False),
            _allow(
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
            _deny(
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
    and the denies hold whatever is attached.
    """
    allowed: list[Statement] = []
    for persona in PERSONAS:
        for statement in persona_policy(persona, names, key_arn)["Statement"]:
            if statement["Effect"] == "Allow":
                merged = {**statement, "Sid": f"{statement['Sid']}{len(allowed)}"}
                if not any(
                    s["Action"] == statement["Action"] and s["Resource"] == statement["Resource"] for s in allowed
                ):
                    allowed.append(merged)
    return _doc(
        *allowed,
        _deny(
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
        _deny("OnlyThePipelineRegistersModels", [*REGISTRATION_ACTIONS, "sagemaker:DeleteModelPackageGroup"], ["*"]),
        _deny(
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
