#!/usr/bin/env python3
"""CDK entry point: load the configuration and add one environment's stacks (or every environment's)."""

from __future__ import annotations

import os
import sys

# Before aws_cdk starts its jsii runtime: Node 20 works here but prints an end-of-life banner per process.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from config.settings import ConfigError, EnvironmentConfig, load_project
from governance.compliance import add_compliance_checks
from stacks.stage import add_environment


def selected_environments(app: cdk.App) -> list[EnvironmentConfig]:
    """`-c env=NAME` picks one environment; without it every environment is synthesized."""
    project = load_project()
    wanted = app.node.try_get_context("env")
    if wanted is None:
        return list(project.environments.values())
    if wanted not in project.environments:
        known = ", ".join(sorted(project.environments))
        raise ConfigError(f"unknown environment {wanted!r} (from -c env=...); known environments: {known}")
    return [project.environments[wanted]]


CICD = "cicd"


def add_cicd_route(app: cdk.App) -> None:
    """`-c env=cicd`: the CI/CD stack for the tooling account; `-c model_version.<env>=N` per stage."""
    from stacks.cicd_stack import CicdStack

    project = load_project()
    if project.cicd is None:
        raise ConfigError("-c env=cicd: config/environments.yaml has no cicd block (README \"CI/CD\")")
    cicd = project.cicd
    versions = {name: str(app.node.try_get_context(f"model_version.{name}") or "") for name in cicd.stages}
    CicdStack(app, f"{project.project}-cicd", project=project.project, cicd=cicd,
              stages=[project.environments[name] for name in cicd.stages],
              model_versions={name: version for name, version in versions.items() if version},
              env=cdk.Environment(account=cicd.account, region=cicd.region), stack_name=f"{project.project}-cicd",
              description=f"{project.project}: the CI/CD route (commit and approval pipelines)")


def model_version(app: cdk.App) -> str | None:
    """`-c model_version=N` (or a model package ARN): the Approved version to serve; None = no endpoint."""
    value = app.node.try_get_context("model_version")
    return None if value in (None, "") else str(value)


def build_app(app: cdk.App, notes: list[str] | None = None) -> cdk.App:
    """The app with every selected environment; one-line notes on what was left out go to `notes`."""
    add_compliance_checks(app)
    if app.node.try_get_context("env") == CICD:
        add_cicd_route(app)
        return app
    for env_config in selected_environments(app):
        added = add_environment(app, env_config, model_version(app))
        if notes is not None:
            notes.extend(added.notes)
    return app


def main() -> int:
    app = cdk.App()
    try:
        notes: list[str] = []
        build_app(app, notes)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
