"""Monitoring jobs run network-isolated: the container reads inputs and writes reports through SageMaker only."""

from __future__ import annotations

from governance.rules.base import Resource, Rule, is_true
from governance.rules.jobs import MONITORING_JOB_TYPES, job_settings


def _complies(resource: Resource) -> bool:
    settings = job_settings(resource)
    return settings is None or is_true(settings.network.get("EnableNetworkIsolation"))


RULE = Rule(
    name="MonitoringJobNetworkIsolation",
    resource_types=MONITORING_JOB_TYPES,
    description="A monitoring job does not set NetworkConfig.EnableNetworkIsolation: its container could send "
    "captured inference data anywhere the network reaches.",
    complies=_complies,
)
