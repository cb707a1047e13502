"""Persona trust in the configuration, and the one ARN helper with the region's partition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.arns import arn, partition_of
from config.naming import Names
from config.settings import ConfigError, load_environment, load_project
from governance.execution_role import execution_role_policy
from governance.policies import permission_boundary, persona_policy
from governance.trust import persona_trust_policy
from tests.config.test_settings import _write_config

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ({"personas.model-approver.roles": ["arn:aws:iam::111111111111:role/ci"]},
         "model-approver must not trust roles"),
        ({"personas.model-approver.require_mfa": False}, "model-approver.require_mfa cannot be turned off"),
        ({"personas.auditor": {}}, "trust at least one principal"),
        ({"personas.auditor": {"users": ["alice"]}}, "personas.auditor.users.0"),
        ({"personas.ml-engineer.roles": ["arn:aws:iam::111111111111:role/*"]}, "personas.ml-engineer.roles.0"),
        ({"personas.release-manager": {"sso_permission_sets": ["X"]}}, "unknown: release-manager"),
        ({"personas.ml-engineer.roles": ["arn:aws-cn:iam::111111111111:role/ci"]},
         "not in the partition 'aws' of region eu-west-1"),
    ],
)
def test_bad_persona_trust_is_refused_naming_environment_and_key(
    tmp_path: Path, mutation: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(_write_config(tmp_path, mutation))
    message = str(caught.value)
    assert "environment 'staging'" in message
    assert expected in message
    assert len(message.splitlines()) == 1


def test_a_missing_persona_is_named(tmp_path: Path) -> None:
    raw = _write_config(tmp_path, {"personas": {"auditor": {"sso_permission_sets": ["A"]}}})
    with pytest.raises(ConfigError, match="missing: data-scientist, ml-engineer, model-approver"):
        load_project(raw)


@pytest.mark.parametrize(("region", "partition"), [
    ("eu-west-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
])
def test_arns_take_the_partition_of_the_region(region: str, partition: str) -> None:
    assert partition_of(region) == partition
    assert arn("sns", "alerts", region=region, account="1") == f"arn:{partition}:sns:{region}:1:alerts"
    assert arn("s3", "bucket", region=region, global_service=True) == f"arn:{partition}:s3:::bucket"


def test_a_govcloud_environment_writes_no_standard_partition_arn() -> None:
    prod = load_environment("prod")
    # Configured role ARNs are data of the standard partition (the CI/CD route's role): not built here.
    personas = {name: trust.model_copy(update={"roles": ()}) for name, trust in prod.personas.items()}
    env = prod.model_copy(update={"region": "us-gov-west-1", "personas": personas})
    names = Names.of(env)
    key = "arn:aws-us-gov:kms:us-gov-west-1:333333333333:key/1"
    documents = [execution_role_policy(names, key, vpc=env.vpc), permission_boundary(names, key),
                 *(persona_policy(p, names, key) for p in env.personas),
                 *(persona_trust_policy(p, names, trust) for p, trust in env.personas.items())]
    text = repr(documents) + names.execution_role_arn + names.model_package_group_arn + names.pipeline_arn
    assert "arn:aws:" not in text
    assert text.count("arn:aws-us-gov:") > 50


def test_no_arn_is_written_by_hand_outside_the_helper() -> None:
    # Project code only (tests may spell out expected ARNs); configuration values and the ARN patterns
    # that validate them are data, not built ARNs.
    hand_written = re.compile(r"""f?["']arn:aws:""")
    offenders = []
    for folder in ("app.py", "config", "stacks", "governance", "pipelines", "mlops", "containers"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")) if folder != "app.py" else [REPO_ROOT / folder]:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if hand_written.search(line):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "build ARNs with config.arns.arn (or Names.arn):\n" + "\n".join(offenders)
