"""The one typed configuration: environments.yaml loaded and validated into frozen models."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_FILE = Path(__file__).with_name("environments.yaml")

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class ConfigError(Exception):
    """A configuration file or value that cannot be used; the message names environment and key."""


class ProblemType(StrEnum):
    BINARY = "BinaryClassification"
    MULTICLASS = "MulticlassClassification"
    REGRESSION = "Regression"


# Quality-gate metrics per problem type, with the direction that counts as better. The names are the
# keys of SageMaker's model-quality metrics file (see tests/fixtures/sagemaker/model_quality_*.json).
GATE_METRICS: dict[ProblemType, dict[str, Literal["higher", "lower"]]] = {
    ProblemType.BINARY: {
        "auc": "higher",
        "accuracy": "higher",
        "f1": "higher",
        "precision": "higher",
        "recall": "higher",
    },
    ProblemType.MULTICLASS: {
        "accuracy": "higher",
        "weighted_f1": "higher",
        "weighted_precision": "higher",
        "weighted_recall": "higher",
    },
    ProblemType.REGRESSION: {"r2": "higher", "mae": "lower", "mse": "lower", "rmse": "lower"},
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Frozen):
    input_uri: str = Field("", description="s3:// URI of the raw CSV; empty = the bundled default data set")
    target: str = Field("target", min_length=1)
    problem_type: ProblemType = ProblemType.BINARY

    @field_validator("input_uri")
    @classmethod
    def _s3_or_empty(cls, value: str) -> str:
        if value and not value.startswith("s3://"):
            raise ValueError("must be an s3:// URI or empty for the default data set")
        return value


class JobResources(_Frozen):
    instance_type: InstanceType
    instance_count: int = Field(1, ge=1, le=20)


class TrainingConfig(JobResources):
    # SageMaker passes every hyperparameter as a string; keep them strings here too.
    hyperparameters: dict[str, str] = Field(default_factory=dict)


class QualityGate(_Frozen):
    metric: str
    threshold: float

    @property
    def direction(self) -> Literal["higher", "lower"]:
        for metrics in GATE_METRICS.values():
            if self.metric in metrics:
                return metrics[self.metric]
        raise ConfigError(f"unknown quality-gate metric {self.metric!r}")


class EndpointConfig(_Frozen):
    instance_type: InstanceType
    instance_count: int = Field(1, ge=1, le=20)
    max_instance_count: int = Field(2, ge=1, le=100)
    canary_percent: int = Field(10, ge=1, le=50)
    canary_wait_minutes: int = Field(5, ge=1, le=60)
    data_capture_percent: int = Field(100, ge=1, le=100)

    @model_validator(mode="after")
    def _max_at_least_initial(self) -> EndpointConfig:
        if self.max_instance_count < self.instance_count:
            raise ValueError("max_instance_count must be >= instance_count")
        return self


_SCHEDULE = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")


class MonitoringConfig(_Frozen):
    schedule: str = "cron(0 * ? * * *)"
    drift_threshold: float = Field(0.2, gt=0, le=1)

    @field_validator("schedule")
    @classmethod
    def _schedule_expression(cls, value: str) -> str:
        if not _SCHEDULE.match(value):
            raise ValueError("must be a cron(...) or rate(N unit) expression")
        return value


class AlertsConfig(_Frozen):
    emails: tuple[Email, ...] = Field(min_length=1)


class VpcConfig(_Frozen):
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    subnet_ids: tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...] = Field(min_length=1)
    security_group_ids: tuple[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")], ...] = Field(min_length=1)


class EnvironmentConfig(_Frozen):
    """Everything one environment (dev, staging, prod) is provisioned and run with."""

    name: str
    project: str
    account: AccountId
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    approval_mode: Literal["auto", "manual"]
    data: DataConfig = DataConfig()
    processing: JobResources
    training: TrainingConfig
    quality_gate: QualityGate
    endpoint: EndpointConfig
    monitoring: MonitoringConfig = MonitoringConfig()
    alerts: AlertsConfig
    vpc: VpcConfig | None = None
    trusted_accounts: tuple[AccountId, ...] = ()

    @model_validator(mode="after")
    def _gate_fits_problem(self) -> EnvironmentConfig:
        allowed = GATE_METRICS[self.data.problem_type]
        if self.quality_gate.metric not in allowed:
            raise ValueError(
                f"quality_gate.metric {self.quality_gate.metric!r} does not fit problem_type "
                f"{self.data.problem_type.value}; use one of {sorted(allowed)}"
            )
        if self.account in self.trusted_accounts:
            raise ValueError("trusted_accounts must not list the environment's own account")
        return self


class ProjectConfig(_Frozen):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}[a-z0-9]$")]
    environments: dict[str, EnvironmentConfig]


def _describe(error: ValidationError, env_name: str | None) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        where = f"environment {env_name!r}, key {key!r}" if env_name else f"key {key!r}"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def load_project(path: Path = CONFIG_FILE) -> ProjectConfig:
    """Read and validate the whole configuration file; raise ConfigError naming env and key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("environments"), dict) or not raw["environments"]:
        raise ConfigError(f"{path}: expected a mapping with 'project' and a non-empty 'environments' mapping")
    project = raw.get("project")
    environments: dict[str, EnvironmentConfig] = {}
    for env_name, values in raw["environments"].items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: environment {env_name!r} must be a mapping of keys")
        data: dict[str, Any] = {**values, "name": env_name, "project": project}
        try:
            environments[env_name] = EnvironmentConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {_describe(exc, env_name)}") from exc
    try:
        return ProjectConfig.model_validate({"project": project, "environments": environments})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, None)}") from exc


def load_environment(name: str, path: Path = CONFIG_FILE) -> EnvironmentConfig:
    """One environment by name; an unknown name is an error, never a fallback to dev."""
    project = load_project(path)
    try:
        return project.environments[name]
    except KeyError:
        known = ", ".join(sorted(project.environments))
        raise ConfigError(f"{path}: unknown environment {name!r}; known environments: {known}") from None
