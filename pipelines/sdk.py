"""The only module that imports the SageMaker Python SDK (2.x): an offline session and the classes used."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Set before the SDK is imported: 2.x prints a deprecation banner on import otherwise.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
# The SDK logs on import and on every build (config file locations, on stdout; telemetry notice;
# "Popping out 'ProcessingJobName'"); none of it is actionable here and stdout carries our JSON.
for _logger in ("sagemaker.config", "sagemaker.telemetry", "sagemaker.workflow", "sagemaker.image_uris"):
    logging.getLogger(_logger).setLevel(logging.ERROR)

# Placeholder credentials for the SDK's own boto3 clients. The SDK makes clients we never use (a
# JumpStart session at import, a TensorBoard helper per Estimator); without credentials in reach,
# botocore walks its chain on each one and probes the instance metadata service over the network.
_OFFLINE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "offline-definition-build",
    "AWS_SECRET_ACCESS_KEY": "offline-definition-build",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CHAIN_SELECTORS = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@contextmanager
def _offline_credentials() -> Iterator[None]:
    """Within the block, boto3 finds placeholder credentials first; the caller's are restored after,
    so `mlops` commands still use the real credential chain for their own clients."""
    saved = {name: os.environ.get(name) for name in (*_OFFLINE_ENVIRONMENT, *_CHAIN_SELECTORS)}
    for name in _CHAIN_SELECTORS:
        os.environ.pop(name, None)
    os.environ.update(_OFFLINE_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Two SDK modules call logging.basicConfig(level=INFO) on import; the root logger is the
# application's to configure, so it is put back as it was after the imports.
_root_handlers, _root_level = list(logging.root.handlers), logging.root.level

with _offline_credentials():
    import boto3
    import sagemaker.session as _sagemaker_session
    from sagemaker.drift_check_baselines import DriftCheckBaselines
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.model_monitor.dataset_format import DatasetFormat
    from sagemaker.network import NetworkConfig
    from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
    from sagemaker.telemetry import telemetry_logging
    from sagemaker.workflow.check_job_config import CheckJobConfig
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.pipeline_definition_config import PipelineDefinitionConfig
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep
    from sagemaker.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
        StepExceptionTypeEnum,
        StepRetryPolicy,
    )
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

for _handler in [h for h in logging.root.handlers if h not in _root_handlers]:
    logging.root.removeHandler(_handler)
logging.root.setLevel(_root_level)

__all__ = [
    "CacheConfig", "CheckJobConfig", "ConditionGreaterThanOrEqualTo", "ConditionLessThanOrEqualTo",
    "ConditionStep", "DataQualityCheckConfig", "DatasetFormat", "DriftCheckBaselines", "Estimator",
    "ExecutionVariables", "FailStep", "Join", "JsonGet", "MetricsSource", "Model", "ModelMetrics",
    "ModelStep", "NetworkConfig", "ParameterFloat", "ParameterInteger", "ParameterString", "Pipeline",
    "PipelineDefinitionConfig", "PipelineModelCard", "PipelineSession", "ProcessingInput", "ProcessingOutput",
    "ProcessingStep", "Processor", "PropertyFile", "QualityCheckStep", "SageMakerJobExceptionTypeEnum",
    "SageMakerJobStepRetryPolicy", "StepExceptionTypeEnum", "StepRetryPolicy", "TrainingInput",
    "TrainingStep", "offline_build", "offline_session",
]


class PipelineModelCard:
    """A model package's ModelCard whose content is a pipeline expression (a `Join` resolved at run time).

    The SDK's own ModelPackageModelCard json-dumps a dict, so it cannot carry an expression; register()
    only calls `_create_request_args()` on it and renames Content to ModelCardContent.
    """

    def __init__(self, content: Any, status: str) -> None:
        self.content = content
        self.status = status

    def _create_request_args(self) -> dict[str, Any]:
        return {"ModelCardStatus": self.status, "Content": self.content}


def _no_telemetry(*_args: Any, **_kwargs: Any) -> None:
    """Building a definition must never reach the network; the SDK's telemetry would (a GET to S3)."""


# Why a stub and not `TelemetryOptOut` in a config dict: a non-empty sagemaker_config is re-validated
# with jsonschema on every lookup, which makes a build several times slower (docs/architecture.md, section 7).
telemetry_logging._send_telemetry_request = _no_telemetry

def offline_session(region: str, default_bucket: str) -> Any:
    """A PipelineSession that never calls AWS and ignores the machine's SageMaker config files.

    Explicit placeholder credentials stop botocore from probing the credential chain (files,
    instance metadata over the network); the SDK only records requests in a PipelineSession.
    The config-file loader is bypassed so the definition does not depend on who builds it.
    """
    boto_session = boto3.Session(
        region_name=region,
        aws_access_key_id="offline-definition-build",
        aws_secret_access_key="offline-definition-build",
    )
    original_loader = getattr(_sagemaker_session, "load_sagemaker_config")  # noqa: B009 - not re-exported
    setattr(_sagemaker_session, "load_sagemaker_config", lambda *_args, **_kwargs: {})  # noqa: B010
    try:
        session: Any = PipelineSession(boto_session=boto_session, default_bucket=default_bucket)
    finally:
        setattr(_sagemaker_session, "load_sagemaker_config", original_loader)  # noqa: B010
    # Setting the resolved bucket skips the ListBuckets/HeadBucket calls default_bucket() makes.
    session._default_bucket = default_bucket
    return session


@contextmanager
def offline_build() -> Iterator[None]:
    """Steps are recorded with placeholder credentials and without the PipelineSession's
    "No Wait, No Logs" UserWarning."""
    with _offline_credentials(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Running within a PipelineSession", category=UserWarning)
        yield
