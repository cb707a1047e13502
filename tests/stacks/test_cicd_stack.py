"""The CI/CD route (`-c env=cicd`): stages in order, the gate before prod, project commands only,
the approval rule and its pattern, encryption, nag-clean (synthesis fails otherwise) and cfn-lint clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint_file
from moto.events.models import EventPattern

from config.images import REPO_ROOT
from config.settings import load_project
from governance.compliance import reason_for
from stacks.cicd_route import APPROVAL_NEEDED_EVENT, approval_route_pattern

STACK = "mlops-kit-cicd"
# What CDK Pipelines generates and cfn-lint flags; CloudFormation accepts both (decided once, here).
ACCEPTED_CFN_LINT = {
    "E3703": "CDK Pipelines writes the cross-account role ARNs of deploy actions as Fn::Join; cfn-lint prefers "
    "Fn::Sub, CloudFormation accepts either.",
    "W3005": "CDK Pipelines adds an explicit DependsOn on the pipeline role beside the GetAtt.",
}


@pytest.fixture(scope="module")
def route(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The CI/CD stack as the CLI renders it with `-c env=cicd` (cdk.json's context, both nag packs)."""
    import aws_cdk as cdk

    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.cicd")
    context = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"], "env": "cicd"}
    assembly = build_app(cdk.App(outdir=str(outdir), context=context)).synth()
    stack = assembly.get_stack_by_name(STACK)
    return stack.template, outdir


def _pipelines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        resource["Properties"]["Name"]: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CodePipeline::Pipeline"
    }


def _actions(pipeline: dict[str, Any], stage: str) -> list[tuple[str, int, str]]:
    (found,) = [s for s in pipeline["Stages"] if s["Name"] == stage]
    return sorted((a["Name"], a["RunOrder"], a["ActionTypeId"]["Provider"]) for a in found["Actions"])


def _build_spec(project: dict[str, Any]) -> dict[str, Any]:
    """The buildspec; one naming a token (the report group's ARN) is an Fn::Join: tokens become <token>."""
    spec = project["Properties"]["Source"]["BuildSpec"]
    if isinstance(spec, dict):
        spec = "".join(part if isinstance(part, str) else "<token>" for part in spec["Fn::Join"][1])
    result: dict[str, Any] = json.loads(spec)
    return result


def _project_commands(template: dict[str, Any], name_part: str) -> list[list[str]]:
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::CodeBuild::Project" and name_part in logical_id:
            spec = _build_spec(resource)
            found.append(spec["phases"]["build"]["commands"])
    return found


def test_commit_route_runs_the_stages_in_order(route: tuple[dict[str, Any], Path]) -> None:
    commit = _pipelines(route[0])["mlops-kit-cicd"]
    assert [stage["Name"] for stage in commit["Stages"]] == [
        "Source", "Build", "UpdatePipeline", "Assets", "Dev", "Staging", "Prod"
    ]
    (source,) = commit["Stages"][0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == "example-org/mlops-kit"
    assert source["Configuration"]["BranchName"] == "main"
    # Within a stage: the deploys, then Retrain (dev) or SmokeTest (staging, prod) after the last deploy.
    for stage, step in (("Dev", "Retrain"), ("Staging", "SmokeTest"), ("Prod", "SmokeTest")):
        actions = _actions(commit, stage)
        last_deploy = max(order for name, order, _ in actions if name.endswith(".Deploy"))
        assert (step, last_deploy + 1, "CodeBuild") in actions


def test_manual_approval_comes_first_in_prod_and_only_there(route: tuple[dict[str, Any], Path]) -> None:
    for pipeline in _pipelines(route[0]).values():
        manual = {(stage["Name"], a["Name"], a["RunOrder"]) for stage in pipeline["Stages"]
                  for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "Manual"}
        assert manual == {("Prod", "Approve", 1)}
        prod_deploys = [order for name, order, _ in _actions(pipeline, "Prod") if name.endswith(".Deploy")]
        assert min(prod_deploys) > 1


def test_approval_route_deploys_without_tests_or_retraining(route: tuple[dict[str, Any], Path]) -> None:
    approval = _pipelines(route[0])["mlops-kit-cicd-approved"]
    assert [stage["Name"] for stage in approval["Stages"]] == ["Source", "Build", "Assets", "Dev", "Staging", "Prod"]
    (source,) = approval["Stages"][0]["Actions"]
    assert source["Configuration"]["DetectChanges"] is False  # only the approval rule starts it
    names = {name for stage in ("Dev", "Staging", "Prod") for name, _, _ in _actions(approval, stage)}
    assert "Retrain" not in names  # a dev auto-approval must not retrain again: no loop


def test_buildspecs_call_project_commands_only(route: tuple[dict[str, Any], Path]) -> None:
    template = route[0]
    assert _project_commands(template, "CommitRoutePipelineBuild") == [["make test", "make cicd-synth"]]
    assert _project_commands(template, "ApprovalRoutePipelineBuild") == [["make cicd-synth"]]
    for env in ("Dev", "Staging", "Prod"):
        for route_id in ("CommitRoute", "ApprovalRoute"):
            assert _project_commands(template, f"{route_id}Pipeline{env}mlopskit{env.lower()}containersImages") == [
                ["make deps", "make route-aws-config", f".venv/bin/mlops images build --env {env.lower()} --wait"]
            ]
    assert _project_commands(template, "CommitRoutePipelineDevRetrain") == [
        ["make deps", "make route-aws-config", ".venv/bin/mlops pipeline run --env dev --wait"]
    ]
    for env in ("Staging", "Prod"):
        for route_id in ("CommitRoute", "ApprovalRoute"):
            assert _project_commands(template, f"{route_id}Pipeline{env}SmokeTest") == [
                ["make deps", "make route-aws-config", f".venv/bin/mlops endpoint check --env {env.lower()}"]
            ]


def test_test_results_go_to_a_codebuild_report_group_as_junit(route: tuple[dict[str, Any], Path]) -> None:
    template = route[0]
    Template.from_json(template).has_resource_properties(
        "AWS::CodeBuild::ReportGroup", {"Name": "mlops-kit-cicd-tests", "Type": "TEST"}
    )
    (build,) = [r for k, r in template["Resources"].items()
                if r["Type"] == "AWS::CodeBuild::Project" and "CommitRoutePipelineBuild" in k]
    spec = _build_spec(build)
    (report,) = spec["reports"].values()
    assert report == {"files": ["junit.xml"], "base-directory": "reports", "file-format": "JUNITXML"}
    variables = {v["Name"]: v["Value"] for v in build["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables["PYTEST_ADDOPTS"] == "--junitxml=reports/junit.xml"


def test_each_stage_builds_its_images_after_its_containers_and_before_its_pipeline(
    route: tuple[dict[str, Any], Path],
) -> None:
    for pipeline in _pipelines(route[0]).values():
        for stage in ("Dev", "Staging", "Prod"):
            env = stage.lower()
            order = {name: run for name, run, _ in _actions(pipeline, stage)}
            images = order[f"mlops-kit-{env}-containers.Images"]
            assert order[f"mlops-kit-{env}-containers.Deploy"] < images < order[f"mlops-kit-{env}-pipeline.Prepare"]


def test_no_route_step_is_privileged_and_the_tooling_account_cannot_push_images(
    route: tuple[dict[str, Any], Path],
) -> None:
    template = route[0]
    privileged = [k for k, r in template["Resources"].items()
                  if r["Type"] == "AWS::CodeBuild::Project" and r["Properties"]["Environment"].get("PrivilegedMode")]
    assert privileged == []  # images are built by each stage's own project (containers stack)
    statements = [statement for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  for statement in r["Properties"]["PolicyDocument"]["Statement"]]

    def actions(statement: dict[str, Any]) -> list[str]:
        return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]

    assert not [s for s in statements if any(a.startswith("ecr:") for a in actions(s))]
    # The route starts only its own build projects (tokens of this template; CDK's asset role has "*", which
    # CodeBuild, having no resource policies, confines to the tooling account), never a stage's project by ARN.
    for statement in statements:
        if "codebuild:StartBuild" in actions(statement):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert not [r for r in resources if isinstance(r, str) and r.startswith("arn:")], resources


def test_images_step_acts_only_as_the_stages_ml_engineer(route: tuple[dict[str, Any], Path]) -> None:
    template = route[0]
    images = [r for k, r in template["Resources"].items()
              if r["Type"] == "AWS::CodeBuild::Project" and "Images" in k]
    assert len(images) == 6  # three stages, two routes
    for project in images:
        assert project["Properties"]["ServiceRole"] == {"Fn::GetAtt": ["StageAccessB6A0B899", "Arn"]}
        variables = {v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
        assert variables["AWS_CONFIG_FILE"] == ".route-aws-config"
    (policy,) = [r["Properties"]["PolicyDocument"] for k, r in template["Resources"].items()
                 if r["Type"] == "AWS::IAM::Policy" and k.startswith("StageAccess")]
    assumes = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
    assert assumes == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": [
        f"arn:aws:iam::{account}:role/mlops-kit-{env}-ml-engineer"
        for account, env in (("111111111111", "dev"), ("222222222222", "staging"), ("333333333333", "prod"))]}]


def test_artifacts_and_builds_are_kms_encrypted(route: tuple[dict[str, Any], Path]) -> None:
    template = Template.from_json(route[0])
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources_properties("AWS::S3::Bucket", {"BucketEncryption": {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()}}
    ]}})
    template.all_resources_properties("AWS::CodeBuild::Project", {"EncryptionKey": Match.any_value()})
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::SNS::Topic", {"TopicName": "mlops-kit-cicd-approvals",
                                                         "KmsMasterKeyId": Match.any_value()})


def test_a_waiting_approval_mails_the_prod_alert_addresses(route: tuple[dict[str, Any], Path]) -> None:
    template = Template.from_json(route[0])
    template.resource_count_is("AWS::CodeStarNotifications::NotificationRule", 2)
    template.all_resources_properties("AWS::CodeStarNotifications::NotificationRule", {
        "EventTypeIds": [APPROVAL_NEEDED_EVENT], "Targets": [{"TargetType": "SNS", "TargetAddress": Match.any_value()}],
    })
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "email", "Endpoint": "ml-platform-oncall@example.com",
    })


def test_approved_versions_start_the_approval_route(route: tuple[dict[str, Any], Path]) -> None:
    template = route[0]
    (rule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    project = load_project()
    assert project.cicd is not None
    stages = [project.environments[name] for name in project.cicd.stages]
    assert rule["EventPattern"] == approval_route_pattern(stages)
    (target,) = rule["Targets"]
    assert "ApprovalRoutePipeline" in json.dumps(target["Arn"])
    # Each stage's account may put events on the tooling account's default bus.
    principals = sorted(r["Properties"]["Statement"]["Principal"]["AWS"] for r in template["Resources"].values()
                        if r["Type"] == "AWS::Events::EventBusPolicy")
    assert principals == [f"arn:aws:iam::{a}:root" for a in ("111111111111", "222222222222", "333333333333")]


def _state_change(group: str, status: str, account: str) -> Any:  # moto's EventMessageType
    return {
        "version": "0", "id": "1", "source": "aws.sagemaker", "account": account, "region": "eu-west-1",
        "detail-type": "SageMaker Model Package State Change", "time": "2026-11-26T00:00:00Z", "resources": [],
        "detail": {"ModelPackageGroupName": group, "ModelPackageVersion": 3, "ModelApprovalStatus": status},
    }


def test_the_route_pattern_matches_approved_versions_of_the_stages_only() -> None:
    project = load_project()
    assert project.cicd is not None
    pattern = EventPattern.load(json.dumps(approval_route_pattern(
        [project.environments[name] for name in project.cicd.stages]
    )))
    assert pattern.matches_event(_state_change("mlops-kit-staging-models", "Approved", "222222222222"))
    assert pattern.matches_event(_state_change("mlops-kit-dev-models", "Approved", "111111111111"))
    assert not pattern.matches_event(_state_change("mlops-kit-staging-models", "PendingManualApproval", "222222222222"))
    assert not pattern.matches_event(_state_change("mlops-kit-staging-models", "Rejected", "222222222222"))
    assert not pattern.matches_event(_state_change("another-team-models", "Approved", "222222222222"))
    assert not pattern.matches_event(_state_change("mlops-kit-staging-models", "Approved", "999999999999"))


def test_each_stage_registry_forwards_approvals_to_the_tooling_bus(route: tuple[dict[str, Any], Path]) -> None:
    outdir = route[1]
    for stage, env in (("Dev", "dev"), ("Staging", "staging"), ("Prod", "prod")):
        path = next((outdir / f"assembly-{STACK}-{stage}").glob(f"*{env}registry*.template.json"))
        template = json.loads(path.read_text())
        (rule,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
        assert rule["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved"]
        (target,) = rule["Targets"]
        assert target["Arn"] == "arn:aws:events:eu-west-1:444444444444:event-bus/default"
        assert "RoleArn" in target  # cross-account delivery needs a role that may put events


def test_route_is_nag_clean_with_reasons_and_cfn_lint_clean(route: tuple[dict[str, Any], Path]) -> None:
    outdir = route[1]
    report = json.loads((outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["violations"] == [], plugin["pluginName"]
        for accepted in plugin["suppressedViolations"]:
            assert accepted["reason"] == reason_for(accepted["acknowledgedId"])
    matches = lint_file(outdir / f"{STACK}.template.json", config=ManualArgs(regions=["eu-west-1"]))
    findings = [m for m in matches if m.rule.id not in ACCEPTED_CFN_LINT]
    assert not findings, "; ".join(f"{m.rule.id} {m.message}" for m in findings)
