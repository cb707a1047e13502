"""Governance: the KMS key, the encrypted buckets, the SageMaker execution role and the persona roles."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.naming import BUCKET_PURPOSES, Names
from config.settings import EnvironmentConfig
from governance.compliance import AWS, MLOPS, NIST, acknowledge, acknowledge_policy_wildcards
from governance.policies import PERSONAS, execution_role_policy, permission_boundary, persona_policy
from governance.trust import persona_trust_policy, session_hours, studio_personas
from stacks.constructs.secure_bucket import Retention, SecureBucket, access_log_bucket

# Captured requests and monitoring reports are evidence, kept a year; data and artifacts stay until deleted.
RETENTION = {
    "data": Retention(),
    "artifacts": Retention(),
    "capture": Retention(expire_after_days=365),
    "reports": Retention(expire_after_days=365),
}


class GovernanceStack(cdk.Stack):
    """What every other stack of an environment builds on; exposes key, buckets and roles as attributes."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        names = Names.of(env_config)

        self.key = kms.Key(
            self,
            "Key",
            alias=names.kms_alias,
            description=f"Encrypts every {names.prefix} bucket, topic and SageMaker resource",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAwsServicesOfThisAccount",
                principals=[
                    iam.ServicePrincipal("sns.amazonaws.com"),
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                    # Budgets alerts publish to the encrypted alerts topic.
                    iam.ServicePrincipal("budgets.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": names.account}},
            )
        )

        self.log_bucket = access_log_bucket(self, "AccessLogs", bucket_name=names.bucket("logs"))
        acknowledge(
            self.log_bucket,
            f"{AWS}S1",
            f"{NIST}S3BucketLoggingEnabled",
            f"{NIST}S3DefaultEncryptionKMS",
            f"{NIST}S3BucketReplicationEnabled",
        )

        self.buckets: dict[str, s3.IBucket] = {}
        for purpose in BUCKET_PURPOSES:
            secure = SecureBucket(
                self,
                purpose.capitalize(),
                bucket_name=names.bucket(purpose),
                key=self.key,
                access_log_bucket=self.log_bucket,
                retention=RETENTION[purpose],
            )
            acknowledge(secure, f"{NIST}S3BucketReplicationEnabled")
            self.buckets[purpose] = secure.bucket

        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            role_name=names.execution_role,
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the pipeline's SageMaker jobs; scoped to this environment's buckets, key and resources",
        )
        tracking_server = names.mlflow_tracking_server_arn if env_config.tracking_server_deployed else None
        execution_document = execution_role_policy(names, self.key.key_arn, vpc=env_config.vpc,
                                                   tracking_server_arn=tracking_server)
        execution_policy = iam.ManagedPolicy(
            self,
            "ExecutionPolicy",
            managed_policy_name=f"{names.execution_role}-policy",
            document=iam.PolicyDocument.from_json(execution_document),
            roles=[self.execution_role],
        )
        acknowledge_policy_wildcards(execution_policy, execution_document)
        acknowledge(self.execution_role, f"{MLOPS}SageMakerRoleBoundary")

        boundary_document = permission_boundary(names, self.key.key_arn)
        self.boundary = iam.ManagedPolicy(
            self,
            "PersonaBoundary",
            managed_policy_name=names.permission_boundary,
            description="Permission boundary of every persona role",
            document=iam.PolicyDocument.from_json(boundary_document),
        )
        acknowledge_policy_wildcards(self.boundary, boundary_document)

        self.personas: dict[str, iam.Role] = {}
        for persona in PERSONAS:
            construct_name = "".join(part.capitalize() for part in persona.split("-"))
            document = persona_policy(persona, names, self.key.key_arn)
            policy = iam.ManagedPolicy(
                self,
                f"{construct_name}Policy",
                managed_policy_name=f"{names.persona_role(persona)}-policy",
                document=iam.PolicyDocument.from_json(document),
            )
            acknowledge_policy_wildcards(policy, document)
            role = iam.Role(
                self,
                f"{construct_name}Role",
                role_name=names.persona_role(persona),
                description=f"{persona} persona of {names.prefix}",
                # Replaced below by the trust policy built from config (CDK's principals cannot carry
                # a condition per principal kind).
                assumed_by=iam.AccountPrincipal(names.account),
                permissions_boundary=self.boundary,
                managed_policies=[policy],
                max_session_duration=cdk.Duration.hours(session_hours(persona)),
            )
            trust = persona_trust_policy(persona, names, env_config.personas[persona],
                                         studio=persona in studio_personas(env_config))
            cfn_role = role.node.default_child
            assert isinstance(cfn_role, iam.CfnRole)
            cfn_role.add_property_override("AssumeRolePolicyDocument", trust)
            self.personas[persona] = role

        cdk.CfnOutput(self, "KeyArn", value=self.key.key_arn)
        cdk.CfnOutput(self, "ExecutionRoleArn", value=self.execution_role.role_arn)
        for purpose, bucket in self.buckets.items():
            cdk.CfnOutput(self, f"{purpose.capitalize()}BucketName", value=bucket.bucket_name)
