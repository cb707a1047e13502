"""The one typed configuration: environments.yaml loaded and validated into frozen models."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config import arns
from config.arns import partition_of
from containers.contracts.data_schema import DataSchema

CONFIG_FILE = Path(__file__).with_name("environments.yaml")
REPO_ROOT = Path(__file__).resolve().parents[1]

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
    # `schema` is the YAML key; dumps use it too, so a dumped config validates again (local mode
    # hands the environment to its definition build as JSON).
    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    input_uri: str = Field("", description="s3:// URI of the raw CSV; empty = the bundled default data set")
    target: str = Field("target", min_length=1)
    problem_type: ProblemType = ProblemType.BINARY
    # The data contract (`data.schema` in YAML): column -> type, categories, min/max, required. Preprocess
    # enforces it, the model artifact carries it, the server and the monitor check against it.
    data_schema: DataSchema | None = Field(None, alias="schema")

    @field_validator("input_uri")
    @classmethod
    def _s3_or_empty(cls, value: str) -> str:
        if value and not value.startswith("s3://"):
            raise ValueError("must be an s3:// URI or empty for the default data set")
        return value


class InferenceCodeConfig(_Frozen):
    """Your inference code (`inference.code_dir`): a folder with inference.py (model_fn, input_fn,
    predict_fn, output_fn), relative to the repository root; training ships it as code/ in model.tar.gz."""

    code_dir: str = ""

    @field_validator("code_dir")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        if value and (Path(value).is_absolute() or ".." in Path(value).parts):
            raise ValueError("must be a folder inside the repository, given relative to its root")
        return value


class JobResources(_Frozen):
    instance_type: InstanceType
    instance_count: int = Field(1, ge=1, le=20)


_SCHEDULE = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")


def _schedule_expression(value: str) -> str:
    if not _SCHEDULE.match(value):
        raise ValueError("must be a cron(...) or rate(N unit) expression")
    return value


class TrainingConfig(JobResources):
    # SageMaker passes every hyperparameter as a string; keep them strings here too.
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    # Periodic retraining: a Scheduler schedule starts the pipeline (None = only on demand).
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else _schedule_expression(value)

    # Import path of a scikit-learn-compatible class or a factory `package.module:function`; None is
    # the kit's default (HistGradientBoosting). Its hyperparameters are checked against the estimator
    # when the definition is built (pipelines.definition.check_estimator) and in the training image.
    estimator: str | None = None
    # Your own training script (path from the repository root), run in SageMaker's script mode
    # instead of the kit's trainer; it must write the model artifact contract.
    entry_point: str | None = None

    @field_validator("estimator")
    @classmethod
    def _estimator_reference(cls, value: str | None) -> str | None:
        from containers.training.estimators import check_reference_syntax

        if value is not None:
            check_reference_syntax(value)
        return value

    @field_validator("entry_point")
    @classmethod
    def _script_in_repository(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = Path(value)
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
            raise ValueError("must be a .py file given relative to the repository root")
        if not (REPO_ROOT / path).is_file():
            raise ValueError(f"{value}: no such file in {REPO_ROOT}")
        return path.as_posix()

    @model_validator(mode="after")
    def _estimator_or_script(self) -> TrainingConfig:
        if self.estimator is not None and self.entry_point is not None:
            raise ValueError("set training.estimator or training.entry_point, not both (the script builds its model)")
        return self


class QualityGate(_Frozen):
    metric: str
    threshold: float

    @property
    def direction(self) -> Literal["higher", "lower"]:
        for metrics in GATE_METRICS.values():
            if self.metric in metrics:
                return metrics[self.metric]
        raise ConfigError(f"unknown quality-gate metric {self.metric!r}")


# --- endpoint / monitoring / alerts (the Endpoint and Monitoring stacks, deployment/ specs) ---------


class ServerlessConfig(_Frozen):
    """A serverless variant (no instances, no data capture): the cheap choice for non-prod."""

    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(5, ge=1, le=200)


class EndpointConfig(_Frozen):
    instance_type: InstanceType
    instance_count: int = Field(1, ge=1, le=20)
    max_instance_count: int = Field(2, ge=1, le=100)
    canary_percent: int = Field(10, ge=1, le=50)
    canary_wait_minutes: int = Field(5, ge=1, le=60)
    data_capture_percent: int = Field(100, ge=1, le=100)
    # Target tracking on SageMakerVariantInvocationsPerInstance (per minute).
    invocations_per_instance: int = Field(100, ge=1, le=100_000)
    # Alarm thresholds; the 5XX and p99 alarms also roll a canary back.
    latency_p99_ms: int = Field(1000, ge=1, le=60_000)
    errors_5xx_per_minute: int = Field(1, ge=1)
    serverless: ServerlessConfig | None = None
    # Cost guardrail (dev and staging only): an hourly teardown removes the endpoint, its config and its
    # monitoring once it was last deployed or updated this long ago (deployment/teardown.py).
    time_to_live_hours: int | None = Field(None, ge=1, le=720)

    @model_validator(mode="after")
    def _max_at_least_initial(self) -> EndpointConfig:
        if self.max_instance_count < self.instance_count:
            raise ValueError("max_instance_count must be >= instance_count")
        return self


FeatureName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,200}$")]


class MonitoringConfig(_Frozen):
    schedule: str = "cron(0 * ? * * *)"
    drift_threshold: float = Field(0.2, gt=0, le=1)
    # Model Monitor is closed to new customers, so the default runs the same image as a
    # Processing job from EventBridge Scheduler (README "Monitoring").
    engine: Literal["model-monitor", "scheduled-job"] = "scheduled-job"
    image: Literal["project", "prebuilt"] = "project"
    instance_type: InstanceType = "ml.m5.large"
    # One drift alarm each; synthesis is offline, so they are named here, not read from a baseline.
    features: tuple[FeatureName, ...] = ()
    retrain_on_drift: bool = False

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _schedule_expression(value)

    @model_validator(mode="after")
    def _prebuilt_is_model_monitor(self) -> MonitoringConfig:
        if self.image == "prebuilt" and self.engine != "model-monitor":
            raise ValueError("image 'prebuilt' (AWS's analyzer) runs only under engine 'model-monitor'")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features lists a name twice")
        return self


class AlertsConfig(_Frozen):
    emails: tuple[Email, ...] = Field(min_length=1)


class VpcConfig(_Frozen):
    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    subnet_ids: tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...] = Field(min_length=1)
    security_group_ids: tuple[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")], ...] = Field(min_length=1)


# -- Cost guardrails (issue 16) ------------------------------------------------------------------


class BudgetConfig(_Frozen):
    """An AWS Budgets cost budget on the environment's account, alerting the alerts topic."""

    monthly_usd: float = Field(gt=0, le=10_000_000)
    # Alert when actual spend passes this share of the amount, and when the forecast passes that one.
    actual_percent: int = Field(80, ge=1, le=1000)
    forecast_percent: int = Field(100, ge=1, le=1000)


class ExperimentationConfig(_Frozen):
    """The experimentation stack: a Studio domain for the personas and a managed MLflow tracking server."""

    # None = on everywhere except prod (set true to have it in prod too).
    enabled: bool | None = None
    # Studio stops idle JupyterLab and Code Editor apps after this long (SageMaker allows 60 to 525600).
    idle_timeout_minutes: int = Field(120, ge=60, le=525_600)
    mlflow_server_size: Literal["Small", "Medium", "Large"] = "Small"


# -- Model card (issue 16) --------------------------------------------------------------------------
# What people, not the pipeline, know about the model: shown on every version's model card. Lengths
# and the risk ratings are those of SageMaker's model package model card schema.
CardText = Annotated[str, Field(min_length=1, max_length=2048)]


class ModelCardConfig(_Frozen):
    """The intended use of the model and who answers for it (intended_uses / business_details)."""

    purpose: CardText = "Demonstrate the MLOps loop on the bundled data set; replace with why this model exists."
    intended_uses: CardText = "Batch and real-time scoring behind the environment's endpoint, reviewed by people."
    out_of_scope_uses: CardText | None = None
    risk_rating: Literal["High", "Medium", "Low", "Unknown"] = "Unknown"
    risk_explanation: CardText | None = None
    owner: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    business_problem: CardText | None = None
    stakeholders: CardText | None = None
    ethical_considerations: CardText | None = None


# -- Approval and persona trust (issue 12) -------------------------------------------------------
# The one status a pipeline registers versions with; approving is a separate step (policies deny the
# execution role any other status).
REGISTERED_APPROVAL_STATUS = "PendingManualApproval"
PERSONAS = ("data-scientist", "ml-engineer", "model-approver", "auditor")
APPROVER = "model-approver"
_IAM_NAME = r"[\w+=,.@-]+"
RoleArn = Annotated[str, Field(pattern=rf"^arn:aws(-cn|-us-gov)?:iam::\d{{12}}:role/({_IAM_NAME}/)*{_IAM_NAME}$")]
UserArn = Annotated[str, Field(pattern=rf"^arn:aws(-cn|-us-gov)?:iam::\d{{12}}:user/({_IAM_NAME}/)*{_IAM_NAME}$")]
PermissionSetName = Annotated[str, Field(pattern=r"^[\w+=,.@-]{1,32}$")]


class PersonaTrust(_Frozen):
    """Who may assume one persona role: IAM Identity Center permission sets (provisioned into the
    environment's account), IAM roles (machines such as CI, or federation roles whose MFA the identity
    provider enforces) and IAM users (people with long-term keys: MFA required unless require_mfa is off)."""

    sso_permission_sets: tuple[PermissionSetName, ...] = ()
    roles: tuple[RoleArn, ...] = ()
    users: tuple[UserArn, ...] = ()
    require_mfa: bool = True

    @model_validator(mode="after")
    def _someone(self) -> PersonaTrust:
        if not (self.sso_permission_sets or self.roles or self.users):
            raise ValueError("trust at least one principal (sso_permission_sets, roles or users)")
        return self


def _default_personas() -> dict[str, PersonaTrust]:
    # Only the permission set named after the persona, in the environment's own account.
    return {
        persona: PersonaTrust(sso_permission_sets=("".join(p.capitalize() for p in persona.split("-")),))
        for persona in PERSONAS
    }


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
    inference: InferenceCodeConfig = InferenceCodeConfig()
    alerts: AlertsConfig
    vpc: VpcConfig | None = None
    budget: BudgetConfig | None = None
    experimentation: ExperimentationConfig = ExperimentationConfig()
    model_card: ModelCardConfig = ModelCardConfig()
    trusted_accounts: tuple[AccountId, ...] = ()
    personas: dict[str, PersonaTrust] = Field(default_factory=_default_personas)

    @property
    def experimentation_enabled(self) -> bool:
        enabled = self.experimentation.enabled
        return self.name != "prod" if enabled is None else enabled

    @property
    def tracking_server_deployed(self) -> bool:
        """The experimentation stack, and so its MLflow tracking server, exists: it needs the vpc block."""
        return self.experimentation_enabled and self.vpc is not None

    @field_validator("personas")
    @classmethod
    def _persona_trust(cls, value: dict[str, PersonaTrust]) -> dict[str, PersonaTrust]:
        unknown = sorted(set(value) - set(PERSONAS))
        missing = [persona for persona in PERSONAS if persona not in value]
        if unknown or missing:
            raise ValueError(f"needs exactly the personas {', '.join(PERSONAS)}"
                             + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                             + (f"; missing: {', '.join(missing)}" if missing else ""))
        approver = value[APPROVER]
        # Approving is the one act the governance hangs on: people only, with MFA.
        if approver.roles:
            raise ValueError(f"{APPROVER} must not trust roles (machines do not approve); "
                             "use sso_permission_sets or users")
        if not approver.require_mfa:
            raise ValueError(f"{APPROVER}.require_mfa cannot be turned off")
        return value

    @model_validator(mode="after")
    def _no_time_to_live_in_prod(self) -> EnvironmentConfig:
        if self.name == "prod" and self.endpoint.time_to_live_hours is not None:
            raise ValueError("endpoint.time_to_live_hours is refused for prod: a production endpoint is never torn "
                             "down on a timer")
        return self

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
        partition = partition_of(self.region)
        for persona, trust in self.personas.items():
            for arn in (*trust.roles, *trust.users):
                if arn.split(":")[1] != partition:
                    raise ValueError(f"personas.{persona}: {arn} is not in the partition {partition!r} of region "
                                     f"{self.region}")
        return self

    @model_validator(mode="after")
    def _serverless_not_in_prod(self) -> EnvironmentConfig:
        if self.endpoint.serverless is not None and self.name == "prod":
            raise ValueError("endpoint.serverless is for non-prod environments (no data capture, no canary)")
        return self


# -- CI/CD route (issue 14) ----------------------------------------------------------------------
ConnectionArn = Annotated[str, Field(
    pattern=r"^arn:aws(-cn|-us-gov)?:(codeconnections|codestar-connections):[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:"
    r"connection/[0-9a-f-]{36}$")]


class CicdSource(_Frozen):
    """Where the route's source comes from: a CodeConnections connection (GitHub, GitLab, Bitbucket) or,
    for accounts that still have it, CodeCommit (closed to new customers: an option only)."""

    provider: Literal["codeconnections", "codecommit"] = "codeconnections"
    connection_arn: ConnectionArn | None = None
    # `owner/name` for a connection; the repository name for CodeCommit.
    repository: Annotated[str, Field(pattern=r"^[\w.-]+(/[\w.-]+)?$")]
    branch: Annotated[str, Field(pattern=r"^[\w./-]+$")] = "main"

    @model_validator(mode="after")
    def _provider_needs(self) -> CicdSource:
        if self.provider == "codeconnections":
            if self.connection_arn is None:
                raise ValueError("connection_arn is required when provider is codeconnections")
            if "/" not in self.repository:
                raise ValueError("repository must be owner/name for a connection")
        elif self.connection_arn is not None or "/" in self.repository:
            raise ValueError("codecommit takes a repository name and no connection_arn")
        return self


class CicdConfig(_Frozen):
    """The CI/CD route: deployed once into a tooling account; deploys `stages` in order."""

    account: AccountId
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    source: CicdSource
    stages: tuple[str, ...] = Field(min_length=1)
    # The stage whose deploy is followed by `mlops pipeline run --env E --wait` (the commit route only).
    retrain_in: str
    # A manual approval (notifying the stage's alerts topic) precedes each of these stages.
    approval_before: tuple[str, ...] = ()
    # `mlops endpoint check --env E` follows the deploy of each of these stages.
    check_endpoint_in: tuple[str, ...] = ()

    def stage_access_role(self, project: str) -> str:
        """The role of the route's post-deploy steps; each stage's ml-engineer persona trusts it."""
        return f"{project}-cicd-stage-access"

    def stage_access_role_arn(self, project: str) -> str:
        return arns.arn("iam", f"role/{self.stage_access_role(project)}", region=self.region, account=self.account,
                   global_service=True)

    @model_validator(mode="after")
    def _stages_consistent(self) -> CicdConfig:
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages must not repeat an environment")
        if self.retrain_in != self.stages[0]:
            raise ValueError(f"retrain_in must be the first stage ({self.stages[0]!r}): later stages deploy "
                             "versions that were approved after retraining")
        for key in ("approval_before", "check_endpoint_in"):
            for name in getattr(self, key):
                if name not in self.stages:
                    raise ValueError(f"{key}: {name!r} is not one of the stages {list(self.stages)}")
        if self.stages[0] in self.approval_before:
            raise ValueError("approval_before cannot name the first stage (nothing precedes it to approve)")
        return self


class ProjectConfig(_Frozen):
    project: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,20}[a-z0-9]$")]
    environments: dict[str, EnvironmentConfig]
    cicd: CicdConfig | None = None

    @model_validator(mode="after")
    def _cicd_fits_environments(self) -> ProjectConfig:
        if self.cicd is None:
            return self
        for name in self.cicd.stages:
            env = self.environments.get(name)
            if env is None:
                known = ", ".join(sorted(self.environments))
                raise ValueError(f"cicd.stages: unknown environment {name!r}; known: {known}")
            # The route's build (tooling account) looks up each stage's newest Approved version.
            if env.account != self.cicd.account and self.cicd.account not in env.trusted_accounts:
                raise ValueError(f"cicd.stages: environment {name!r} must list the tooling account "
                                 f"{self.cicd.account} in trusted_accounts (the route reads its registry)")
            # The route's retrain and endpoint check act in the stage as its ml-engineer persona.
            stage_access = self.cicd.stage_access_role_arn(self.project)
            if stage_access not in env.personas["ml-engineer"].roles:
                raise ValueError(f"cicd.stages: environment {name!r} must list {stage_access} in "
                                 "personas.ml-engineer.roles (the route retrains and checks the endpoint as it)")
        return self


def _describe(error: ValidationError, env_name: str | None) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        where = f"environment {env_name!r}, key {key!r}" if env_name else f"key {key!r}" if key else "configuration"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the later one silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"key {key!r} appears twice in one block (lines {seen[key]} and {line}); "
                              "the later block would silently win")
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> Any:
    """The YAML document of `path`; ConfigError names the file (and the line of a duplicate key)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_project(path: Path = CONFIG_FILE) -> ProjectConfig:
    """Read and validate the whole configuration file; raise ConfigError naming env and key."""
    raw = read_yaml(path)
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
        return ProjectConfig.model_validate({"project": project, "environments": environments, "cicd": raw.get("cicd")})
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
