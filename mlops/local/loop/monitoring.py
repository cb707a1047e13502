"""The monitoring runs over the captured requests (data quality; model quality against uploaded ground
truth): the deployment spec's jobs, run as processes."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from config.naming import DATA_QUALITY_NAMESPACE, MODEL_QUALITY_NAMESPACE, Names
from config.settings import EnvironmentConfig
from containers.monitor.publish import put_metric_records
from deployment.endpoint import ServedVersion, capture_destination
from deployment.monitoring import (
    CAPTURE_FORMAT,
    LOCAL_INSTANCE_TYPE,
    Baseline,
    gate_constraints,
    ground_truth_uri,
    local_data_quality_job,
    model_quality_job,
    report_root,
    schedule_constraints,
    window_times,
)
from mlops.local.engine.expressions import Scope
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.jobs import JobFailed, JobTable, Sandbox
from mlops.local.engine.runners.context import StepContext
from mlops.local.engine.runners.processing import run_processing_job
from mlops.local.errors import LocalModeError
from mlops.local.workdir import WorkDir, join_s3

# schedule_constraints is the spec's; the loop imports it from here with the rest of the monitoring run.
__all__ = ["MonitoringRun", "capture_prefix", "gate_constraints", "ground_truth_uri", "model_quality_monitoring_job",
           "monitoring_job", "publish_metrics", "report_prefix", "run_monitoring", "schedule_constraints"]

JOB_NAME = "DataQualityMonitoring"
MODEL_QUALITY_JOB_NAME = "ModelQualityMonitoring"


@dataclass(frozen=True)
class MonitoringRun:
    output_uri: str
    statistics: dict[str, Any]
    violations: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    log: Path


def monitoring_job(
    names: Names, *, analyzer_image: str, capture_uri: str, statistics_uri: str, constraints_uri: str,
    output_uri: str, start: datetime, end: datetime, metric_time: datetime, schema_uri: str | None = None,
) -> dict[str, Any]:
    """The processing job a data-quality monitoring run starts, rendered from the deployment spec; with
    `schema_uri` (the served model's data-schema.json) the job also checks the data contract."""
    spec = local_data_quality_job(names, image_uri=analyzer_image, capture_uri=capture_uri, output_uri=output_uri,
                                  baseline=Baseline(statistics_uri=statistics_uri, constraints_uri=constraints_uri),
                                  data_schema_uri=schema_uri)
    times = window_times(start, end, metric_time)
    return spec.processing_job_request(job_name=f"{names.monitoring_schedule}-{end:%Y%m%d%H%M%S}",
                                       start=times["start"], end=times["end"], metric_time=times["metric_time"])


def model_quality_monitoring_job(
    env: EnvironmentConfig, served: ServedVersion, *, analyzer_image: str, capture_uri: str, baseline: Baseline,
    output_uri: str, start: datetime, end: datetime, metric_time: datetime,
) -> dict[str, Any]:
    """The model-quality job of the deployment spec as local mode runs it: local mode stands in for
    Model Monitor, whose merge job it leaves to the image (raw capture + `ground_truth_source`), and
    publishes the metric files itself; the baseline constraints are what make the image emit metrics."""
    names = Names.of(env)
    spec = replace(model_quality_job(env, served), engine="model-monitor", image_uri=analyzer_image,
                   instance_type=LOCAL_INSTANCE_TYPE, capture_uri=capture_uri, output_uri=output_uri,
                   baseline=baseline, dataset_format=CAPTURE_FORMAT,
                   environment={"publish_cloudwatch_metrics": "Enabled"}, subnet_ids=(), security_group_ids=())
    times = window_times(start, end, metric_time)
    return spec.processing_job_request(job_name=f"{names.model_quality_schedule}-{end:%Y%m%d%H%M%S}",
                                       start=times["start"], end=times["end"], metric_time=times["metric_time"])


def run_monitoring(
    work: WorkDir, names: Names, job: dict[str, Any], folder: Path, execution_id: str, *, jobs: JobTable,
    job_label: str = JOB_NAME,
) -> MonitoringRun:
    """Run the job with the analyzer's code; its statistics, violations and CloudWatch metric records."""
    sandbox = Sandbox(folder)
    sandbox.reset()
    context = StepContext(
        work=work, execution_id=execution_id, pipeline_name=names.monitoring_schedule, region=names.region,
        account=names.account, sandbox=sandbox, scope=Scope(parameters={}, execution={}),
        sagemaker=lambda: None, jobs=jobs, images=ImageCatalog.of(names),
    )
    try:
        run_processing_job(job, context, sandbox, job_label)
    except JobFailed as failure:
        raise LocalModeError(f"the {job_label} job failed: {failure.reason} (log: {sandbox.log})") from failure
    output_uri = str(job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"])
    output = work.s3_path(output_uri)
    statistics = json.loads((output / "statistics.json").read_text(encoding="utf-8"))
    violations_file = output / "constraint_violations.json"
    violations = json.loads(violations_file.read_text(encoding="utf-8")).get("violations", []) \
        if violations_file.is_file() else []
    metrics: list[dict[str, Any]] = []
    for path in sorted((sandbox.opt_ml / "output" / "metrics" / "cloudwatch").glob("*.jsonl")):
        metrics += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return MonitoringRun(output_uri=output_uri, statistics=statistics, violations=violations, metrics=metrics,
                         log=sandbox.log)


def publish_metrics(cloudwatch: Any, records: list[dict[str, Any]], namespace: str = DATA_QUALITY_NAMESPACE) -> int:
    """PutMetricData of the analyzer's records into the job's namespace, as Model Monitor does
    (the same code the image uses in the scheduled-job engine); how many were sent."""
    return put_metric_records(records, namespace, cloudwatch)


def publish_model_quality_metrics(cloudwatch: Any, records: list[dict[str, Any]]) -> int:
    return publish_metrics(cloudwatch, records, MODEL_QUALITY_NAMESPACE)


def capture_prefix(names: Names, variant: str) -> str:
    """Where the endpoint's capture lands: `s3://<capture bucket>/datacapture/<endpoint>/<variant>/`."""
    return f"{capture_destination(names)}/{names.endpoint}/{variant}/"


def report_prefix(names: Names, when: datetime) -> str:
    return join_s3(report_root(names, names.monitoring_schedule), when.strftime("%Y/%m/%d/%H%M%S"))
