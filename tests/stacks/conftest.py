"""Variants of the alerts, endpoint and monitoring stacks the default config does not render, synthesized once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.settings import EnvironmentConfig, ServerlessConfig
from deployment.endpoint import ServedVersion, served_version
from tests.conftest import SERVED_VERSION


@dataclass(frozen=True)
class Variant:
    env: EnvironmentConfig
    served: ServedVersion
    templates: dict[str, dict[str, Any]]
    template_files: dict[str, Path]

    def template(self, part: str) -> dict[str, Any]:
        return self.templates[f"{self.env.project}-{self.env.name}-{part}"]


def variant_configs(environments: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
    """Renamed copies (their own stack names) of real environments with one choice changed each."""
    dev, staging, prod = environments["dev"], environments["staging"], environments["prod"]

    def changed(base: EnvironmentConfig, name: str, **blocks: dict[str, Any]) -> EnvironmentConfig:
        update: dict[str, Any] = {"name": name}
        for block, values in blocks.items():
            update[block] = getattr(base, block).model_copy(update=values)
        return EnvironmentConfig.model_validate({**base.model_dump(), **{
            key: value.model_dump() if hasattr(value, "model_dump") else value for key, value in update.items()}})

    return {
        "serverless": changed(dev, "sless",
                              endpoint={"serverless": ServerlessConfig(memory_mb=2048, max_concurrency=5)}),
        "model-monitor": changed(staging, "mm", monitoring={"engine": "model-monitor", "image": "project"}),
        "prebuilt": changed(prod, "mmaws", monitoring={"engine": "model-monitor", "image": "prebuilt"}),
        "retraining": changed(dev, "cron", training={"schedule": "cron(0 3 ? * MON *)"},
                              monitoring={"retrain_on_drift": True}),
        "time-to-live": changed(staging, "ttl", endpoint={"time_to_live_hours": 12}),
    }


@pytest.fixture(scope="session")
def variants(
    tmp_path_factory: pytest.TempPathFactory, environments: dict[str, EnvironmentConfig]
) -> dict[str, Variant]:
    """Alerts, Endpoint and (for an instance endpoint) Monitoring stacks of each variant in one app, with both nag
    packs (synthesis is the test)."""
    import aws_cdk as cdk

    from config.naming import Names
    from governance.compliance import add_compliance_checks
    from stacks.alerts_stack import AlertsStack
    from stacks.endpoint_stack import EndpointStack
    from stacks.monitoring_stack import MonitoringStack

    outdir = tmp_path_factory.mktemp("cdk.variants")
    app = cdk.App(outdir=str(outdir))
    add_compliance_checks(app)
    configs = variant_configs(environments)
    served = {}
    for env in configs.values():
        names = Names.of(env)
        aws_env = cdk.Environment(account=env.account, region=env.region)
        served[env.name] = served_version(names, SERVED_VERSION)
        alerts = AlertsStack(app, names.stack("alerts"), env_config=env, env=aws_env)
        endpoint = EndpointStack(app, names.stack("endpoint"), env_config=env, served=served[env.name], env=aws_env)
        if env.endpoint.serverless is None:
            monitoring = MonitoringStack(app, names.stack("monitoring"), env_config=env, served=served[env.name],
                                         topic=alerts.topic, image_tag="src-test", env=aws_env)
            monitoring.add_dependency(endpoint)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    files = {stack.stack_name: Path(assembly.directory) / stack.template_file for stack in assembly.stacks}
    return {key: Variant(env=env, served=served[env.name],
                         templates={k: v for k, v in templates.items() if k.startswith(f"{env.project}-{env.name}-")},
                         template_files={k: v for k, v in files.items() if k.startswith(f"{env.project}-{env.name}-")})
            for key, env in configs.items()}
