"""The SageMaker Pipeline definition, built once (offline) for the stack, `mlops pipeline` and local mode."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.images import source_digest, source_tag
from config.naming import Names
from config.settings import REGISTERED_APPROVAL_STATUS, REPO_ROOT, EnvironmentConfig
from containers.contracts.model_artifact import INFERENCE_CODE_CHANNEL
from containers.contracts.model_quality import METRICS_KEYS
from containers.training.estimators import DEFAULT_ESTIMATOR, EstimatorError, build_estimator
from pipelines import lineage
from pipelines.inference_code import InferenceCodeError, inference_code_uri
from pipelines.registration_card import REGISTRATION_CARD_STATUS, RuntimeValues, registration_card

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
class _Context:
    """What every step builder needs: the environment, its names, the session and the image tag."""

    env: EnvironmentConfig
    names: Names
    session: Any
    image_tag: str
    parameters: dict[str, Any]
    sdk: Any
    code: lineage.CodeVersion

    @property
    def role(self) -> str:
        return self.names.execution_role_arn

    def image(self, image: str) -> str:
        return self.names.image_uri(image, self.image_tag)

    def step_output_uri(self, step: str, output: str | None = None) -> Any:
        """s3://<artifacts>/<pipeline>/<execution id>/<step>[/<output>]: one folder per run and step."""
        values: list[Any] = [
            f"s3://{self.names.bucket('artifacts')}/{self.names.pipeline}",
            self.sdk.ExecutionVariables.PIPELINE_EXECUTION_ID,
            step,
        ]
        if output:
            values.append(output)
        return self.sdk.Join(on="/", values=values)

    def network(self) -> Any:
        vpc = self.env.vpc
        if vpc is None:
            return None
        return self.sdk.NetworkConfig(
            subnets=list(vpc.subnet_ids),
            security_group_ids=list(vpc.security_group_ids),
            encrypt_inter_container_traffic=True,
        )

    def cache(self) -> Any:
        return self.sdk.CacheConfig(enable_caching=True, expire_after=CACHE_EXPIRY)

    def retries(self) -> list[Any]:
        """Retry what is transient (service faults, throttling, capacity), never a failing script."""
        sdk = self.sdk
        return [
            sdk.StepRetryPolicy(
                exception_types=[sdk.StepExceptionTypeEnum.SERVICE_FAULT, sdk.StepExceptionTypeEnum.THROTTLING],
                interval_seconds=10, backoff_rate=2.0, max_attempts=3,
            ),
            sdk.SageMakerJobStepRetryPolicy(
                exception_types=[
                    sdk.SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
                    sdk.SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                    sdk.SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                ],
                interval_seconds=60, backoff_rate=2.0, max_attempts=3,
            ),
        ]

    def processor(self, module: str) -> Any:
        """A plain Processor running one step module of the training image (scripts baked in)."""
        return self.sdk.Processor(
            role=self.role,
            image_uri=self.image(TRAINING_IMAGE),
            entrypoint=["python3", "-m", module],
            instance_type=self.parameters[PROCESSING_INSTANCE_TYPE],
            instance_count=self.parameters[PROCESSING_INSTANCE_COUNT],
            max_runtime_in_seconds=3600,
            network_config=self.network(),
            sagemaker_session=self.session,
        )


def _preprocess_step(ctx: _Context, dataset_report: Any) -> Any:
    sdk, data = ctx.sdk, ctx.env.data
    outputs = [
        sdk.ProcessingOutput(
            output_name=name, source=output_dir(name), destination=ctx.step_output_uri(PREPROCESS, name)
        )
        for name in PREPROCESS_OUTPUTS
    ]
    arguments = ["--input", RAW_INPUT_DIR]
    for name in PREPROCESS_OUTPUTS:
        arguments += [f"--{name}", output_dir(name)]
    arguments += ["--target", data.target, "--problem-type", data.problem_type.value]
    arguments += data_schema_arguments(ctx.env)
    arguments_of_run = ctx.processor("pipelines.steps.preprocess").run(
        inputs=[
            sdk.ProcessingInput(input_name="raw", source=ctx.parameters[INPUT_DATA_URL], destination=RAW_INPUT_DIR)
        ],
        outputs=outputs,
        arguments=arguments,
    )
    return sdk.ProcessingStep(
        name=PREPROCESS,
        step_args=arguments_of_run,
        property_files=[dataset_report],
        cache_config=ctx.cache(),
        retry_policies=ctx.retries(),
    )


def _output_uri(step: Any, name: str) -> Any:
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def _data_quality_step(ctx: _Context, preprocess: Any) -> Any:
    """Baseline statistics/constraints of the training features; no check against an older one yet."""
    sdk = ctx.sdk
    check_job = sdk.CheckJobConfig(
        role=ctx.role,
        instance_type=ctx.parameters[PROCESSING_INSTANCE_TYPE],
        instance_count=1,
        network_config=ctx.network(),
        sagemaker_session=ctx.session,
    )
    config = sdk.DataQualityCheckConfig(
        baseline_dataset=_output_uri(preprocess, "baseline"),
        dataset_format=sdk.DatasetFormat.csv(header=True),
        output_s3_uri=ctx.step_output_uri(DATA_QUALITY),
    )
    # skip_check + register_new_baseline: the first run has no baseline to compare with, and every
    # registered model carries the baseline of the data it was trained on.
    return sdk.QualityCheckStep(
        name=DATA_QUALITY,
        quality_check_config=config,
        check_job_config=check_job,
        skip_check=True,
        register_new_baseline=True,
        model_package_group_name=ctx.names.model_package_group,
        cache_config=ctx.cache(),
    )


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


def tracking_environment(ctx: _Context) -> dict[str, Any]:
    """MLflow's own variables for the training job's run (containers/training/tracking.py), and the
    execution it belongs to (SageMaker sets the job's name and ARN itself)."""
    return {
        "MLFLOW_TRACKING_URI": ctx.parameters[MLFLOW_TRACKING_URI],
        "MLFLOW_EXPERIMENT_NAME": ctx.names.pipeline,
        "SAGEMAKER_PIPELINE_EXECUTION_ARN": ctx.sdk.ExecutionVariables.PIPELINE_EXECUTION_ARN,
        # An unreachable server costs the run record, not minutes of a billed job: MLflow's defaults
        # (7 retries with exponential backoff, 120 s per request) would hold the finished job for long.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    }


def _train_step(ctx: _Context, preprocess: Any) -> Any:
    sdk, env = ctx.sdk, ctx.env
    check_estimator(env)
    hyperparameters: dict[str, Any] = {
        key: ctx.parameters[name] for key, name in hyperparameter_parameters(env).items()
    }
    hyperparameters[TARGET_HYPERPARAMETER] = env.data.target
    hyperparameters[PROBLEM_TYPE_HYPERPARAMETER] = env.data.problem_type.value
    code = training_code(env)
    if code is None:
        hyperparameters[ESTIMATOR_HYPERPARAMETER] = env.training.estimator or DEFAULT_ESTIMATOR
    else:
        hyperparameters[PROGRAM_HYPERPARAMETER] = code.program
    vpc = env.vpc
    estimator = sdk.Estimator(
        image_uri=ctx.image(TRAINING_IMAGE),
        role=ctx.role,
        instance_type=ctx.parameters[TRAINING_INSTANCE_TYPE],
        instance_count=ctx.parameters[TRAINING_INSTANCE_COUNT],
        output_path=ctx.step_output_uri(TRAIN),
        hyperparameters=hyperparameters,
        subnets=list(vpc.subnet_ids) if vpc else None,
        security_group_ids=list(vpc.security_group_ids) if vpc else None,
        encrypt_inter_container_traffic=vpc is not None,
        # The profiler and debugger would add rules with AWS-owned images and extra S3 paths.
        disable_profiler=True,
        debugger_hook_config=False,
        environment=tracking_environment(ctx),
        sagemaker_session=ctx.session,
    )
    channels = {
        name: sdk.TrainingInput(s3_data=_output_uri(preprocess, name), content_type="text/csv")
        for name in ("train", "validation")
    }
    try:
        code_uri = inference_code_uri(env)
    except InferenceCodeError as error:
        raise DefinitionError(str(error)) from error
    if code_uri is not None:
        channels[INFERENCE_CODE_CHANNEL] = sdk.TrainingInput(s3_data=code_uri)
    if code is not None:
        channels[CODE_CHANNEL] = sdk.TrainingInput(s3_data=code.uri)
    return sdk.TrainingStep(
        name=TRAIN,
        step_args=estimator.fit(inputs=channels),
        cache_config=ctx.cache(),
        retry_policies=ctx.retries(),
    )


def _evaluate_step(ctx: _Context, preprocess: Any, train: Any, report: Any) -> Any:
    sdk = ctx.sdk
    arguments_of_run = ctx.processor("pipelines.steps.evaluate").run(
        inputs=[
            sdk.ProcessingInput(
                input_name="model", source=train.properties.ModelArtifacts.S3ModelArtifacts, destination=MODEL_INPUT_DIR
            ),
            sdk.ProcessingInput(input_name="test", source=_output_uri(preprocess, "test"), destination=TEST_INPUT_DIR),
        ],
        outputs=[
            sdk.ProcessingOutput(
                output_name=EVALUATION_OUTPUT,
                source=EVALUATION_DIR,
                destination=ctx.step_output_uri(EVALUATE, EVALUATION_OUTPUT),
            )
        ],
        arguments=["--model", MODEL_INPUT_DIR, "--test", TEST_INPUT_DIR, "--output", EVALUATION_DIR],
    )
    return sdk.ProcessingStep(
        name=EVALUATE,
        step_args=arguments_of_run,
        property_files=[report],
        cache_config=ctx.cache(),
        retry_policies=ctx.retries(),
    )


def _register_step(ctx: _Context, train: Any, evaluate: Any, data_quality: Any, lineage_properties: Any, *,
                   report: Any) -> Any:
    sdk, env = ctx.sdk, ctx.env

    def json_source(uri: Any) -> Any:
        return sdk.MetricsSource(s3_uri=uri, content_type="application/json")

    evaluation_uri = sdk.Join(on="/", values=[_output_uri(evaluate, EVALUATION_OUTPUT), EVALUATION_FILE])
    metrics = sdk.ModelMetrics(
        model_statistics=json_source(evaluation_uri),
        model_data_statistics=json_source(data_quality.properties.CalculatedBaselineStatistics),
        model_data_constraints=json_source(data_quality.properties.CalculatedBaselineConstraints),
    )
    # What the monitoring schedule of a deployed version compares live traffic against.
    baselines = sdk.DriftCheckBaselines(
        model_data_statistics=json_source(data_quality.properties.BaselineUsedForDriftCheckStatistics),
        model_data_constraints=json_source(data_quality.properties.BaselineUsedForDriftCheckConstraints),
    )
    model = sdk.Model(
        image_uri=ctx.image(INFERENCE_IMAGE),
        model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
        role=ctx.role,
        sagemaker_session=ctx.session,
    )
    arguments = model.register(
        content_types=list(CONTENT_TYPES),
        response_types=list(CONTENT_TYPES),
        inference_instances=[env.endpoint.instance_type],
        transform_instances=[env.endpoint.instance_type],
        model_package_group_name=ctx.names.model_package_group,
        approval_status=REGISTERED_APPROVAL_STATUS,
        model_metrics=metrics,
        drift_check_baselines=baselines,
        customer_metadata_properties=lineage_properties,
        description=_lineage_summary(ctx, lineage_properties),
        model_card=_model_card(ctx, train, evaluate, lineage_properties, report=report),
    )
    return sdk.ModelStep(name=REGISTER, step_args=arguments)


# -- Lineage (issue 16) ------------------------------------------------------------------------------


def _hyperparameters_text(ctx: _Context) -> Any:
    """`key=value` pairs separated by spaces, the tunable values read from the run's parameters."""
    env = ctx.env
    values: list[Any] = []
    for index, (key, name) in enumerate(hyperparameter_parameters(env).items()):
        values += [f"{' ' if index else ''}{key}=", ctx.parameters[name]]
    code = training_code(env)
    fixed = f"sagemaker_program={code.program}" if code else f"estimator={env.training.estimator or DEFAULT_ESTIMATOR}"
    values.append(f"{' ' if values else ''}{fixed}")
    return ctx.sdk.Join(on="", values=values)


def lineage_metadata(ctx: _Context, preprocess: Any, data_quality: Any, dataset_report: Any) -> dict[str, Any]:
    """The `lineage:` CustomerMetadataProperties of a registered version; the definition hash is a
    placeholder until the whole definition exists (`lineage.stamp_definition_sha256`)."""
    sdk = ctx.sdk
    literal = {
        lineage.CODE_COMMIT: ctx.code.commit,
        lineage.CODE_DIRTY: "true" if ctx.code.dirty else "false",
        lineage.DEFINITION_SHA256: "pending",
        lineage.IMAGES: f"training={ctx.image(TRAINING_IMAGE)} inference={ctx.image(INFERENCE_IMAGE)}",
        lineage.IMAGE_SOURCES_SHA256: source_digest(),
    }
    problems = lineage.metadata_problems(literal)
    if problems:
        raise DefinitionError(f"environment {ctx.env.name!r}: " + "; ".join(problems))
    return {
        **literal,
        lineage.DATA_URI: ctx.parameters[INPUT_DATA_URL],
        lineage.DATA_SHA256: sdk.JsonGet(step_name=preprocess.name, property_file=dataset_report,
                                         json_path=lineage.DATA_SHA256_FIELD),
        lineage.HYPERPARAMETERS: _hyperparameters_text(ctx),
        lineage.EXECUTION_ARN: sdk.ExecutionVariables.PIPELINE_EXECUTION_ARN,
        lineage.BASELINE_STATISTICS: data_quality.properties.CalculatedBaselineStatistics,
        lineage.BASELINE_CONSTRAINTS: data_quality.properties.CalculatedBaselineConstraints,
    }


def _model_card(ctx: _Context, train: Any, evaluate: Any, properties: dict[str, Any], report: Any) -> Any:
    """The model card the version is created with (pipelines/registration_card.py)."""
    sdk, env = ctx.sdk, ctx.env
    hyperparameters: dict[str, Any] = {
        key: ctx.parameters[name] for key, name in hyperparameter_parameters(env).items()
    }
    code = training_code(env)
    if code is None:
        hyperparameters[ESTIMATOR_HYPERPARAMETER] = env.training.estimator or DEFAULT_ESTIMATOR
    else:
        hyperparameters[PROGRAM_HYPERPARAMETER] = code.program
    runtime = RuntimeValues(
        model_artifact=train.properties.ModelArtifacts.S3ModelArtifacts,
        training_job_arn=train.properties.TrainingJobArn,
        execution_arn=sdk.ExecutionVariables.PIPELINE_EXECUTION_ARN,
        data_uri=properties[lineage.DATA_URI],
        data_sha256=properties[lineage.DATA_SHA256],
        gate_value=sdk.JsonGet(step_name=evaluate.name, property_file=report, json_path=gate_metric_path(env)),
        gate_threshold=ctx.parameters.get(METRIC_THRESHOLD, env.quality_gate.threshold),
        evaluation_uri=_output_uri(evaluate, EVALUATION_OUTPUT),
        hyperparameters=hyperparameters,
    )
    # The definition's own hash cannot be inside the definition's card; `mlops registry card` adds it.
    literal = {key: value for key, value in properties.items()
               if isinstance(value, str) and key != lineage.DEFINITION_SHA256}
    values = registration_card(env, training_image=ctx.image(TRAINING_IMAGE), literal_lineage=literal, runtime=runtime)
    return sdk.PipelineModelCard(sdk.Join(on="", values=values), REGISTRATION_CARD_STATUS)


def _lineage_summary(ctx: _Context, properties: dict[str, Any]) -> Any:
    """ModelPackageDescription: what the model is and where it came from, in one readable line."""
    env = ctx.env
    return ctx.sdk.Join(on="", values=[
        f"{env.project} {env.name}: {env.data.problem_type.value} on {env.data.target!r}; "
        f"code {ctx.code.label}; image tag {ctx.image_tag}; data sha256 ",
        properties[lineage.DATA_SHA256], " from ", properties[lineage.DATA_URI],
    ])


def _gate_step(ctx: _Context, evaluate: Any, report: Any, register: Any) -> Any:
    sdk, gate = ctx.sdk, ctx.env.quality_gate
    value = sdk.JsonGet(step_name=evaluate.name, property_file=report, json_path=gate_metric_path(ctx.env))
    threshold = ctx.parameters.get(METRIC_THRESHOLD, gate.threshold)
    if gate.direction == "higher":
        condition = sdk.ConditionGreaterThanOrEqualTo(left=value, right=threshold)
        verdict = "is below the threshold"
    else:
        condition = sdk.ConditionLessThanOrEqualTo(left=value, right=threshold)
        verdict = "is above the threshold"
    message = sdk.Join(
        on=" ", values=[f"Quality gate failed: {gate.metric}", value, verdict, threshold, "on the test split."]
    )
    fail = sdk.FailStep(name=FAIL, error_message=message)
    return sdk.ConditionStep(name=CHECK_QUALITY, conditions=[condition], if_steps=[register], else_steps=[fail])


def _parameters(ctx_sdk: Any, env: EnvironmentConfig) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, default in parameter_defaults(env).items():
        if isinstance(default, bool) or not isinstance(default, (int, float, str)):
            raise DefinitionError(f"pipeline parameter {name!r}: unsupported default {default!r}")
        if isinstance(default, int):
            typed[name] = ctx_sdk.ParameterInteger(name=name, default_value=default)
        elif isinstance(default, float):
            typed[name] = ctx_sdk.ParameterFloat(name=name, default_value=default)
        else:
            typed[name] = ctx_sdk.ParameterString(name=name, default_value=default)
    return typed


def build_pipeline_definition(
    env: EnvironmentConfig, image_tag: str | None = None, code: lineage.CodeVersion | None = None,
) -> dict[str, Any]:
    """The pipeline definition of one environment as a dict, built offline (no AWS call).

    `image_tag` defaults to the content hash of the image sources (`config.images.source_tag`), `code`
    to the repository's HEAD and tree state (recorded in every registered version's lineage).
    """
    from pipelines import sdk  # the SDK import takes seconds; only pay for it when building

    names = Names.of(env)
    ctx = _Context(
        env=env,
        names=names,
        session=sdk.offline_session(env.region, names.bucket("artifacts")),
        image_tag=image_tag or source_tag(),
        parameters=_parameters(sdk, env),
        sdk=sdk,
        code=code or lineage.code_version(),
    )
    with sdk.offline_build():
        report = sdk.PropertyFile(name=EVALUATION_PROPERTY_FILE, output_name=EVALUATION_OUTPUT, path=EVALUATION_FILE)
        dataset_report = sdk.PropertyFile(name=DATASET_PROPERTY_FILE, output_name="report", path=DATASET_REPORT_FILE)
        preprocess = _preprocess_step(ctx, dataset_report)
        data_quality = _data_quality_step(ctx, preprocess)
        train = _train_step(ctx, preprocess)
        evaluate = _evaluate_step(ctx, preprocess, train, report)
        lineage_properties = lineage_metadata(ctx, preprocess, data_quality, dataset_report)
        register = _register_step(ctx, train, evaluate, data_quality, lineage_properties, report=report)
        gate = _gate_step(ctx, evaluate, report, register)
        pipeline = sdk.Pipeline(
            name=names.pipeline,
            parameters=list(ctx.parameters.values()),
            steps=[preprocess, data_quality, train, evaluate, gate],
            sagemaker_session=ctx.session,
            pipeline_definition_config=sdk.PipelineDefinitionConfig(use_custom_job_prefix=False),
        )
        definition: dict[str, Any] = json.loads(pipeline.definition())
    lineage.stamp_definition_sha256(definition)
    return definition


def render_definition(definition: dict[str, Any]) -> str:
    """Stable text of a definition: sorted keys, two-space indentation, trailing newline."""
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def definition_json(env: EnvironmentConfig, image_tag: str | None = None,
                    code: lineage.CodeVersion | None = None) -> str:
    """The definition as the JSON text the stack deploys and `mlops pipeline run` upserts."""
    return render_definition(build_pipeline_definition(env, image_tag, code))


def iter_steps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step, including those nested in a Condition's IfSteps/ElseSteps, in definition order."""
    found: list[dict[str, Any]] = []

    def visit(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            found.append(step)
            if step["Type"] == "Condition":
                visit(step["Arguments"].get("IfSteps", []))
                visit(step["Arguments"].get("ElseSteps", []))

    visit(definition["Steps"])
    return found


_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9\-_]+)\.")


def step_references(node: Any) -> set[str]:
    """Names of the steps a JSON fragment reads from (`{"Get": "Steps.<name>...."}`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Get" and isinstance(value, str) and (match := _STEP_REFERENCE.match(value)):
                found.add(match.group(1))
            else:
                found |= step_references(value)
    elif isinstance(node, list):
        for item in node:
            found |= step_references(item)
    return found


def step_dependencies(definition: dict[str, Any]) -> dict[str, set[str]]:
    """Step name -> the steps it must wait for: data references, DependsOn and the enclosing Condition."""
    dependencies: dict[str, set[str]] = {}

    def visit(steps: list[dict[str, Any]], parent: str | None) -> None:
        for step in steps:
            arguments = {key: value for key, value in step.items() if key not in ("IfSteps", "ElseSteps")}
            if step["Type"] == "Condition":
                arguments["Arguments"] = step["Arguments"].get("Conditions", [])
            needs = step_references(arguments) | set(step.get("DependsOn", []))
            if parent:
                needs.add(parent)
            dependencies[step["Name"]] = needs - {step["Name"]}
            if step["Type"] == "Condition":
                visit(step["Arguments"].get("IfSteps", []), step["Name"])
                visit(step["Arguments"].get("ElseSteps", []), step["Name"])

    visit(definition["Steps"], None)
    return dependencies
