"""A CloudWatch alarm rendered from an AlarmSpec, so the stack and local mode put the same alarm."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from deployment.alarms import AlarmSpec


def metric_alarm(scope: Construct, construct_id: str, spec: AlarmSpec) -> cloudwatch.CfnAlarm:
    request = spec.put_metric_alarm_request()
    return cloudwatch.CfnAlarm(
        scope,
        construct_id,
        alarm_name=spec.name,
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name=name, value=value) for name, value in spec.dimensions],
        statistic=request.get("Statistic"),
        extended_statistic=request.get("ExtendedStatistic"),
        period=spec.period_seconds,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        threshold=spec.threshold,
        comparison_operator=spec.comparison_operator,
        treat_missing_data=spec.treat_missing_data,
        actions_enabled=True,
        alarm_actions=list(spec.alarm_actions),
        ok_actions=list(spec.ok_actions) or None,
    )
