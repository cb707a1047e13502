"""What the stacks create, rendered into local AWS from the same specs: the model package group, the alerts topic."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from config.arns import arn
from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alerts import alerts_topic
from mlops.local.aws.moto_server import LocalAws
from mlops.local.aws.state import ensure_queue

# Local stand-in for the e-mail inboxes: a queue subscribed to the topic, read back after a run.
ALERTS_QUEUE_SUFFIX = "alerts-local-inbox"


@dataclass(frozen=True)
class Provisioned:
    group: str
    topic_arn: str
    queue_url: str


def provision(aws: LocalAws, env: EnvironmentConfig) -> Provisioned:
    """Idempotent: the Registry stack's group, the alerts stack's topic with the env's e-mails."""
    names = Names.of(env)
    sm = aws.client("sagemaker")
    try:
        sm.describe_model_package_group(ModelPackageGroupName=names.model_package_group)
    except ClientError:
        sm.create_model_package_group(
            ModelPackageGroupName=names.model_package_group,
            ModelPackageGroupDescription=f"{env.project} {env.name} models",
        )
    sns, sqs = aws.client("sns"), aws.client("sqs")
    spec = alerts_topic(env)
    topic = str(sns.create_topic(Name=spec.name, Attributes={"DisplayName": spec.display_name,
                                                              "KmsMasterKeyId": spec.kms_key})["TopicArn"])
    existing = {(sub["Protocol"], sub["Endpoint"])
                for sub in sns.list_subscriptions_by_topic(TopicArn=topic).get("Subscriptions", [])}
    queue_arn = arn("sqs", names.stack(ALERTS_QUEUE_SUFFIX), region=aws.region, account=aws.account)
    queue_url = ensure_queue(sqs, queue_arn)
    wanted = [*spec.subscriptions, ("sqs", queue_arn)]
    for protocol, endpoint in wanted:
        if (protocol, endpoint) not in existing:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=endpoint)
    return Provisioned(group=names.model_package_group, topic_arn=topic, queue_url=queue_url)
