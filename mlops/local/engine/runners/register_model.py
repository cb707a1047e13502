"""RegisterModel steps: CreateModelPackage on the (local) model registry with the resolved arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from config.settings import REGISTERED_APPROVAL_STATUS
from mlops.local.engine.jobs import JobFailed
from mlops.local.engine.registry import StepRunner, register
from mlops.local.engine.runners.context import StepContext, StepResult, without_nulls
from pipelines.lineage import metadata_problems

# DescribeModelPackage's response members: the step's properties.
PROPERTIES = frozenset({
    "AdditionalInferenceSpecifications", "ApprovalDescription", "CertifyForMarketplace", "CreatedBy",
    "CreationTime", "CustomerMetadataProperties", "Domain", "DriftCheckBaselines", "InferenceSpecification",
    "LastModifiedBy", "LastModifiedTime", "ManagedStorageType", "MetadataProperties", "ModelApprovalStatus",
    "ModelCard", "ModelLifeCycle", "ModelMetrics", "ModelPackageArn", "ModelPackageDescription",
    "ModelPackageGroupName", "ModelPackageName", "ModelPackageRegistrationType", "ModelPackageStatus",
    "ModelPackageStatusDetails", "ModelPackageVersion", "SamplePayloadUrl", "SecurityConfig",
    "SkipModelValidation", "SourceAlgorithmSpecification", "SourceUri", "Task", "ValidationSpecification",
})




def model_card_problems(model_card: Any) -> list[str]:
    """SageMaker checks a package's ModelCardContent against the model package model card schema."""
    if not model_card or "ModelCardContent" not in model_card:
        return []
    from mlops.model_card import card_problems  # jsonschema loads only when a card is registered

    try:
        content = json.loads(str(model_card["ModelCardContent"]))
    except ValueError as error:
        return [f"ModelCard.ModelCardContent is not JSON ({error})"]
    if not isinstance(content, dict):
        return ["ModelCard.ModelCardContent is not a JSON object"]
    return [f"ModelCard.ModelCardContent {problem}" for problem in card_problems(content)]


def _json_values(value: Any) -> Any:
    """A boto response as the run record keeps properties: times as ISO 8601 text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_values(item) for item in value]
    return value


def run_register_model_step(step: Mapping[str, Any], arguments: Mapping[str, Any], ctx: StepContext) -> StepResult:
    sm = ctx.sagemaker()
    request = without_nulls(dict(arguments))
    group = request.get("ModelPackageGroupName")
    status = request.get("ModelApprovalStatus")
    if status != REGISTERED_APPROVAL_STATUS:
        # The execution role may only register pending versions (governance/execution_role.py): SageMaker
        # answers AccessDenied to any other status, or none, and so does local mode (e.g. on --resume of
        # a run recorded before registration became pending-only).
        raise JobFailed(f"CreateModelPackage: AccessDenied: the execution role may only register versions as "
                        f"{REGISTERED_APPROVAL_STATUS}, not {status!r}", "client")
    problems = metadata_problems(request.get("CustomerMetadataProperties") or {})
    problems += model_card_problems(request.get("ModelCard"))
    if problems:  # SageMaker's own limits; moto does not check them
        raise JobFailed("CreateModelPackage: ValidationException: " + "; ".join(problems), "client")
    try:
        if group:
            groups = sm.list_model_package_groups(NameContains=str(group)).get("ModelPackageGroupSummaryList", [])
            if not any(item["ModelPackageGroupName"] == group for item in groups):
                # SageMaker Pipelines creates a missing group on registration; locally the same.
                sm.create_model_package_group(ModelPackageGroupName=str(group))
        arn = str(sm.create_model_package(**request)["ModelPackageArn"])
        described = sm.describe_model_package(ModelPackageName=arn)
    except ParamValidationError as error:
        raise JobFailed(f"CreateModelPackage refused the step's arguments: {error}", "client") from error
    except ClientError as error:
        details = error.response.get("Error", {})
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        transient = status >= 500 or details.get("Code") in ("ThrottlingException", "Throttling")
        raise JobFailed(f"CreateModelPackage: {details.get('Code')}: {details.get('Message')}",
                        "internal" if transient else "client") from error
    # DescribeModelPackage's answer; what the local registry leaves out of it comes from the request
    # (tags and the client token are no properties), and a versioned package is named after its group.
    properties = {key: value for key, value in request.items() if key in PROPERTIES}
    properties |= _json_values({key: value for key, value in described.items() if key != "ResponseMetadata"})
    properties.setdefault("ModelPackageName", properties.get("ModelPackageGroupName"))
    version = described.get("ModelPackageVersion")
    return StepResult(properties=properties, detail=f"version {version}, {described.get('ModelApprovalStatus')}")


register(StepRunner(type="RegisterModel", run=run_register_model_step, properties=PROPERTIES))
