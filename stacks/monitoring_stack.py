"""Monitoring: the alerts topic, data- and model-quality jobs (either engine), alarms, events, dashboard, retraining."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alarms import monitoring_alarms
from deployment.alerts import (
    EVENT_PATHS,
    FAILED_TEMPLATE,
    VIOLATIONS_TEMPLATE,
    alerts_topic,
    failed_run_event_pattern,
    violations_event_pattern,
)
from deployment.dashboard import dashboard_body
from deployment.endpoint import ServedVersion
from deployment.monitoring import MonitoringJobSpec, monitoring_jobs
from deployment.retraining import drift_alarm_event_pattern, retrains_on_drift, training_schedule
from governance.compliance import acknowledge_policy_wildcards
from stacks.constructs.cost_budget import CostBudget
from stacks.constructs.metric_alarm import metric_alarm
from stacks.constructs.monitoring_jobs import ModelMonitorJob, ScheduledMonitoringJob


class MonitoringStack(cdk.Stack):
    """Exposes `topic` (always), `jobs` and `alarms` (when a served instance endpoint is monitored)."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig,
                 served: ServedVersion | None, image_tag: str | None = None, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.names = names = Names.of(env_config)
        self.topic = self._topic(env_config)
        if env_config.budget is not None:
            CostBudget(self, "CostBudget", budget_name=f"{names.prefix}-monthly", topic=self.topic,
                       monthly_usd=env_config.budget.monthly_usd, actual_percent=env_config.budget.actual_percent,
                       forecast_percent=env_config.budget.forecast_percent, account=names.account,
                       partition=names.partition)
        self.jobs: list[MonitoringJobSpec] = []
        self.alarms: list[cloudwatch.CfnAlarm] = []
        schedule_statements: list[dict[str, Any]] = []
        monitored = served is not None and env_config.endpoint.serverless is None
        if served is not None and monitored:
            self.jobs = list(monitoring_jobs(env_config, served, image_tag))
            if env_config.monitoring.engine == "scheduled-job":
                schedule_statements += self._processing_job_statements()
            self.alarms = [metric_alarm(self, f"Alarm{index}", spec)
                           for index, spec in enumerate(monitoring_alarms(env_config))]
            self._relay(names, "Violations", violations_event_pattern(names), VIOLATIONS_TEMPLATE)
            self._relay(names, "FailedRuns", failed_run_event_pattern(names), FAILED_TEMPLATE)
            cloudwatch.CfnDashboard(self, "Dashboard", dashboard_name=names.dashboard,
                                    dashboard_body=json.dumps(dashboard_body(env_config), sort_keys=True))
            if retrains_on_drift(env_config):
                self._retrain_on_drift(names)
        cron = training_schedule(env_config)
        if cron is not None:
            schedule_statements.append(self._start_pipeline_statement())
        role = self._scheduler_role(schedule_statements) if schedule_statements else None
        if role is not None:
            for index, job in enumerate(self.jobs if env_config.monitoring.engine == "scheduled-job" else []):
                ScheduledMonitoringJob(self, f"ScheduledJob{index}", spec=job, partition=names.partition, role=role)
            if cron is not None:
                scheduler.CfnSchedule(
                    self, "TrainingSchedule", name=f"{names.prefix}-retrain",
                    description=f"Periodic retraining: starts {names.pipeline} (training.schedule)",
                    schedule_expression=cron, schedule_expression_timezone="UTC",
                    flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                    target=scheduler.CfnSchedule.TargetProperty(arn=names.pipeline_arn, role_arn=role.role_arn))
        if env_config.monitoring.engine == "model-monitor":
            for index, job in enumerate(self.jobs):
                ModelMonitorJob(self, f"ModelMonitorJob{index}", spec=job)
        cdk.CfnOutput(self, "AlertsTopicArn", value=self.topic.topic_arn)

    def _topic(self, env_config: EnvironmentConfig) -> sns.Topic:
        spec = alerts_topic(env_config)
        key = kms.Alias.from_alias_name(self, "ProjectKey", self.names.kms_alias)
        topic = sns.Topic(self, "Alerts", topic_name=spec.name, display_name=spec.display_name, master_key=key,
                          enforce_ssl=True)
        for index, (protocol, endpoint) in enumerate(spec.subscriptions):
            sns.Subscription(self, f"Subscription{index}", topic=topic,
                             protocol=sns.SubscriptionProtocol(protocol.upper()), endpoint=endpoint)
        # A topic policy replaces SNS's default one: CloudWatch alarms and EventBridge rules of this
        # account must be allowed to publish explicitly.
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AccountAlarmsAndRulesPublish", actions=["sns:Publish"], resources=[topic.topic_arn],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com"), iam.ServicePrincipal("events.amazonaws.com")],
            conditions={"StringEquals": {"aws:SourceAccount": self.names.account}}))
        return topic

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

    def _start_pipeline_statement(self) -> dict[str, Any]:
        return {"Sid": "StartTheTrainingPipeline", "Effect": "Allow", "Action": "sagemaker:StartPipelineExecution",
                "Resource": self.names.pipeline_arn}

    def _service_role(self, construct_id: str, service: str, statements: list[dict[str, Any]]) -> iam.Role:
        document = {"Version": "2012-10-17", "Statement": statements}
        policy = iam.ManagedPolicy(self, f"{construct_id}Policy", document=iam.PolicyDocument.from_json(document))
        acknowledge_policy_wildcards(policy, document)
        return iam.Role(self, construct_id, assumed_by=iam.ServicePrincipal(
            service, conditions={"StringEquals": {"aws:SourceAccount": self.names.account}}),
            managed_policies=[policy], description=f"{service} starts {self.names.prefix} jobs")

    def _scheduler_role(self, statements: list[dict[str, Any]]) -> iam.Role:
        return self._service_role("SchedulerRole", "scheduler.amazonaws.com", statements)

    def _retrain_on_drift(self, names: Names) -> None:
        role = self._service_role("RetrainRole", "events.amazonaws.com", [self._start_pipeline_statement()])
        events.CfnRule(
            self, "RetrainOnDrift", name=f"{names.prefix}-retrain-on-drift",
            description=f"A drift alarm of {names.endpoint} starts {names.pipeline} (monitoring.retrain_on_drift)",
            event_pattern=drift_alarm_event_pattern(names), state="ENABLED",
            targets=[events.CfnRule.TargetProperty(id="TrainingPipeline", arn=names.pipeline_arn,
                                                   role_arn=role.role_arn)])
