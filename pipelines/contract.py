"""The pipeline definition's contract: step and parameter names, container paths, the parameters an
environment gets, and the training configuration checks. Shared by the definition builder, the CLI,
local mode and the stacks."""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from config.naming import Names
from config.settings import REGISTERED_APPROVAL_STATUS, REPO_ROOT, EnvironmentConfig
from containers.contracts.model_quality import METRICS_KEYS
from containers.training.estimators import DEFAULT_ESTIMATOR, EstimatorError, build_estimator

# Step names as they appear in the definition JSON. `ModelStep` renders the registration as a
# `RegisterModel` step with the SDK's `-RegisterModel` suffix.
PREPROCESS = "Preprocess"
DATA_QUALITY = "DataQualityBaseline"
TRAIN = "Train"
EVALUATE = "Evaluate"
CHECK_QUALITY = "CheckQuality"
REGISTER = "Register"
REGISTER_STEP = f"{REGISTER}-RegisterModel"
FAIL = "Fail"
STEP_NAMES = (PREPROCESS, DATA_QUALITY, TRAIN, EVALUATE, CHECK_QUALITY, REGISTER_STEP, FAIL)

# Pipeline parameters that are not hyperparameters.
INPUT_DATA_URL = "InputDataUrl"
PROCESSING_INSTANCE_TYPE = "ProcessingInstanceType"
PROCESSING_INSTANCE_COUNT = "ProcessingInstanceCount"
TRAINING_INSTANCE_TYPE = "TrainingInstanceType"
TRAINING_INSTANCE_COUNT = "TrainingInstanceCount"
METRIC_THRESHOLD = "MetricThreshold"
# Where the training job logs its MLflow run: the environment's tracking server ARN, or empty (off)
# when it has none; local mode points it at the work folder's store.
MLFLOW_TRACKING_URI = "MlflowTrackingUri"
FIXED_PARAMETERS = (
    INPUT_DATA_URL, PROCESSING_INSTANCE_TYPE, PROCESSING_INSTANCE_COUNT, TRAINING_INSTANCE_TYPE,
    TRAINING_INSTANCE_COUNT, METRIC_THRESHOLD, MLFLOW_TRACKING_URI,
)

# Where the default data set lives in the data bucket when the environment names no input.
DEFAULT_DATASET_PREFIX = "datasets/default/"

# Container paths of the processing steps; the step scripts' own defaults are the same paths.
PROCESSING_DIR = "/opt/ml/processing"
RAW_INPUT_DIR = f"{PROCESSING_DIR}/input/raw"
PREPROCESS_OUTPUTS = ("train", "validation", "test", "baseline", "report")
MODEL_INPUT_DIR = f"{PROCESSING_DIR}/input/model"
TEST_INPUT_DIR = f"{PROCESSING_DIR}/input/test"
EVALUATION_OUTPUT = "evaluation"
EVALUATION_DIR = f"{PROCESSING_DIR}/output/{EVALUATION_OUTPUT}"
EVALUATION_FILE = "evaluation.json"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
# Preprocess's report.json, read at registration for the data hash (lineage).
DATASET_REPORT_FILE = "report.json"
DATASET_PROPERTY_FILE = "DatasetReport"
TRAINING_IMAGE = "training"
INFERENCE_IMAGE = "inference"
CONTENT_TYPES = ("text/csv", "application/json")
# Hyperparameters the training container needs besides the tunable ones; not pipeline parameters.
TARGET_HYPERPARAMETER = "target"
PROBLEM_TYPE_HYPERPARAMETER = "problem_type"
ESTIMATOR_HYPERPARAMETER = "estimator"
# Script mode (training.entry_point): SageMaker's own hyperparameter names the script, which reaches
# the job as the `code` channel (/opt/ml/input/data/code) from a content-addressed artifacts prefix.
PROGRAM_HYPERPARAMETER = "sagemaker_program"
CODE_CHANNEL = "code"
CACHE_EXPIRY = "P30D"
# -- The approval gate (issue 12): what a pipeline run may not choose ----------------------------
# Every version is registered as pending, written into the definition rather than offered as a
# parameter: anyone who may start the pipeline could otherwise register an Approved version (the
# execution role is also denied any other status, governance/policies.py). With approval_mode "auto"
# a separate, audited approval step approves a version only when it beats the approved one; with
# "manual" the approver persona decides. In manual environments the quality-gate threshold is a
# literal too: a per-run MetricThreshold could lower the bar that the approver relies on, and a check
# in our CLI alone would not stop a direct StartPipelineExecution call.
MODEL_APPROVAL_STATUS = "ModelApprovalStatus"


def run_parameter_refusal(env: EnvironmentConfig, name: str) -> str | None:
    """Why `name` cannot be set per run in `env` (one line for `--param`), or None when it may be."""
    if name == MODEL_APPROVAL_STATUS:
        return (f"--param {name}: not a pipeline parameter; every version is registered as "
                f"{REGISTERED_APPROVAL_STATUS} and approved separately (approval_mode {env.approval_mode} "
                f"in environment {env.name!r})")
    if name == METRIC_THRESHOLD and env.approval_mode == "manual":
        return (f"--param {name}: environment {env.name!r} has approval_mode manual, so its quality gate is "
                f"fixed at {env.quality_gate.metric} {env.quality_gate.threshold} "
                "(quality_gate.threshold in config/environments.yaml) and cannot be changed per run")
    return None

_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")


class DefinitionError(Exception):
    """The configuration cannot be turned into a pipeline definition; the message names the key."""


def output_dir(name: str) -> str:
    """The container folder of one Preprocess output (`train`, `test`, `baseline`, ...)."""
    return f"{PROCESSING_DIR}/output/{name}"


def hyperparameter_parameter_name(key: str) -> str:
    """`n_estimators` -> `NEstimators`: hyperparameters become readable pipeline parameters."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", key) if part)
    if not _PARAMETER_NAME.match(name):
        raise DefinitionError(
            f"training.hyperparameters key {key!r} gives no valid pipeline parameter name ({name!r})"
        )
    return name


def hyperparameter_parameters(env: EnvironmentConfig) -> dict[str, str]:
    """Hyperparameter key -> pipeline parameter name; two keys mapping to one name is an error."""
    names: dict[str, str] = {}
    for key in env.training.hyperparameters:
        if key in (TARGET_HYPERPARAMETER, PROBLEM_TYPE_HYPERPARAMETER):
            raise DefinitionError(
                f"environment {env.name!r}: training.hyperparameters must not set {key!r}; "
                f"it comes from data.{'target' if key == TARGET_HYPERPARAMETER else 'problem_type'}"
            )
        if key == ESTIMATOR_HYPERPARAMETER or key.startswith("sagemaker_"):
            raise DefinitionError(
                f"environment {env.name!r}: training.hyperparameters must not set {key!r}; "
                "it comes from training.estimator or training.entry_point"
            )
        name = hyperparameter_parameter_name(key)
        clash = next((other for other, taken in names.items() if taken == name), None)
        if clash is not None or name in FIXED_PARAMETERS:
            raise DefinitionError(
                f"environment {env.name!r}: training.hyperparameters key {key!r} maps to pipeline "
                f"parameter {name!r}, which is already used by {clash or 'the pipeline itself'!r}"
            )
        names[key] = name
    return names


def default_input_uri(env: EnvironmentConfig) -> str:
    return env.data.input_uri or f"s3://{Names.of(env).bucket('data')}/{DEFAULT_DATASET_PREFIX}"


def parameter_defaults(env: EnvironmentConfig) -> dict[str, str | int | float]:
    """Every pipeline parameter with its default for this environment, in definition order."""
    defaults: dict[str, str | int | float] = {
        INPUT_DATA_URL: default_input_uri(env),
        PROCESSING_INSTANCE_TYPE: env.processing.instance_type,
        PROCESSING_INSTANCE_COUNT: env.processing.instance_count,
        TRAINING_INSTANCE_TYPE: env.training.instance_type,
        TRAINING_INSTANCE_COUNT: env.training.instance_count,
        MLFLOW_TRACKING_URI: Names.of(env).mlflow_tracking_server_arn if env.tracking_server_deployed else "",
    }
    if env.approval_mode == "auto":
        defaults[METRIC_THRESHOLD] = env.quality_gate.threshold
    for key, name in hyperparameter_parameters(env).items():
        defaults[name] = env.training.hyperparameters[key]
    return defaults


# A processing job's ContainerArguments are strings of at most 256 characters (up to 256 of them).
CONTAINER_ARGUMENT_LIMIT = 256


def data_schema_arguments(env: EnvironmentConfig) -> list[str]:
    """`--data-schema <json piece>` pairs carrying data.schema to Preprocess inside the definition, so the
    cloud, local mode and the step cache all see the same contract (no side file to upload)."""
    schema = env.data.data_schema
    if schema is None:
        return []
    text = schema.compact_json()
    arguments: list[str] = []
    for start in range(0, len(text), CONTAINER_ARGUMENT_LIMIT):
        arguments += ["--data-schema", text[start:start + CONTAINER_ARGUMENT_LIMIT]]
    return arguments


def gate_metric_path(env: EnvironmentConfig) -> str:
    """The `Std:JsonGet` path of the quality-gate metric inside evaluation.json."""
    return f"{METRICS_KEYS[env.data.problem_type.value]}.{env.quality_gate.metric}.value"


def gate_operator(env: EnvironmentConfig) -> str:
    """The condition that lets a model pass: at least the threshold, or at most for lower-is-better."""
    return "GreaterThanOrEqualTo" if env.quality_gate.direction == "higher" else "LessThanOrEqualTo"


@dataclass(frozen=True)
class TrainingCode:
    """The user's training script and the artifacts prefix it is uploaded to before a run."""

    source: Path
    uri: str

    @property
    def program(self) -> str:
        return self.source.name


def training_code(env: EnvironmentConfig) -> TrainingCode | None:
    """training.entry_point's script and its S3 prefix, named by its content: a changed script is a
    new channel URI, so step caching never reuses a model trained by an older script."""
    if env.training.entry_point is None:
        return None
    source = REPO_ROOT / env.training.entry_point
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    except OSError as error:
        raise DefinitionError(f"environment {env.name!r}: training.entry_point {source}: {error.strerror}") from error
    names = Names.of(env)
    return TrainingCode(source, f"s3://{names.bucket('artifacts')}/{names.pipeline}/code/{digest}/")


def check_estimator(env: EnvironmentConfig) -> None:
    """Build (not fit) the configured estimator with its hyperparameters, so a typo fails before any
    job runs. An estimator whose package is not installed here is checked by the training image."""
    if env.training.entry_point is not None:
        return
    reference = env.training.estimator or DEFAULT_ESTIMATOR
    package = reference.split(":")[0].split(".")[0]
    if importlib.util.find_spec(package) is None:
        return
    try:
        build_estimator(reference, env.training.hyperparameters, env.data.problem_type.value)
    except EstimatorError as error:
        raise DefinitionError(f"environment {env.name!r}: training.estimator: {error}") from error


