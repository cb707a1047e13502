"""Shared fixtures: the whole CDK app synthesized once per test session."""

from __future__ import annotations

import os

# Before aws_cdk is imported anywhere: keep jsii quiet on Node 20 and the SageMaker SDK quiet on import.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from config.images import REPO_ROOT
from config.settings import EnvironmentConfig, load_environment, load_project
from mlops.aws import AwsTarget

ENVIRONMENTS = ("dev", "staging", "prod")
# The app is synthesized serving this version (`-c model_version=3`), so endpoint and monitoring render.
SERVED_VERSION = "3"


@dataclass(frozen=True)
class SynthesizedApp:
    """The cloud assembly of every environment: templates by stack name, and where they were written."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    template_files: dict[str, Path]

    def template(self, stack_name: str) -> dict[str, Any]:
        return self.templates[stack_name]


@pytest.fixture(scope="session")
def environments() -> dict[str, EnvironmentConfig]:
    return dict(load_project().environments)


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """`app.py` as the CLI runs it (all environments, both nag packs): synthesis itself is the nag test."""
    import aws_cdk as cdk

    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # cdk.json's context (feature flags) changes what synthesizes, e.g. literal partitions in ARNs that
    # nag acknowledgements name: synthesize exactly as the CLI does.
    context = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"], "model_version": SERVED_VERSION}
    app = build_app(cdk.App(outdir=str(outdir), context=context))
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    files = {stack.stack_name: Path(assembly.directory) / stack.template_file for stack in assembly.stacks}
    return SynthesizedApp(outdir=outdir, templates=templates, template_files=files)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsTarget]:
    """A fresh moto account; placeholder credentials so nothing real can be reached."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MLOPS_AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield AwsTarget(region="eu-west-1")


@pytest.fixture
def dev() -> EnvironmentConfig:
    return load_environment("dev")
