"""A model version described for audit: its lineage, approval record and metrics, from the registry.

The same function serves `mlops registry describe` (the account) and `mlops local registry describe`
(a work folder's state); only where the registry and its artifacts are read from differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from deployment.approval import AUDIT_PREFIX
from mlops import registry
from mlops.registry import ObjectReader
from pipelines import lineage


@dataclass(frozen=True)
class VersionRecord:
    """Everything the registry holds about one version that an auditor asks for."""

    group: str
    version: int
    arn: str
    status: str
    created: str | None
    description: str
    approval_description: str
    # `lineage:` metadata without its prefix (code_commit, data_sha256, ...), as registered.
    lineage: dict[str, str]
    # The audit record of an automatic decision (mlops:approval:* without the prefix).
    approval: dict[str, str]
    # SageMaker fills ImageDigest for each inference container on registration (not moto).
    image_digests: dict[str, str]
    model_data_url: str | None
    # ModelCardStatus of the card stored on the package (None: no card).
    model_card_status: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_uri: str | None = None
    metrics_problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _stripped(properties: dict[str, str], prefix: str) -> dict[str, str]:
    return {key[len(prefix):]: str(value) for key, value in sorted(properties.items()) if key.startswith(prefix)}


def describe_version(sm: Any, objects: ObjectReader, group: str, version: int) -> VersionRecord:
    """The version's lineage, approval record and registered metrics; RegistryError for an unknown one."""
    model = registry.find_version(registry.existing_versions(sm, group), version)
    described = sm.describe_model_package(ModelPackageName=model.arn)
    properties = described.get("CustomerMetadataProperties") or {}
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    details = registry.details_of(objects, model, described)
    created = described.get("CreationTime")
    status = str(described.get("ModelApprovalStatus", model.status))
    return VersionRecord(
        group=group, version=model.version, arn=model.arn, status=status,
        created=created.isoformat() if created else None,
        description=str(described.get("ModelPackageDescription", "")),
        approval_description=str(described.get("ApprovalDescription", "")),
        lineage=_stripped(properties, lineage.PREFIX),
        approval=_stripped(properties, AUDIT_PREFIX),
        image_digests={str(item.get("Image")): str(item["ImageDigest"])
                       for item in containers if item.get("ImageDigest")},
        model_data_url=next((str(item["ModelDataUrl"]) for item in containers if item.get("ModelDataUrl")), None),
        model_card_status=described.get("ModelCard", {}).get("ModelCardStatus"),
        metrics=details.metrics, metrics_uri=details.metrics_uri, metrics_problem=details.metrics_problem,
    )


def hyperparameters(record: VersionRecord) -> dict[str, str]:
    """`lineage:hyperparameters` (`key=value` pairs separated by spaces) as a mapping."""
    pairs = (item.partition("=") for item in record.lineage.get("hyperparameters", "").split())
    return {key: value for key, _, value in pairs if key}


def missing_lineage(record: VersionRecord) -> list[str]:
    """The lineage keys a version registered by this pipeline carries and this one lacks (an older
    version, or one registered by hand)."""
    return [key[len(lineage.PREFIX):] for key in lineage.KEYS if key[len(lineage.PREFIX):] not in record.lineage]
