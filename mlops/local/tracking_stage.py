"""The `tracking` stage of `mlops local run`: the registered version's metrics and tags on its MLflow run."""

from __future__ import annotations

from mlops import registry
from mlops.experiments import TrackingError, record_version, version_record
from mlops.local.local_aws import LocalAws
from mlops.local.run_context import RunContext
from mlops.local.workdir import WorkDirObjects
from pipelines.definition import MLFLOW_TRACKING_URI


def track_registered_version(ctx: RunContext, aws: LocalAws) -> None:
    """Evaluation metrics, model package, approval status and lineage onto the training job's run.

    A store problem is shown in the stage note and summary.json, never fails the run: the version is
    registered either way, and the training job's own record is already in the store.
    """
    uri = str(ctx.summary.parameters.get(MLFLOW_TRACKING_URI) or "")
    ctx.summary.tracking_uri = uri or None
    registered = ctx.summary.registered
    if not uri or registered is None:
        return
    with ctx.stage("tracking") as note:
        sm = aws.client("sagemaker")
        model = registry.find_version(registry.list_versions(sm, ctx.names.model_package_group),
                                      registered["version"])
        try:
            record = version_record(sm, WorkDirObjects(ctx.work), model)
            run_id = record_version(uri, ctx.names.pipeline, record)
        except TrackingError as error:
            ctx.summary.tracking_problem = str(error)
            note(f"not recorded: {error}")
            return
        except Exception as error:  # the MLflow store's own errors: reported, the run goes on
            ctx.summary.tracking_problem = f"{type(error).__name__}: {error}"
            note(f"not recorded: {ctx.summary.tracking_problem}")
            return
        ctx.summary.tracking_run = run_id
        note(f"run {run_id}: version {model.version} ({model.status}), {len(record.metrics)} evaluation metrics")
