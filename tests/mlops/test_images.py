"""`mlops images build --env E --wait` against moto's CodeBuild: it starts the environment's project and
follows the build until it ends; a failed build fails the command with its phase, reason and last log line."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.aws import AwsTarget
from mlops.cli import main
from mlops.images import ImageBuildError, start_image_build, wait_for_build
from tests.mlops.moto_cloud_extensions import BuildOutcome, script_builds

MOTO_ACCOUNT = "123456789012"  # moto answers every call from its default account


def _project(env: EnvironmentConfig) -> str:
    names = Names.of(env)
    boto3.client("codebuild", region_name=env.region).create_project(
        name=names.image_build_project, source={"type": "S3", "location": "assets/sources.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_MEDIUM", "privilegedMode": True},
        serviceRole=f"arn:aws:iam::{MOTO_ACCOUNT}:role/images-build",
    )
    return names.image_build_project


def _log(env: EnvironmentConfig, lines: list[str]) -> tuple[str, str]:
    logs = boto3.client("logs", region_name=env.region)
    group, stream = Names.of(env).image_build_log_group, "build-1"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)])
    return group, stream


def _clients(env: EnvironmentConfig) -> tuple[Any, Any]:
    return boto3.client("codebuild", region_name=env.region), boto3.client("logs", region_name=env.region)


def test_build_is_started_on_the_environments_project_and_followed_until_it_succeeds(
    aws: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(dev)
    script_builds(monkeypatch, MOTO_ACCOUNT, dev.region, project, BuildOutcome(polls_in_progress=2))
    codebuild, logs = _clients(dev)
    seen: list[str] = []
    naps: list[float] = []
    build_id = start_image_build(codebuild, dev)
    state = wait_for_build(codebuild, logs, build_id, poll_seconds=7, on_update=lambda s: seen.append(s.status),
                           sleep=naps.append)
    assert build_id.startswith(f"{project}:")
    assert state.status == "SUCCEEDED"
    assert seen == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
    assert naps == [7, 7]  # it really waited between polls


def test_a_failed_build_fails_with_its_phase_reason_and_last_log_line(
    aws: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(dev)
    group, stream = _log(dev, ["Step 4/9 : RUN pip install -r requirements.txt",
                               "ERROR: No matching distribution found for numpy==9.9"])
    script_builds(monkeypatch, MOTO_ACCOUNT, dev.region, project, BuildOutcome(
        status="FAILED", failed_phase="BUILD", log_group=group, log_stream=stream,
        message="Error while executing command: docker build -f containers/training/Dockerfile. "
                "Reason: exit status 1"))
    codebuild, logs = _clients(dev)
    build_id = start_image_build(codebuild, dev)
    with pytest.raises(ImageBuildError) as failed:
        wait_for_build(codebuild, logs, build_id, poll_seconds=0, sleep=lambda _: None)
    message = str(failed.value)
    assert f"image build {build_id} FAILED in phase BUILD" in message
    assert "docker build -f containers/training/Dockerfile. Reason: exit status 1" in message
    assert message.endswith("(last log line: ERROR: No matching distribution found for numpy==9.9)")


def test_waiting_gives_up_after_the_timeout(aws: AwsTarget, dev: EnvironmentConfig,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(dev)
    script_builds(monkeypatch, MOTO_ACCOUNT, dev.region, project, BuildOutcome(polls_in_progress=100))
    codebuild, logs = _clients(dev)
    ticks = iter(range(100))
    with pytest.raises(ImageBuildError, match="still IN_PROGRESS after 60 s"):
        wait_for_build(codebuild, logs, start_image_build(codebuild, dev), poll_seconds=30, timeout_seconds=60,
                       sleep=lambda _: None, clock=lambda: float(next(ticks) * 30))


def test_cli_fails_the_route_step_with_one_line(aws: AwsTarget, dev: EnvironmentConfig,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(dev)
    script_builds(monkeypatch, MOTO_ACCOUNT, dev.region, project,
                  BuildOutcome(status="FAULT", failed_phase="PROVISIONING", message="Cannot pull image"))
    assert main(["images", "build", "--env", "dev", "--wait", "--poll-seconds", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: image build ")
    assert err[0].endswith("FAULT in phase PROVISIONING: Cannot pull image")


def test_cli_succeeds_and_names_the_tag(aws: AwsTarget, dev: EnvironmentConfig, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from config.images import source_tag

    project = _project(dev)
    script_builds(monkeypatch, MOTO_ACCOUNT, dev.region, project, BuildOutcome())
    assert main(["images", "build", "--env", "dev", "--wait", "--poll-seconds", "0"]) == 0
    out = capsys.readouterr().out
    assert f"(tag {source_tag()})" in out
    assert "image build SUCCEEDED" in out


def test_a_missing_project_says_deploy_the_containers_stack_first(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["images", "build", "--env", "dev"]) == 1
    assert "deploy the containers stack first (mlops-kit-dev-containers)" in capsys.readouterr().err
