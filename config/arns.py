"""Every ARN the project writes by hand, in the partition of its region (aws, aws-cn, aws-us-gov)."""

from __future__ import annotations

# Region prefix -> partition; every other region the config accepts is in the standard partition.
_PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))


def partition_of(region: str) -> str:
    """`eu-west-1` -> `aws`, `us-gov-west-1` -> `aws-us-gov`, `cn-north-1` -> `aws-cn`."""
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")


def arn(service: str, resource: str, *, region: str, account: str = "", global_service: bool = False) -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`.

    The partition always comes from `region`; global services (IAM, S3) leave the region field empty.
    """
    return f"arn:{partition_of(region)}:{service}:{'' if global_service else region}:{account}:{resource}"
