"""The SageMaker execution role's policy: exactly the project's buckets, key and resources, and a
registration that can only ever be pending (issue 12: the approval gate cannot be bypassed)."""

from __future__ import annotations

from config.naming import DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, Names
from config.settings import REGISTERED_APPROVAL_STATUS, VpcConfig
from governance.documents import (
    APPROVAL_ACTIONS,
    APPROVAL_STATUS_KEY,
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

# The MLflow calls containers/training/tracking.py makes: find or create the experiment, create the run,
# log parameters, metrics and tags in one batch, find the run's artifact location, end the run.
# (Artifacts go to the server's S3 location with the role's S3 permissions, not through this API.)
TRAINING_JOB_MLFLOW_ACTIONS = (
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:UpdateRun",
)


def _job_network(names: Names, vpc: VpcConfig) -> list[Statement]:
    """ENI calls of jobs in the VPC, limited to the configured VPC, subnets and security groups.

    CreateNetworkInterface authorizes the new interface (no VPC key on it yet) together with the subnet
    and security groups it is created in: naming those is the scope. The calls on existing interfaces
    carry ec2:Vpc and ec2:Subnet. DeleteNetworkInterfacePermission's resource is optional, so its
    statement accepts requests where the keys are absent (IfExists) and still refuses other VPCs.
    """
    vpc_arn = names.arn("ec2", f"vpc/{vpc.vpc_id}")
    subnet_arns = [names.arn("ec2", f"subnet/{subnet}") for subnet in vpc.subnet_ids]
    interfaces = names.arn("ec2", "network-interface/*")
    return [
        allow(
            "CreateJobInterfacesInProjectSubnets",
            ["ec2:CreateNetworkInterface"],
            [interfaces, *subnet_arns, *(names.arn("ec2", f"security-group/{sg}") for sg in vpc.security_group_ids)],
        ),
        allow(
            "ManageJobInterfacesInProjectVpc",
            ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"],
            [interfaces],
            Condition={"ArnEquals": {"ec2:Vpc": vpc_arn, "ec2:Subnet": subnet_arns}},
        ),
        allow(
            "DropInterfacePermissionsInProjectVpc",
            ["ec2:DeleteNetworkInterfacePermission"],
            ["*"],
            Condition={"ArnEqualsIfExists": {"ec2:Vpc": vpc_arn, "ec2:Subnet": subnet_arns}},
        ),
        # EC2's describe calls take no resource ARNs.
        allow(
            "DescribeJobNetwork",
            [
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeDhcpOptions",
            ],
            ["*"],
        ),
    ]


def execution_role_policy(names: Names, key_arn: str, *, vpc: VpcConfig | None = None,
                          tracking_server_arn: str | None = None) -> PolicyDocument:
    """What SageMaker jobs of the pipeline may do: exactly the project's buckets, key and resources
    (and, where the environment has one, log experiment runs to its MLflow tracking server)."""
    statements = [
        allow("ListProjectBuckets", ["s3:ListBucket", "s3:GetBucketLocation"], bucket_arns(names)),
        allow(
            "ReadWriteProjectObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            object_arns(names),
        ),
        key_use(key_arn, write=True),
        allow(
            "PullProjectImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [
                names.arn("ecr", f"repository/{names.prefix}-*"),
                # The prebuilt Model Monitor analyzer used by the pipeline's QualityCheck step lives in an
                # AWS-owned account that differs per region.
                names.arn("ecr", "repository/sagemaker-model-monitor-analyzer", account="*"),
            ],
        ),
        # ECR's token call has no resource-level permissions.
        allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            "WriteJobLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [names.arn("logs", "log-group:/aws/sagemaker/*")],
        ),
        # PutMetricData has no resource-level permissions; the namespace condition is the scope.
        allow(
            "PublishMonitorMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={
                "StringLike": {
                    "cloudwatch:namespace": [DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, "/aws/sagemaker/*"]
                }
            },
        ),
        allow(
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
            job_arns(names),
        ),
        # Registration only as pending: a run (or a definition edited by hand) cannot approve a version.
        allow(
            "RegisterModelsAsPending",
            ["sagemaker:CreateModelPackage"],
            [names.model_package_group_arn, names.model_packages_arn_pattern],
            Condition={"StringEquals": {APPROVAL_STATUS_KEY: REGISTERED_APPROVAL_STATUS}},
        ),
        allow(
            "ReadTheRegistry",
            [
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:ListModelPackages",
                "sagemaker:AddTags",
            ],
            [names.model_package_group_arn, names.model_packages_arn_pattern],
        ),
        # The denies hold whatever else is attached to the role later.
        deny(
            "RegisterNothingButPending",
            ["sagemaker:CreateModelPackage"],
            ["*"],
            Condition={"StringNotEquals": {APPROVAL_STATUS_KEY: REGISTERED_APPROVAL_STATUS}},
        ),
        deny("NeverChangeApproval", APPROVAL_ACTIONS, ["*"]),
        allow(
            "PassOwnRoleToJobs",
            ["iam:PassRole"],
            [names.execution_role_arn],
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    ]
    if vpc is not None:
        statements += _job_network(names, vpc)
    if tracking_server_arn is not None:
        # The training job logs its run through the sagemaker-mlflow plugin (SigV4 with this role); the
        # server's MLflow API actions are authorized on the server's ARN, so one server is the scope.
        statements.append(allow("LogToTrackingServer", list(TRAINING_JOB_MLFLOW_ACTIONS), [tracking_server_arn]))
    return document(*statements)
