"""The pipeline definition per environment: steps, references, parameters, gate, golden file, offline build."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config.images import source_digest, source_tag
from config.naming import Names
from config.settings import DataConfig, EnvironmentConfig, ProblemType, QualityGate
from containers.training.estimators import DEFAULT_ESTIMATOR
from pipelines import contract, lineage
from pipelines import definition as pd_
from pipelines.contract import (
    CHECK_QUALITY,
    DATA_QUALITY,
    EVALUATE,
    FAIL,
    PREPROCESS,
    REGISTER_STEP,
    TRAIN,
    DefinitionError,
)
from pipelines.definition_json import iter_steps, render_definition, step_dependencies
from pipelines.steps import evaluate as evaluate_step
from pipelines.steps import preprocess as preprocess_step

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN_FILE = REPO_ROOT / "tests" / "golden" / "pipeline-definition.dev.json"
GOLDEN_TAG = "IMAGE_TAG"


def _steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["Name"]: step for step in iter_steps(definition)}


def _parameters(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["Name"]: item for item in definition["Parameters"]}


def _gets(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["Get"]] if set(node) == {"Get"} else [g for value in node.values() for g in _gets(value)]
    if isinstance(node, list):
        return [g for item in node for g in _gets(item)]
    return []


def _output_get(step: str, output: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


# --- structure -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_steps_have_the_documented_names_and_types(definitions: dict[str, dict[str, Any]], env_name: str) -> None:
    definition = definitions[env_name]
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        (PREPROCESS, "Processing"), (DATA_QUALITY, "QualityCheck"), (TRAIN, "Training"),
        (EVALUATE, "Processing"), (CHECK_QUALITY, "Condition"),
    ]
    gate = _steps(definition)[CHECK_QUALITY]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [(REGISTER_STEP, "RegisterModel")]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [(FAIL, "Fail")]
    assert set(_steps(definition)) == set(contract.STEP_NAMES)


def test_steps_read_each_other_through_get_references(definitions: dict[str, dict[str, Any]]) -> None:
    steps = _steps(definitions["dev"])
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in steps[TRAIN]["Arguments"]["InputDataConfig"]
    }
    assert channels == {"train": _output_get(PREPROCESS, "train"), "validation": _output_get(PREPROCESS, "validation")}
    evaluate_inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in steps[EVALUATE]["Arguments"]["ProcessingInputs"]}
    assert evaluate_inputs == {
        "model": {"Get": f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"},
        "test": _output_get(PREPROCESS, "test"),
    }
    baseline_input = steps[DATA_QUALITY]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"]
    assert baseline_input == _output_get(PREPROCESS, "baseline")
    register = steps[REGISTER_STEP]["Arguments"]
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == {
        "Get": f"Steps.{TRAIN}.ModelArtifacts.S3ModelArtifacts"
    }
    drift = register["DriftCheckBaselines"]["ModelDataQuality"]
    assert drift["Statistics"]["S3Uri"] == {"Get": f"Steps.{DATA_QUALITY}.BaselineUsedForDriftCheckStatistics"}
    assert drift["Constraints"]["S3Uri"] == {"Get": f"Steps.{DATA_QUALITY}.BaselineUsedForDriftCheckConstraints"}
    statistics = register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]["Std:Join"]["Values"]
    assert statistics == [_output_get(EVALUATE, "evaluation"), "evaluation.json"]


def test_quality_gate_reads_the_evaluation_property_file(definitions: dict[str, dict[str, Any]]) -> None:
    steps = _steps(definitions["dev"])
    assert steps[EVALUATE]["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    outputs = [o["OutputName"] for o in steps[EVALUATE]["Arguments"]["ProcessingOutputConfig"]["Outputs"]]
    assert outputs == ["evaluation"]
    (condition,) = steps[CHECK_QUALITY]["Arguments"]["Conditions"]
    assert condition["LeftValue"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": f"Steps.{EVALUATE}.PropertyFiles.EvaluationReport"},
            "Path": "binary_classification_metrics.auc.value",
        }
    }
    assert condition["RightValue"] == {"Get": "Parameters.MetricThreshold"}


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_steps_are_ordered_by_data_alone_without_depends_on(
    definitions: dict[str, dict[str, Any]], env_name: str
) -> None:
    definition = definitions[env_name]
    assert all("DependsOn" not in step for step in iter_steps(definition))
    assert step_dependencies(definition) == {
        PREPROCESS: set(),
        DATA_QUALITY: {PREPROCESS},
        TRAIN: {PREPROCESS},
        EVALUATE: {PREPROCESS, TRAIN},
        CHECK_QUALITY: {EVALUATE},
        # Preprocess: the data hash of the version's lineage is read from its report (Std:JsonGet).
        REGISTER_STEP: {CHECK_QUALITY, TRAIN, EVALUATE, DATA_QUALITY, PREPROCESS},
        FAIL: {CHECK_QUALITY, EVALUATE},
    }


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_every_reference_names_a_step_or_parameter_that_exists(
    definitions: dict[str, dict[str, Any]], env_name: str
) -> None:
    definition = definitions[env_name]
    gets = _gets(definition["Steps"])
    steps, parameters = set(_steps(definition)), set(_parameters(definition))
    referenced_steps = {get.split(".")[1] for get in gets if get.startswith("Steps.")}
    referenced_parameters = {get.split(".")[1] for get in gets if get.startswith("Parameters.")}
    executions = {get for get in gets if get.startswith("Execution.")}
    assert referenced_steps <= steps
    assert referenced_parameters == parameters, "every parameter is used and every use is declared"
    # The execution ARN is recorded in the registered version's lineage.
    assert executions == {"Execution.PipelineExecutionId", "Execution.PipelineExecutionArn"}
    assert set(gets) == {g for g in gets if g.startswith(("Steps.", "Parameters.", "Execution."))}


# --- parameters from config ----------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_parameter_defaults_come_from_the_environment(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig], env_name: str
) -> None:
    env = environments[env_name]
    parameters = _parameters(definitions[env_name])
    defaults = {name: item["DefaultValue"] for name, item in parameters.items()}
    data_bucket = Names.of(env).bucket("data")
    assert defaults["InputDataUrl"] == (env.data.input_uri or f"s3://{data_bucket}/datasets/default/")
    assert defaults["ProcessingInstanceType"] == env.processing.instance_type
    assert defaults["ProcessingInstanceCount"] == env.processing.instance_count
    assert defaults["TrainingInstanceType"] == env.training.instance_type
    assert defaults["TrainingInstanceCount"] == env.training.instance_count
    if env.approval_mode == "auto":
        assert defaults["MetricThreshold"] == env.quality_gate.threshold
        assert parameters["MetricThreshold"]["Type"] == "Float"
    else:
        assert "MetricThreshold" not in parameters  # a run cannot lower the bar the approver relies on
    assert "ModelApprovalStatus" not in parameters  # registration is always pending (issue 12)
    for key, value in env.training.hyperparameters.items():
        name = contract.hyperparameter_parameter_name(key)
        assert (parameters[name]["Type"], defaults[name]) == ("String", value)


def _gate_threshold(definition: dict[str, Any]) -> Any:
    right = _steps(definition)[CHECK_QUALITY]["Arguments"]["Conditions"][0]["RightValue"]
    return _parameters(definition)["MetricThreshold"]["DefaultValue"] if isinstance(right, dict) else right


def test_manual_environments_gate_on_the_configured_threshold_as_a_literal(
    definitions: dict[str, dict[str, Any]]
) -> None:
    # Literal expectations from config/environments.yaml: staging 0.92, prod 0.95 (approval_mode manual).
    for name, threshold in (("staging", 0.92), ("prod", 0.95)):
        steps = _steps(definitions[name])
        assert steps[CHECK_QUALITY]["Arguments"]["Conditions"][0]["RightValue"] == threshold
        assert threshold in steps[FAIL]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert _steps(definitions["dev"])[CHECK_QUALITY]["Arguments"]["Conditions"][0]["RightValue"] == {
        "Get": "Parameters.MetricThreshold"
    }


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_registration_status_is_pending_and_not_a_parameter(
    definitions: dict[str, dict[str, Any]], env_name: str
) -> None:
    assert _steps(definitions[env_name])[REGISTER_STEP]["Arguments"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert "ModelApprovalStatus" not in _parameters(definitions[env_name])


def test_environments_differ_in_thresholds_and_instance_types(definitions: dict[str, dict[str, Any]]) -> None:
    # Guards the test above against passing on identical environments.
    thresholds = {name: _gate_threshold(d) for name, d in definitions.items()}
    instances = {name: _parameters(d)["TrainingInstanceType"]["DefaultValue"] for name, d in definitions.items()}
    assert len(set(thresholds.values())) == 3
    assert len(set(instances.values())) >= 2


def test_hyperparameters_are_strings_wired_to_parameters_plus_target_and_problem_type(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig]
) -> None:
    env = environments["dev"]
    hyperparameters = _steps(definitions["dev"])[TRAIN]["Arguments"]["HyperParameters"]
    expected: dict[str, Any] = {
        key: {"Get": f"Parameters.{contract.hyperparameter_parameter_name(key)}"}
        for key in env.training.hyperparameters
    }
    expected |= {"target": env.data.target, "problem_type": env.data.problem_type.value,
                 "estimator": env.training.estimator or DEFAULT_ESTIMATOR}
    assert hyperparameters == expected
    assert contract.hyperparameter_parameter_name("n_estimators") == "NEstimators"


def test_hyperparameter_names_that_collide_are_refused(environments: dict[str, EnvironmentConfig]) -> None:
    env = environments["dev"]
    clashing = env.model_copy(update={"training": env.training.model_copy(
        update={"hyperparameters": {"max_depth": "3", "max-depth": "4"}})})
    with pytest.raises(DefinitionError, match="max-depth"):
        contract.hyperparameter_parameters(clashing)
    reserved = env.model_copy(update={"training": env.training.model_copy(update={"hyperparameters": {"target": "y"}})})
    with pytest.raises(DefinitionError, match=r"data\.target"):
        contract.hyperparameter_parameters(reserved)


@pytest.mark.parametrize("env_name", ["dev", "staging", "prod"])
def test_jobs_use_the_vpc_only_where_configured(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig], env_name: str
) -> None:
    env, steps = environments[env_name], _steps(definitions[env_name])
    vpc_configs = [
        steps[PREPROCESS]["Arguments"].get("NetworkConfig", {}).get("VpcConfig"),
        steps[DATA_QUALITY]["Arguments"].get("NetworkConfig", {}).get("VpcConfig"),
        steps[TRAIN]["Arguments"].get("VpcConfig"),
        steps[EVALUATE]["Arguments"].get("NetworkConfig", {}).get("VpcConfig"),
    ]
    if env.vpc is None:
        assert vpc_configs == [None] * 4
    else:
        expected = {"Subnets": list(env.vpc.subnet_ids), "SecurityGroupIds": list(env.vpc.security_group_ids)}
        assert vpc_configs == [expected] * 4


def test_roles_images_and_group_come_from_naming(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig]
) -> None:
    env, steps = environments["staging"], _steps(definitions["staging"])
    names = Names.of(env)
    training_image = names.image_uri("training", source_tag())
    assert steps[PREPROCESS]["Arguments"]["AppSpecification"]["ImageUri"] == training_image
    assert steps[EVALUATE]["Arguments"]["AppSpecification"]["ImageUri"] == training_image
    assert steps[TRAIN]["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == training_image
    register = steps[REGISTER_STEP]["Arguments"]
    assert register["InferenceSpecification"]["Containers"][0]["Image"] == names.image_uri("inference", source_tag())
    assert register["ModelPackageGroupName"] == names.model_package_group
    assert steps[DATA_QUALITY]["ModelPackageGroupName"] == names.model_package_group
    all_steps = iter_steps(definitions["staging"])
    roles = {step["Arguments"]["RoleArn"] for step in all_steps if "RoleArn" in step["Arguments"]}
    assert roles == {names.execution_role_arn}
    assert register["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"


def test_step_outputs_are_written_per_execution_under_the_artifacts_bucket(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig]
) -> None:
    names = Names.of(environments["dev"])
    steps = _steps(definitions["dev"])
    outputs = steps[PREPROCESS]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    for output in outputs:
        assert output["S3Output"]["S3Uri"] == {"Std:Join": {"On": "/", "Values": [
            f"s3://{names.bucket('artifacts')}/{names.pipeline}",
            {"Get": "Execution.PipelineExecutionId"}, PREPROCESS, output["OutputName"],
        ]}}
    assert [o["OutputName"] for o in outputs] == list(contract.PREPROCESS_OUTPUTS)


def test_processing_steps_cache_and_retry_but_gate_steps_do_not(definitions: dict[str, dict[str, Any]]) -> None:
    steps = _steps(definitions["dev"])
    for name in (PREPROCESS, DATA_QUALITY, TRAIN, EVALUATE):
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    for name in (PREPROCESS, TRAIN, EVALUATE):
        assert len(steps[name]["RetryPolicies"]) == 2
    assert steps[DATA_QUALITY]["SkipCheck"] is True
    assert steps[DATA_QUALITY]["RegisterNewBaseline"] is True
    assert steps[TRAIN]["Arguments"]["ProfilerConfig"] == {"DisableProfiler": True}
    assert "DebugHookConfig" not in steps[TRAIN]["Arguments"]


# --- the container contract: arguments the step scripts accept ------------------------------------


def test_preprocess_arguments_are_accepted_by_the_step_script(definitions: dict[str, dict[str, Any]]) -> None:
    arguments = _steps(definitions["dev"])[PREPROCESS]["Arguments"]
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "pipelines.steps.preprocess"]
    parsed = preprocess_step._parse(arguments["AppSpecification"]["ContainerArguments"])
    assert str(parsed.input) == arguments["ProcessingInputs"][0]["S3Input"]["LocalPath"]
    for output in arguments["ProcessingOutputConfig"]["Outputs"]:
        assert str(getattr(parsed, output["OutputName"])) == output["S3Output"]["LocalPath"]
    assert (parsed.target, parsed.problem_type) == ("target", "BinaryClassification")


def test_evaluate_arguments_are_accepted_by_the_step_script(definitions: dict[str, dict[str, Any]]) -> None:
    arguments = _steps(definitions["dev"])[EVALUATE]["Arguments"]
    assert arguments["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "pipelines.steps.evaluate"]
    parsed = evaluate_step._parse(arguments["AppSpecification"]["ContainerArguments"])
    inputs = {i["InputName"]: i["S3Input"]["LocalPath"] for i in arguments["ProcessingInputs"]}
    assert (str(parsed.model), str(parsed.test)) == (inputs["model"], inputs["test"])
    assert str(parsed.output) == arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"]


# --- the gate follows the metric's direction -----------------------------------------------------


@pytest.fixture(scope="module")
def regression_definition(environments: dict[str, EnvironmentConfig]) -> dict[str, Any]:
    env = environments["dev"].model_copy(update={
        "data": DataConfig(problem_type=ProblemType.REGRESSION, target="price"),
        "quality_gate": QualityGate(metric="mae", threshold=5.0),
    })
    return pd_.build_pipeline_definition(env, image_tag="test")


def test_higher_is_better_metric_passes_at_or_above_the_threshold(definitions: dict[str, dict[str, Any]]) -> None:
    steps = _steps(definitions["prod"])
    assert steps[CHECK_QUALITY]["Arguments"]["Conditions"][0]["Type"] == "GreaterThanOrEqualTo"
    message = steps[FAIL]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert message[0] == "Quality gate failed: auc"
    assert "is below the threshold" in message
    assert 0.95 in message  # prod's approval is manual: its threshold is a literal
    assert any(isinstance(v, dict) and "Std:JsonGet" in v for v in message)


def test_lower_is_better_metric_passes_at_or_below_the_threshold(regression_definition: dict[str, Any]) -> None:
    steps = _steps(regression_definition)
    (condition,) = steps[CHECK_QUALITY]["Arguments"]["Conditions"]
    assert condition["Type"] == "LessThanOrEqualTo"
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.mae.value"
    assert "is above the threshold" in steps[FAIL]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    hyperparameters = steps[TRAIN]["Arguments"]["HyperParameters"]
    assert (hyperparameters["target"], hyperparameters["problem_type"]) == ("price", "Regression")
    assert _parameters(regression_definition)["MetricThreshold"]["DefaultValue"] == 5.0


# --- golden file, stable text, offline build -----------------------------------------------------


def normalised_dev_definition(definition: dict[str, Any]) -> str:
    """The dev definition's text with the image tag and the lineage of the build (commit, tree state,
    source and definition hashes) replaced, so container edits and new commits do not break it."""
    code = lineage.code_version()
    text = render_definition(definition).replace(source_tag(), GOLDEN_TAG).replace(source_digest(), "SOURCES_SHA256")
    text = text.replace(code.commit, "COMMIT").replace(code.label, "CODE")  # the label may be the commit's prefix
    dirty = str(code.dirty).lower()
    text = text.replace(f'"{lineage.CODE_DIRTY}": "{dirty}"', f'"{lineage.CODE_DIRTY}": "DIRTY"')
    text = text.replace(f'lineage_code_dirty\\": \\"{dirty}\\"', 'lineage_code_dirty\\": \\"DIRTY\\"')  # in the card
    return re.sub(f'"{lineage.DEFINITION_SHA256}": "[0-9a-f]{{64}}"', f'"{lineage.DEFINITION_SHA256}": "SHA256"', text)


def test_dev_definition_matches_the_golden_file(definitions: dict[str, dict[str, Any]]) -> None:
    """Refresh after an intended change: UPDATE_GOLDEN=1 pytest tests/pipelines/test_definition.py,
    then review the diff of tests/golden/pipeline-definition.dev.json like code."""
    text = normalised_dev_definition(definitions["dev"])
    assert source_tag() not in text
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_FILE.write_text(text, encoding="utf-8")
    assert GOLDEN_FILE.is_file(), "no golden file yet: run with UPDATE_GOLDEN=1"
    assert text == GOLDEN_FILE.read_text(encoding="utf-8")


def test_definition_json_is_stable_between_builds(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig]
) -> None:
    again = pd_.definition_json(environments["dev"])
    assert again == render_definition(definitions["dev"])
    assert json.loads(again) == definitions["dev"]


_OFFLINE_PROBE = """
import json, socket, sys
attempts = []
def refuse(name):
    def blocked(*args, **kwargs):
        attempts.append(f"{name}{args[1:2] if name == 'connect' else args[:1]}")
        raise OSError("network blocked by test")
    return blocked
socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect")
socket.getaddrinfo = refuse("getaddrinfo")
socket.create_connection = refuse("create_connection")
from config.settings import load_project
from pipelines.definition import definition_json
sizes = [len(definition_json(env)) for env in load_project().environments.values()]
print(json.dumps({"attempts": attempts, "sizes": sizes}))
"""


@pytest.mark.slow
def test_building_every_definition_makes_no_network_attempt(tmp_path: Path) -> None:
    # A fresh process, so the SDK import itself is covered too; attempts are recorded, not just
    # refused, because the SDK swallows errors around its telemetry.
    env = {**os.environ, "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    env.pop("AWS_PROFILE", None)
    result = subprocess.run([sys.executable, "-c", _OFFLINE_PROBE], capture_output=True, text=True, env=env,
                            cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert len(report["sizes"]) == 3
    assert min(report["sizes"]) > 10_000
