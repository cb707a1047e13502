"""The `mlops` command: pipeline definition/run and registry commands, output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.aws import AwsTarget, client
from mlops.cli import main
from tests.mlops.test_registry import seed_versions

REPO_ROOT = Path(__file__).resolve().parents[2]


def _make_data_bucket(target: AwsTarget, env: EnvironmentConfig) -> None:
    client("s3", target).create_bucket(
        Bucket=Names.of(env).bucket("data"), CreateBucketConfiguration={"LocationConstraint": target.region}
    )


def test_pipeline_definition_prints_the_definition_json(capsys: pytest.CaptureFixture[str]) -> None:
    from config.settings import load_environment
    from pipelines.definition import definition_json

    assert main(["pipeline", "definition", "--env", "staging", "--image-tag", "t1"]) == 0
    out = capsys.readouterr().out
    assert out == definition_json(load_environment("staging"), image_tag="t1")
    assert json.loads(out)["Steps"][0]["Name"] == "Preprocess"


def test_pipeline_run_upserts_starts_and_waits(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_data_bucket(aws, dev)
    assert main(["pipeline", "run", "--env", "dev", "--param", "MetricThreshold=0.5", "--wait"]) == 0
    out = capsys.readouterr().out
    assert f"pipeline {Names.of(dev).pipeline} created" in out
    assert "uploaded the default data set" in out
    assert "pipeline execution Succeeded" in out
    assert main(["pipeline", "run", "--env", "dev"]) == 0
    # The same definition again: nothing to update (the CI/CD route's retrain after the stack deployed it).
    assert f"pipeline {Names.of(dev).pipeline} unchanged" in capsys.readouterr().out
    sm = client("sagemaker", aws)
    executions = sm.list_pipeline_executions(PipelineName=Names.of(dev).pipeline)["PipelineExecutionSummaries"]
    assert len(executions) == 2
    definition = json.loads(sm.describe_pipeline(PipelineName=Names.of(dev).pipeline)["PipelineDefinition"])
    assert [step["Name"] for step in definition["Steps"]][:2] == ["Preprocess", "DataQualityBaseline"]


def test_pipeline_run_refuses_an_unknown_parameter_in_one_line(
    aws: AwsTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pipeline", "run", "--env", "dev", "--param", "Nope=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --param 'Nope': not a pipeline parameter")
    assert len(err.strip().splitlines()) == 1


def test_registry_list_shows_versions_status_and_metrics(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_versions(aws, dev, [0.9123, 0.9711], ["Approved", "PendingManualApproval"])
    assert main(["registry", "list", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "0.9711" in out
    assert "0.9123" in out
    assert "PendingManualApproval" in out
    assert out.index("0.9711") < out.index("0.9123"), "newest first"


def test_registry_approve_reject_and_rollback_commands(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_versions(aws, dev, [0.9, 0.95])
    assert main(["registry", "approve", "--env", "dev", "--version", "1"]) == 0
    assert main(["registry", "approve", "--env", "dev", "--version", "2", "--reason", "looks good"]) == 0
    assert main(["registry", "rollback", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert "version 2 Rejected, version 1 Approved" in out
    assert main(["registry", "reject", "--env", "dev", "--version", "1"]) == 0
    packages = client("sagemaker", aws).list_model_packages(ModelPackageGroupName=Names.of(dev).model_package_group)
    assert {p["ModelPackageVersion"]: p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]} == {
        1: "Rejected", 2: "Rejected"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["registry", "approve", "--env", "dev", "--version", "9"], "has no version 9; versions: 1"),
        (["registry", "rollback", "--env", "dev"], "no approved version to roll back from"),
        (["registry", "list", "--env", "nowhere"], "unknown environment 'nowhere'"),
    ],
    ids=["unknown-version", "nothing-to-roll-back", "unknown-environment"],
)
def test_registry_errors_are_one_line_and_exit_1(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str],
    argv: list[str], expected: str,
) -> None:
    seed_versions(aws, dev, [0.9])
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1


def test_registry_list_of_an_empty_group_is_an_error(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_versions(aws, dev, [])
    assert main(["registry", "list", "--env", "dev"]) == 1
    assert "has no model versions yet" in capsys.readouterr().err


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A real moto server on a free loopback port (its state is reset around the test)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    yield url
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    server.stop()


@pytest.mark.slow
def test_cli_process_talks_to_a_local_endpoint_and_waits_without_step_listing(
    moto_server: str, dev: EnvironmentConfig, tmp_path: Path
) -> None:
    # The installed command in its own process, pointed at loopback by the environment variable;
    # moto's server answers list_pipeline_execution_steps with HTTP 500, which --wait must survive.
    _make_data_bucket(AwsTarget.local(dev.region, moto_server), dev)
    env = {**os.environ, "MLOPS_AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "mlops.cli", "pipeline", "run", "--env", "dev", "--wait", "--poll-seconds", "0.1"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "pipeline execution Succeeded" in result.stdout
    assert "step progress is not available" in result.stdout
    listed = subprocess.run([sys.executable, "-m", "mlops.cli", "registry", "list", "--env", "dev",
                             "--endpoint-url", moto_server], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                            timeout=60, check=False)
    assert listed.returncode == 1
    assert listed.stderr.strip() == (
        f"error: model package group '{Names.of(dev).model_package_group}' does not exist "
        "(is the registry stack deployed?)"
    )


def test_local_commands_do_not_import_the_cli() -> None:
    # Local and cloud registry commands share mlops/registry.py; nothing under mlops.local re-enters the CLI.
    check = ("import sys, mlops.local.commands, mlops.local.loop.run\n"
             "print(sorted(name for name in sys.modules if name == 'mlops.cli'))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert result.stdout.strip() == "[]"


def test_pipeline_run_refuses_the_approval_bypass_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Refused before any AWS call: no endpoint is needed.
    assert main(["pipeline", "run", "--env", "staging", "--param", "ModelApprovalStatus=Approved",
                 "--param", "MetricThreshold=0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --param ModelApprovalStatus: not a pipeline parameter")
    assert len(err.strip().splitlines()) == 1
    assert main(["pipeline", "run", "--env", "prod", "--param", "MetricThreshold=0"]) == 1
    assert "quality gate is fixed at auc 0.95" in capsys.readouterr().err
