"""The settings of a monitoring job in the three shapes a template can hold one (shared by the job rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from governance.rules.base import Resource, parse_json

JOB_DEFINITION_TYPES = frozenset({
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::ModelQualityJobDefinition",
    "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
})
SCHEDULE_TYPE = "AWS::SageMaker::MonitoringSchedule"
SCHEDULER_TYPE = "AWS::Scheduler::Schedule"
MONITORING_JOB_TYPES = JOB_DEFINITION_TYPES | {SCHEDULE_TYPE, SCHEDULER_TYPE}
# EventBridge Scheduler's universal target whose Input is a CreateProcessingJob request.
PROCESSING_TARGET_SUFFIX = ":aws-sdk:sagemaker:createProcessingJob"


@dataclass(frozen=True)
class JobSettings:
    volume_kms_key: Any
    output_kms_key: Any
    network: dict[str, Any]


def job_settings(resource: Resource) -> JobSettings | None:
    """The job's volume key, output key and network config; None when the resource starts no job."""
    if resource.type in JOB_DEFINITION_TYPES:
        output: Any = next((value for key, value in resource.properties.items() if key.endswith("JobOutputConfig")), {})
        return JobSettings(resource.get("JobResources", "ClusterConfig", "VolumeKmsKeyId"),
                           output.get("KmsKeyId") if isinstance(output, dict) else None,
                           resource.get("NetworkConfig") or {})
    if resource.type == SCHEDULE_TYPE:
        # A schedule naming a separate job definition is judged on that definition.
        inline = resource.get("MonitoringScheduleConfig", "MonitoringJobDefinition")
        if not isinstance(inline, dict):
            return None
        job = Resource(resource.logical_id, resource.type, inline)
        return JobSettings(job.get("MonitoringResources", "ClusterConfig", "VolumeKmsKeyId"),
                           job.get("MonitoringOutputConfig", "KmsKeyId"), job.get("NetworkConfig") or {})
    if resource.type == SCHEDULER_TYPE:
        arn = resource.get("Target", "Arn")
        if not (isinstance(arn, str) and arn.endswith(PROCESSING_TARGET_SUFFIX)):
            return None
        request = Resource(resource.logical_id, "CreateProcessingJob", parse_json(resource.get("Target", "Input")))
        return JobSettings(request.get("ProcessingResources", "ClusterConfig", "VolumeKmsKeyId"),
                           request.get("ProcessingOutputConfig", "KmsKeyId"), request.get("NetworkConfig") or {})
    return None
