"""Model registry operations against moto: list with metrics, approve, reject, rollback and their errors."""

from __future__ import annotations

import json

import pytest

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops import registry
from mlops.aws import AwsTarget, client
from mlops.errors import RegistryError


def evaluation_json(auc: float) -> str:
    metric = {"value": auc, "standard_deviation": "NaN"}
    return json.dumps({"version": 0.0, "dataset": {"item_count": 86}, "binary_classification_metrics": {
        "confusion_matrix": {"0": {"0": 30, "1": 2}, "1": {"0": 3, "1": 51}},
        **dict.fromkeys(("recall", "precision", "accuracy", "recall_best_constant_classifier",
                         "precision_best_constant_classifier", "accuracy_best_constant_classifier",
                         "true_positive_rate", "true_negative_rate", "false_positive_rate",
                         "false_negative_rate"), metric),
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [0.0, 1.0], "true_positive_rates": [0.0, 1.0]
        },
        "precision_recall_curve": {"precisions": [1.0, 0.6], "recalls": [0.0, 1.0]},
        **dict.fromkeys(("auc", "f0_5", "f1", "f2", "f0_5_best_constant_classifier",
                         "f1_best_constant_classifier", "f2_best_constant_classifier"), metric),
    }})


def seed_versions(target: AwsTarget, env: EnvironmentConfig, aucs: list[float | None],
                  statuses: list[str] | None = None) -> list[str]:
    """The env's model package group with one version per entry (None: metrics file never written)."""
    names = Names.of(env)
    sm, s3 = client("sagemaker", target), client("s3", target)
    bucket = names.bucket("artifacts")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": target.region})
    sm.create_model_package_group(ModelPackageGroupName=names.model_package_group)
    arns = []
    for index, auc in enumerate(aucs, start=1):
        key = f"runs/{index}/evaluation.json"
        if auc is not None:
            s3.put_object(Bucket=bucket, Key=key, Body=evaluation_json(auc).encode())
        status = statuses[index - 1] if statuses else "PendingManualApproval"
        arns.append(sm.create_model_package(
            ModelPackageGroupName=names.model_package_group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [{"Image": names.image_uri("inference", "t"), "ModelDataUrl": f"s3://{bucket}/m.tar.gz"}],
                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                          "S3Uri": f"s3://{bucket}/{key}"}}},
        )["ModelPackageArn"])
    return arns


def statuses(target: AwsTarget, env: EnvironmentConfig) -> dict[int, str]:
    versions = registry.list_versions(client("sagemaker", target), Names.of(env).model_package_group)
    return {version.version: version.status for version in versions}


def test_list_shows_versions_newest_first_with_their_registered_metrics(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.91, 0.97, None])
    details = registry.list_with_metrics(client("sagemaker", aws), registry.S3Objects(client("s3", aws)),
                                         Names.of(dev).model_package_group)
    assert [item.model.version for item in details] == [3, 2, 1]
    assert details[1].metrics["auc"] == 0.97
    assert details[2].metrics["auc"] == 0.91
    assert details[0].metrics == {}
    assert details[0].metrics_problem is not None
    assert "runs/3/evaluation.json" in details[0].metrics_problem


def test_approve_and_reject_set_the_approval_status(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.9, 0.95])
    sm, group = client("sagemaker", aws), Names.of(dev).model_package_group
    assert registry.newest_approved_package(sm, group) is None
    approved = registry.approve(sm, group, 1)
    assert approved.status == "Approved"
    assert registry.reject(sm, group, 2).status == "Rejected"
    assert statuses(aws, dev) == {1: "Approved", 2: "Rejected"}
    newest = registry.newest_approved_package(sm, group)
    assert newest is not None
    assert newest.version == 1
    described = sm.describe_model_package(ModelPackageName=approved.arn)
    assert described["ApprovalDescription"] == "approved with mlops"


def test_unknown_version_is_an_error_naming_the_known_ones(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.9, 0.95])
    group = Names.of(dev).model_package_group
    with pytest.raises(RegistryError, match=rf"'{group}' has no version 7; versions: 1, 2"):
        registry.approve(client("sagemaker", aws), group, 7)


def test_empty_group_is_an_error(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [])
    with pytest.raises(RegistryError, match="has no model versions yet"):
        registry.approve(client("sagemaker", aws), Names.of(dev).model_package_group, 1)


def test_unknown_group_is_an_error(aws: AwsTarget) -> None:
    with pytest.raises(RegistryError, match="'missing-models' does not exist"):
        registry.list_with_metrics(client("sagemaker", aws), registry.S3Objects(client("s3", aws)), "missing-models")


def test_rollback_rejects_the_current_version_and_serves_the_previous_approved_one(
    aws: AwsTarget, dev: EnvironmentConfig
) -> None:
    seed_versions(aws, dev, [0.9, 0.8, 0.95], ["Approved", "Rejected", "Approved"])
    sm, group = client("sagemaker", aws), Names.of(dev).model_package_group
    result = registry.rollback(sm, group)
    assert (result.rejected.version, result.restored.version) == (3, 1)
    assert statuses(aws, dev) == {1: "Approved", 2: "Rejected", 3: "Rejected"}
    newest = registry.newest_approved_package(sm, group)
    assert newest is not None
    assert newest.version == 1


def test_rollback_to_a_named_version_re_approves_it(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.9, 0.8, 0.95], ["Rejected", "Rejected", "Approved"])
    result = registry.rollback(client("sagemaker", aws), Names.of(dev).model_package_group, to_version=1)
    assert (result.rejected.version, result.restored.version) == (3, 1)
    assert statuses(aws, dev) == {1: "Approved", 2: "Rejected", 3: "Rejected"}


def test_rollback_without_an_earlier_approved_version_asks_for_one(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.9, 0.95], ["Rejected", "Approved"])
    sm, group = client("sagemaker", aws), Names.of(dev).model_package_group
    with pytest.raises(RegistryError, match="give --version N"):
        registry.rollback(sm, group)
    with pytest.raises(RegistryError, match="not older than the approved version 2"):
        registry.rollback(sm, group, to_version=2)
    assert statuses(aws, dev) == {1: "Rejected", 2: "Approved"}, "nothing changed on refusal"


def test_rollback_with_nothing_approved_is_an_error(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    seed_versions(aws, dev, [0.9])
    with pytest.raises(RegistryError, match="no approved version to roll back from"):
        registry.rollback(client("sagemaker", aws), Names.of(dev).model_package_group)
