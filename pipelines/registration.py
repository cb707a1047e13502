"""The registration step of the definition: the model package with its metrics, drift baselines,
lineage (CustomerMetadataProperties, description) and the model card it is created with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from config.images import source_digest
from config.settings import REGISTERED_APPROVAL_STATUS
from containers.training.estimators import DEFAULT_ESTIMATOR
from pipelines import lineage
from pipelines.contract import (
    CONTENT_TYPES,
    ESTIMATOR_HYPERPARAMETER,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    INFERENCE_IMAGE,
    INPUT_DATA_URL,
    METRIC_THRESHOLD,
    PROGRAM_HYPERPARAMETER,
    REGISTER,
    TRAINING_IMAGE,
    DefinitionError,
    gate_metric_path,
    hyperparameter_parameters,
    training_code,
)
from pipelines.registration_card import REGISTRATION_CARD_STATUS, RuntimeValues, registration_card

if TYPE_CHECKING:
    from pipelines.definition import BuildContext


def output_uri(step: Any, name: str) -> Any:
    """The S3 URI of one processing output of `step`, resolved at run time."""
    return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri


def register_step(ctx: BuildContext, train: Any, evaluate: Any, data_quality: Any, lineage_properties: Any, *,
                   report: Any) -> Any:
    sdk, env = ctx.sdk, ctx.env

    def json_source(uri: Any) -> Any:
        return sdk.MetricsSource(s3_uri=uri, content_type="application/json")

    evaluation_uri = sdk.Join(on="/", values=[output_uri(evaluate, EVALUATION_OUTPUT), EVALUATION_FILE])
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
        description=lineage_summary(ctx, lineage_properties),
        model_card=registration_model_card(ctx, train, evaluate, lineage_properties, report=report),
    )
    return sdk.ModelStep(name=REGISTER, step_args=arguments)


# -- Lineage (issue 16) ------------------------------------------------------------------------------


def hyperparameters_text(ctx: BuildContext) -> Any:
    """`key=value` pairs separated by spaces, the tunable values read from the run's parameters."""
    env = ctx.env
    values: list[Any] = []
    for index, (key, name) in enumerate(hyperparameter_parameters(env).items()):
        values += [f"{' ' if index else ''}{key}=", ctx.parameters[name]]
    code = training_code(env)
    fixed = f"sagemaker_program={code.program}" if code else f"estimator={env.training.estimator or DEFAULT_ESTIMATOR}"
    values.append(f"{' ' if values else ''}{fixed}")
    return ctx.sdk.Join(on="", values=values)


def lineage_metadata(ctx: BuildContext, preprocess: Any, data_quality: Any, dataset_report: Any) -> dict[str, Any]:
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
        lineage.HYPERPARAMETERS: hyperparameters_text(ctx),
        lineage.EXECUTION_ARN: sdk.ExecutionVariables.PIPELINE_EXECUTION_ARN,
        lineage.BASELINE_STATISTICS: data_quality.properties.CalculatedBaselineStatistics,
        lineage.BASELINE_CONSTRAINTS: data_quality.properties.CalculatedBaselineConstraints,
    }


def registration_model_card(ctx: BuildContext, train: Any, evaluate: Any, properties: dict[str, Any],
                            report: Any) -> Any:
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
        evaluation_uri=output_uri(evaluate, EVALUATION_OUTPUT),
        hyperparameters=hyperparameters,
    )
    # The definition's own hash cannot be inside the definition's card; `mlops registry card` adds it.
    literal = {key: value for key, value in properties.items()
               if isinstance(value, str) and key != lineage.DEFINITION_SHA256}
    values = registration_card(env, training_image=ctx.image(TRAINING_IMAGE), literal_lineage=literal, runtime=runtime)
    return sdk.PipelineModelCard(sdk.Join(on="", values=values), REGISTRATION_CARD_STATUS)


def lineage_summary(ctx: BuildContext, properties: dict[str, Any]) -> Any:
    """ModelPackageDescription: what the model is and where it came from, in one readable line."""
    env = ctx.env
    return ctx.sdk.Join(on="", values=[
        f"{env.project} {env.name}: {env.data.problem_type.value} on {env.data.target!r}; "
        f"code {ctx.code.label}; image tag {ctx.image_tag}; data sha256 ",
        properties[lineage.DATA_SHA256], " from ", properties[lineage.DATA_URI],
    ])


