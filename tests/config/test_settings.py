"""The configuration loads for every environment and refuses bad values with the environment and key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.settings import CONFIG_FILE, ConfigError, ProblemType, load_environment, load_project

ENVIRONMENTS = ("dev", "staging", "prod")


def _write_config(tmp_path: Path, mutate: dict[str, object], env: str = "staging") -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    target = raw["environments"][env]
    for dotted, value in mutate.items():
        *parents, leaf = dotted.split(".")
        node = target
        for part in parents:
            node = node[part]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


_DELETE = object()


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_environment_loads_with_its_own_values(name: str) -> None:
    env = load_environment(name)
    assert env.name == name
    assert env.project == "mlops-kit"
    assert len(env.account) == 12
    assert env.data.problem_type is ProblemType.BINARY


def test_approval_is_automatic_only_in_dev() -> None:
    modes = {name: load_environment(name).approval_mode for name in ENVIRONMENTS}
    assert modes == {"dev": "auto", "staging": "manual", "prod": "manual"}


def test_environments_have_distinct_accounts() -> None:
    accounts = [env.account for env in load_project().environments.values()]
    assert len(set(accounts)) == len(accounts)


def test_unknown_environment_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'.*dev, prod, staging"):
        load_environment("qa")


@pytest.mark.parametrize(
    ("mutation", "key"),
    [
        ({"account": "12345"}, "account"),
        ({"region": "Europe"}, "region"),
        ({"approval_mode": "sometimes"}, "approval_mode"),
        ({"training.instance_type": "m5.large"}, "training.instance_type"),
        ({"processing.instance_count": 0}, "processing.instance_count"),
        ({"endpoint.max_instance_count": 1}, "endpoint"),
        ({"monitoring.schedule": "hourly"}, "monitoring.schedule"),
        ({"monitoring.drift_threshold": 3}, "monitoring.drift_threshold"),
        ({"alerts.emails": ["not-an-address"]}, "alerts.emails.0"),
        ({"quality_gate.metric": "rmse"}, "quality_gate.metric"),
        ({"data.input_uri": "/tmp/data.csv"}, "data.input_uri"),
        ({"vpc.subnet_ids": []}, "vpc.subnet_ids"),
        ({"trusted_accounts": ["222222222222"]}, "trusted_accounts"),
        ({"training.hyperparameters": {"n_estimators": 100}}, "training.hyperparameters.n_estimators"),
        ({"unexpected_key": 1}, "unexpected_key"),
        ({"alerts": _DELETE}, "alerts"),
    ],
)
def test_bad_value_fails_naming_environment_and_key(tmp_path: Path, mutation: dict[str, object], key: str) -> None:
    path = _write_config(tmp_path, mutation)
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    message = str(caught.value)
    assert "environment 'staging'" in message
    assert key in message


def test_config_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text("environments: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_project(path)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_project(tmp_path / "missing.yaml")


def test_configuration_is_frozen() -> None:
    env = load_environment("dev")
    with pytest.raises(ValueError, match="frozen"):
        setattr(env, "account", "999999999999")  # noqa: B010 - mypy knows it is frozen; this proves it at run time


def test_quality_gate_direction_follows_the_metric(tmp_path: Path) -> None:
    path = _write_config(
        tmp_path, {"data.problem_type": "Regression", "quality_gate.metric": "rmse", "quality_gate.threshold": 5.0}
    )
    env = load_project(path).environments["staging"]
    assert env.quality_gate.direction == "lower"
    assert load_environment("dev").quality_gate.direction == "higher"
