"""Tear an environment's serving down: delete its monitoring and endpoint stacks, stop its Studio apps.

The endpoint, its config and model, the monitoring schedules, alarms and dashboard are resources of two
CloudFormation stacks, so CloudFormation deletes them (DeleteStack, in dependency order: the monitoring
stack names the endpoint). Deleting them with SageMaker's API instead would leave the stacks describing
an endpoint that is gone, and the next `cdk deploy` or CI/CD run would fail updating it; with the stacks
gone, the next deploy creates them again. What holds data lives in other stacks (buckets, key,
registry) or is retained (DeletionPolicy Retain), and is listed as kept; so is what must outlive serving
(the alerts topic and its subscribers, the cost budget, the training schedule: the alerts stack). Studio
apps are not stack resources: they are deleted with SageMaker's API (never the domain or its user profiles).

Used by `mlops teardown --env E` and, with an age limit, by the endpoint's time-to-live Lambda
(`handler`), which ships this module with mlops/aws.py and mlops/errors.py only: it imports nothing else
of ours. What to remove comes from `deployment/teardown.py` (as JSON in the Lambda), the same for both.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlops.aws import AwsTarget, client
from mlops.errors import MlopsError

# The Lambda's configuration: TeardownTargets' fields as JSON (written by deployment/teardown.py).
TARGETS_VARIABLE = "MLOPS_TEARDOWN_TARGETS"
# Studio apps SageMaker is already removing (or has removed) are listed for a while: nothing to do.
GONE_APP_STATUSES = frozenset({"Deleted", "Deleting"})
# Stack states: a delete that still runs, and the two ends of one.
DELETING, DELETED, DELETE_FAILED = "DELETE_IN_PROGRESS", "DELETE_COMPLETE", "DELETE_FAILED"


class TeardownError(MlopsError):
    """A teardown that cannot run or did not finish (refused, no service role, a stack's DELETE_FAILED)."""


@dataclass(frozen=True)
class TeardownTargets:
    """What may be removed: the environment's stacks (in deletion order), its Studio domain's apps."""

    stacks: tuple[str, ...]
    studio_domain: str | None = None
    # Time-to-live: only when the last stack (the endpoint's) was deployed or updated this long ago.
    older_than_hours: float | None = None
    # The stack the caller itself lives in (the time-to-live Lambda's): deleted last and not waited for,
    # since its deletion removes the caller's role.
    own_stack: str | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TeardownTargets:
        older = values.get("older_than_hours")
        return cls(stacks=tuple(values["stacks"]), studio_domain=values.get("studio_domain") or None,
                   older_than_hours=float(older) if older is not None else None,
                   own_stack=values.get("own_stack") or None)


@dataclass
class TeardownReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"removed": self.removed, "kept": self.kept}


@dataclass(frozen=True)
class Waiting:
    """How long to follow a stack's deletion; `sleep` is injectable so tests never wait."""

    poll_seconds: float = 15.0
    timeout_seconds: float = 3600.0
    sleep: Callable[[float], None] = time.sleep


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _describe_stack(cfn: Any, name_or_id: str) -> dict[str, Any] | None:
    """The stack, or None when there is none (CloudFormation answers ValidationError for a missing name)."""
    try:
        stacks: list[dict[str, Any]] = cfn.describe_stacks(StackName=name_or_id)["Stacks"]
    except ClientError as error:
        if _code(error) == "ValidationError":
            return None
        raise
    return stacks[0] if stacks and stacks[0]["StackStatus"] != DELETED else None


def _young(stack: dict[str, Any], older_than_hours: float | None, now: datetime) -> timedelta | None:
    """The stack's age since its last deployment when it is still within its time-to-live, else None."""
    if older_than_hours is None:
        return None
    changed = stack.get("LastUpdatedTime") or stack["CreationTime"]
    changed = changed if changed.tzinfo else changed.replace(tzinfo=UTC)
    age: timedelta = now - changed
    return age if age < timedelta(hours=older_than_hours) else None


def teardown(cfn: Any, sm: Any, targets: TeardownTargets, *, now: datetime, apply: bool = True,
             waiting: Waiting | None = None, report: TeardownReport | None = None) -> TeardownReport:
    """Delete (or, with `apply=False`, list) what `targets` names; returns what was removed and kept.

    Raises TeardownError before deleting anything when a stack cannot be deleted as intended, and when
    a deletion ends DELETE_FAILED (what was removed until then is in `report`).
    """
    report = report if report is not None else TeardownReport()
    stacks = [(name, stack) for name in targets.stacks if (stack := _describe_stack(cfn, name)) is not None]
    if targets.older_than_hours is not None:
        # The timer times the last stack (the endpoint's): without it there is nothing it should remove.
        timed = dict(stacks).get(targets.stacks[-1])
        young = _young(timed, targets.older_than_hours, now) if timed is not None else None
        if young is not None:
            report.kept.append(f"stack {targets.stacks[-1]} (deployed {young.total_seconds() / 3600:.1f} h ago, "
                               f"time-to-live {targets.older_than_hours:g} h)")
        if timed is None or young is not None:
            stacks = []
    for name, stack in stacks:
        _check_deletable(name, stack)
    for name, stack in stacks:
        _delete_stack(cfn, name, stack, report, apply=apply, wait=name != targets.own_stack,
                      waiting=waiting or Waiting())
    if targets.studio_domain is not None:
        _remove_studio_apps(sm, targets.studio_domain, report, apply)
    return report


def _check_deletable(name: str, stack: dict[str, Any]) -> None:
    if stack.get("EnableTerminationProtection"):
        raise TeardownError(f"stack {name} has termination protection: nothing deleted (teardown is not for it)")
    if not stack.get("RoleARN") and stack["StackStatus"] != DELETING:
        # Without a service role CloudFormation would delete with the caller's credentials (the
        # time-to-live Lambda's role may only ask CloudFormation, so every resource would fail).
        raise TeardownError(
            f"stack {name} has no CloudFormation service role (RoleARN): nothing deleted; deploy it with "
            "the CDK CLI or the CI/CD route (both use the bootstrap's cfn-exec role), or `cdk destroy` it")


def _delete_stack(cfn: Any, name: str, stack: dict[str, Any], report: TeardownReport, *, apply: bool, wait: bool,
                  waiting: Waiting) -> None:
    resources = cfn.list_stack_resources(StackName=stack["StackId"])["StackResourceSummaries"]
    retained = _retained(cfn, stack["StackId"])
    removed = sorted(f"{r['ResourceType'].removeprefix('AWS::')} {r.get('PhysicalResourceId', r['LogicalResourceId'])}"
                     for r in resources if r["LogicalResourceId"] not in retained
                     and r["ResourceType"] != "AWS::CDK::Metadata")
    kept = [f"{r['ResourceType'].removeprefix('AWS::')} {r.get('PhysicalResourceId', r['LogicalResourceId'])} "
            f"of stack {name} (DeletionPolicy Retain)" for r in resources if r["LogicalResourceId"] in retained]
    if apply:
        if stack["StackStatus"] != DELETING:
            cfn.delete_stack(StackName=stack["StackId"])
        if wait:
            _wait_for_deletion(cfn, name, stack["StackId"], waiting)
    what = f"stack {name} ({len(removed)} resource(s): {', '.join(removed)})"
    report.removed.append(what if wait or not apply else f"{what}: deletion started")
    report.kept.extend(kept)


def _retained(cfn: Any, stack_id: str) -> set[str]:
    """Logical ids of the stack's resources CloudFormation keeps when the stack goes."""
    body = cfn.get_template(StackName=stack_id, TemplateStage="Original")["TemplateBody"]
    template = json.loads(body) if isinstance(body, str) else body
    return {logical for logical, resource in template.get("Resources", {}).items()
            if resource.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")}


def _wait_for_deletion(cfn: Any, name: str, stack_id: str, waiting: Waiting) -> None:
    """Until DELETE_COMPLETE (asked by stack id: a deleted stack's name no longer answers)."""
    waited = 0.0
    while True:
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status == DELETED:
            return
        if status == DELETE_FAILED:
            raise TeardownError(f"stack {name} DELETE_FAILED: {_failure(cfn, stack_id)}; fix that and run the "
                                "teardown again (it retries the deletion)")
        if waited >= waiting.timeout_seconds:
            raise TeardownError(f"stack {name} still {status} after {waited / 60:.0f} min; run the teardown again "
                                "to follow it")
        waiting.sleep(waiting.poll_seconds)
        waited += waiting.poll_seconds


def _failure(cfn: Any, stack_id: str) -> str:
    """The first resource that failed in the latest deletion attempt, with CloudFormation's reason."""
    failed: list[dict[str, Any]] = []
    for event in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]:  # newest first
        if event.get("PhysicalResourceId") == stack_id:
            if event["ResourceStatus"] == DELETING:
                break  # where this attempt began: older failures were retried
            continue
        if event["ResourceStatus"] == DELETE_FAILED:
            failed.append(event)
    if not failed:
        return "CloudFormation gave no reason"
    event = failed[-1]
    return f"{event['LogicalResourceId']} ({event['ResourceType']}): {event.get('ResourceStatusReason', 'no reason')}"


def _remove(report: TeardownReport, apply: bool, what: str, delete: Any) -> None:
    if apply:
        delete()
    report.removed.append(what)


def _remove_studio_apps(sm: Any, domain_name: str, report: TeardownReport, apply: bool) -> None:
    domains = [d for d in sm.list_domains()["Domains"] if d["DomainName"] == domain_name]
    for domain in domains:
        for app in sm.list_apps(DomainIdEquals=domain["DomainId"])["Apps"]:
            if app.get("Status") in GONE_APP_STATUSES:
                continue
            owner = {"UserProfileName": app["UserProfileName"]} if app.get("UserProfileName") else \
                {"SpaceName": app["SpaceName"]}
            what = f"Studio app {app['AppType']}/{app['AppName']} of {next(iter(owner.values()))}"
            _remove(report, apply, what, lambda app=app, owner=owner, domain_id=domain["DomainId"]: sm.delete_app(
                DomainId=domain_id, AppType=app["AppType"], AppName=app["AppName"], **owner))
        report.kept.append(f"Studio domain {domain_name} and its user profiles")


def handler(event: Mapping[str, Any], context: Any) -> dict[str, list[str]]:
    """The time-to-live Lambda: an hourly rule runs the teardown with the age limit of its configuration."""
    targets = TeardownTargets.from_dict(json.loads(os.environ[TARGETS_VARIABLE]))
    where = AwsTarget(region=os.environ["AWS_REGION"])
    # Follow the first stack's deletion while the function may run (a minute to spare); a deletion that
    # takes longer is followed by the next hourly run.
    remaining = context.get_remaining_time_in_millis() / 1000 - 60 if context is not None else 600.0
    report = teardown(client("cloudformation", where), client("sagemaker", where), targets, now=datetime.now(UTC),
                      waiting=Waiting(timeout_seconds=max(remaining, 0.0)))
    print(json.dumps(report.as_dict()))  # one log line per run: what went, what stayed
    return report.as_dict()
