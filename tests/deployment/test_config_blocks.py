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
