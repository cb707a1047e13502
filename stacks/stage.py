"""One environment's stacks, wired together: used by app.py (top level) and by the CI/CD route (a Stage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from constructs import Construct

from config.images import source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.endpoint import served_version
from governance.compliance import add_compliance_checks
from stacks.alerts_stack import AlertsStack
from stacks.containers_stack import ContainersStack
from stacks.endpoint_stack import EndpointStack
from stacks.experimentation_stack import ExperimentationStack
from stacks.governance_stack import GovernanceStack
from stacks.monitoring_stack import MonitoringStack
from stacks.pipeline_stack import PipelineStack
from stacks.registry_stack import RegistryStack


@dataclass(frozen=True)
class EnvironmentStacks:
    """The stacks of one environment, for callers (tests, CI/CD) that need their attributes."""

    governance: GovernanceStack
    containers: ContainersStack
    registry: RegistryStack
    pipeline: PipelineStack
    alerts: AlertsStack
    endpoint: EndpointStack | None = None
    # Only with a served instance endpoint (a serverless one captures nothing to monitor).
    monitoring: MonitoringStack | None = None
    experimentation: ExperimentationStack | None = None
    # One line each about what was left out and how to add it (printed by app.py).
    notes: tuple[str, ...] = ()


def skipped_endpoint_note(env_config: EnvironmentConfig) -> str:
    return (f"{env_config.name}: no endpoint, monitoring jobs or alarms (no model version given): pass "
            f"-c model_version=N; `mlops registry newest-approved --env {env_config.name}` prints it")


def experimentation_note(env_config: EnvironmentConfig) -> str:
    return (f"{env_config.name}: no experimentation stack (Studio, MLflow): a Studio domain needs the vpc block; "
            "add one, or set experimentation.enabled: false to silence this note")


def serverless_note(env_config: EnvironmentConfig) -> str:
    return (f"{env_config.name}: endpoint.serverless has no data capture, so nothing is monitored "
            "(alarms on drift and model quality need an instance endpoint)")


def add_environment(scope: Construct, env_config: EnvironmentConfig,
                    model_version: str | None = None) -> EnvironmentStacks:
    """Create every stack of one environment in `scope` (an App or a Stage).

    `model_version` (a version number or package ARN, from `-c model_version=...`) names the Approved
    version the endpoint serves; without it there is no endpoint and nothing to monitor.
    """
    names = Names.of(env_config)
    aws_env = cdk.Environment(account=env_config.account, region=env_config.region)
    tags = {"project": env_config.project, "environment": env_config.name, "managed-by": "cdk"}

    governance = GovernanceStack(
        scope,
        names.stack("governance"),
        env_config=env_config,
        env=aws_env,
        stack_name=names.stack("governance"),
        description=f"{names.prefix}: KMS key, encrypted buckets, execution role and persona roles",
        termination_protection=env_config.name == "prod",
    )
    common: dict[str, Any] = {"env": aws_env, "termination_protection": env_config.name == "prod"}
    image_tag = source_tag()
    containers = ContainersStack(
        scope,
        names.stack("containers"),
        env_config=env_config,
        key=governance.key,
        image_tag=image_tag,
        stack_name=names.stack("containers"),
        description=f"{names.prefix}: ECR repositories and the image build",
        **common,
    )
    registry = RegistryStack(
        scope,
        names.stack("registry"),
        env_config=env_config,
        stack_name=names.stack("registry"),
        description=f"{names.prefix}: model package group and approval events",
        **common,
    )
    pipeline = PipelineStack(
        scope,
        names.stack("pipeline"),
        env_config=env_config,
        execution_role_arn=names.execution_role_arn,
        image_tag=image_tag,
        stack_name=names.stack("pipeline"),
        description=f"{names.prefix}: the SageMaker training pipeline",
        **common,
    )
    # The pipeline names the role, buckets, images and group by name rather than by token; the
    # dependencies make CloudFormation create them first all the same.
    pipeline.add_stack_dependency(governance, reason="the pipeline definition names its resources")
    pipeline.add_stack_dependency(containers, reason="the pipeline definition names its resources")
    pipeline.add_stack_dependency(registry, reason="the pipeline definition names its resources")
    # Outlives `mlops teardown` (stacks/alerts_stack.py says why): the topic, the budget, the training schedule.
    alerts = AlertsStack(
        scope,
        names.stack("alerts"),
        env_config=env_config,
        stack_name=names.stack("alerts"),
        description=f"{names.prefix}: alerts topic, cost budget and periodic retraining (kept by a teardown)",
        **common,
    )
    alerts.add_stack_dependency(governance, reason="the topic is encrypted with the project key")
    alerts.add_stack_dependency(pipeline, reason="the training schedule starts the pipeline")
    served = served_version(names, model_version) if model_version else None
    notes: list[str] = []
    endpoint = None
    monitoring = None
    if served is None:
        notes.append(skipped_endpoint_note(env_config))
    else:
        endpoint = EndpointStack(
            scope,
            names.stack("endpoint"),
            env_config=env_config,
            served=served,
            stack_name=names.stack("endpoint"),
            description=f"{names.prefix}: endpoint serving model version {served.version}",
            **common,
        )
        # Role, key, capture bucket and the model package exist before the endpoint names them.
        for needed in (governance, containers, registry):
            endpoint.add_stack_dependency(needed, reason="the endpoint names its role, key, bucket and package")
        endpoint.add_stack_dependency(alerts, reason="the endpoint's alarms notify the alerts topic")
        if env_config.endpoint.serverless is not None:
            notes.append(serverless_note(env_config))
        else:
            monitoring = MonitoringStack(
                scope,
                names.stack("monitoring"),
                env_config=env_config,
                served=served,
                topic=alerts.topic,
                image_tag=image_tag,
                stack_name=names.stack("monitoring"),
                description=f"{names.prefix}: monitoring jobs, alarms, dashboard and retraining on drift",
                **common,
            )
            monitoring.add_stack_dependency(endpoint, reason="monitoring schedules need the endpoint and its capture")
            monitoring.add_stack_dependency(pipeline, reason="retraining on drift starts the pipeline")
            monitoring.add_stack_dependency(alerts, reason="its event rules publish to the alerts topic")
    experimentation = None
    if env_config.experimentation_enabled and env_config.vpc is None:
        notes.append(experimentation_note(env_config))
    elif env_config.experimentation_enabled:
        experimentation = ExperimentationStack(
            scope, names.stack("experimentation"), env_config=env_config,
            stack_name=names.stack("experimentation"),
            description=f"{names.prefix}: Studio domain for the personas and the MLflow tracking server", **common)
        experimentation.add_stack_dependency(governance, reason="Studio and MLflow name the roles, key and bucket")
    stacks = [governance, containers, registry, pipeline, alerts,
              *(stack for stack in (endpoint, monitoring, experimentation) if stack is not None)]
    for stack in stacks:
        for key, value in tags.items():
            cdk.Tags.of(stack).add(key, value)
    return EnvironmentStacks(governance=governance, containers=containers, registry=registry, pipeline=pipeline,
                             alerts=alerts, endpoint=endpoint, monitoring=monitoring, experimentation=experimentation,
                             notes=tuple(notes))


class MlopsStage(cdk.Stage):
    """An environment as a deployable unit of the CI/CD route, with the compliance checks attached."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig,
                 model_version: str | None = None) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(account=env_config.account, region=env_config.region))
        add_compliance_checks(self)
        self.stacks = add_environment(self, env_config, model_version)
