"""The control plane that outlives a run (registry, alarms, topics) as the work folder's own JSON files.

At start a fresh moto server is seeded from these files; after each control-plane change (a version
registered or approved, alarms evaluated) they are written back from what the server then holds,
through the public API only. The three files change together: a commit first writes all of them into
one journal file (atomically), then replaces each file, then drops the journal. A crash in between
leaves the journal, and the next start finishes that commit, so the files never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from mlops.local.aws.moto_server import LocalAws
from mlops.local.errors import LocalModeError
from mlops.local.faults import crash_point
from mlops.local.workdir import write_atomic

STATE_VERSION = 1
REGISTRY_FILE = "registry.json"
ALARMS_FILE = "alarms.json"
TOPICS_FILE = "topics.json"
JOURNAL_FILE = "commit.json"
STATE_FILES = (REGISTRY_FILE, ALARMS_FILE, TOPICS_FILE)
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")

# What CreateModelPackage accepts out of a DescribeModelPackage answer.
PACKAGE_KEYS = (
    "ModelPackageGroupName", "ModelPackageDescription", "InferenceSpecification", "ValidationSpecification",
    "SourceAlgorithmSpecification", "CertifyForMarketplace", "ModelApprovalStatus", "MetadataProperties",
    "ModelMetrics", "CustomerMetadataProperties", "DriftCheckBaselines", "Domain", "Task", "SamplePayloadUrl",
    "AdditionalInferenceSpecifications", "SkipModelValidation", "ModelCard",
)
# What PutMetricAlarm accepts out of a DescribeAlarms answer.
ALARM_KEYS = (
    "AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
    "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
    "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
    "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LocalModeError(f"{path}: local state file is unreadable ({error}); fix or delete it") from error


def _read(path: Path) -> dict[str, Any] | None:
    """One state file, checked for the shape the seeding needs; None when absent."""
    document = _load_json(path)
    if document is None:
        return None
    if not isinstance(document, dict) or document.get("version") != STATE_VERSION:
        raise LocalModeError(f"{path}: not a version {STATE_VERSION} local state file; fix or delete it")
    problem = _shape_problem(path.name, document)
    if problem:
        raise LocalModeError(f"{path}: {problem}; fix or delete it")
    return document


def _field_problem(where: str, item: Any, required: Mapping[str, type | tuple[type, ...]]) -> str | None:
    if not isinstance(item, dict):
        return f"{where} is not an object"
    for key, kind in required.items():
        if key not in item:
            return f"{where} has no {key!r}"
        if not isinstance(item[key], kind) or isinstance(item[key], bool):
            return f"{where}: {key!r} is {type(item[key]).__name__}, expected {getattr(kind, '__name__', kind)}"
    return None


def _shape_problem(name: str, document: Mapping[str, Any]) -> str | None:
    """What is structurally wrong with a state file (the first thing found), or None."""
    lists = {REGISTRY_FILE: ("groups", "packages"), ALARMS_FILE: ("alarms",), TOPICS_FILE: ("topics",)}[name]
    for key in lists:
        if not isinstance(document.get(key, []), list):
            return f"{key!r} is {type(document[key]).__name__}, expected a list"
    required: dict[str, dict[str, type | tuple[type, ...]]] = {
        "groups": {"ModelPackageGroupName": str},
        "packages": {"ModelPackageArn": str, "ModelPackageGroupName": str, "ModelPackageVersion": int,
                     "ModelApprovalStatus": str},
        "alarms": {"AlarmName": str},
        "topics": {"Name": str, "Subscriptions": list},
    }
    for key in lists:
        for index, item in enumerate(document.get(key, [])):
            problem = _field_problem(f"{key}[{index}]", item, required[key])
            if problem:
                return problem
            if key == "packages" and item["ModelApprovalStatus"] not in APPROVAL_STATUSES:
                return f"{key}[{index}]: ModelApprovalStatus {item['ModelApprovalStatus']!r} is not one of " \
                       f"{', '.join(APPROVAL_STATUSES)}"
    return None


# --------------------------------------------------------------------------- committing the three files


def commit_state(state_dir: Path, documents: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Replace the state files with `documents` (file name -> content) as one change; the files written."""
    contents = {name: {"version": STATE_VERSION, **document} for name, document in documents.items()}
    journal = state_dir / JOURNAL_FILE
    write_atomic(journal, json.dumps({"version": STATE_VERSION, "files": contents}, sort_keys=True) + "\n")
    crash_point("state:journaled")
    return _apply_journal(state_dir, contents)


def _apply_journal(state_dir: Path, contents: Mapping[str, Any]) -> list[Path]:
    written = []
    for name, document in contents.items():
        write_atomic(state_dir / name, json.dumps(document, indent=1, sort_keys=True) + "\n")
        written.append(state_dir / name)
    (state_dir / JOURNAL_FILE).unlink()
    return written


def recover_state(state_dir: Path) -> bool:
    """Finish a commit a crash interrupted (its journal is complete: it was written atomically);
    True when there was one. Call with the work folder locked."""
    journal = state_dir / JOURNAL_FILE
    document = _load_json(journal)
    if document is None:
        return False
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, dict) or set(files) - set(STATE_FILES):
        raise LocalModeError(f"{journal}: not a local state journal; delete it to keep the state files as they are")
    _apply_journal(state_dir, files)
    return True


# --------------------------------------------------------------------------- model registry


def snapshot_registry(sm: Any) -> dict[str, Any]:
    groups = []
    packages = []
    for page in sm.get_paginator("list_model_package_groups").paginate():
        for summary in page.get("ModelPackageGroupSummaryList", []):
            name = summary["ModelPackageGroupName"]
            described = sm.describe_model_package_group(ModelPackageGroupName=name)
            groups.append(_jsonable({key: described.get(key) for key in (
                "ModelPackageGroupName", "ModelPackageGroupDescription", "CreationTime") if described.get(key)}))
            for listed in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=name):
                for item in listed.get("ModelPackageSummaryList", []):
                    packages.append(_jsonable(sm.describe_model_package(ModelPackageName=item["ModelPackageArn"])))
    packages.sort(key=lambda item: (item.get("ModelPackageGroupName", ""), int(item.get("ModelPackageVersion", 0))))
    return {"groups": sorted(groups, key=lambda item: str(item["ModelPackageGroupName"])), "packages": packages}


def seed_registry(aws: LocalAws, document: Mapping[str, Any], source: Path) -> None:
    from mlops.local.aws import moto_extensions  # moto itself loads with the server, off the critical path

    sm = aws.client("sagemaker")
    for group in document.get("groups", []):
        request = {"ModelPackageGroupName": group["ModelPackageGroupName"]}
        if group.get("ModelPackageGroupDescription"):
            request["ModelPackageGroupDescription"] = group["ModelPackageGroupDescription"]
        sm.create_model_package_group(**request)
    for package in document.get("packages", []):
        request = {key: package[key] for key in PACKAGE_KEYS if package.get(key) not in (None, {}, [])}
        try:
            arn = str(sm.create_model_package(**request)["ModelPackageArn"])
        except (ClientError, ParamValidationError) as error:
            raise LocalModeError(f"{source}: package {package['ModelPackageArn']} cannot be restored ({error})") \
                from None
        if arn != package["ModelPackageArn"]:
            raise LocalModeError(
                f"{source}: re-creating {package['ModelPackageArn']} gave {arn}; versions must be complete and in order"
            )
        if package.get("ApprovalDescription"):
            # moto's update replaces the metadata it is not given: pass the audit record back too.
            sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=package["ModelApprovalStatus"],
                                    ApprovalDescription=package["ApprovalDescription"],
                                    **({"CustomerMetadataProperties": package["CustomerMetadataProperties"]}
                                       if package.get("CustomerMetadataProperties") else {}))
        created = package.get("CreationTime")
        if created:
            modified = package.get("LastModifiedTime")
            moto_extensions.restore_model_package_times(
                aws.account, aws.region, arn, datetime.fromisoformat(created),
                datetime.fromisoformat(modified) if modified else None,
            )


# --------------------------------------------------------------------------- alarms and topics


def snapshot_alarms(cloudwatch: Any) -> dict[str, Any]:
    alarms = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            kept = {key: alarm[key] for key in (*ALARM_KEYS, "StateValue", "StateReason", "StateReasonData",
                                                "StateUpdatedTimestamp") if alarm.get(key) not in (None, "", [])}
            alarms.append(_jsonable(kept))
    return {"alarms": sorted(alarms, key=lambda item: str(item["AlarmName"]))}


def seed_alarms(cloudwatch: Any, document: Mapping[str, Any]) -> None:
    for alarm in document.get("alarms", []):
        cloudwatch.put_metric_alarm(**{key: alarm[key] for key in ALARM_KEYS if key in alarm})
        if alarm.get("StateValue", "INSUFFICIENT_DATA") != "INSUFFICIENT_DATA":
            state = {"AlarmName": alarm["AlarmName"], "StateValue": alarm["StateValue"],
                     "StateReason": alarm.get("StateReason", "restored from local state")}
            if alarm.get("StateReasonData"):
                state["StateReasonData"] = alarm["StateReasonData"]
            cloudwatch.set_alarm_state(**state)


def snapshot_topics(sns: Any) -> dict[str, Any]:
    topics = []
    for page in sns.get_paginator("list_topics").paginate():
        for item in page.get("Topics", []):
            arn = item["TopicArn"]
            attributes = sns.get_topic_attributes(TopicArn=arn).get("Attributes", {})
            subscriptions = [
                {"Protocol": sub["Protocol"], "Endpoint": sub["Endpoint"]}
                for sub_page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for sub in sub_page.get("Subscriptions", [])
            ]
            topics.append({
                "Name": arn.rsplit(":", 1)[-1],
                "TopicArn": arn,
                "DisplayName": attributes.get("DisplayName", ""),
                "Subscriptions": sorted(subscriptions, key=lambda sub: (sub["Protocol"], sub["Endpoint"])),
            })
    return {"topics": sorted(topics, key=lambda item: str(item["Name"]))}


def ensure_queue(sqs: Any, queue_arn: str) -> str:
    """The URL of the queue an ARN names, created when missing."""
    return str(sqs.create_queue(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"])


def seed_topics(sns: Any, sqs: Any, document: Mapping[str, Any]) -> None:
    for topic in document.get("topics", []):
        attributes = {"DisplayName": topic["DisplayName"]} if topic.get("DisplayName") else {}
        arn = sns.create_topic(Name=topic["Name"], Attributes=attributes)["TopicArn"]
        for subscription in topic.get("Subscriptions", []):
            if subscription["Protocol"] == "sqs":
                ensure_queue(sqs, subscription["Endpoint"])
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])


# --------------------------------------------------------------------------- all of it


def load_state(aws: LocalAws, state_dir: Path) -> None:
    """Seed a fresh local AWS from the work folder's state files (absent files: nothing to seed).

    The caller holds the work folder lock and has run recover_state() since taking it.
    """
    registry = _read(state_dir / REGISTRY_FILE)
    if registry:
        seed_registry(aws, registry, state_dir / REGISTRY_FILE)
    topics = _read(state_dir / TOPICS_FILE)
    if topics:
        seed_topics(aws.client("sns"), aws.client("sqs"), topics)
    alarms = _read(state_dir / ALARMS_FILE)
    if alarms:
        seed_alarms(aws.client("cloudwatch"), alarms)


def save_state(aws: LocalAws, state_dir: Path) -> list[Path]:
    """Write the registry, alarms and topics the server holds now, as one commit; the files written."""
    return commit_state(state_dir, {
        REGISTRY_FILE: snapshot_registry(aws.client("sagemaker")),
        ALARMS_FILE: snapshot_alarms(aws.client("cloudwatch")),
        TOPICS_FILE: snapshot_topics(aws.client("sns")),
    })


def registry_packages(state_dir: Path, group: str) -> list[dict[str, Any]] | None:
    """`group`'s model packages as the state file keeps them (read only: no lock, no server); None
    when the work folder has no registry yet."""
    document = _read(state_dir / REGISTRY_FILE)
    if document is None:
        return None
    return [package for package in document.get("packages", []) if package.get("ModelPackageGroupName") == group]


def newest_approved_in_state(state_dir: Path, group: str) -> dict[str, Any] | None:
    """The newest approved version of `group` as the state file keeps it (no server needed)."""
    approved = [package for package in registry_packages(state_dir, group) or []
                if package.get("ModelApprovalStatus") == "Approved"]
    return max(approved, key=lambda package: int(package["ModelPackageVersion"])) if approved else None
