"""Before `cdk deploy` serves a version: check it is Approved and stage its drift baseline for monitoring.

Synthesis is offline, so the registry is read here, at deploy time: the version's DriftCheckBaselines
are copied (constraints tuned with `monitoring.drift_threshold`) to the version-named location the
Monitoring stack's jobs read (deployment/monitoring.py `baseline_for`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.monitoring import (
    Baseline,
    baseline_for,
    gate_constraints,
    model_quality_baseline_for,
    schedule_constraints,
)
from mlops import registry
from mlops.errors import RegistryError


@dataclass(frozen=True)
class PreparedDeploy:
    version: int
    package_arn: str
    baseline: Baseline

    def context_arguments(self, env: EnvironmentConfig) -> str:
        return f"-c env={env.name} -c model_version={self.version}"


def newest_approved_version(sm: Any, env: EnvironmentConfig) -> registry.ModelVersion:
    group = Names.of(env).model_package_group
    registry.ensure_group(sm, group)
    newest = registry.newest_approved_package(sm, group)
    if newest is None:
        raise RegistryError(f"model package group {group!r} has no Approved version to deploy yet")
    return newest


def _read_json(s3: Any, uri: str, what: str = "the drift baseline") -> dict[str, Any]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        raise RegistryError(f"{uri}: cannot read {what} ({error.response['Error'].get('Code')})") from error
    try:
        document: dict[str, Any] = json.loads(body)
    except ValueError as error:
        raise RegistryError(f"{uri}: {what} is not JSON ({error})") from error
    return document


def _write_json(s3: Any, uri: str, document: dict[str, Any]) -> None:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document, indent=2).encode(), ContentType="application/json")


def prepare_deploy(sm: Any, s3: Any, env: EnvironmentConfig, version: int | None = None) -> PreparedDeploy:
    """Refuse a version that is not Approved; stage its baseline where the monitoring jobs read it."""
    names = Names.of(env)
    model = (newest_approved_version(sm, env) if version is None
             else registry.require_approved(sm, names.model_package_group, version))
    statistics_uri, constraints_uri = registry.drift_baseline_uris(sm, model)
    statistics = _read_json(s3, statistics_uri)
    constraints = _read_json(s3, constraints_uri)
    features = {str(feature.get("name")) for feature in constraints.get("features", [])}
    missing = [feature for feature in env.monitoring.features if feature not in features]
    if missing:
        raise RegistryError(f"version {model.version}: monitoring.features {missing} of environment {env.name!r} "
                            f"are not in its drift baseline {constraints_uri}")
    staged = baseline_for(names, model.version)
    _write_json(s3, staged.statistics_uri, statistics)
    _write_json(s3, staged.constraints_uri, schedule_constraints(constraints, env.monitoring.drift_threshold))
    # The model-quality job checks live metrics against the gate that approved the version.
    quality = model_quality_baseline_for(names, model.version)
    evaluation = _read_json(s3, registry.evaluation_uri(sm, model), "the evaluation statistics")
    _write_json(s3, quality.statistics_uri, evaluation)
    _write_json(s3, quality.constraints_uri, gate_constraints(env))
    return PreparedDeploy(version=model.version, package_arn=model.arn, baseline=staged)
