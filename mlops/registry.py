"""Model registry operations (boto3): list versions with metrics, approve, reject and roll back.

Artifacts (the metrics files a version points at) are read through `ObjectReader`: S3 in the cloud,
the work folder in local mode, so both commands share these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from containers.contracts.model_quality import ModelQualityError, parse_model_quality
from mlops.errors import RegistryError

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
APPROVED: ApprovalStatus = "Approved"
REJECTED: ApprovalStatus = "Rejected"
PENDING: ApprovalStatus = "PendingManualApproval"


@dataclass(frozen=True)
class ModelVersion:
    """One model package of a group."""

    group: str
    version: int
    arn: str
    status: str
    created: datetime | None = None


@dataclass(frozen=True)
class VersionDetails:
    """A version with its registered evaluation metrics (scalar `value`s of evaluation.json)."""

    model: ModelVersion
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_uri: str | None = None
    # Why metrics are missing for this version (unreadable or malformed file), shown beside it.
    metrics_problem: str | None = None


class ObjectReader(Protocol):
    """Reads an `s3://bucket/key` object; raises ClientError or OSError when it cannot."""

    def read(self, uri: str) -> bytes: ...


@dataclass(frozen=True)
class S3Objects:
    """Objects read from S3 with a boto3 client."""

    s3: Any

    def read(self, uri: str) -> bytes:
        bucket, key = _s3_location(uri)
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass(frozen=True)
class RegistryAccess:
    """What the registry commands need: the SageMaker client and where artifacts are read from."""

    sagemaker: Any
    objects: ObjectReader


@dataclass(frozen=True)
class Rollback:
    rejected: ModelVersion
    restored: ModelVersion


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def ensure_group(sm: Any, group: str) -> None:
    """RegistryError when the model package group does not exist."""
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        if _error_code(error) in ("ValidationException", "ResourceNotFound"):
            raise RegistryError(
                f"model package group {group!r} does not exist (is the registry stack deployed?)"
            ) from error
        raise


def list_versions(sm: Any, group: str, status: ApprovalStatus | None = None) -> list[ModelVersion]:
    """Every version of `group` (newest first), optionally only those with one approval status."""
    request: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status is not None:
        request["ModelApprovalStatus"] = status
    versions = [
        ModelVersion(
            group=group,
            version=int(summary["ModelPackageVersion"]),
            arn=summary["ModelPackageArn"],
            status=summary.get("ModelApprovalStatus", "Unknown"),
            created=summary.get("CreationTime"),
        )
        for page in sm.get_paginator("list_model_packages").paginate(**request)
        for summary in page.get("ModelPackageSummaryList", [])
    ]
    return sorted(versions, key=lambda version: version.version, reverse=True)


def existing_versions(sm: Any, group: str) -> list[ModelVersion]:
    """Versions of an existing group; RegistryError for an unknown group or one without versions."""
    ensure_group(sm, group)
    versions = list_versions(sm, group)
    if not versions:
        raise RegistryError(f"model package group {group!r} has no model versions yet; run the pipeline first")
    return versions


def find_version(versions: list[ModelVersion], version: int) -> ModelVersion:
    for candidate in versions:
        if candidate.version == version:
            return candidate
    known = ", ".join(str(candidate.version) for candidate in sorted(versions, key=lambda v: v.version))
    group = versions[0].group if versions else "?"
    raise RegistryError(f"model package group {group!r} has no version {version}; versions: {known}")


def newest_approved_package(sm: Any, group: str) -> ModelVersion | None:
    """The version the deploy route serves: the highest approved one (None when nothing is approved)."""
    approved = list_versions(sm, group, status=APPROVED)
    return approved[0] if approved else None


def _s3_location(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_metrics(objects: ObjectReader, uri: str) -> dict[str, float]:
    """Scalar metric values of a model-quality metrics file (`{"auc": 0.99, ...}`)."""
    text = objects.read(uri).decode("utf-8")
    statistics = parse_model_quality(text, uri)
    metrics = getattr(statistics, statistics.metrics_key).model_dump()
    return {
        name: float(value["value"])
        for name, value in metrics.items()
        if isinstance(value, dict) and isinstance(value.get("value"), (int, float))
    }


def describe_version(sm: Any, objects: ObjectReader, model: ModelVersion) -> VersionDetails:
    """The version's metrics read from its registered ModelQuality statistics file."""
    return details_of(objects, model, sm.describe_model_package(ModelPackageName=model.arn))


def details_of(objects: ObjectReader, model: ModelVersion, described: dict[str, Any]) -> VersionDetails:
    """describe_version for a caller that already holds the package's DescribeModelPackage answer."""
    uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return VersionDetails(model=model, metrics_problem="no model-quality metrics registered")
    try:
        return VersionDetails(model=model, metrics=read_metrics(objects, uri), metrics_uri=uri)
    except ClientError as error:
        return VersionDetails(model=model, metrics_uri=uri, metrics_problem=f"{uri}: {_error_code(error)}")
    except OSError as error:
        return VersionDetails(model=model, metrics_uri=uri, metrics_problem=f"{uri}: {error.strerror or error}")
    except (ValueError, ModelQualityError) as error:
        return VersionDetails(model=model, metrics_uri=uri, metrics_problem=str(error))


def list_with_metrics(sm: Any, objects: ObjectReader, group: str) -> list[VersionDetails]:
    return [describe_version(sm, objects, model) for model in existing_versions(sm, group)]


def set_status(sm: Any, model: ModelVersion, status: ApprovalStatus, reason: str) -> ModelVersion:
    sm.update_model_package(ModelPackageArn=model.arn, ModelApprovalStatus=status, ApprovalDescription=reason)
    return ModelVersion(group=model.group, version=model.version, arn=model.arn, status=status, created=model.created)


def approve(sm: Any, group: str, version: int, reason: str = "approved with mlops") -> ModelVersion:
    return set_status(sm, find_version(existing_versions(sm, group), version), APPROVED, reason)


def reject(sm: Any, group: str, version: int, reason: str = "rejected with mlops") -> ModelVersion:
    return set_status(sm, find_version(existing_versions(sm, group), version), REJECTED, reason)


def plan_rollback(versions: list[ModelVersion], to_version: int | None = None) -> tuple[ModelVersion, ModelVersion]:
    """(current, target): the newest approved version and the older one to serve instead.

    Without `to_version` the target is the newest approved version older than the current one.
    """
    approved = sorted((v for v in versions if v.status == APPROVED), key=lambda v: v.version, reverse=True)
    if not approved:
        raise RegistryError(f"model package group {versions[0].group!r} has no approved version to roll back from")
    current = approved[0]
    if to_version is not None:
        target = find_version(versions, to_version)
        if target.version >= current.version:
            raise RegistryError(
                f"version {to_version} is not older than the approved version {current.version}; "
                "use `registry approve` to move forward"
            )
        return current, target
    if len(approved) < 2:
        raise RegistryError(
            f"no approved version older than {current.version} in {current.group!r}; "
            "give --version N to re-approve a specific one"
        )
    return current, approved[1]


def rollback(sm: Any, group: str, to_version: int | None = None) -> Rollback:
    """Serve an earlier version: re-approve it, then reject the current approved one.

    Approving first means there is always an approved version for the deploy route to pick.
    """
    current, target = plan_rollback(existing_versions(sm, group), to_version)
    restored = target
    if target.status != APPROVED:
        restored = set_status(sm, target, APPROVED, f"re-approved by rollback from version {current.version}")
    rejected = set_status(sm, current, REJECTED, f"rolled back to version {target.version}")
    return Rollback(rejected=rejected, restored=restored)


# --- deploying a version (the Endpoint and Monitoring stacks serve one named Approved version) ---


def require_approved(sm: Any, group: str, version: int) -> ModelVersion:
    """The version, if it is Approved; RegistryError naming its status otherwise (synth is offline, so
    this is where a deploy of a pending or rejected version is refused)."""
    model = find_version(existing_versions(sm, group), version)
    if model.status != APPROVED:
        raise RegistryError(
            f"version {version} of {group!r} is {model.status}, not Approved: it cannot be deployed "
            f"(approve it with `mlops registry approve --version {version}`, or deploy an approved one)"
        )
    return model


def evaluation_uri(sm: Any, model: ModelVersion) -> str:
    """S3 URI of the version's registered model-quality statistics (ModelMetrics.ModelQuality)."""
    described = sm.describe_model_package(ModelPackageName=model.arn)
    uri = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        raise RegistryError(f"version {model.version} of {model.group!r} has no model-quality statistics "
                            "(ModelMetrics.ModelQuality) to monitor with")
    return str(uri)


def drift_baseline_uris(sm: Any, model: ModelVersion) -> tuple[str, str]:
    """(statistics, constraints) S3 URIs of the version's data-quality DriftCheckBaselines."""
    described = sm.describe_model_package(ModelPackageName=model.arn)
    quality = described.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics = quality.get("Statistics", {}).get("S3Uri")
    constraints = quality.get("Constraints", {}).get("S3Uri")
    if not statistics or not constraints:
        raise RegistryError(f"version {model.version} of {model.group!r} has no data-quality drift baselines "
                            "(DriftCheckBaselines.ModelDataQuality) to monitor with")
    return str(statistics), str(constraints)
