"""The cicd block loads and refuses bad values with the key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import CONFIG_FILE, ConfigError, load_project


def _write(tmp_path: Path, mutate: dict[str, Any]) -> Path:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    for dotted, value in mutate.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_route_deploys_dev_staging_prod_with_approval_before_prod() -> None:
    cicd = load_project().cicd
    assert cicd is not None
    assert cicd.stages == ("dev", "staging", "prod")
    assert cicd.retrain_in == "dev"
    assert cicd.approval_before == ("prod",)
    assert cicd.check_endpoint_in == ("staging", "prod")
    assert cicd.source.provider == "codeconnections"
    assert cicd.source.repository == "example-org/mlops-kit"
    assert cicd.source.branch == "main"


def test_a_project_without_a_cicd_block_still_loads(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    del raw["cicd"]
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_project(path).cicd is None


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ({"cicd.account": "4444"}, r"key 'cicd\.account'"),
        ({"cicd.region": "Europe"}, r"key 'cicd\.region'"),
        ({"cicd.source.connection_arn": "arn:aws:s3:::bucket"}, r"key 'cicd\.source\.connection_arn'"),
        ({"cicd.source.connection_arn": None}, r"key 'cicd\.source'.*connection_arn is required"),
        ({"cicd.source.repository": "mlops-kit"}, r"key 'cicd\.source'.*owner/name"),
        ({"cicd.source.provider": "svn"}, r"key 'cicd\.source\.provider'"),
        ({"cicd.stages": ["dev", "dev"]}, r"key 'cicd'.*must not repeat"),
        ({"cicd.stages": ["dev", "qa", "staging", "prod"]}, r"cicd\.stages: unknown environment 'qa'"),
        ({"cicd.retrain_in": "staging"}, r"key 'cicd'.*retrain_in must be the first stage"),
        ({"cicd.approval_before": ["dev"]}, r"key 'cicd'.*approval_before cannot name the first stage"),
        ({"cicd.check_endpoint_in": ["qa"]}, r"key 'cicd'.*check_endpoint_in: 'qa' is not one of the stages"),
        ({"environments.prod.personas.ml-engineer.roles": []},
         r"environment 'prod' must list arn:aws:iam::444444444444:role/mlops-kit-cicd-stage-access in "
         r"personas\.ml-engineer\.roles"),
        ({"environments.staging.trusted_accounts": ["111111111111"]},
         r"environment 'staging' must list the tooling account 444444444444 in trusted_accounts"),
    ],
)
def test_bad_cicd_values_are_refused_naming_the_key(tmp_path: Path, mutation: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_project(_write(tmp_path, mutation))


def test_codecommit_is_an_option_with_a_repository_name_and_no_connection(tmp_path: Path) -> None:
    path = _write(tmp_path, {"cicd.source": {"provider": "codecommit", "repository": "mlops-kit"}})
    cicd = load_project(path).cicd
    assert cicd is not None
    assert cicd.source.provider == "codecommit"
    assert cicd.source.connection_arn is None
