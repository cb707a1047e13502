"""The SageMaker Pipeline definition, built once (offline) for the stack, `mlops pipeline` and local mode."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from config.images import source_tag
from config.naming import Names
from config.settings import EnvironmentConfig
from containers.contracts.model_artifact import INFERENCE_CODE_CHANNEL
from containers.training.estimators import DEFAULT_ESTIMATOR
from pipelines import lineage
from pipelines.contract import (
    CACHE_EXPIRY,
    CHECK_QUALITY,
    CODE_CHANNEL,
    DATA_QUALITY,
    DATASET_PROPERTY_FILE,
    DATASET_REPORT_FILE,
    ESTIMATOR_HYPERPARAMETER,
    EVALUATE,
    EVALUATION_DIR,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    EVALUATION_PROPERTY_FILE,
    FAIL,
    INPUT_DATA_URL,
    METRIC_THRESHOLD,
    MLFLOW_TRACKING_URI,
    MODEL_INPUT_DIR,
    PREPROCESS,
    PREPROCESS_OUTPUTS,
    PROBLEM_TYPE_HYPERPARAMETER,
    PROCESSING_INSTANCE_COUNT,
    PROCESSING_INSTANCE_TYPE,
    PROGRAM_HYPERPARAMETER,
    RAW_INPUT_DIR,
    TARGET_HYPERPARAMETER,
    TEST_INPUT_DIR,
    TRAIN,
    TRAINING_IMAGE,
    TRAINING_INSTANCE_COUNT,
    TRAINING_INSTANCE_TYPE,
    DefinitionError,
    check_estimator,
    data_schema_arguments,
    gate_metric_path,
    hyperparameter_parameters,
    output_dir,
    parameter_defaults,
    training_code,
)
from pipelines.definition_json import render_definition
from pipelines.inference_code import InferenceCodeError, inference_code_uri
from pipelines.registration import (
    lineage_metadata,
    output_uri,
    register_step,
)


@dataclass(frozen=True)
class BuildContext:
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


def _preprocess_step(ctx: BuildContext, dataset_report: Any) -> Any:
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


def _data_quality_step(ctx: BuildContext, preprocess: Any) -> Any:
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
        baseline_dataset=output_uri(preprocess, "baseline"),
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


def tracking_environment(ctx: BuildContext) -> dict[str, Any]:
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


def _train_step(ctx: BuildContext, preprocess: Any) -> Any:
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
        name: sdk.TrainingInput(s3_data=output_uri(preprocess, name), content_type="text/csv")
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


def _evaluate_step(ctx: BuildContext, preprocess: Any, train: Any, report: Any) -> Any:
    sdk = ctx.sdk
    arguments_of_run = ctx.processor("pipelines.steps.evaluate").run(
        inputs=[
            sdk.ProcessingInput(
                input_name="model", source=train.properties.ModelArtifacts.S3ModelArtifacts, destination=MODEL_INPUT_DIR
            ),
            sdk.ProcessingInput(input_name="test", source=output_uri(preprocess, "test"), destination=TEST_INPUT_DIR),
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


def _gate_step(ctx: BuildContext, evaluate: Any, report: Any, register: Any) -> Any:
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
    ctx = BuildContext(
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
        register = register_step(ctx, train, evaluate, data_quality, lineage_properties, report=report)
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


def definition_json(env: EnvironmentConfig, image_tag: str | None = None,
                    code: lineage.CodeVersion | None = None) -> str:
    """The definition as the JSON text the stack deploys and `mlops pipeline run` upserts."""
    return render_definition(build_pipeline_definition(env, image_tag, code))
