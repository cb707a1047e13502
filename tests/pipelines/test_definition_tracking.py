"""The Train step's MLflow settings: the environment's tracking server ARN as an overridable parameter,
empty (tracking off) where the environment has no tracking server."""

from __future__ import annotations

from typing import Any

from config.naming import Names
from config.settings import EnvironmentConfig
from pipelines.contract import MLFLOW_TRACKING_URI, TRAIN


def train_environment(definition: dict[str, Any]) -> dict[str, Any]:
    (step,) = [step for step in definition["Steps"] if step["Name"] == TRAIN]
    return dict(step["Arguments"]["Environment"])


def tracking_default(definition: dict[str, Any]) -> Any:
    (parameter,) = [p for p in definition["Parameters"] if p["Name"] == MLFLOW_TRACKING_URI]
    return parameter["DefaultValue"]


def test_training_job_gets_the_tracking_uri_parameter_the_experiment_and_its_execution(
    definitions: dict[str, dict[str, Any]],
) -> None:
    for name, definition in definitions.items():
        assert train_environment(definition) == {
            "MLFLOW_TRACKING_URI": {"Get": f"Parameters.{MLFLOW_TRACKING_URI}"},
            "MLFLOW_EXPERIMENT_NAME": f"mlops-kit-{name}-training",
            "SAGEMAKER_PIPELINE_EXECUTION_ARN": {"Get": "Execution.PipelineExecutionArn"},
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
        }


def test_tracking_uri_defaults_to_the_tracking_server_arn_only_where_the_server_is_deployed(
    definitions: dict[str, dict[str, Any]], environments: dict[str, EnvironmentConfig],
) -> None:
    staging = environments["staging"]
    assert staging.tracking_server_deployed
    assert tracking_default(definitions["staging"]) == (
        "arn:aws:sagemaker:eu-west-1:222222222222:mlflow-tracking-server/mlops-kit-staging-mlflow")
    assert tracking_default(definitions["staging"]) == Names.of(staging).mlflow_tracking_server_arn
    # dev has no vpc block (no experimentation stack), prod has experimentation off by default.
    assert not environments["dev"].tracking_server_deployed
    assert not environments["prod"].tracking_server_deployed
    assert tracking_default(definitions["dev"]) == ""
    assert tracking_default(definitions["prod"]) == ""
