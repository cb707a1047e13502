"""A data-quality monitoring run over the captured requests, shaped like the job a schedule starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from config.naming import DATA_QUALITY_NAMESPACE, Names
from containers.contracts.capture import format_capture_time, parse_capture_time
from mlops.local.errors import LocalModeError
from mlops.local.expressions import Scope
from mlops.local.jobs import JobFailed, Sandbox
from mlops.local.steps.context import StepContext
from mlops.local.steps.processing import run_processing_job
from mlops.local.workdir import WorkDir, join_s3

CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})
INPUT_DIR = "/opt/ml/processing/input/endpoint"
BASELINE_DIR = "/opt/ml/processing/baseline"
OUTPUT_DIR = "/opt/ml/processing/output"
METRICS_PER_REQUEST = 500
JOB_NAME = "DataQualityMonitoring"


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
    """The processing job a data-quality monitoring schedule starts (inputs, outputs, environment);
    with `schema_uri` (the served model's data-schema.json) the job also checks the data contract."""

    def s3_input(name: str, uri: str, local: str) -> dict[str, Any]:
        return {"InputName": name, "AppManaged": False, "S3Input": {
            "S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}

    schema: dict[str, Any] = {}
    if schema_uri is not None:
        schema = {"data_schema": f"{BASELINE_DIR}/schema/{schema_uri.rsplit('/', 1)[-1]}"}
    return {
        "ProcessingInputs": [
            s3_input("endpoint_input_1", capture_uri, f"{INPUT_DIR}/{names.endpoint}"),
            s3_input("baseline_statistics", statistics_uri, f"{BASELINE_DIR}/stats"),
            s3_input("baseline_constraints", constraints_uri, f"{BASELINE_DIR}/constraints"),
            *([s3_input("data_schema", schema_uri, f"{BASELINE_DIR}/schema")] if schema_uri else []),
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "result", "AppManaged": False, "S3Output": {
            "S3Uri": output_uri, "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 20}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        "AppSpecification": {"ImageUri": analyzer_image},
        "Environment": {
            "baseline_constraints": f"{BASELINE_DIR}/constraints/{constraints_uri.rsplit('/', 1)[-1]}",
            "baseline_statistics": f"{BASELINE_DIR}/stats/{statistics_uri.rsplit('/', 1)[-1]}",
            "dataset_format": CAPTURE_FORMAT,
            "dataset_source": INPUT_DIR,
            "start_time": format_capture_time(start),
            "end_time": format_capture_time(end),
            "metric_time": format_capture_time(metric_time),
            "output_path": OUTPUT_DIR,
            "publish_cloudwatch_metrics": "Enabled",
            "sagemaker_endpoint_name": names.endpoint,
            "sagemaker_monitoring_schedule_name": names.monitoring_schedule,
            **schema,
        },
        "RoleArn": names.execution_role_arn,
    }


def run_monitoring(
    work: WorkDir, names: Names, job: dict[str, Any], folder: Path, execution_id: str,
) -> MonitoringRun:
    """Run the job with the analyzer's code; its statistics, violations and CloudWatch metric records."""
    sandbox = Sandbox(folder)
    sandbox.reset()
    context = StepContext(
        work=work, execution_id=execution_id, pipeline_name=names.monitoring_schedule, region=names.region,
        account=names.account, sandbox=sandbox, scope=Scope(parameters={}, execution={}),
        sagemaker=lambda: None,
    )
    try:
        run_processing_job(job, context, sandbox, JOB_NAME)
    except JobFailed as failure:
        raise LocalModeError(f"the monitoring job failed: {failure.reason} (log: {sandbox.log})") from failure
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


def schedule_constraints(baseline: dict[str, Any], drift_threshold: float) -> dict[str, Any]:
    """The constraints a monitoring schedule checks: the suggested baseline with the configured drift threshold.

    The analyzer suggests a comparison threshold of 0.1; the environment's `monitoring.drift_threshold`
    also drives the drift alarms, so violations and alarms agree on what counts as drift.
    """
    tuned: dict[str, Any] = json.loads(json.dumps(baseline))
    distribution = tuned.setdefault("monitoring_config", {}).setdefault("distribution_constraints", {})
    distribution["comparison_threshold"] = drift_threshold
    distribution["categorical_comparison_threshold"] = drift_threshold
    return tuned


def publish_metrics(cloudwatch: Any, records: list[dict[str, Any]]) -> int:
    """PutMetricData of the analyzer's records into the data-quality namespace; how many were sent."""
    data = []
    for record in records:
        datum = dict(record)
        if isinstance(datum.get("Timestamp"), str):
            datum["Timestamp"] = parse_capture_time(datum["Timestamp"])
        data.append(datum)
    for start in range(0, len(data), METRICS_PER_REQUEST):
        cloudwatch.put_metric_data(Namespace=DATA_QUALITY_NAMESPACE, MetricData=data[start:start + METRICS_PER_REQUEST])
    return len(data)


def capture_prefix(names: Names, variant: str) -> str:
    """Where the endpoint's capture lands: `s3://<capture bucket>/datacapture/<endpoint>/<variant>/`."""
    return join_s3(f"s3://{names.bucket('capture')}", "datacapture", names.endpoint, variant) + "/"


def report_prefix(names: Names, when: datetime) -> str:
    return join_s3(f"s3://{names.bucket('reports')}", "monitoring", names.endpoint, names.monitoring_schedule,
                   when.strftime("%Y/%m/%d/%H%M%S"))
