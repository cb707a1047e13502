"""The CI/CD route as data: its commands, the steps per stage and the approval event pattern.

Pure functions of the configuration, read by stacks/cicd_stack.py and by the tests; every command is a
project command, so what CI runs can be run by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.naming import Names
from config.settings import CicdConfig, EnvironmentConfig
from stacks.registry_stack import approval_event_pattern

# pytest reads PYTEST_ADDOPTS itself: CI asks for JUnit XML without changing `make test` for users.
JUNIT_DIRECTORY = "reports"
JUNIT_FILE = "junit.xml"
RUNTIMES = {"python": "3.11", "nodejs": "20"}
APPROVAL_NEEDED_EVENT = "codepipeline-pipeline-manual-approval-needed"


def synth_command() -> str:
    return "make cicd-synth"


# Post-deploy steps run in the tooling account and act in the stage's account through the profile
# `make route-aws-config` writes (one per environment, assuming its ml-engineer role).
ROUTE_AWS_CONFIG = ".route-aws-config"


def stage_commands(command: str) -> list[str]:
    return ["make deps", "make route-aws-config", command]


def retrain_command(env_name: str) -> str:
    return f".venv/bin/mlops pipeline run --env {env_name} --wait"


def images_command(env_name: str) -> str:
    return f".venv/bin/mlops images build --env {env_name} --wait"


def endpoint_check_command(env_name: str) -> str:
    return f".venv/bin/mlops endpoint check --env {env_name}"


def route_names(project: str) -> dict[str, str]:
    return {"commit": f"{project}-cicd", "approval": f"{project}-cicd-approved", "topic": f"{project}-cicd-approvals",
            "reports": f"{project}-cicd-tests"}


def approval_route_pattern(stages: list[EnvironmentConfig]) -> dict[str, Any]:
    """Approved versions of any stage's group, from that stage's account (forwarded to the tooling bus)."""
    patterns = [approval_event_pattern(Names.of(env)) for env in stages]
    return {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "account": sorted({env.account for env in stages}),
        "detail": {
            "ModelPackageGroupName": [group for p in patterns for group in p["detail"]["ModelPackageGroupName"]],
            "ModelApprovalStatus": ["Approved"],
        },
    }


@dataclass(frozen=True)
class RouteStep:
    """One step of the route as data: what the template tests and the README diagram read."""

    stage: str
    kind: str  # approve | deploy | images | retrain | check
    command: str | None = None


def route_steps(cicd: CicdConfig, *, retrain: bool) -> list[RouteStep]:
    steps: list[RouteStep] = []
    for name in cicd.stages:
        if name in cicd.approval_before:
            steps.append(RouteStep(name, "approve"))
        steps.append(RouteStep(name, "deploy"))
        # Inside the deploy: after the containers stack, before the pipeline stack names the images. Both
        # routes: an approval may roll a commit out to a stage the commit route never reached.
        steps.append(RouteStep(name, "images", images_command(name)))
        if retrain and name == cicd.retrain_in:
            steps.append(RouteStep(name, "retrain", retrain_command(name)))
        if name in cicd.check_endpoint_in:
            steps.append(RouteStep(name, "check", endpoint_check_command(name)))
    return steps
