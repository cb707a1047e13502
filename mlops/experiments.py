"""The MLflow run of a registered model version: found by its training job, it gets the version's
evaluation metrics and tags (model package, approval status, `lineage:` metadata). Cloud and local.

The training job logs the run itself (containers/training/tracking.py); what only exists after
registration is added here. The version's training job is read from its model data URL
(`.../<training job>/output/model.tar.gz`, as SageMaker and local mode write it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.training.tracking import TAG_JOB_NAME
from mlops import registry
from mlops.errors import MlopsError
from mlops.registry import ModelVersion, ObjectReader
from pipelines import lineage

TRACKING_DIR = "tracking"
TRACKING_DATABASE = "mlflow.db"
LINEAGE_PREFIX = lineage.PREFIX
# Evaluation metrics are the test split's: prefixed so they sit beside train_* and validation_*.
EVALUATION_METRIC_PREFIX = "test_"
TAG_MODEL_PACKAGE_ARN = "sagemaker.model_package_arn"
TAG_MODEL_PACKAGE_VERSION = "sagemaker.model_package_version"
TAG_APPROVAL_STATUS = "sagemaker.model_approval_status"
# Every version registered from the run (a cached Train step gives a later version the same run).
TAG_MODEL_PACKAGE_VERSIONS = "sagemaker.model_package_versions"


class TrackingError(MlopsError):
    """A registered version whose MLflow run cannot be found or updated."""


@dataclass(frozen=True)
class VersionRecord:
    """What registration adds to a training run."""

    job_name: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def local_tracking_uri(work_root: Path) -> str:
    """Local mode's embedded store: a sqlite file in the work folder (its folder created here)."""
    folder = Path(work_root).resolve() / TRACKING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / TRACKING_DATABASE}"


def training_job_of(model_data_url: str) -> str | None:
    """`s3://.../<job>/output/model.tar.gz` -> `<job>`; None for a URL of another shape."""
    parts = model_data_url.rstrip("/").split("/")
    if len(parts) >= 3 and parts[-2] == "output":
        return parts[-3]
    return None


def lineage_of(described: dict[str, Any]) -> dict[str, str]:
    """The `lineage:` keys of a described model package's CustomerMetadataProperties."""
    metadata = described.get("CustomerMetadataProperties") or {}
    return {str(key): str(value) for key, value in sorted(metadata.items()) if str(key).startswith(LINEAGE_PREFIX)}


def model_data_url(described: dict[str, Any]) -> str | None:
    containers = described.get("InferenceSpecification", {}).get("Containers") or [{}]
    url = containers[0].get("ModelDataUrl")
    return str(url) if url else None


def version_record(sm: Any, objects: ObjectReader, model: ModelVersion) -> VersionRecord:
    """The evaluation metrics and tags of a registered version; TrackingError without a training job."""
    described = sm.describe_model_package(ModelPackageName=model.arn)
    url = model_data_url(described)
    job = training_job_of(url or "")
    if job is None:
        raise TrackingError(f"version {model.version} of {model.group!r}: its model data {url!r} names no "
                            "training job (expected .../<job>/output/model.tar.gz)")
    details = registry.details_of(objects, model, described)
    metrics = {f"{EVALUATION_METRIC_PREFIX}{name}": value for name, value in details.metrics.items()}
    tags = {TAG_MODEL_PACKAGE_ARN: model.arn, TAG_MODEL_PACKAGE_VERSION: str(model.version),
            TAG_APPROVAL_STATUS: model.status, **lineage_of(described)}
    return VersionRecord(job_name=job, metrics=metrics, tags=tags)


def find_training_run(client: Any, experiment: str, job_name: str) -> str | None:
    """The id of the run the training job logged, or None."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{TAG_JOB_NAME}` = '{job_name}'",
                              max_results=1)
    return str(runs[0].info.run_id) if runs else None


def record_version(tracking_uri: str, experiment: str, record: VersionRecord) -> str:
    """Add the version's metrics and tags to its training run; the run id."""
    import logging
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException

    # A new sqlite store announces its schema migrations on stderr; the commands print one result line.
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        run_id = find_training_run(client, experiment, record.job_name)
        if run_id is None:
            raise TrackingError(f"no MLflow run of training job {record.job_name!r} in experiment {experiment!r} "
                                f"at {tracking_uri}")
        earlier = client.get_run(run_id).data.tags.get(TAG_MODEL_PACKAGE_VERSIONS, "")
        versions = sorted({*filter(None, earlier.split(",")), record.tags[TAG_MODEL_PACKAGE_VERSION]}, key=int)
        tags = {**record.tags, TAG_MODEL_PACKAGE_VERSIONS: ",".join(versions)}
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(name, value, now, 0) for name, value in record.metrics.items()],
                         tags=[RunTag(key, value) for key, value in tags.items()])
    except MlflowException as error:
        raise TrackingError(f"MLflow at {tracking_uri}: {error.message}") from None
    return run_id


def main(argv: list[str] | None = None) -> int:
    """`python -m mlops.experiments URI EXPERIMENT RECORD_JSON`: local mode records a version in a child
    process, so MLflow's import and store run beside serving instead of before it. Prints the run id."""
    import json
    import sys

    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 3:
        print("usage: python -m mlops.experiments TRACKING_URI EXPERIMENT RECORD_JSON", file=sys.stderr)
        return 2
    uri, experiment, text = arguments
    try:
        record = VersionRecord(**json.loads(text))
        print(record_version(uri, experiment, record))
    except Exception as error:  # one line for the run's summary, never a traceback
        print(f"{type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
