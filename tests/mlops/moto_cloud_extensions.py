"""What moto 5.2.5 lacks for the cloud operations commands (`mlops images build`, `mlops teardown`).

Test-only: local mode never calls these APIs, so they are not part of mlops/local/aws/moto_extensions.py.
Each patch goes on moto's backend or response class through pytest's monkeypatch (undone after the
test) and keeps the call path real: boto3 -> moto's HTTP layer -> these handlers.

- CodeBuild: moto answers every BatchGetBuilds with SUCCEEDED (and appends the phases again on each
  call). `script_builds` makes the builds of a project report IN_PROGRESS for a number of polls, then
  a chosen end: SUCCEEDED, or a failed phase with CodeBuild's context message and a log stream.
- SageMaker: moto has no monitoring schedules and no Studio apps. `install_sagemaker_operations` adds
  Create/List/DeleteMonitoringSchedule and Create/List/DeleteApp on a per-backend dict (reset with
  moto's state).
- CloudFormation: moto's templates know no AWS::SageMaker::MonitoringSchedule or AWS::Budgets::Budget, and a
  resource that fails to delete makes moto's DeleteStack raise instead of ending DELETE_FAILED.
  `install_stack_resources` adds the schedule type (on the same dict as the API's schedules) and the budget
  type (in moto's Budgets backend, where DescribeBudget finds it); `fail_stack_deletion` makes one
  stack's deletion end DELETE_FAILED with CloudFormation's events, as a real failed deletion does;
  `delay_stack_deletion` keeps one stack DELETE_IN_PROGRESS for a number of DescribeStacks answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.budgets.models import budgets_backends
from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.models import CloudFormationBackend, Event
from moto.codebuild.models import CodeBuildBackend, codebuild_backends
from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

PHASES = ("SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD",
          "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED")


@dataclass(frozen=True)
class BuildOutcome:
    """How every build of one project ends, after `polls_in_progress` answers of IN_PROGRESS."""

    status: str = "SUCCEEDED"
    failed_phase: str | None = None
    message: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    polls_in_progress: int = 1


_OUTCOMES = "mlops_build_outcomes"
_POLLS = "mlops_build_polls"


def _phases(until: str, status: str, message: str | None) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = []
    for phase in PHASES[: PHASES.index(until) + 1]:
        entry: dict[str, Any] = {"phaseType": phase, "phaseStatus": "SUCCEEDED"}
        if phase == until:
            entry["phaseStatus"] = status
            if message:
                entry["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": message}]
        phases.append(entry)
    return phases


def _scripted_batch_get_builds(original: Any) -> Any:
    def batch_get_builds(self: CodeBuildBackend, ids: list[str]) -> list[dict[str, Any]]:
        outcomes: dict[str, BuildOutcome] = getattr(self, _OUTCOMES, {})
        polls: dict[str, int] = self.__dict__.setdefault(_POLLS, {})
        answers = []
        for metadata in self.build_metadata_history.values():
            for build in metadata:
                if build["id"] not in ids:
                    continue
                outcome = outcomes.get(build["projectName"])
                if outcome is None:
                    answers.extend(original(self, [build["id"]]))
                    continue
                polls[build["id"]] = polls.get(build["id"], 0) + 1
                if polls[build["id"]] <= outcome.polls_in_progress:
                    build.update(buildStatus="IN_PROGRESS", currentPhase="BUILD", buildComplete=False,
                                 phases=[{**p, "phaseStatus": "SUCCEEDED"} for p in _phases("PRE_BUILD", "", None)])
                elif outcome.status == "SUCCEEDED":
                    build.update(buildStatus="SUCCEEDED", currentPhase="COMPLETED", buildComplete=True,
                                 phases=_phases("COMPLETED", "SUCCEEDED", None))
                else:
                    phase = outcome.failed_phase or "BUILD"
                    build.update(buildStatus=outcome.status, currentPhase="COMPLETED", buildComplete=True,
                                 phases=_phases(phase, outcome.status, outcome.message))
                if outcome.log_group:
                    build["logs"] = {**build.get("logs", {}), "groupName": outcome.log_group,
                                     "streamName": outcome.log_stream}
                answers.append(build)
        return answers

    return batch_get_builds


def script_builds(monkeypatch: pytest.MonkeyPatch, account: str, region: str, project: str,
                  outcome: BuildOutcome) -> None:
    """Builds of `project` end as `outcome` says (moto's own answer for every other project)."""
    if not getattr(CodeBuildBackend.batch_get_builds, "mlops_scripted", False):
        patched = _scripted_batch_get_builds(CodeBuildBackend.batch_get_builds)
        patched.mlops_scripted = True
        monkeypatch.setattr(CodeBuildBackend, "batch_get_builds", patched)
    backend = codebuild_backends[account][region]
    backend.__dict__.setdefault(_OUTCOMES, {})[project] = outcome


# --- SageMaker: monitoring schedules and Studio apps -------------------------------------------------


def _store(backend: SageMakerModelBackend, kind: str) -> dict[str, dict[str, Any]]:
    stores: dict[str, dict[str, dict[str, Any]]] = backend.__dict__.setdefault("mlops_operations", {})
    return stores.setdefault(kind, {})


def _now() -> datetime:
    return datetime.now(UTC)


def _job_definition_endpoint(backend: SageMakerModelBackend, name: str | None) -> str | None:
    """The endpoint a schedule watches is its job definition's (as DescribeMonitoringSchedule reports it)."""
    definition = backend.data_quality_job_definitions.get(name or "")
    if definition is None:
        return None
    endpoint: str | None = definition.data_quality_job_input.get("EndpointInput", {}).get("EndpointName")
    return endpoint


def _create_monitoring_schedule(self: Any) -> ActionResult:
    name = self._get_param("MonitoringScheduleName")
    config = self._get_param("MonitoringScheduleConfig") or {}
    arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:monitoring-schedule/{name}"
    _store(self.sagemaker_backend, "schedules")[name] = {
        "MonitoringScheduleName": name, "MonitoringScheduleArn": arn, "CreationTime": _now(),
        "LastModifiedTime": _now(), "MonitoringScheduleStatus": "Scheduled",
        "EndpointName": _job_definition_endpoint(self.sagemaker_backend, config.get("MonitoringJobDefinitionName")),
        "MonitoringType": config.get("MonitoringType", "DataQuality"),
    }
    return ActionResult({"MonitoringScheduleArn": arn})


def _list_monitoring_schedules(self: Any) -> ActionResult:
    contains = self._get_param("NameContains") or ""
    endpoint = self._get_param("EndpointName")
    found = [s for s in _store(self.sagemaker_backend, "schedules").values()
             if contains in s["MonitoringScheduleName"] and (endpoint is None or s["EndpointName"] == endpoint)]
    return ActionResult({"MonitoringScheduleSummaries": found})


def _delete_monitoring_schedule(self: Any) -> ActionResult:
    from moto.sagemaker.exceptions import ValidationError

    name = self._get_param("MonitoringScheduleName")
    if _store(self.sagemaker_backend, "schedules").pop(name, None) is None:
        raise ValidationError(message=f"Monitoring Schedule {name} does not exist")
    return ActionResult({})


def _create_app(self: Any) -> ActionResult:
    key = "/".join(str(self._get_param(p) or "") for p in ("DomainId", "UserProfileName", "AppType", "AppName"))
    arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:app/{key}"
    _store(self.sagemaker_backend, "apps")[key] = {
        "DomainId": self._get_param("DomainId"), "UserProfileName": self._get_param("UserProfileName"),
        "AppType": self._get_param("AppType"), "AppName": self._get_param("AppName"), "Status": "InService",
        "CreationTime": _now(),
    }
    return ActionResult({"AppArn": arn})


def _list_apps(self: Any) -> ActionResult:
    domain = self._get_param("DomainIdEquals")
    found = [dict(app) for app in _store(self.sagemaker_backend, "apps").values()
             if domain is None or app["DomainId"] == domain]
    return ActionResult({"Apps": found})


def _delete_app(self: Any) -> ActionResult:
    from moto.sagemaker.exceptions import ValidationError

    key = "/".join(str(self._get_param(p) or "") for p in ("DomainId", "UserProfileName", "AppType", "AppName"))
    app = _store(self.sagemaker_backend, "apps").get(key)
    if app is None or app["Status"] == "Deleted":
        raise ValidationError(message=f"App {key} does not exist or is deleted")
    app["Status"] = "Deleted"  # SageMaker keeps deleted apps listed for a while
    return ActionResult({})


SAGEMAKER_OPERATIONS = {
    "create_monitoring_schedule": _create_monitoring_schedule,
    "list_monitoring_schedules": _list_monitoring_schedules,
    "delete_monitoring_schedule": _delete_monitoring_schedule,
    "create_app": _create_app,
    "list_apps": _list_apps,
    "delete_app": _delete_app,
}


def install_sagemaker_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, handler in SAGEMAKER_OPERATIONS.items():
        monkeypatch.setattr(SageMakerResponse, name, handler, raising=False)


# --- CloudFormation: a monitoring schedule resource, and a deletion that fails ------------------------


class CfnMonitoringSchedule:
    """AWS::SageMaker::MonitoringSchedule in moto's templates: the same record CreateMonitoringSchedule stores."""

    def __init__(self, name: str, account_id: str, region_name: str) -> None:
        self.physical_resource_id = name
        self.account_id, self.region_name = account_id, region_name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> CfnMonitoringSchedule:
        properties = cloudformation_json["Properties"]
        name = properties.get("MonitoringScheduleName", resource_name)
        config = properties.get("MonitoringScheduleConfig", {})
        _store(sagemaker_backends[account_id][region_name], "schedules")[name] = {
            "MonitoringScheduleName": name, "CreationTime": _now(), "LastModifiedTime": _now(),
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{region_name}:{account_id}:monitoring-schedule/{name}",
            "MonitoringScheduleStatus": "Scheduled", "EndpointName": properties.get("EndpointName"),
            "MonitoringType": config.get("MonitoringType", "DataQuality"),
        }
        return cls(name, account_id, region_name)

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        _store(sagemaker_backends[account_id][region_name], "schedules").pop(self.physical_resource_id, None)


class CfnBudget:
    """AWS::Budgets::Budget in moto's templates: the budget CreateBudget stores (Budgets is global: partition key)."""

    def __init__(self, name: str, account_id: str) -> None:
        self.physical_resource_id = name
        self.account_id = account_id

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> CfnBudget:
        properties = cloudformation_json["Properties"]
        budget = dict(properties["Budget"])
        limit = budget["BudgetLimit"]
        budget["BudgetLimit"] = {"Amount": str(limit["Amount"]), "Unit": limit["Unit"]}  # the API's shape
        budgets_backends[account_id]["aws"].create_budget(
            account_id=account_id, budget=budget, notifications=properties.get("NotificationsWithSubscribers", []))
        return cls(budget["BudgetName"], account_id)

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        budgets_backends[account_id]["aws"].delete_budget(account_id, self.physical_resource_id)


STACK_RESOURCE_TYPES: dict[str, type] = {"AWS::SageMaker::MonitoringSchedule": CfnMonitoringSchedule,
                                         "AWS::Budgets::Budget": CfnBudget}


def install_stack_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    original = cloudformation_parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        return STACK_RESOURCE_TYPES.get(resource_type) or original(resource_type)

    monkeypatch.setattr(cloudformation_parsing, "resource_class_from_type", resource_class_from_type)


def fail_stack_deletion(monkeypatch: pytest.MonkeyPatch, stack_name: str, logical_id: str, reason: str) -> None:
    """DeleteStack on `stack_name` deletes nothing and ends DELETE_FAILED, `logical_id` failing with `reason`."""
    original = CloudFormationBackend.delete_stack

    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)), None)
        if stack is None or stack.name != stack_name:
            original(self, name_or_stack_id)
            return
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        resource = stack.template_dict["Resources"][logical_id]
        stack.events.append(Event(
            stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
            physical_resource_id=logical_id, resource_type=resource["Type"], resource_status="DELETE_FAILED",
            resource_status_reason=reason, resource_properties=None))
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=f"The following resource(s) failed to "
                               f"delete: [{logical_id}]. ")
        stack.status = "DELETE_FAILED"

    monkeypatch.setattr(CloudFormationBackend, "delete_stack", delete_stack)


def delay_stack_deletion(monkeypatch: pytest.MonkeyPatch, stack_name: str, polls: int) -> list[str]:
    """DeleteStack on `stack_name` leaves it DELETE_IN_PROGRESS for `polls` DescribeStacks answers, then deletes
    it (moto's own deletion). Returns the log of DeleteStack calls on every stack, in order."""
    original_delete, original_describe = CloudFormationBackend.delete_stack, CloudFormationBackend.describe_stacks
    deletes: list[str] = []
    remaining = {"polls": polls}

    def delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)), None)
        deletes.append(stack.name if stack is not None else name_or_stack_id)
        if stack is None or stack.name != stack_name:
            original_delete(self, name_or_stack_id)
            return
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.status = "DELETE_IN_PROGRESS"

    def describe_stacks(self: CloudFormationBackend, name_or_stack_id: str) -> Any:
        stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.name, s.stack_id)), None)
        if stack is not None and stack.name == stack_name and stack.status == "DELETE_IN_PROGRESS":
            if remaining["polls"] == 0:
                original_delete(self, stack.stack_id)
            else:
                remaining["polls"] -= 1
        return original_describe(self, name_or_stack_id)

    monkeypatch.setattr(CloudFormationBackend, "delete_stack", delete_stack)
    monkeypatch.setattr(CloudFormationBackend, "describe_stacks", describe_stacks)
    return deletes
