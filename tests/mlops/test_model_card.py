"""Model cards and `registry describe`: built from what the registry holds, valid against AWS's schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from moto.sagemaker.responses import SageMakerResponse

from config.naming import Names
from config.settings import ConfigError, EnvironmentConfig, load_project
from mlops import registry
from mlops.aws import AwsTarget, client
from mlops.cli import main
from mlops.lineage import describe_version, hyperparameters
from mlops.local.aws import moto_extensions
from mlops.model_card import SCHEMA_FILE, ModelCardError, build_model_card, card_problems, validate_model_card
from pipelines import lineage
from tests.mlops.test_registry import seed_versions

LINEAGE = {
    lineage.CODE_COMMIT: "0123456789abcdef0123456789abcdef01234567",
    lineage.CODE_DIRTY: "false",
    lineage.DEFINITION_SHA256: "a" * 64,
    lineage.IMAGES: "training=111111111111.dkr.ecr.eu-west-1.amazonaws.com/t:src-1 "
                    "inference=111111111111.dkr.ecr.eu-west-1.amazonaws.com/i:src-1",
    lineage.IMAGE_SOURCES_SHA256: "b" * 64,
    lineage.DATA_URI: "s3://data/datasets/default/",
    lineage.DATA_SHA256: "c" * 64,
    lineage.HYPERPARAMETERS: "n_estimators=100 learning_rate=0.1 estimator=pkg.module:Model",
    lineage.EXECUTION_ARN: "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/p/execution/abc",
    lineage.BASELINE_STATISTICS: "s3://artifacts/p/abc/DataQualityBaseline/statistics.json",
    lineage.BASELINE_CONSTRAINTS: "s3://artifacts/p/abc/DataQualityBaseline/constraints.json",
}


@pytest.fixture
def registered(aws: AwsTarget, dev: EnvironmentConfig) -> str:
    """Version 1 of dev's group with the lineage the pipeline records, approved with a reason."""
    (arn,) = seed_versions(aws, dev, [0.95])
    sm = client("sagemaker", aws)
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks right",
                            CustomerMetadataProperties={**LINEAGE, "mlops:approval:decision": "Approved"})
    return arn


@pytest.fixture
def moto_as_sagemaker() -> Iterator[None]:
    """Local mode's moto extensions (merged metadata, ModelCard kept) for one test, then moto as shipped."""
    names = ("update_model_package", "create_model_package", "describe_model_package")
    before = {name: vars(SageMakerResponse)[name] for name in names}
    moto_extensions.install_model_package_updates()
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(SageMakerResponse, name, value)


def _record(aws: AwsTarget, dev: EnvironmentConfig) -> Any:
    return describe_version(client("sagemaker", aws), registry.S3Objects(client("s3", aws)),
                            Names.of(dev).model_package_group, 1)


def test_the_schema_is_aws_model_package_model_card_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert (schema["title"], schema["version"]) == ("SageMakerModelCardSchema", "0.1.0")
    # The model package form: no model_package_details, an overview of creator and artifact only.
    assert "model_package_details" not in schema["properties"]
    assert set(schema["properties"]["model_overview"]["properties"]) == {"model_creator", "model_artifact"}


def test_describe_reads_lineage_approval_and_metrics_from_the_registry(registered: str, aws: AwsTarget,
                                                                       dev: EnvironmentConfig) -> None:
    record = _record(aws, dev)
    assert record.arn == registered
    assert record.status == "Approved"
    assert record.lineage == {key.removeprefix(lineage.PREFIX): value for key, value in LINEAGE.items()}
    assert record.approval == {"decision": "Approved"}
    assert record.metrics["auc"] == 0.95
    assert hyperparameters(record) == {"n_estimators": "100", "learning_rate": "0.1", "estimator": "pkg.module:Model"}


def test_the_model_card_validates_against_the_schema_and_carries_use_training_evaluation_lineage_approval(
    registered: str, aws: AwsTarget, dev: EnvironmentConfig,
) -> None:
    card = build_model_card(dev, _record(aws, dev))
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(card, schema)  # independently of our own validator
    assert card_problems(card) == []
    assert card["intended_uses"]["purpose_of_model"] == dev.model_card.purpose
    assert card["intended_uses"]["risk_rating"] == dev.model_card.risk_rating
    job = card["training_details"]["training_job_details"]
    assert job["training_datasets"] == [LINEAGE[lineage.DATA_URI]]
    assert {"name": "n_estimators", "value": "100"} in job["hyper_parameters"]
    evaluation = card["evaluation_details"][0]
    assert {"name": "auc", "type": "number", "value": 0.95} in evaluation["metric_groups"][0]["metric_data"]
    assert f"{dev.quality_gate.metric} >= {dev.quality_gate.threshold}" in evaluation["evaluation_observation"]
    details = card["additional_information"]["custom_details"]
    assert details["lineage_data_sha256"] == "c" * 64
    assert details["lineage_code_commit"] == LINEAGE[lineage.CODE_COMMIT]
    assert (details["approval_status"], details["approval_description"]) == ("Approved", "looks right")
    assert details["approval_decision"] == "Approved"


@pytest.mark.parametrize(("where", "change"), [
    ("intended_uses/risk_rating", lambda card: card["intended_uses"].update(risk_rating="Extreme")),
    ("(card)", lambda card: card.update(model_package_details={})),
    ("training_details/training_job_details/hyper_parameters/0",
     lambda card: card["training_details"]["training_job_details"]["hyper_parameters"][0].pop("value")),
    ("additional_information/custom_details/x", lambda card: card["additional_information"]["custom_details"]
     .update(x="y" * 1025)),
])
def test_a_card_the_schema_refuses_is_named_by_its_path(registered: str, aws: AwsTarget, dev: EnvironmentConfig,
                                                        where: str, change: Any) -> None:
    card = build_model_card(dev, _record(aws, dev))
    change(card)
    with pytest.raises(ModelCardError, match=where):
        validate_model_card(card)


def test_cli_describe_and_card_with_attach_write_the_card_onto_the_package(
    registered: str, aws: AwsTarget, moto_as_sagemaker: None, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["registry", "describe", "--env", "dev", "--version", "1"]) == 0
    shown = capsys.readouterr().out
    assert LINEAGE[lineage.DATA_SHA256] in shown
    assert "definition_sha256" in shown
    assert "auc=0.9500" in shown
    assert main(["registry", "card", "--env", "dev", "--version", "1", "--attach"]) == 0
    printed = json.loads(capsys.readouterr().out)
    described = client("sagemaker", aws).describe_model_package(ModelPackageName=registered)
    assert json.loads(described["ModelCard"]["ModelCardContent"]) == printed
    assert described["ModelCard"]["ModelCardStatus"] == "Approved"
    # Attaching the card changed nothing else (SageMaker leaves omitted fields as they were).
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "looks right"
    assert described["CustomerMetadataProperties"][lineage.DATA_SHA256] == "c" * 64


def test_approving_keeps_the_lineage_as_sagemaker_does(registered: str, aws: AwsTarget, dev: EnvironmentConfig,
                                                       moto_as_sagemaker: None) -> None:
    sm = client("sagemaker", aws)
    registry.reject(sm, Names.of(dev).model_package_group, 1, "not now")
    described = sm.describe_model_package(ModelPackageName=registered)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert {key: described["CustomerMetadataProperties"][key] for key in LINEAGE} == LINEAGE


def test_cli_describe_of_an_unknown_version_is_one_line(registered: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "describe", "--env", "dev", "--version", "7"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: model package group 'mlops-kit-dev-models' has no version 7; versions: 1"]


def test_a_bad_model_card_entry_in_config_names_environment_and_key(tmp_path: Any) -> None:
    from config.settings import REPO_ROOT

    text = (REPO_ROOT / "config" / "environments.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "environments.yaml"
    bad.write_text(text.replace("      risk_rating: Low\n", "      risk_rating: Extreme\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dev.*model_card.*risk_rating"):
        load_project(bad)
