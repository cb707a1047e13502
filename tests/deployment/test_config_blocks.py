"""The endpoint, monitoring and training-schedule keys: validated at load, naming environment and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import CONFIG_FILE, ConfigError, load_project


def _write(tmp_path: Path, env: str, block: str, values: dict[str, Any]) -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    raw["environments"][env][block] = {**raw["environments"][env][block], **values}
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("env", "block", "values", "message"),
    [
        ("prod", "endpoint", {"serverless": {"memory_mb": 2048, "max_concurrency": 5}}, "non-prod"),
        ("dev", "endpoint", {"serverless": {"memory_mb": 1000}}, "endpoint.serverless.memory_mb"),
        ("dev", "monitoring", {"engine": "scheduled-job", "image": "prebuilt"}, "runs only under engine"),
        ("dev", "monitoring", {"engine": "cron"}, "monitoring.engine"),
        ("dev", "monitoring", {"features": ["a", "a"]}, "twice"),
        ("dev", "monitoring", {"features": ["bad name"]}, "monitoring.features.0"),
        ("staging", "training", {"schedule": "every monday"}, "training.schedule"),
    ],
)
def test_bad_deployment_keys_fail_at_load_naming_environment_and_key(
    tmp_path: Path, env: str, block: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"environment '{env}'.*{message}|{message}.*") as caught:
        load_project(_write(tmp_path, env, block, values))
    assert f"environment {env!r}" in str(caught.value)


def test_default_monitored_features_are_the_default_data_sets_features() -> None:
    from pipelines.datasets import default_dataset

    features = [column for column in default_dataset().columns if column != "target"]
    for env in load_project().environments.values():
        assert list(env.monitoring.features) == features


def test_model_monitor_is_not_the_default_engine_anywhere() -> None:
    # Model Monitor is closed to new customers: the default must deploy in a new account.
    assert {env.monitoring.engine for env in load_project().environments.values()} == {"scheduled-job"}
    prod = load_project().environments["prod"]
    assert not prod.monitoring.retrain_on_drift
    assert prod.training.schedule is None


def test_a_govcloud_environment_gets_no_standard_partition_arn_in_any_spec() -> None:
    from config.naming import Names
    from deployment.alarms import endpoint_alarms, monitoring_alarms
    from deployment.alerts import alerts_topic
    from deployment.dashboard import dashboard_body
    from deployment.endpoint import endpoint_spec, served_version
    from deployment.monitoring import monitoring_jobs

    env = load_project().environments["prod"].model_copy(update={"region": "us-gov-west-1"})
    served = served_version(Names.of(env), "3")
    specs = [endpoint_spec(env, served), *endpoint_alarms(env), *monitoring_alarms(env), alerts_topic(env),
             dashboard_body(env), *(job.scheduled_request() for job in monitoring_jobs(env, served, "t"))]
    text = repr(specs)
    assert "arn:aws:" not in text
    assert text.count("arn:aws-us-gov:") > 30


def test_approval_policy_is_the_environments_gate() -> None:
    from deployment.approval import approval_policy

    for env in load_project().environments.values():
        policy = approval_policy(env)
        assert (policy.mode, policy.metric, policy.threshold) == (
            env.approval_mode, env.quality_gate.metric, env.quality_gate.threshold)
        assert policy.direction == "higher"


def test_a_schedule_name_too_long_for_a_job_name_is_refused_by_name() -> None:
    from dataclasses import replace

    from config.naming import Names
    from deployment.endpoint import served_version
    from deployment.errors import DeploymentError
    from deployment.monitoring import data_quality_job

    env = load_project().environments["dev"]
    job = replace(data_quality_job(env, served_version(Names.of(env), "3"), "t"), schedule_name="x" * 47)
    with pytest.raises(DeploymentError, match="leaves no room"):
        job.scheduled_request()
