"""Building blocks of the project's IAM policy documents: statements, bucket and key grants."""

from __future__ import annotations

from typing import Any

from config.naming import BUCKET_PURPOSES, Names

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]

# Approval is one action on one resource family; the whole governance story hangs on who holds it.
APPROVAL_ACTIONS = ["sagemaker:UpdateModelPackage"]
REGISTRATION_ACTIONS = ["sagemaker:CreateModelPackage", "sagemaker:DeleteModelPackage"]
# The condition key SageMaker sets from CreateModelPackage's (and UpdateModelPackage's) ModelApprovalStatus
# (Service Authorization Reference, Amazon SageMaker).
APPROVAL_STATUS_KEY = "sagemaker:ModelApprovalStatus"


def document(*statements: Statement) -> PolicyDocument:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def deny(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Statement:
    return {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resources, **extra}


def bucket_arns(names: Names, purposes: tuple[str, ...] = BUCKET_PURPOSES) -> list[str]:
    return [names.arn("s3", names.bucket(p), account="", global_service=True) for p in purposes]


def object_arns(names: Names, purposes: tuple[str, ...] = BUCKET_PURPOSES) -> list[str]:
    return [f"{arn}/*" for arn in bucket_arns(names, purposes)]


def job_arns(names: Names) -> list[str]:
    # Pipeline jobs are named by SageMaker (pipelines-<execution>-<step>-<hash>), so the name is a wildcard.
    return [names.arn("sagemaker", f"{kind}/*") for kind in ("processing-job", "training-job")]


def key_use(key_arn: str, *, write: bool) -> Statement:
    actions = ["kms:Decrypt", "kms:DescribeKey"]
    if write:
        actions += [
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ]
    return allow("UseProjectKey", actions, [key_arn])
