"""Compliance checks: both nag packs pass on every environment, fail on a real finding, and cfn-lint is clean."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cfnlint.api import ManualArgs, lint_file

from governance.compliance import REASONS, UnknownAcknowledgementError, acknowledge, add_compliance_checks, reason_for
from tests.conftest import SynthesizedApp

# A CDK-made construct sets a legacy property cfn-lint warns about; decided once, here.
ACCEPTED_CFN_LINT = {
    "W3045": "CDK's access-log bucket uses AccessControl: LogDeliveryWrite, the property S3 log delivery needs.",
}


def test_every_environment_synthesizes_with_both_nag_packs(synthesized_app: SynthesizedApp) -> None:
    # Synthesis raises ValidationFailed on any unacknowledged finding; reaching here means none.
    stacks = set(synthesized_app.templates)
    assert {f"mlops-kit-{env}-governance" for env in ("dev", "staging", "prod")} <= stacks
    report = json.loads((synthesized_app.outdir / "validation-report.json").read_text())
    plugins = {plugin["pluginName"]: plugin for plugin in report["pluginReports"]}
    assert {"AwsSolutions", "NIST.800.53.R5"} <= set(plugins)
    for plugin in (plugins["AwsSolutions"], plugins["NIST.800.53.R5"]):
        assert plugin["conclusion"] == "success"
        assert plugin["violations"] == []
        # The audit trail: every accepted finding carries the reason recorded in governance/compliance.py.
        for accepted in plugin["suppressedViolations"]:
            assert accepted["reason"] == reason_for(accepted["acknowledgedId"])


def test_an_unacknowledged_finding_fails_synthesis(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Careless", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    s3.Bucket(stack, "PlainBucket")
    with pytest.raises(RuntimeError, match="ValidationFailed") as caught:
        app.synth()
    assert caught.value is not None
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-S1" in report
    assert "NIST.800.53.R5-S3BucketReplicationEnabled" in report


def test_acknowledging_a_rule_without_a_recorded_reason_is_refused() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    with pytest.raises(UnknownAcknowledgementError, match="AwsSolutions-SQS3"):
        acknowledge(stack, "AwsSolutions::AwsSolutions-SQS3")


def test_every_reason_is_a_real_sentence() -> None:
    for rule_id, reason in REASONS.items():
        assert len(reason) > 30, rule_id
        assert reason.endswith("."), rule_id


def test_wildcard_reasons_match_concrete_ids() -> None:
    assert "own buckets" in reason_for(
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::mlops-kit-dev-data-1-eu/*]"
    )
    with pytest.raises(UnknownAcknowledgementError):
        reason_for("AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:dynamodb:eu-west-1:1:table/*]")


def test_cfn_lint_reports_no_errors_on_any_template(synthesized_app: SynthesizedApp) -> None:
    assert synthesized_app.template_files
    for stack_name, path in synthesized_app.template_files.items():
        matches = lint_file(path, config=ManualArgs(regions=["eu-west-1"]))
        findings = [m for m in matches if m.rule.id not in ACCEPTED_CFN_LINT]
        assert not findings, f"{stack_name}: " + "; ".join(f"{m.rule.id} {m.message}" for m in findings)
