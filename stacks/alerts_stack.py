"""Alerts: the environment's alerts topic, cost budget and periodic retraining, which outlive any teardown.

`mlops teardown` and the endpoint's time-to-live delete the monitoring and endpoint stacks; what must not
go with them lives here. The topic: deleted, every e-mail subscriber would have to confirm again after the
next deploy. The budget: the cost guardrail would be off exactly while something costs money. The training
schedule: periodic retraining needs no endpoint. (The retrain-on-drift rule stays in the monitoring stack:
it reacts to that stack's drift alarms, so it goes and comes back with them.)

A stack of its own rather than the registry stack: the registry stack holds the model package group and
its approval event, which the CI/CD route wires across accounts; a new subscriber or budget amount should
not update it, and the registry should not need the project key or the pipeline to exist first.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alerts import alerts_topic
from deployment.retraining import training_schedule
from stacks.constructs.cost_budget import CostBudget
from stacks.constructs.service_role import service_role, start_pipeline_statement


class AlertsStack(cdk.Stack):
    """Exposes `topic` (the monitoring stack's event rules publish to it through a weak cross-stack reference,
    cdk.json's `defaultCrossStackReferences`: no export ties the two stacks, so deleting or re-creating the
    monitoring stack never needs this one changed; every alarm names it by the spec's ARN) and `budget` and
    `training_schedule` (None when the config has none)."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.names = names = Names.of(env_config)
        self.topic = self._topic(env_config)
        self.budget: CostBudget | None = None
        if env_config.budget is not None:
            self.budget = CostBudget(
                self, "CostBudget", budget_name=f"{names.prefix}-monthly", topic=self.topic,
                monthly_usd=env_config.budget.monthly_usd, actual_percent=env_config.budget.actual_percent,
                forecast_percent=env_config.budget.forecast_percent, account=names.account,
                partition=names.partition)
        self.training_schedule: scheduler.CfnSchedule | None = None
        cron = training_schedule(env_config)
        if cron is not None:
            role = service_role(self, "SchedulerRole", service="scheduler.amazonaws.com", names=names,
                                statements=[start_pipeline_statement(names)])
            self.training_schedule = scheduler.CfnSchedule(
                self, "TrainingSchedule", name=f"{names.prefix}-retrain",
                description=f"Periodic retraining: starts {names.pipeline} (training.schedule)",
                schedule_expression=cron, schedule_expression_timezone="UTC",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(arn=names.pipeline_arn, role_arn=role.role_arn))
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
