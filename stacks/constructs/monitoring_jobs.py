"""The two engines of one monitoring job: a Model Monitor schedule, or a Scheduler-started processing job."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from deployment.monitoring import (
    GROUND_TRUTH_OFFSET,
    INPUT_DIR,
    MAX_RUNTIME_S,
    OUTPUT_DIR,
    VOLUME_GB,
    MonitoringJobSpec,
)
from governance.compliance import MLOPS, acknowledge

# EventBridge Scheduler's universal target for the SageMaker API (the request is the target input).
CREATE_PROCESSING_JOB_TARGET = "arn:{partition}:scheduler:::aws-sdk:sagemaker:createProcessingJob"
# Two hours back to one hour back: ground truth for a request usually arrives within the hour.
GROUND_TRUTH_START_OFFSET = "-PT2H"


def job_definition_properties(spec: MonitoringJobSpec) -> tuple[str, dict[str, Any]]:
    """(resource type, properties) of the job definition, in CloudFormation's words."""
    endpoint_input: dict[str, Any] = {"EndpointName": spec.endpoint_name, "LocalPath": INPUT_DIR,
                                      "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
    common: dict[str, Any] = {
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": spec.instance_type,
                                           "VolumeSizeInGB": VOLUME_GB, "VolumeKmsKeyId": spec.kms_key}},
        "NetworkConfig": spec.network_config(),
        "RoleArn": spec.role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_S},
    }
    output = {"KmsKeyId": spec.kms_key, "MonitoringOutputs": [{"S3Output": {
        "LocalPath": OUTPUT_DIR, "S3Uri": spec.output_uri, "S3UploadMode": "EndOfJob"}}]}
    # Model Monitor supplies the window, paths, baselines and names itself; only our settings go in.
    environment = dict(spec.environment)
    if spec.kind == "data-quality":
        if spec.baseline is None:
            raise ValueError(f"{spec.schedule_name}: a data-quality job needs a baseline")
        return "AWS::SageMaker::DataQualityJobDefinition", {
            **common,
            "DataQualityAppSpecification": {"ImageUri": spec.image_uri, "Environment": environment},
            "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": spec.baseline.constraints_uri},
                                          "StatisticsResource": {"S3Uri": spec.baseline.statistics_uri}},
            "DataQualityJobInput": {"EndpointInput": endpoint_input},
            "DataQualityJobOutputConfig": output,
        }
    analysis = spec.analysis
    quality_input = {**endpoint_input, "InferenceAttribute": analysis["inference_attribute"],
                     "StartTimeOffset": GROUND_TRUTH_START_OFFSET, "EndTimeOffset": GROUND_TRUTH_OFFSET}
    for key, name in (("probability_attribute", "ProbabilityAttribute"),
                      ("probability_threshold_attribute", "ProbabilityThresholdAttribute")):
        if key in analysis:
            quality_input[name] = float(analysis[key]) if name == "ProbabilityThresholdAttribute" else analysis[key]
    baseline = {} if spec.baseline is None else {
        "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": spec.baseline.constraints_uri}}}
    return "AWS::SageMaker::ModelQualityJobDefinition", {
        **common,
        **baseline,
        "ModelQualityAppSpecification": {"ImageUri": spec.image_uri, "ProblemType": analysis["problem_type"],
                                         "Environment": environment},
        "ModelQualityJobInput": {"EndpointInput": quality_input,
                                 "GroundTruthS3Input": {"S3Uri": spec.ground_truth_uri}},
        "ModelQualityJobOutputConfig": output,
    }


class ModelMonitorJob(Construct):
    """A job definition plus its MonitoringSchedule; Model Monitor fills in window, baselines and names."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: MonitoringJobSpec) -> None:
        super().__init__(scope, construct_id)
        resource_type, properties = job_definition_properties(spec)
        # No fixed definition name: definitions are immutable, a change replaces them under a new name.
        self.definition = cdk.CfnResource(self, "Definition", type=resource_type, properties=properties)
        self.schedule = cdk.CfnResource(self, "Schedule", type="AWS::SageMaker::MonitoringSchedule", properties={
            "MonitoringScheduleName": spec.schedule_name,
            "EndpointName": spec.endpoint_name,
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": self.definition.get_att("JobDefinitionName").to_string(),
                "MonitoringType": "DataQuality" if spec.kind == "data-quality" else "ModelQuality",
                "ScheduleConfig": {"ScheduleExpression": spec.schedule_expression},
            },
        })


class ScheduledMonitoringJob(Construct):
    """EventBridge Scheduler starting the same image as a plain Processing job once per schedule period."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: MonitoringJobSpec, partition: str,
                 role: iam.IRole) -> None:
        super().__init__(scope, construct_id)
        self.request = spec.scheduled_request()
        self.schedule = scheduler.CfnSchedule(
            self, "Schedule", name=spec.schedule_name,
            description=f"{spec.kind} monitoring of {spec.endpoint_name}: the monitor image as a Processing job",
            schedule_expression=spec.schedule_expression, schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=CREATE_PROCESSING_JOB_TARGET.format(partition=partition), role_arn=role.role_arn,
                input=json.dumps(self.request, sort_keys=True),
                # A window is judged once: a late retry would publish its metrics twice.
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=0,
                                                                       maximum_event_age_in_seconds=3600)),
        )
        acknowledge(self.schedule, f"{MLOPS}MonitoringJobNetworkIsolation")
