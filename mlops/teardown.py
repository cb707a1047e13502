"""Tear an environment's serving down: endpoint, endpoint configs, monitoring schedules, Studio apps.

Never data, models, model packages or the registry: nothing here calls a delete on them. Used by
`mlops teardown --env E` and, with an age limit, by the endpoint's time-to-live Lambda (`handler`),
which ships this module with mlops/aws.py and mlops/errors.py only: it imports nothing else of ours.
What to remove comes from `deployment/teardown.py` (as JSON in the Lambda), the same for both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
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


class TeardownError(MlopsError):
    """A teardown that cannot run (e.g. refused without confirmation)."""


@dataclass(frozen=True)
class TeardownTargets:
    """What may be removed: the environment's endpoint (by name), its monitoring schedules, its Studio domain."""

    endpoint: str
    schedules: tuple[str, ...] = ()
    studio_domain: str | None = None
    # Time-to-live: only an endpoint last deployed or updated at least this long ago is removed.
    older_than_hours: float | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TeardownTargets:
        older = values.get("older_than_hours")
        return cls(endpoint=str(values["endpoint"]), schedules=tuple(values.get("schedules") or ()),
                   studio_domain=values.get("studio_domain") or None,
                   older_than_hours=float(older) if older is not None else None)


@dataclass
class TeardownReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"removed": self.removed, "kept": self.kept}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _describe_endpoint(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _code(error) == "ValidationException":  # SageMaker's answer for an endpoint that does not exist
            return None
        raise
    return answer


def _young(endpoint: dict[str, Any], older_than_hours: float | None, now: datetime) -> timedelta | None:
    """The endpoint's age when it is still within its time-to-live, else None."""
    if older_than_hours is None:
        return None
    changed = endpoint.get("LastModifiedTime") or endpoint["CreationTime"]
    changed = changed if changed.tzinfo else changed.replace(tzinfo=UTC)
    age: timedelta = now - changed
    return age if age < timedelta(hours=older_than_hours) else None


def teardown(sm: Any, scheduler: Any, targets: TeardownTargets, *, now: datetime, apply: bool = True) -> TeardownReport:
    """Remove (or, with `apply=False`, list) what `targets` names; returns what was removed and kept."""
    report = TeardownReport()
    endpoint = _describe_endpoint(sm, targets.endpoint)
    young = _young(endpoint, targets.older_than_hours, now) if endpoint else None
    if endpoint is not None and young is not None:
        hours = young.total_seconds() / 3600
        report.kept.append(f"endpoint {targets.endpoint} (deployed {hours:.1f} h ago, time-to-live "
                           f"{targets.older_than_hours:g} h)")
    else:
        if endpoint is not None:
            _remove(report, apply, f"endpoint {targets.endpoint}", lambda: sm.delete_endpoint(
                EndpointName=targets.endpoint))
            config = endpoint["EndpointConfigName"]
            _remove(report, apply, f"endpoint config {config}",
                    lambda: sm.delete_endpoint_config(EndpointConfigName=config))
        _remove_monitoring(sm, scheduler, targets, report, apply)
    if targets.studio_domain is not None:
        _remove_studio_apps(sm, targets.studio_domain, report, apply)
    return report


def _remove(report: TeardownReport, apply: bool, what: str, delete: Any) -> None:
    if apply:
        delete()
    report.removed.append(what)


def _remove_monitoring(sm: Any, scheduler: Any, targets: TeardownTargets, report: TeardownReport,
                       apply: bool) -> None:
    """Both engines: Model Monitor schedules of the endpoint, and the Scheduler schedules of the jobs."""
    listed = sm.list_monitoring_schedules(EndpointName=targets.endpoint)["MonitoringScheduleSummaries"]
    for schedule in listed:
        name = schedule["MonitoringScheduleName"]
        _remove(report, apply, f"monitoring schedule {name}",
                lambda name=name: sm.delete_monitoring_schedule(MonitoringScheduleName=name))
    for name in targets.schedules:
        try:
            scheduler.get_schedule(Name=name)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                continue
            raise
        _remove(report, apply, f"monitoring job schedule {name} (EventBridge Scheduler)",
                lambda name=name: scheduler.delete_schedule(Name=name))


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
    report = teardown(client("sagemaker", where), client("scheduler", where), targets, now=datetime.now(UTC))
    print(json.dumps(report.as_dict()))  # one log line per run: what went, what stayed
    return report.as_dict()
