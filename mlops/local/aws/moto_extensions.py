"""Where local AWS (moto 5.2.5) needs more than it ships, extended in this one module.

moto authorizes every SageMaker request against resource "*", so an approver policy scoped to the
model-package ARNs of one group would be refused and a policy scoped elsewhere would be allowed. We
give moto's hook (`_determine_resource`) the real ARN of the model package a request names, so IAM
enforcement in local mode and in tests judges approval requests the way AWS does.

Local mode re-seeds the model registry from its own state files into a fresh server at every start;
`restore_model_package_times` gives the re-created versions their original timestamps, and
`fast_stopping_server` a server that stops at once.

moto runs no pipeline steps: an execution is Succeeded at once, DescribePipelineExecution always answers
FailureReason "" and ListPipelineExecutionSteps does not exist. `set_execution_progress` gives an
execution a status, a failure reason and steps (kept on moto's own execution object, so they reset
with moto's state), and with `install_pipeline_progress()` the two actions answer from them, so
`mlops pipeline run --wait` is tested through the real boto3 call path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

# Requests that name one model package; IAM evaluates them against that package's ARN.
_MODEL_PACKAGE_ACTIONS = {"UpdateModelPackage", "DescribeModelPackage", "DeleteModelPackage"}


def _determine_resource(self: Any) -> str:
    if self._get_action() in _MODEL_PACKAGE_ACTIONS:
        arn = self._get_param("ModelPackageArn") or self._get_param("ModelPackageName")
        if isinstance(arn, str) and arn.startswith("arn:"):
            return arn
    return "*"


@dataclass(frozen=True)
class ExecutionStep:
    """One step of a pipeline execution as ListPipelineExecutionSteps reports it."""

    name: str
    status: str  # Starting | Executing | Stopping | Stopped | Failed | Succeeded
    step_type: str = "Training"
    failure_reason: str | None = None


_STEPS_ATTRIBUTE = "mlops_steps"


def _execution(account: str, region: str, arn: str) -> Any:
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    return get_pipeline_execution_from_arn(sagemaker_backends[account][region].pipelines, arn)


def set_execution_progress(
    account: str, region: str, arn: str, *, status: str, steps: Sequence[ExecutionStep] = (),
    failure_reason: str | None = None,
) -> None:
    """What a test (or local mode) says an execution is doing: its status, reason and steps so far."""
    execution = _execution(account, region, arn)
    execution.pipeline_execution_status = status
    execution.pipeline_execution_failure_reason = failure_reason
    setattr(execution, _STEPS_ATTRIBUTE, tuple(steps))


def _step_summary(step: ExecutionStep, started: datetime) -> dict[str, Any]:
    summary: dict[str, Any] = {"StepName": step.name, "StepDisplayName": step.name, "StepStatus": step.status,
                               "StartTime": started, "AttemptCount": 1}
    if step.status in ("Succeeded", "Failed", "Stopped"):
        summary["EndTime"] = started
    if step.failure_reason:
        summary["FailureReason"] = step.failure_reason
    return summary


def _list_pipeline_execution_steps(self: Any) -> ActionResult:
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    execution = get_pipeline_execution_from_arn(
        self.sagemaker_backend.pipelines, self._get_param("PipelineExecutionArn")
    )
    steps = list(getattr(execution, _STEPS_ATTRIBUTE, ()))
    # AWS lists the newest step first unless asked for Ascending.
    if self._get_param("SortOrder", "Descending") != "Ascending":
        steps.reverse()
    return ActionResult({"PipelineExecutionSteps": [_step_summary(step, execution.start_time) for step in steps]})


_moto_describe_pipeline_execution = SageMakerResponse.describe_pipeline_execution


def _describe_pipeline_execution(self: Any) -> ActionResult:
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    answer = _moto_describe_pipeline_execution(self)
    execution = get_pipeline_execution_from_arn(
        self.sagemaker_backend.pipelines, self._get_param("PipelineExecutionArn")
    )
    if execution.pipeline_execution_failure_reason and isinstance(answer.result, dict):
        answer.result["FailureReason"] = execution.pipeline_execution_failure_reason
    return answer


def install() -> None:
    """Idempotent; call before moto serves requests (a server thread or a mock_aws block)."""
    SageMakerResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]
    install_model_package_updates()


# -- UpdateModelPackage as SageMaker answers it: merged metadata, and the model package's ModelCard ----
# SageMaker adds or replaces the CustomerMetadataProperties an UpdateModelPackage call names, removes
# only those in CustomerMetadataPropertiesToRemove and leaves fields the call omits as they were; moto
# 5.2.5 replaces the whole map and clears the approval status and description a call omits (so
# approving a version would erase its lineage). moto also drops the ModelCard field of
# CreateModelPackage/UpdateModelPackage; it is kept on the package and answered by DescribeModelPackage.

_MODEL_CARD_ATTRIBUTE = "mlops_model_card"
_ORIGINAL = {name: getattr(SageMakerResponse, name)
             for name in ("update_model_package", "create_model_package", "describe_model_package")}


def _package(response: Any, arn: str) -> Any:
    backend = response.sagemaker_backend
    return backend.model_packages.get(backend.model_package_name_mapping.get(arn, arn))


def _update_model_package(self: Any) -> ActionResult:
    arn = self._get_param("ModelPackageArn")
    before = _package(self, arn)
    kept = (dict(before.customer_metadata_properties or {}), before.model_approval_status,
            before.approval_description) if before is not None else None
    answer: ActionResult = _ORIGINAL["update_model_package"](self)
    package = _package(self, arn)
    if package is not None and kept is not None:
        metadata, status, description = kept
        merged = {**metadata, **(self._get_param("CustomerMetadataProperties") or {})}
        for key in self._get_param("CustomerMetadataPropertiesToRemove", []) or []:
            merged.pop(key, None)
        package.customer_metadata_properties = merged or None
        if self._get_param("ModelApprovalStatus") is None:
            package.model_approval_status = status
        if self._get_param("ApprovalDescription") is None:
            package.approval_description = description
        if self._get_param("ModelCard"):
            setattr(package, _MODEL_CARD_ATTRIBUTE, self._get_param("ModelCard"))
    return answer


def _create_model_package(self: Any) -> ActionResult:
    answer: ActionResult = _ORIGINAL["create_model_package"](self)
    card = self._get_param("ModelCard")
    if card and isinstance(answer.result, dict):
        package = _package(self, str(answer.result.get("ModelPackageArn")))
        if package is not None:
            setattr(package, _MODEL_CARD_ATTRIBUTE, card)
    return answer


def _describe_model_package(self: Any) -> ActionResult:
    answer: ActionResult = _ORIGINAL["describe_model_package"](self)
    package = _package(self, self._get_param("ModelPackageName"))
    card = getattr(package, _MODEL_CARD_ATTRIBUTE, None)
    if card and isinstance(answer.result, dict):
        answer.result["ModelCard"] = card
    return answer


def install_model_package_updates() -> None:
    SageMakerResponse.update_model_package = _update_model_package  # type: ignore[method-assign]
    SageMakerResponse.create_model_package = _create_model_package  # type: ignore[method-assign]
    SageMakerResponse.describe_model_package = _describe_model_package  # type: ignore[method-assign]


# The attributes `install_pipeline_progress` sets, for callers (tests) that restore moto afterwards.
PIPELINE_PROGRESS_ACTIONS = ("list_pipeline_execution_steps", "describe_pipeline_execution")


def install_pipeline_progress() -> None:
    """ListPipelineExecutionSteps and FailureReason answered from `set_execution_progress`.

    Separate from `install()`: a server without it answers ListPipelineExecutionSteps with HTTP 500,
    which is what the cloud commands must also survive.
    """
    SageMakerResponse.list_pipeline_execution_steps = _list_pipeline_execution_steps  # type: ignore[attr-defined]
    SageMakerResponse.describe_pipeline_execution = _describe_pipeline_execution  # type: ignore[method-assign]


def restore_model_package_times(
    account: str, region: str, arn: str, created: datetime, modified: datetime | None = None
) -> None:
    """Give a re-seeded model package its original CreationTime/LastModifiedTime.

    Local mode keeps the registry in its own files and re-creates it in a fresh server at start;
    CreateModelPackage cannot set a creation time, so the seeded version would look brand new.
    """
    from moto.sagemaker.models import sagemaker_backends

    package = sagemaker_backends[account][region].model_packages.get(arn)
    if package is None:
        raise KeyError(f"no model package {arn} in account {account}, region {region}")
    # moto keeps naive UTC datetimes and sorts on them; an aware one would break ListModelPackages.
    package.creation_time = _naive_utc(created)
    if modified is not None:
        package.last_modified_time = _naive_utc(modified)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fast_stopping_server(ip_address: str, port: int) -> Any:
    """A ThreadedMotoServer whose stop() returns within 50 ms instead of 500 ms.

    werkzeug's serve_forever checks for shutdown every poll_interval (0.5 s by default); local
    mode starts and stops a server on every command, so it polls more often.
    """
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class FastStoppingServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    return FastStoppingServer(ip_address=ip_address, port=port, verbose=False)
