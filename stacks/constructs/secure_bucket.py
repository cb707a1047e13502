"""An S3 bucket with the project's defaults: KMS, versioned, TLS-only, private, access-logged, aged out."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


@dataclass(frozen=True)
class Retention:
    """Lifecycle of one bucket: when objects move to infrequent access and when old versions expire."""

    infrequent_access_after_days: int = 30
    noncurrent_versions_expire_after_days: int = 90
    expire_after_days: int | None = None


class SecureBucket(Construct):
    """A project bucket. `bucket` is the underlying s3.Bucket for grants and references."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        key: kms.IKey,
        access_log_bucket: s3.IBucket,
        retention: Retention = Retention(),
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=f"{bucket_name}/",
            lifecycle_rules=[_lifecycle(retention)],
            removal_policy=removal_policy,
        )


def _lifecycle(retention: Retention) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id="age-out",
        abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
        transitions=[
            s3.Transition(
                storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                transition_after=cdk.Duration.days(retention.infrequent_access_after_days),
            )
        ],
        noncurrent_version_expiration=cdk.Duration.days(retention.noncurrent_versions_expire_after_days),
        expiration=cdk.Duration.days(retention.expire_after_days) if retention.expire_after_days else None,
    )


def access_log_bucket(scope: Construct, construct_id: str, *, bucket_name: str, retention_days: int = 365) -> s3.Bucket:
    """The bucket that receives server access logs (SSE-S3: log delivery cannot use a KMS key)."""
    return s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[_lifecycle(Retention(expire_after_days=retention_days))],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
