"""The endpoint: which version it serves, its variant, data capture, autoscaling and canary, as data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.errors import DeploymentError

VARIANT = "AllTraffic"
# Capture lands under `s3://<capture bucket>/<CAPTURE_ROOT>/<endpoint>/<variant>/yyyy/mm/dd/hh/`.
CAPTURE_ROOT = "datacapture"
CAPTURE_CONTENT_TYPES = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
# The platform's limits (6 MB payloads, 60 s per invocation): the server enforces the same ones.
SERVING_ENVIRONMENT = {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "6", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "60"}
SCALING_METRIC = "SageMakerVariantInvocationsPerInstance"
SCALE_IN_COOLDOWN_S = 300
SCALE_OUT_COOLDOWN_S = 60
# After the canary took all traffic, the old fleet stays this long so a late alarm can still roll back.
TERMINATION_WAIT_S = 600
MAX_EXECUTION_TIMEOUT_S = 3 * 3600

_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/([^/]+)/(\d+)$")


@dataclass(frozen=True)
class ServedVersion:
    """The one Approved model version an endpoint serves, as the template records it."""

    version: int
    package_arn: str


def served_version(names: Names, value: str) -> ServedVersion:
    """`-c model_version=N` or the package ARN; an ARN of another group, account or region is refused."""
    text = value.strip()
    if text.isdigit() and int(text) > 0:
        return ServedVersion(version=int(text), package_arn=names.model_package_arn(int(text)))
    match = _PACKAGE_ARN.match(text)
    if match is None:
        raise DeploymentError(
            f"model_version {value!r} is neither a version number nor a model package ARN "
            f"(e.g. -c model_version=3 or -c model_version={names.model_package_arn(3)})"
        )
    region, account, group, version = match.groups()
    if (region, account, group) != (names.region, names.account, names.model_package_group):
        raise DeploymentError(
            f"model_version {value!r} is not a version of {names.model_package_group} in "
            f"{names.account}/{names.region} (environment {names.env!r})"
        )
    return ServedVersion(version=int(version), package_arn=names.model_package_arn(int(version)))


@dataclass(frozen=True)
class CaptureSpec:
    """Data capture of the endpoint: what is captured, how much, where, with which key."""

    sampling_percent: int
    destination: str
    kms_key: str

    def variant_prefix(self, endpoint: str, variant: str) -> str:
        return f"{self.destination}/{endpoint}/{variant}/"

    def hour_prefix(self, endpoint: str, variant: str, when: datetime) -> str:
        """The folder SageMaker writes one hour of capture into (UTC)."""
        hour = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        return f"{self.variant_prefix(endpoint, variant)}{hour:%Y/%m/%d/%H}/"

    def data_capture_config(self) -> dict[str, Any]:
        """`DataCaptureConfig` of CreateEndpointConfig (and of the L1 CfnEndpointConfig)."""
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": self.sampling_percent,
            "DestinationS3Uri": self.destination,
            "KmsKeyId": self.kms_key,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": CAPTURE_CONTENT_TYPES,
        }


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model_name: str
    instance_type: str | None
    initial_instance_count: int | None
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int | None = None

    @property
    def serverless(self) -> bool:
        return self.serverless_memory_mb is not None

    def production_variant(self) -> dict[str, Any]:
        variant: dict[str, Any] = {"VariantName": self.name, "ModelName": self.model_name}
        if self.serverless:
            variant["ServerlessConfig"] = {"MemorySizeInMB": self.serverless_memory_mb,
                                           "MaxConcurrency": self.serverless_max_concurrency}
        else:
            variant.update(InstanceType=self.instance_type, InitialInstanceCount=self.initial_instance_count,
                           InitialVariantWeight=1.0)
        return variant


@dataclass(frozen=True)
class AutoscalingSpec:
    """Target tracking of invocations per instance between the configured instance counts."""

    resource_id: str
    min_capacity: int
    max_capacity: int
    target_invocations: int
    scalable_dimension: str = "sagemaker:variant:DesiredInstanceCount"
    metric: str = SCALING_METRIC
    scale_in_cooldown_s: int = SCALE_IN_COOLDOWN_S
    scale_out_cooldown_s: int = SCALE_OUT_COOLDOWN_S


@dataclass(frozen=True)
class CanarySpec:
    """Blue/green canary updates that roll back on the named alarms."""

    percent: int
    wait_minutes: int
    rollback_alarms: tuple[str, ...]

    def deployment_config(self) -> dict[str, Any]:
        """`DeploymentConfig` of CreateEndpoint/UpdateEndpoint."""
        return {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": self.percent},
                    "WaitIntervalInSeconds": self.wait_minutes * 60,
                },
                "TerminationWaitInSeconds": TERMINATION_WAIT_S,
                "MaximumExecutionTimeoutInSeconds": MAX_EXECUTION_TIMEOUT_S,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in self.rollback_alarms]},
        }


@dataclass(frozen=True)
class EndpointSpec:
    """Everything the Endpoint stack creates and local mode serves, for one served version."""

    endpoint_name: str
    endpoint_config_name: str
    served: ServedVersion
    execution_role_arn: str
    kms_key: str
    serving_environment: dict[str, str]
    network_isolation: bool
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    variant: VariantSpec
    capture: CaptureSpec | None
    autoscaling: AutoscalingSpec | None
    canary: CanarySpec | None

    @property
    def model_name(self) -> str:
        return self.variant.model_name

    def vpc_config(self) -> dict[str, Any] | None:
        if not self.subnet_ids:
            return None
        return {"Subnets": list(self.subnet_ids), "SecurityGroupIds": list(self.security_group_ids)}


def kms_key_alias_arn(names: Names) -> str:
    return names.arn("kms", names.kms_alias)


def capture_destination(names: Names) -> str:
    """`DestinationS3Uri` of capture; SageMaker and local mode's server add `<endpoint>/<variant>/yyyy/mm/dd/hh/`."""
    return f"s3://{names.bucket('capture')}/{CAPTURE_ROOT}"


def capture_spec(env: EnvironmentConfig) -> CaptureSpec:
    """The environment's capture settings (also what local mode's server writes, minus the sampling RNG)."""
    names = Names.of(env)
    return CaptureSpec(sampling_percent=env.endpoint.data_capture_percent, destination=capture_destination(names),
                       kms_key=kms_key_alias_arn(names))


def endpoint_spec(env: EnvironmentConfig, served: ServedVersion) -> EndpointSpec:
    names = Names.of(env)
    config = env.endpoint
    serverless = config.serverless
    variant = VariantSpec(
        name=VARIANT,
        model_name=names.model(served.version),
        instance_type=None if serverless else config.instance_type,
        initial_instance_count=None if serverless else config.instance_count,
        serverless_memory_mb=serverless.memory_mb if serverless else None,
        serverless_max_concurrency=serverless.max_concurrency if serverless else None,
    )
    # Serverless variants support neither data capture, autoscaling policies of ours, nor blue/green.
    instances = serverless is None
    return EndpointSpec(
        endpoint_name=names.endpoint,
        endpoint_config_name=names.endpoint_config(served.version),
        served=served,
        execution_role_arn=names.execution_role_arn,
        kms_key=kms_key_alias_arn(names),
        serving_environment=dict(SERVING_ENVIRONMENT),
        network_isolation=True,
        subnet_ids=env.vpc.subnet_ids if env.vpc else (),
        security_group_ids=env.vpc.security_group_ids if env.vpc else (),
        variant=variant,
        capture=capture_spec(env) if instances else None,
        autoscaling=AutoscalingSpec(
            resource_id=f"endpoint/{names.endpoint}/variant/{VARIANT}",
            min_capacity=config.instance_count, max_capacity=config.max_instance_count,
            target_invocations=config.invocations_per_instance,
        ) if instances else None,
        canary=CanarySpec(percent=config.canary_percent, wait_minutes=config.canary_wait_minutes,
                          rollback_alarms=(names.alarm("endpoint-5xx"), names.alarm("endpoint-p99-latency")))
        if instances else None,
    )
