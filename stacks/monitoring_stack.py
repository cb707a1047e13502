"""Monitoring of a served instance endpoint: quality jobs (either engine), alarms, events, dashboard, drift retraining.

Everything here goes with `mlops teardown` and comes back with the next deploy; what must outlive a teardown
(the alerts topic, the cost budget, the training schedule) is in the alerts stack (stacks/alerts_stack.py),
whose topic this stack's event rules publish to. stacks/stage.py adds this stack only when an instance
endpoint is served: a serverless variant captures nothing to monitor.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alarms import monitoring_alarms
from deployment.alerts import (
    EVENT_PATHS,
    FAILED_TEMPLATE,
    VIOLATIONS_TEMPLATE,
    failed_run_event_pattern,
    violations_event_pattern,
)
from deployment.dashboard import dashboard_body
from deployment.endpoint import ServedVersion
from deployment.monitoring import MonitoringJobSpec, monitoring_jobs
from deployment.retraining import drift_alarm_event_pattern, retrains_on_drift
from stacks.constructs.metric_alarm import metric_alarm
from stacks.constructs.monitoring_jobs import ModelMonitorJob, ScheduledMonitoringJob
from stacks.constructs.service_role import service_role, start_pipeline_statement


class MonitoringStack(cdk.Stack):
    """Exposes `jobs` and `alarms`. `topic` is the alerts stack's: the event rules publish to it (a
    cross-stack reference); the alarms name it by the spec's ARN, as the endpoint stack's alarms and local
    mode do."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig,
                 served: ServedVersion, topic: sns.ITopic, image_tag: str | None = None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.names = names = Names.of(env_config)
        self.topic = topic
        self.jobs: list[MonitoringJobSpec] = list(monitoring_jobs(env_config, served, image_tag))
        self.alarms: list[cloudwatch.CfnAlarm] = [metric_alarm(self, f"Alarm{index}", spec)
                                                  for index, spec in enumerate(monitoring_alarms(env_config))]
        self._relay(names, "Violations", violations_event_pattern(names), VIOLATIONS_TEMPLATE)
        self._relay(names, "FailedRuns", failed_run_event_pattern(names), FAILED_TEMPLATE)
        cloudwatch.CfnDashboard(self, "Dashboard", dashboard_name=names.dashboard,
                                dashboard_body=json.dumps(dashboard_body(env_config), sort_keys=True))
        if retrains_on_drift(env_config):
            self._retrain_on_drift(names)
        if env_config.monitoring.engine == "scheduled-job":
            role = service_role(self, "SchedulerRole", service="scheduler.amazonaws.com", names=names,
                                statements=self._processing_job_statements())
            for index, job in enumerate(self.jobs):
                ScheduledMonitoringJob(self, f"ScheduledJob{index}", spec=job, partition=names.partition, role=role)
        else:
            for index, job in enumerate(self.jobs):
                ModelMonitorJob(self, f"ModelMonitorJob{index}", spec=job)

    def _relay(self, names: Names, construct_id: str, pattern: dict[str, Any], template: str) -> None:
        """An EventBridge rule that mails a readable sentence (input transformer), not the raw event."""
        events.CfnRule(
            self, construct_id, name=f"{names.prefix}-monitoring-{construct_id.lower()}",
            description=f"Monitoring runs of {names.endpoint}: {construct_id.lower()} -> alerts topic",
            event_pattern=pattern, state="ENABLED",
            targets=[events.CfnRule.TargetProperty(
                id="AlertsTopic", arn=self.topic.topic_arn,
                input_transformer=events.CfnRule.InputTransformerProperty(input_paths_map=EVENT_PATHS,
                                                                          input_template=template))])

    def _processing_job_statements(self) -> list[dict[str, Any]]:
        names = self.names
        return [
            {"Sid": "StartMonitoringJobs", "Effect": "Allow", "Action": "sagemaker:CreateProcessingJob",
             "Resource": [names.arn("sagemaker", f"processing-job/{job.schedule_name}-*") for job in self.jobs]},
            {"Sid": "PassTheExecutionRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": names.execution_role_arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        ]

    def _retrain_on_drift(self, names: Names) -> None:
        role = service_role(self, "RetrainRole", service="events.amazonaws.com", names=names,
                            statements=[start_pipeline_statement(names)])
        events.CfnRule(
            self, "RetrainOnDrift", name=f"{names.prefix}-retrain-on-drift",
            description=f"A drift alarm of {names.endpoint} starts {names.pipeline} (monitoring.retrain_on_drift)",
            event_pattern=drift_alarm_event_pattern(names), state="ENABLED",
            targets=[events.CfnRule.TargetProperty(id="TrainingPipeline", arn=names.pipeline_arn,
                                                   role_arn=role.role_arn)])
