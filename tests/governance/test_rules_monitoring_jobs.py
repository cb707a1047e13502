"""MLOps pack, monitoring jobs: KMS on volume and output, network isolation, in all three shapes of a job."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_scheduler as scheduler

from governance.rules import monitoring_job_kms, monitoring_job_network_isolation
from tests.governance.rule_stacks import IMAGE, KEY, ROLE, broken_by

OUTPUT = {"MonitoringOutputs": [{"S3Output": {"LocalPath": "/opt/ml/processing/output",
                                              "S3Uri": "s3://mlops-kit-dev-reports/monitoring/"}}]}


def job_definition(*, volume_key: str | None = KEY, output_key: str | None = KEY,
                   isolated: bool = True) -> dict[str, Any]:
    return {
        "DataQualityAppSpecification": {"ImageUri": IMAGE},
        "DataQualityJobInput": {"EndpointInput": {"EndpointName": "mlops-kit-dev-endpoint",
                                                  "LocalPath": "/opt/ml/processing/input"}},
        "DataQualityJobOutputConfig": {**OUTPUT, **({"KmsKeyId": output_key} if output_key else {})},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20,
                                           **({"VolumeKmsKeyId": volume_key} if volume_key else {})}},
        "NetworkConfig": {"EnableNetworkIsolation": isolated},
        "RoleArn": ROLE,
    }


def processing_request(*, volume_key: str | None = KEY, output_key: str | None = KEY,
                       isolated: bool = True) -> dict[str, Any]:
    return {
        "ProcessingJobName": "mlops-kit-dev-data-quality-<aws.scheduler.execution-id>",
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 20,
                                                  **({"VolumeKmsKeyId": volume_key} if volume_key else {})}},
        "ProcessingOutputConfig": {"Outputs": [], **({"KmsKeyId": output_key} if output_key else {})},
        "NetworkConfig": {"EnableNetworkIsolation": isolated},
        "RoleArn": ROLE,
    }


def definition_stack(**settings: Any) -> Any:
    return lambda stack: cdk.CfnResource(stack, "Definition", type="AWS::SageMaker::DataQualityJobDefinition",
                                         properties=job_definition(**settings))


def inline_schedule_stack(**settings: Any) -> Any:
    definition = job_definition(**settings)
    inline = {
        "MonitoringAppSpecification": definition["DataQualityAppSpecification"],
        "MonitoringInputs": [definition["DataQualityJobInput"]],
        "MonitoringOutputConfig": definition["DataQualityJobOutputConfig"],
        "MonitoringResources": definition["JobResources"],
        "NetworkConfig": definition["NetworkConfig"],
        "RoleArn": ROLE,
    }
    return lambda stack: cdk.CfnResource(stack, "Schedule", type="AWS::SageMaker::MonitoringSchedule", properties={
        "MonitoringScheduleName": "mlops-kit-dev-data-quality",
        "MonitoringScheduleConfig": {"MonitoringJobDefinition": inline,
                                     "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}}})


def scheduler_stack(**settings: Any) -> Any:
    return lambda stack: scheduler.CfnSchedule(
        stack, "Scheduled", schedule_expression="rate(1 hour)",
        flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
        target=scheduler.CfnSchedule.TargetProperty(
            arn="arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob",
            role_arn="arn:aws:iam::111111111111:role/scheduler",
            input=json.dumps(processing_request(**settings))))


SHAPES = {"job-definition": (definition_stack, "Definition"), "inline-schedule": (inline_schedule_stack, "Schedule"),
          "scheduled-processing-request": (scheduler_stack, "Scheduled")}


@pytest.mark.parametrize("shape", SHAPES)
def test_monitoring_job_without_volume_key_breaks_monitoring_job_kms(shape: str) -> None:
    make, logical_id = SHAPES[shape]
    assert broken_by(monitoring_job_kms.RULE, make(volume_key=None)) == [logical_id]


def test_monitoring_job_without_output_key_breaks_monitoring_job_kms() -> None:
    assert broken_by(monitoring_job_kms.RULE, scheduler_stack(output_key=None)) == ["Scheduled"]
    assert broken_by(monitoring_job_kms.RULE, definition_stack(output_key=None)) == ["Definition"]


@pytest.mark.parametrize("shape", SHAPES)
def test_monitoring_job_with_both_keys_passes_monitoring_job_kms(shape: str) -> None:
    make, _ = SHAPES[shape]
    assert broken_by(monitoring_job_kms.RULE, make()) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_monitoring_job_with_network_access_breaks_network_isolation(shape: str) -> None:
    make, logical_id = SHAPES[shape]
    assert broken_by(monitoring_job_network_isolation.RULE, make(isolated=False)) == [logical_id]


@pytest.mark.parametrize("shape", SHAPES)
def test_isolated_monitoring_job_passes_network_isolation(shape: str) -> None:
    make, _ = SHAPES[shape]
    assert broken_by(monitoring_job_network_isolation.RULE, make()) == []


def test_a_schedule_of_another_target_is_no_monitoring_job() -> None:
    def other_target(stack: cdk.Stack) -> None:
        scheduler.CfnSchedule(
            stack, "Retrain", schedule_expression="rate(7 days)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn="arn:aws:sagemaker:eu-west-1:111111111111:pipeline/mlops-kit-dev-pipeline",
                role_arn="arn:aws:iam::111111111111:role/scheduler"))
    assert broken_by(monitoring_job_kms.RULE, other_target) == []
    assert broken_by(monitoring_job_network_isolation.RULE, other_target) == []
