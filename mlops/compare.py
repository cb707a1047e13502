"""Two registered model versions side by side: parameters, metrics with their deltas, lineage, images.

Everything is read from the registry and the artifacts it points at, so the comparison works in the
cloud and on local mode's state alike, with or without an MLflow store:
- evaluation metrics: the version's registered model-quality statistics (the test split);
- parameters and training metrics: metadata.json inside the version's model.tar.gz (what the
  training job recorded with the model);
- lineage: every `lineage:` key of CustomerMetadataProperties, whatever keys exist (none is fine);
- images and model data: the package's inference containers.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from containers.contracts.model_artifact import METADATA_FILE
from mlops import registry
from mlops.errors import RegistryError
from mlops.experiments import LINEAGE_PREFIX, lineage_of, training_job_of
from mlops.registry import ModelVersion, ObjectReader

# Largest model.tar.gz read for its metadata.json; a bigger one is compared without its parameters.
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class VersionFacts:
    """What one version contributes to a comparison."""

    version: int
    status: str
    arn: str
    created: str | None
    parameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    lineage: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One compared value: A's, B's, and B - A for numbers (None when either side lacks it)."""

    name: str
    a: str | float | None
    b: str | float | None
    delta: float | None = None

    @property
    def changed(self) -> bool:
        return self.a != self.b


@dataclass(frozen=True)
class Comparison:
    group: str
    a: VersionFacts
    b: VersionFacts
    sections: dict[str, list[Row]]

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "versions": [asdict(self.a), asdict(self.b)],
            "sections": {name: [{**asdict(row), "changed": row.changed} for row in rows]
                         for name, rows in self.sections.items()},
        }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def artifact_metadata(objects: ObjectReader, model_data_url: str) -> dict[str, Any]:
    """metadata.json of a model.tar.gz; ValueError naming the URL when it is not there."""
    data = objects.read(model_data_url)
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ValueError(f"{model_data_url}: {len(data)} bytes, more than the {MAX_ARTIFACT_BYTES} read for metadata")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            member = archive.extractfile(METADATA_FILE)
            if member is None:
                raise KeyError(METADATA_FILE)
            metadata = json.loads(member.read().decode("utf-8"))
    except (tarfile.TarError, KeyError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{model_data_url}: no readable {METADATA_FILE} ({type(error).__name__}: {error})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{model_data_url}: {METADATA_FILE} is not a JSON object")
    return metadata


def version_facts(sm: Any, objects: ObjectReader, model: ModelVersion) -> VersionFacts:
    """The version's facts; what cannot be read is listed in `problems`, never an error."""
    described = sm.describe_model_package(ModelPackageName=model.arn)
    problems: list[str] = []
    details = registry.details_of(objects, model, described)
    if details.metrics_problem:
        problems.append(f"evaluation metrics: {details.metrics_problem}")
    metrics = dict(details.metrics)
    containers = described.get("InferenceSpecification", {}).get("Containers") or []
    artifacts: dict[str, str] = {}
    for index, container in enumerate(containers):
        suffix = f" {index + 1}" if len(containers) > 1 else ""
        artifacts[f"inference image{suffix}"] = str(container.get("Image", ""))
        if container.get("ImageDigest"):
            artifacts[f"inference image digest{suffix}"] = str(container["ImageDigest"])
        if container.get("ModelDataUrl"):
            artifacts[f"model data{suffix}"] = str(container["ModelDataUrl"])
    parameters: dict[str, str] = {}
    model_data = artifacts.get("model data") or artifacts.get("model data 1")
    if model_data:
        job = training_job_of(model_data)
        if job:
            artifacts["training job"] = job
        try:
            metadata = artifact_metadata(objects, model_data)
        except (ValueError, OSError, ClientError) as error:
            problems.append(f"parameters: {error}")
        else:
            parameters = {str(key): _text(value) for key, value in (metadata.get("hyperparameters") or {}).items()}
            # Training-time metrics (train_*, validation_*) beside the registered evaluation ones.
            for name, value in (metadata.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    metrics.setdefault(str(name), float(value))
    created = model.created.isoformat() if model.created else None
    return VersionFacts(version=model.version, status=model.status, arn=model.arn, created=created,
                        parameters=parameters, metrics=metrics, lineage=lineage_of(described),
                        artifacts=artifacts, problems=problems)


def _rows(a: dict[str, Any], b: dict[str, Any], *, numeric: bool = False) -> list[Row]:
    rows = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        delta = right - left if numeric and left is not None and right is not None else None
        rows.append(Row(name=name, a=left, b=right, delta=delta))
    return rows


def compare_facts(group: str, a: VersionFacts, b: VersionFacts) -> Comparison:
    """The side-by-side rows of two versions' facts (pure: testable without a registry)."""
    version = [Row("status", a.status, b.status), Row("created", a.created, b.created), Row("arn", a.arn, b.arn)]
    return Comparison(group=group, a=a, b=b, sections={
        "version": version,
        "parameters": _rows(a.parameters, b.parameters),
        "metrics": _rows(a.metrics, b.metrics, numeric=True),
        # Keys shown without the prefix: the section says they are lineage.
        "lineage": [Row(row.name.removeprefix(LINEAGE_PREFIX), row.a, row.b)
                    for row in _rows(a.lineage, b.lineage)],
        "artifacts": _rows(a.artifacts, b.artifacts),
    })


def compare_versions(sm: Any, objects: ObjectReader, group: str, a: int, b: int) -> Comparison:
    """Compare versions `a` and `b` of `group`; RegistryError for an unknown group or version."""
    if a == b:
        raise RegistryError(f"compare needs two different versions (got {a} twice)")
    versions = registry.existing_versions(sm, group)
    first, second = registry.find_version(versions, a), registry.find_version(versions, b)
    return compare_facts(group, version_facts(sm, objects, first), version_facts(sm, objects, second))
