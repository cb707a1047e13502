"""The monitoring jobs (data quality, model quality) as data: image, environment, inputs, outputs, schedule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from config.images import source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from containers.contracts.capture import format_capture_time
from containers.contracts.model_quality_constraints import CONSTRAINTS_KEYS
from deployment.alarms import schedule_period_seconds
from deployment.endpoint import VARIANT, ServedVersion, capture_spec, kms_key_alias_arn
from deployment.errors import DeploymentError

JobKind = Literal["data-quality", "model-quality"]
CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}},
                            separators=(",", ":"))
MERGE_FORMAT = json.dumps({"sagemakerMergeJson": {"captureIndexNames": ["endpointOutput"]}}, separators=(",", ":"))
# SageMaker's processing paths for monitoring jobs (tests/fixtures/sagemaker/README.md, item 8).
INPUT_DIR = "/opt/ml/processing/input/endpoint"
GROUND_TRUTH_DIR = "/opt/ml/processing/groundtruth"
BASELINE_DIR = "/opt/ml/processing/baseline"
OUTPUT_DIR = "/opt/ml/processing/output"
VOLUME_GB = 20
# What local mode's job record says it ran on (it runs as a process; recorded for the report).
LOCAL_INSTANCE_TYPE = "ml.m5.large"
MAX_RUNTIME_S = 1800
# Model quality waits this long for ground truth to arrive before it judges a window.
GROUND_TRUTH_OFFSET = "-PT1H"
GROUND_TRUTH_ROOT = "ground-truth"
# EventBridge Scheduler fills these in per run (context attributes of the target input).
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
# Scheduler's execution ids are 16 characters (e.g. d32c5kddcf5bb8c3); job names stop at 63.
EXECUTION_ID_LENGTH = 16
MAX_JOB_NAME = 63

# AWS's prebuilt analyzer (`sagemaker-model-monitor-analyzer`) is published per region from these
# accounts. Copied from sagemaker 2.257.7 `sagemaker/image_uri_config/model-monitor.json` (only
# pipelines/sdk.py may import the SDK, and synthesis must not depend on it).
PREBUILT_ANALYZER_ACCOUNTS = {
    "af-south-1": "875698925577", "ap-east-1": "001633400207", "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524", "ap-northeast-3": "990339680094", "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158", "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-central-2": "590183933784", "eu-north-1": "895015795356",
    "eu-south-1": "933208885752", "eu-south-2": "437450045455", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "il-central-1": "843974653677",
    "me-central-1": "588750061953", "me-south-1": "607024016150", "sa-east-1": "539772159869",
    "us-east-1": "156813124566", "us-east-2": "777275614652", "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}


def prebuilt_analyzer_image(region: str) -> str:
    account = PREBUILT_ANALYZER_ACCOUNTS.get(region)
    if account is None:
        raise DeploymentError(f"AWS publishes no prebuilt Model Monitor analyzer in {region}; "
                              "use monitoring.image: project")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/sagemaker-model-monitor-analyzer"


@dataclass(frozen=True)
class Baseline:
    """Where the served version's drift baseline is staged for the schedule (`mlops registry prepare-deploy`)."""

    statistics_uri: str
    constraints_uri: str


def baseline_for(names: Names, version: int) -> Baseline:
    root = f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v{version}"
    return Baseline(statistics_uri=f"{root}/statistics.json", constraints_uri=f"{root}/constraints.json")


def model_quality_baseline_for(names: Names, version: int) -> Baseline:
    """Where `mlops registry prepare-deploy` stages the served version's model-quality baseline: its
    registered evaluation statistics and the quality gate as constraints (`gate_constraints`)."""
    root = f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/baselines/v{version}/model-quality"
    return Baseline(statistics_uri=f"{root}/statistics.json", constraints_uri=f"{root}/constraints.json")


def gate_constraints(env: EnvironmentConfig) -> dict[str, Any]:
    """Model-quality constraints.json holding the quality gate: the live metric must not fall below
    (or rise above) the threshold that approved the model, the same line the model-quality alarm draws.
    Without constraints the analyzer writes no metric records, so the alarm would get no data."""
    gate = env.quality_gate
    operator = "LessThanThreshold" if gate.direction == "higher" else "GreaterThanThreshold"
    return {"version": 0.0, CONSTRAINTS_KEYS[env.data.problem_type.value]: {
        gate.metric: {"threshold": gate.threshold, "comparison_operator": operator}}}


def schedule_constraints(baseline: dict[str, Any], drift_threshold: float) -> dict[str, Any]:
    """The constraints a schedule checks: the suggested baseline with the configured drift threshold.

    The analyzer suggests a comparison threshold of 0.1; `monitoring.drift_threshold` also drives the
    drift alarms, so violations and alarms agree on what counts as drift.
    """
    tuned: dict[str, Any] = json.loads(json.dumps(baseline))
    distribution = tuned.setdefault("monitoring_config", {}).setdefault("distribution_constraints", {})
    distribution["comparison_threshold"] = drift_threshold
    distribution["categorical_comparison_threshold"] = drift_threshold
    return tuned


def _file_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class MonitoringJobSpec:
    """One monitoring job of the served version, as either engine runs it."""

    kind: JobKind
    engine: Literal["model-monitor", "scheduled-job"]
    schedule_name: str
    schedule_expression: str
    period_seconds: int
    endpoint_name: str
    image_uri: str
    instance_type: str
    role_arn: str
    kms_key: str
    capture_uri: str
    output_uri: str
    baseline: Baseline | None
    ground_truth_uri: str | None
    dataset_format: str
    # Model quality: analysis_type, problem_type and where label/probability are (Model Monitor takes
    # these as job-definition fields, a plain processing job as environment variables).
    analysis: dict[str, str] = field(default_factory=dict)
    # Settings of the analyzer contract both engines pass as they are (all strings, as SageMaker passes them).
    environment: dict[str, str] = field(default_factory=dict)
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    # The served model's data-schema.json (the data contract), checked beside the baseline when set.
    data_schema_uri: str | None = None

    def job_name_prefix(self) -> str:
        return self.schedule_name

    def run_environment(self, start: str, end: str, metric_time: str) -> dict[str, str]:
        """What the job reads for one run: the fixed settings plus the window and the input paths."""
        run = {
            **self.environment,
            **self.analysis,
            "dataset_format": self.dataset_format,
            "dataset_source": INPUT_DIR,
            "output_path": OUTPUT_DIR,
            "start_time": start,
            "end_time": end,
            "metric_time": metric_time,
            "sagemaker_endpoint_name": self.endpoint_name,
            "sagemaker_monitoring_schedule_name": self.schedule_name,
        }
        if self.baseline is not None:
            run["baseline_statistics"] = f"{BASELINE_DIR}/stats/{_file_name(self.baseline.statistics_uri)}"
            run["baseline_constraints"] = f"{BASELINE_DIR}/constraints/{_file_name(self.baseline.constraints_uri)}"
        if self.ground_truth_uri is not None:
            run["ground_truth_source"] = GROUND_TRUTH_DIR
        if self.data_schema_uri is not None:
            run["data_schema"] = f"{BASELINE_DIR}/schema/{_file_name(self.data_schema_uri)}"
        return run

    def processing_job_request(self, *, job_name: str, start: str, end: str, metric_time: str,
                               capture_uri: str | None = None, output_uri: str | None = None) -> dict[str, Any]:
        """CreateProcessingJob for one run (the scheduled-job engine, local mode and `monitor replay`)."""

        def s3_input(name: str, uri: str, local: str) -> dict[str, Any]:
            return {"InputName": name, "AppManaged": False, "S3Input": {
                "S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}

        inputs = [s3_input("endpoint_input_1", capture_uri or self.capture_uri, f"{INPUT_DIR}/{self.endpoint_name}")]
        if self.baseline is not None:
            inputs += [s3_input("baseline_statistics", self.baseline.statistics_uri, f"{BASELINE_DIR}/stats"),
                       s3_input("baseline_constraints", self.baseline.constraints_uri, f"{BASELINE_DIR}/constraints")]
        if self.ground_truth_uri is not None:
            inputs.append(s3_input("ground_truth", self.ground_truth_uri, GROUND_TRUTH_DIR))
        if self.data_schema_uri is not None:
            inputs.append(s3_input("data_schema", self.data_schema_uri, f"{BASELINE_DIR}/schema"))
        request: dict[str, Any] = {
            "ProcessingJobName": job_name,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"KmsKeyId": self.kms_key, "Outputs": [{
                "OutputName": "result", "AppManaged": False, "S3Output": {
                    "S3Uri": output_uri or self.output_uri, "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": self.instance_type,
                                                      "VolumeSizeInGB": VOLUME_GB, "VolumeKmsKeyId": self.kms_key}},
            "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_S},
            "AppSpecification": {"ImageUri": self.image_uri},
            "Environment": self.run_environment(start, end, metric_time),
            "NetworkConfig": self.network_config(),
            "RoleArn": self.role_arn,
        }
        return request

    def network_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"EnableNetworkIsolation": self.engine == "model-monitor",
                                  "EnableInterContainerTrafficEncryption": True}
        if self.subnet_ids:
            config["VpcConfig"] = {"Subnets": list(self.subnet_ids), "SecurityGroupIds": list(self.security_group_ids)}
        return config

    def scheduled_request(self) -> dict[str, Any]:
        """The CreateProcessingJob input EventBridge Scheduler sends each period: the window ends at the
        scheduled time, the job name and output folder carry the run, the image derives the start from
        `monitoring_window_seconds`."""
        if len(self.schedule_name) + 1 + EXECUTION_ID_LENGTH > MAX_JOB_NAME:
            raise DeploymentError(f"schedule name {self.schedule_name!r} leaves no room for Scheduler's execution id "
                                  f"in a {MAX_JOB_NAME}-character processing job name; shorten project or environment")
        request = self.processing_job_request(
            job_name=f"{self.schedule_name}-{EXECUTION_ID}", start="", end=SCHEDULED_TIME, metric_time=SCHEDULED_TIME,
            output_uri=f"{self.output_uri}{SCHEDULED_TIME}/",
        )
        environment = request["Environment"]
        del environment["start_time"]
        environment["monitoring_window_seconds"] = str(self.period_seconds)
        return request


def monitor_image(env: EnvironmentConfig, image_tag: str | None = None) -> str:
    names = Names.of(env)
    if env.monitoring.image == "prebuilt":
        return prebuilt_analyzer_image(env.region)
    return names.image_uri("monitor", image_tag or source_tag())


def _common(env: EnvironmentConfig, image_tag: str | None) -> dict[str, Any]:
    names = Names.of(env)
    return {
        "engine": env.monitoring.engine,
        "schedule_expression": env.monitoring.schedule,
        "period_seconds": schedule_period_seconds(env.monitoring.schedule),
        "endpoint_name": names.endpoint,
        "image_uri": monitor_image(env, image_tag),
        "instance_type": env.monitoring.instance_type,
        "role_arn": names.execution_role_arn,
        "kms_key": kms_key_alias_arn(names),
        "capture_uri": capture_spec(env).variant_prefix(names.endpoint, VARIANT),
        "subnet_ids": env.vpc.subnet_ids if env.vpc else (),
        "security_group_ids": env.vpc.security_group_ids if env.vpc else (),
    }


def _engine_environment(env: EnvironmentConfig) -> dict[str, str]:
    # Outside Model Monitor nobody else publishes the metric files, so the image puts them itself.
    extra = {"monitoring_engine": env.monitoring.engine} if env.monitoring.image == "project" else {}
    return {"publish_cloudwatch_metrics": "Enabled", **extra}


def data_quality_job(env: EnvironmentConfig, served: ServedVersion, image_tag: str | None = None) -> MonitoringJobSpec:
    names = Names.of(env)
    return MonitoringJobSpec(
        kind="data-quality", schedule_name=names.monitoring_schedule,
        output_uri=report_root(names, names.monitoring_schedule),
        baseline=baseline_for(names, served.version), ground_truth_uri=None,
        dataset_format=CAPTURE_FORMAT, environment=_engine_environment(env),
        **_common(env, image_tag),
    )


def report_root(names: Names, schedule: str) -> str:
    return f"s3://{names.bucket('reports')}/monitoring/{names.endpoint}/{schedule}/"


def local_data_quality_job(names: Names, *, image_uri: str, baseline: Baseline, capture_uri: str,
                           output_uri: str, data_schema_uri: str | None = None) -> MonitoringJobSpec:
    """The data-quality job as local mode runs it: the same contract, with local mode in the platform's
    place (it publishes the metric files itself, as Model Monitor does), so the image does not."""
    return MonitoringJobSpec(
        kind="data-quality", engine="model-monitor", schedule_name=names.monitoring_schedule,
        schedule_expression="", period_seconds=schedule_period_seconds("rate(1 hour)"), endpoint_name=names.endpoint,
        image_uri=image_uri, instance_type=LOCAL_INSTANCE_TYPE,
        role_arn=names.execution_role_arn, kms_key=kms_key_alias_arn(names),
        capture_uri=capture_uri, output_uri=output_uri, baseline=baseline, ground_truth_uri=None,
        dataset_format=CAPTURE_FORMAT, environment={"publish_cloudwatch_metrics": "Enabled"},
        data_schema_uri=data_schema_uri,
    )


def ground_truth_uri(names: Names) -> str:
    """Ground-truth uploads: JSON lines under `<this>/yyyy/mm/dd/hh/`, each `{"groundTruthData": {"data": ...,
    "encoding": "CSV"}, "eventMetadata": {"eventId": <the capture's inferenceId or eventId>}, "eventVersion": "0"}`."""
    return f"s3://{names.bucket('data')}/{GROUND_TRUTH_ROOT}/{names.endpoint}/"


def model_quality_job(env: EnvironmentConfig, served: ServedVersion,
                      image_tag: str | None = None) -> MonitoringJobSpec:
    names = Names.of(env)
    # The inference server answers CSV as `label` or, binary, `label,p(class 0),p(class 1)` (classes sorted):
    # column 0 is the label, column 2 the score of the positive class (the last, as Evaluate scores it).
    attributes = {"inference_attribute": "0"}
    if env.data.problem_type.value == "BinaryClassification":
        attributes |= {"probability_attribute": "2", "probability_threshold_attribute": "0.5"}
    return MonitoringJobSpec(
        kind="model-quality", schedule_name=names.model_quality_schedule,
        output_uri=report_root(names, names.model_quality_schedule),
        baseline=model_quality_baseline_for(names, served.version), ground_truth_uri=ground_truth_uri(names),
        # Model Monitor merges capture and ground truth in a job of its own and hands the analyzer
        # sagemakerMergeJson; the scheduled job gets the raw capture and joins ground truth itself.
        dataset_format=MERGE_FORMAT if env.monitoring.engine == "model-monitor" else CAPTURE_FORMAT,
        environment=_engine_environment(env),
        analysis={"analysis_type": "MODEL_QUALITY", "problem_type": env.data.problem_type.value, **attributes},
        **_common(env, image_tag),
    )


def monitoring_jobs(env: EnvironmentConfig, served: ServedVersion,
                    image_tag: str | None = None) -> tuple[MonitoringJobSpec, MonitoringJobSpec]:
    return data_quality_job(env, served, image_tag), model_quality_job(env, served, image_tag)


def window_times(start: datetime, end: datetime, metric_time: datetime) -> dict[str, str]:
    return {"start": format_capture_time(start), "end": format_capture_time(end),
            "metric_time": format_capture_time(metric_time)}
