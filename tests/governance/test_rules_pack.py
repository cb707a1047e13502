"""The MLOps pack runs with cdk-nag's packs: a finding fails synthesis, an acknowledgement carries its REASONS entry."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sagemaker as sagemaker

from governance.compliance import (
    MLOPS,
    UnknownAcknowledgementError,
    acknowledge,
    add_compliance_checks,
    reason_for,
)
from governance.rules import RULES
from governance.rules.pack import MlopsChecks, rule_id
from tests.conftest import SynthesizedApp
from tests.governance.test_rules_monitoring_jobs import scheduler_stack

ROLE = "arn:aws:iam::111111111111:role/mlops-kit-dev-sagemaker-execution"
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-kit-dev-models/3"


def app_with_open_model(outdir: Path) -> cdk.App:
    app = cdk.App(outdir=str(outdir))
    cdk.Validations.of(app).add_plugins(MlopsChecks())
    stack = cdk.Stack(app, "Serving", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    sagemaker.CfnModel(stack, "Model", execution_role_arn=ROLE, containers=[
        sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=PACKAGE)])
    return app


def test_an_mlops_finding_fails_synthesis_and_names_the_construct(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app_with_open_model(tmp_path).synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "MLOps"]
    assert plugin["conclusion"] == "failure"
    assert "MLOps-ModelIsolationOrVpc" in json.dumps(plugin["violations"])
    assert "Serving/Model" in json.dumps(plugin["violations"])


def test_an_acknowledged_mlops_finding_passes_with_its_recorded_reason(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(MlopsChecks())
    stack = cdk.Stack(app, "Monitoring", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    scheduler_stack(isolated=False)(stack)
    acknowledge(stack.node.find_child("Scheduled"), f"{MLOPS}MonitoringJobNetworkIsolation")
    app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "MLOps"]
    assert plugin["conclusion"] == "success"
    (accepted,) = plugin["suppressedViolations"]
    assert accepted["acknowledgedId"] == f"{MLOPS}MonitoringJobNetworkIsolation"
    assert accepted["reason"] == reason_for(accepted["acknowledgedId"])


def test_acknowledging_an_mlops_rule_without_a_reason_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(UnknownAcknowledgementError, match="ModelIsolationOrVpc"):
        acknowledge(stack, f"{MLOPS}ModelIsolationOrVpc")


def test_every_rule_has_a_unique_name_and_a_sentence_of_reason() -> None:
    assert len({rule.name for rule in RULES}) == len(RULES) == 6
    assert MlopsChecks().rule_ids == [rule_id(rule) for rule in RULES]
    for rule in RULES:
        assert rule.description.endswith("."), rule.name
        assert rule.resource_types, rule.name


def test_the_project_passes_the_mlops_pack_with_reasons(synthesized_app: SynthesizedApp) -> None:
    report = json.loads((synthesized_app.outdir / "validation-report.json").read_text())
    (plugin,) = [p for p in report["pluginReports"] if p["pluginName"] == "MLOps"]
    assert plugin["conclusion"] == "success"
    assert plugin["violations"] == []
    accepted = {item["acknowledgedId"] for item in plugin["suppressedViolations"]}
    # The two accepted findings, each with its reason: scheduled jobs put metrics, jobs have no boundary yet.
    assert accepted == {f"{MLOPS}MonitoringJobNetworkIsolation", f"{MLOPS}SageMakerRoleBoundary"}
    for item in plugin["suppressedViolations"]:
        assert item["reason"] == reason_for(item["acknowledgedId"])


def test_add_compliance_checks_runs_the_mlops_pack_beside_nag(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Serving", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    sagemaker.CfnModel(stack, "Model", execution_role_arn=ROLE,
                       containers=[sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=PACKAGE)])
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert "MLOps" in plugins
    assert "MLOps-ModelIsolationOrVpc" in json.dumps(plugins["MLOps"]["violations"])
