"""What the CI/CD route's build needs from the accounts, as project commands (`python -m mlops.route ...`).

`versions` prints each stage's newest Approved version as cdk context (`-c model_version.<env>=N`), so
the synth records the versions in the endpoint stacks; `aws-config` writes one AWS profile per
environment that assumes its ml-engineer role from the build's container credentials.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from config.naming import Names
from config.settings import CicdConfig, ConfigError, EnvironmentConfig, ProjectConfig, load_project
from mlops import registry
from mlops.aws import AwsTarget, client
from mlops.errors import MlopsError

CONTEXT_KEY = "model_version"


def route_config(project: ProjectConfig) -> CicdConfig:
    if project.cicd is None:
        raise ConfigError("config/environments.yaml has no cicd block (README \"CI/CD\")")
    return project.cicd


def newest_approved_version(sm: Any, env: EnvironmentConfig) -> int | None:
    """The highest Approved version of the environment's group; None when nothing is approved yet.

    The group is named by ARN: the route's build runs in the tooling account and reads the registry
    through the group's resource policy.
    """
    names = Names.of(env)
    approved = registry.list_versions(sm, names.model_package_group_arn, status=registry.APPROVED)
    return max((version.version for version in approved), default=None)


def context_arguments(versions: dict[str, int | None]) -> str:
    """`-c model_version.dev=3 ...`; a stage with no Approved version gets none (it deploys no endpoint)."""
    return " ".join(f"-c {CONTEXT_KEY}.{name}={version}" for name, version in versions.items() if version is not None)


def stage_versions(project: ProjectConfig, endpoint_url: str | None = None) -> dict[str, int | None]:
    cicd = route_config(project)
    versions: dict[str, int | None] = {}
    for name in cicd.stages:
        env = project.environments[name]
        versions[name] = newest_approved_version(client("sagemaker", AwsTarget(env.region, endpoint_url)), env)
    return versions


def aws_config(project: ProjectConfig) -> str:
    """An AWS config file: profile <env> assumes that environment's ml-engineer persona role."""
    cicd = route_config(project)
    sections = []
    for name in cicd.stages:
        env = project.environments[name]
        names = Names.of(env)
        role = names.arn("iam", f"role/{names.persona_role('ml-engineer')}", global_service=True)
        sections.append(f"[profile {name}]\nrole_arn = {role}\ncredential_source = EcsContainer\n"
                        f"region = {env.region}\nrole_session_name = {names.project}-cicd-{name}\n")
    return "\n".join(sections)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops.route", description=__doc__)
    parser.add_argument("what", choices=("versions", "aws-config"))
    parser.add_argument("--endpoint-url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        project = load_project()
        if args.what == "versions":
            print(context_arguments(stage_versions(project, args.endpoint_url)))
        else:
            sys.stdout.write(aws_config(project))
    except (ConfigError, MlopsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
