"""`registry compare` against moto: parameters, metrics with deltas, lineage keys side by side, images."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import pytest

from config.naming import Names
from config.settings import EnvironmentConfig
from mlops.aws import AwsTarget, client
from mlops.cli import main
from mlops.compare import compare_versions
from mlops.errors import RegistryError
from mlops.registry import S3Objects
from tests.mlops.test_registry import evaluation_json


def model_archive(hyperparameters: dict[str, Any], metrics: dict[str, float]) -> bytes:
    """A model.tar.gz whose metadata.json is what the training job writes."""
    metadata = {"problem_type": "BinaryClassification", "target": "label",
                "features": [{"name": "a", "type": "numeric"}], "classes": [0, 1],
                "hyperparameters": hyperparameters, "metrics": metrics, "sklearn_version": "1.9.1"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in (("metadata.json", json.dumps(metadata).encode()), ("model.joblib", b"not read")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def register(target: AwsTarget, env: EnvironmentConfig, *, job: str, tag: str, auc: float,
             hyperparameters: dict[str, Any], train_auc: float, lineage: dict[str, str] | None) -> None:
    names = Names.of(env)
    sm, s3 = client("sagemaker", target), client("s3", target)
    bucket = names.bucket("artifacts")
    prefix = f"{names.pipeline}/{job}/Train/{job}/output"
    s3.put_object(Bucket=bucket, Key=f"{prefix}/model.tar.gz",
                  Body=model_archive(hyperparameters, {"train_auc": train_auc}))
    s3.put_object(Bucket=bucket, Key=f"{job}/evaluation.json", Body=evaluation_json(auc).encode())
    request: dict[str, Any] = {
        "ModelPackageGroupName": names.model_package_group, "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": names.image_uri("inference", tag),
                            "ModelDataUrl": f"s3://{bucket}/{prefix}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                         "S3Uri": f"s3://{bucket}/{job}/evaluation.json"}}},
    }
    if lineage is not None:
        request["CustomerMetadataProperties"] = {"owner": "not lineage", **lineage}
    sm.create_model_package(**request)


@pytest.fixture
def two_versions(aws: AwsTarget, dev: EnvironmentConfig) -> AwsTarget:
    names = Names.of(dev)
    client("s3", aws).create_bucket(Bucket=names.bucket("artifacts"),
                                    CreateBucketConfiguration={"LocationConstraint": aws.region})
    client("sagemaker", aws).create_model_package_group(ModelPackageGroupName=names.model_package_group)
    register(aws, dev, job="pipelines-a-Train", tag="1111", auc=0.91, train_auc=0.99,
             hyperparameters={"estimator": "random-forest", "n_estimators": 20},
             lineage={"lineage:code_commit": "aaaa", "lineage:data_hash": "sha256:1"})
    register(aws, dev, job="pipelines-b-Train", tag="2222", auc=0.95, train_auc=0.98,
             hyperparameters={"estimator": "random-forest", "n_estimators": 50},
             lineage={"lineage:code_commit": "bbbb", "lineage:data_hash": "sha256:1",
                      "lineage:images": "training@sha256:ff"})
    return aws


def rows(comparison: Any, section: str) -> dict[str, Any]:
    return {row.name: row for row in comparison.sections[section]}


def test_compare_shows_parameters_metric_deltas_lineage_and_images_side_by_side(
    two_versions: AwsTarget, dev: EnvironmentConfig,
) -> None:
    sm, objects = client("sagemaker", two_versions), S3Objects(client("s3", two_versions))
    comparison = compare_versions(sm, objects, Names.of(dev).model_package_group, 1, 2)
    parameters = rows(comparison, "parameters")
    assert (parameters["n_estimators"].a, parameters["n_estimators"].b) == ("20", "50")
    assert parameters["n_estimators"].changed
    assert not parameters["estimator"].changed
    metrics = rows(comparison, "metrics")
    assert metrics["auc"].delta == pytest.approx(0.04)
    assert metrics["train_auc"].delta == pytest.approx(-0.01)
    lineage = rows(comparison, "lineage")
    # Every lineage: key of either version, prefix dropped; other metadata keys are not lineage.
    assert set(lineage) == {"code_commit", "data_hash", "images"}
    assert (lineage["code_commit"].a, lineage["code_commit"].b) == ("aaaa", "bbbb")
    assert not lineage["data_hash"].changed
    assert (lineage["images"].a, lineage["images"].b) == (None, "training@sha256:ff")
    artifacts = rows(comparison, "artifacts")
    assert artifacts["inference image"].a.endswith(":1111")
    assert artifacts["inference image"].b.endswith(":2222")
    assert (artifacts["training job"].a, artifacts["training job"].b) == ("pipelines-a-Train", "pipelines-b-Train")
    assert comparison.a.problems == comparison.b.problems == []


def test_compare_works_for_versions_without_lineage(aws: AwsTarget, dev: EnvironmentConfig) -> None:
    names = Names.of(dev)
    client("s3", aws).create_bucket(Bucket=names.bucket("artifacts"),
                                    CreateBucketConfiguration={"LocationConstraint": aws.region})
    client("sagemaker", aws).create_model_package_group(ModelPackageGroupName=names.model_package_group)
    for index, job in enumerate(("pipelines-a-Train", "pipelines-b-Train")):
        register(aws, dev, job=job, tag="t", auc=0.9 + index / 100, train_auc=0.99,
                 hyperparameters={"n_estimators": 20}, lineage=None)
    comparison = compare_versions(client("sagemaker", aws), S3Objects(client("s3", aws)),
                                  names.model_package_group, 2, 1)
    assert comparison.sections["lineage"] == []
    assert rows(comparison, "metrics")["auc"].delta == pytest.approx(-0.01)


def test_compare_refuses_an_unknown_version_by_number(two_versions: AwsTarget, dev: EnvironmentConfig) -> None:
    sm, objects = client("sagemaker", two_versions), S3Objects(client("s3", two_versions))
    with pytest.raises(RegistryError, match="has no version 7; versions: 1, 2"):
        compare_versions(sm, objects, Names.of(dev).model_package_group, 1, 7)


def test_cli_compare_prints_a_table_and_json(two_versions: AwsTarget, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "compare", "1", "2", "--env", "dev"]) == 0
    table = capsys.readouterr().out
    for words in ("parameters", "n_estimators", "+0.0400", "code_commit", "aaaa", "bbbb", "version 1", "version 2"):
        assert words in table
    assert main(["registry", "compare", "1", "2", "--env", "dev", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [facts["version"] for facts in document["versions"]] == [1, 2]
    auc = next(row for row in document["sections"]["metrics"] if row["name"] == "auc")
    assert auc["delta"] == pytest.approx(0.04)
    assert auc["changed"] is True
    assert main(["registry", "compare", "1", "9", "--env", "dev"]) == 1
    assert "no version 9" in capsys.readouterr().err
