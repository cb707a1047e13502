"""Deploy-time registry lookups (moto): the newest Approved version, refusing others, staging the baseline."""

from __future__ import annotations

import json

import pytest

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.monitoring import baseline_for, model_quality_baseline_for
from mlops.aws import AwsTarget, client
from mlops.cli import main


def seed(target: AwsTarget, env: EnvironmentConfig, statuses: list[str], features: list[str]) -> None:
    """One version per status, each with data-quality drift baselines over `features`."""
    names = Names.of(env)
    sm, s3 = client("sagemaker", target), client("s3", target)
    for purpose in ("artifacts", "reports"):
        s3.create_bucket(Bucket=names.bucket(purpose),
                         CreateBucketConfiguration={"LocationConstraint": target.region})
    sm.create_model_package_group(ModelPackageGroupName=names.model_package_group)
    artifacts = names.bucket("artifacts")
    for index, status in enumerate(statuses, start=1):
        constraints = {"version": 0.0, "features": [{"name": f, "inferred_type": "Fractional"} for f in features],
                       "monitoring_config": {"distribution_constraints": {"comparison_threshold": 0.1}}}
        s3.put_object(Bucket=artifacts, Key=f"v{index}/constraints.json", Body=json.dumps(constraints).encode())
        s3.put_object(Bucket=artifacts, Key=f"v{index}/statistics.json", Body=b'{"version": 0.0, "features": []}')
        evaluation = {"binary_classification_metrics": {"auc": {"value": 0.9 + index / 100, "standard_deviation": 0.0}}}
        s3.put_object(Bucket=artifacts, Key=f"v{index}/evaluation.json", Body=json.dumps(evaluation).encode())
        sm.create_model_package(
            ModelPackageGroupName=names.model_package_group, ModelApprovalStatus=status,
            InferenceSpecification={"Containers": [{"Image": names.image_uri("inference", "t")}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                          "S3Uri": f"s3://{artifacts}/v{index}/evaluation.json"}}},
            DriftCheckBaselines={"ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{artifacts}/v{index}/statistics.json"},
                "Constraints": {"ContentType": "application/json",
                                "S3Uri": f"s3://{artifacts}/v{index}/constraints.json"}}},
        )


def test_newest_approved_prints_the_cdk_arguments_skipping_pending_and_rejected_versions(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(aws, dev, ["Approved", "Approved", "Rejected", "PendingManualApproval"], list(dev.monitoring.features))
    assert main(["registry", "newest-approved", "--env", "dev"]) == 0
    assert capsys.readouterr().out.strip() == "-c env=dev -c model_version=2"


def test_newest_approved_with_nothing_approved_is_one_clear_error(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(aws, dev, ["PendingManualApproval"], list(dev.monitoring.features))
    assert main(["registry", "newest-approved", "--env", "dev"]) == 1
    assert "has no Approved version to deploy yet" in capsys.readouterr().err


@pytest.mark.parametrize("status", ["PendingManualApproval", "Rejected"])
def test_prepare_deploy_refuses_a_version_that_is_not_approved(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    seed(aws, dev, ["Approved", status], list(dev.monitoring.features))
    assert main(["registry", "prepare-deploy", "--env", "dev", "--version", "2"]) == 1
    error = capsys.readouterr().err
    assert f"version 2 of 'mlops-kit-dev-models' is {status}, not Approved" in error
    reports = client("s3", aws).list_objects_v2(Bucket=Names.of(dev).bucket("reports"))
    assert reports.get("KeyCount", 0) == 0


def test_prepare_deploy_stages_the_baseline_with_the_configured_drift_threshold(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(aws, dev, ["Approved"], list(dev.monitoring.features))
    assert main(["registry", "prepare-deploy", "--env", "dev"]) == 0
    assert capsys.readouterr().out.strip() == "-c env=dev -c model_version=1"
    staged = baseline_for(Names.of(dev), 1)
    bucket, key = staged.constraints_uri.removeprefix("s3://").split("/", 1)
    constraints = json.loads(client("s3", aws).get_object(Bucket=bucket, Key=key)["Body"].read())
    distribution = constraints["monitoring_config"]["distribution_constraints"]
    assert distribution["comparison_threshold"] == dev.monitoring.drift_threshold


def test_prepare_deploy_stages_the_model_quality_baseline_as_evaluation_and_gate(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without constraints the analyzer writes no metrics and the model-quality alarm gets no data.
    seed(aws, dev, ["Approved", "Approved"], list(dev.monitoring.features))
    assert main(["registry", "prepare-deploy", "--env", "dev", "--version", "1"]) == 0
    staged = model_quality_baseline_for(Names.of(dev), 1)
    s3 = client("s3", aws)

    def read(uri: str) -> dict[str, object]:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        loaded: dict[str, object] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return loaded

    assert read(staged.statistics_uri) == {
        "binary_classification_metrics": {"auc": {"value": 0.91, "standard_deviation": 0.0}}}
    assert read(staged.constraints_uri) == {"version": 0.0, "binary_classification_constraints": {
        "auc": {"threshold": dev.quality_gate.threshold, "comparison_operator": "LessThanThreshold"}}}


def test_prepare_deploy_refuses_monitored_features_the_baseline_lacks(
    aws: AwsTarget, dev: EnvironmentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(aws, dev, ["Approved"], ["mean_radius"])
    assert main(["registry", "prepare-deploy", "--env", "dev"]) == 1
    assert "are not in its drift baseline" in capsys.readouterr().err
