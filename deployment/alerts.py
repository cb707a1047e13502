"""The alerts topic, its subscriptions, and the monitoring events it relays as readable messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alarms import alerts_topic_arn
from deployment.endpoint import kms_key_alias_arn


@dataclass(frozen=True)
class TopicSpec:
    name: str
    arn: str
    display_name: str
    kms_key: str
    # (protocol, endpoint): the configured e-mails; local mode adds its own inbox queue.
    subscriptions: tuple[tuple[str, str], ...]


def alerts_topic(env: EnvironmentConfig) -> TopicSpec:
    names = Names.of(env)
    return TopicSpec(name=names.alerts_topic, arn=alerts_topic_arn(names),
                     display_name=f"{env.project} {env.name} alerts", kms_key=kms_key_alias_arn(names),
                     subscriptions=tuple(("email", email) for email in env.alerts.emails))


def _monitoring_job_event(names: Names, condition: dict[str, Any]) -> dict[str, Any]:
    # Both engines set the schedule name in the job's environment (Model Monitor does it for its own
    # jobs), so one pattern covers a MonitoringSchedule run and a scheduled processing job alike.
    schedules = [names.monitoring_schedule, names.model_quality_schedule]
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"Environment": {"sagemaker_monitoring_schedule_name": schedules}, **condition},
    }


def violations_event_pattern(names: Names) -> dict[str, Any]:
    """A monitoring run that completed with violations: the analyzer's exit message says so."""
    return _monitoring_job_event(names, {"ProcessingJobStatus": ["Completed"],
                                         "ExitMessage": [{"prefix": "CompletedWithViolations"}]})


def failed_run_event_pattern(names: Names) -> dict[str, Any]:
    """A monitoring run that failed or was stopped."""
    return _monitoring_job_event(names, {"ProcessingJobStatus": ["Failed", "Stopped"]})


# EventBridge input transformer: a sentence a person reads in an e-mail, not the raw event.
EVENT_PATHS = {"job": "$.detail.ProcessingJobName", "status": "$.detail.ProcessingJobStatus",
               "message": "$.detail.ExitMessage", "reason": "$.detail.FailureReason",
               "schedule": "$.detail.Environment.sagemaker_monitoring_schedule_name",
               "output": "$.detail.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri", "time": "$.time"}
VIOLATIONS_TEMPLATE = ('"Monitoring <schedule>: job <job> found violations at <time>: <message>. '
                       'Report: <output> (constraint_violations.json)."')
FAILED_TEMPLATE = ('"Monitoring <schedule>: job <job> ended <status> at <time>: <reason>. '
                   'Logs: CloudWatch /aws/sagemaker/ProcessingJobs, stream <job>/..."')
