"""Monitoring jobs encrypt their ML storage volume and their reports with a KMS key."""

from __future__ import annotations

from governance.rules.base import Resource, Rule, is_set
from governance.rules.jobs import MONITORING_JOB_TYPES, job_settings


def _complies(resource: Resource) -> bool:
    settings = job_settings(resource)
    return settings is None or (is_set(settings.volume_kms_key) and is_set(settings.output_kms_key))


RULE = Rule(
    name="MonitoringJobKms",
    resource_types=MONITORING_JOB_TYPES,
    description="A monitoring job (job definition, inline schedule definition or scheduled CreateProcessingJob "
    "request) lacks VolumeKmsKeyId or an output KmsKeyId: captured requests and reports would rest under "
    "AWS-managed keys only.",
    complies=_complies,
)
