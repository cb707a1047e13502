"""The CI/CD route (CDK Pipelines, in the tooling account): a commit to the branch tests, retrains in the
first stage and rolls out stage by stage; an approval in any stage's registry rolls out without a commit.

Two pipelines share one source, one synth and the same stages:
- the commit route: Source, Build (`make test`, then the synth), UpdatePipeline (self-mutating),
  Assets, then each stage's deploy (with Images, the stage's own image build, between its containers and
  pipeline stacks), Retrain after the first, SmokeTest after the checked ones and a manual approval before
  the gated ones;
- the approval route: started by a model version turning Approved; the same route without tests and
  retraining. A retrain in dev auto-approves a version and so starts this route, which
  never retrains again: no loop.
Every buildspec runs project commands only (`make ...`, `mlops ...`), so CI can be run by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline_actions as codepipeline_actions
from aws_cdk import aws_codestarnotifications as notifications
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import pipelines
from constructs import Construct

from config.arns import arn, partition_of
from config.naming import Names
from config.settings import CicdConfig, EnvironmentConfig
from governance.compliance import AWS, NIST, acknowledge
from stacks.cicd_route import (
    APPROVAL_NEEDED_EVENT,
    JUNIT_DIRECTORY,
    JUNIT_FILE,
    ROUTE_AWS_CONFIG,
    RUNTIMES,
    RouteStep,
    approval_route_pattern,
    route_names,
    route_steps,
    stage_commands,
    synth_command,
)
from stacks.stage import MlopsStage

BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
STEP_NAMES = {"images": "Images", "retrain": "Retrain", "check": "SmokeTest"}


class CicdStack(cdk.Stack):
    """Exposes `commit_route`, `approval_route` (CDK Pipelines) and `stages` (name -> MlopsStage)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        cicd: CicdConfig,
        stages: list[EnvironmentConfig],
        model_versions: Mapping[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = route_names(project)
        self._cicd = cicd
        self._project = project
        self._codecommit: codecommit.IRepository | None = None
        key = kms.Key(self, "RouteKey", enable_key_rotation=True, alias=f"alias/{names['commit']}",
                      description="Encrypts the route's approval topic")
        reports = codebuild.ReportGroup(
            self, "TestReports", report_group_name=names["reports"], type=codebuild.ReportGroupType.TEST,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # The build reads each stage's registry (its resource policy trusts this account) for the newest
        # Approved version: the synth then records that version in the endpoint stack.
        read_registries = iam.PolicyStatement(
            actions=["sagemaker:ListModelPackages", "sagemaker:DescribeModelPackageGroup"],
            resources=[Names.of(env).model_package_group_arn for env in stages],
        )
        # One named role for every post-deploy step: each stage's ml-engineer persona trusts it by name.
        self.stage_access_role = iam.Role(
            self, "StageAccess", role_name=cicd.stage_access_role(project),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description="Post-deploy steps (retrain, endpoint check) assume the stage's ml-engineer role",
        )
        for env in stages:
            self.stage_access_role.add_to_policy(iam.PolicyStatement(
                actions=["sts:AssumeRole"], resources=[_ml_engineer_role_arn(env)]))
        self._sources: dict[str, pipelines.CodePipelineSource] = {}
        self.commit_route = self._route(
            "CommitRoute", names["commit"], retrain=True, reports=reports, read_registries=read_registries,
        )
        self.approval_route = self._route(
            "ApprovalRoute", names["approval"], retrain=False, reports=None, read_registries=read_registries,
        )
        self.stages: dict[str, MlopsStage] = {}
        for env in stages:
            self.stages[env.name] = _environment_stage(self, env, model_versions.get(env.name))
        # Before the routes synthesize the stages: each registry's approval rule forwards to this account.
        self._forward_approvals(stages)
        self._add_waves(self.commit_route, stages, retrain=True)
        self._add_waves(self.approval_route, stages, retrain=False)
        for route in (self.commit_route, self.approval_route):
            route.build_pipeline()
        reports.grant_write(self.commit_route.synth_project)
        self._notify_approvals(key, names["topic"], stages)
        self._roll_out_on_approval(stages)
        _acknowledge_route(self)

    def _source(self, trigger_on_push: bool) -> pipelines.CodePipelineSource:
        source = self._cicd.source
        if source.provider == "codecommit":
            if self._codecommit is None:  # one construct for both routes
                self._codecommit = codecommit.Repository.from_repository_name(self, "Repository", source.repository)
            repository = self._codecommit
            trigger = (codepipeline_actions.CodeCommitTrigger.EVENTS if trigger_on_push
                       else codepipeline_actions.CodeCommitTrigger.NONE)
            return pipelines.CodePipelineSource.code_commit(repository, source.branch, trigger=trigger)
        assert source.connection_arn is not None  # validated in config
        return pipelines.CodePipelineSource.connection(
            source.repository, source.branch, connection_arn=source.connection_arn, trigger_on_push=trigger_on_push,
        )

    def _route(self, construct_id: str, name: str, *, retrain: bool, reports: codebuild.ReportGroup | None,
               read_registries: iam.PolicyStatement) -> pipelines.CodePipeline:
        commands = ["make test", synth_command()] if retrain else [synth_command()]
        build_spec: dict[str, Any] = {"phases": {"install": {"runtime-versions": RUNTIMES}}}
        environment = {}
        if reports is not None:
            environment["PYTEST_ADDOPTS"] = f"--junitxml={JUNIT_DIRECTORY}/{JUNIT_FILE}"
            build_spec["reports"] = {reports.report_group_arn: {
                "files": [JUNIT_FILE], "base-directory": JUNIT_DIRECTORY, "file-format": "JUNITXML",
            }}
        source = self._source(trigger_on_push=retrain)
        self._sources[construct_id] = source
        synth = pipelines.CodeBuildStep(
            "Build",
            input=source,
            commands=commands,
            env=environment,
            primary_output_directory="cdk.out",
            partial_build_spec=codebuild.BuildSpec.from_object(build_spec),
            role_policy_statements=[read_registries],
        )
        return pipelines.CodePipeline(
            self,
            construct_id,
            pipeline_name=name,
            synth=synth,
            self_mutation=retrain,  # the commit route updates both routes: they are one stack
            cross_account_keys=True,
            enable_key_rotation=True,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE),
                partial_build_spec=codebuild.BuildSpec.from_object(
                    {"phases": {"install": {"runtime-versions": RUNTIMES}}}
                ),
            ),
        )

    def _add_waves(self, route: pipelines.CodePipeline, stages: list[EnvironmentConfig], *, retrain: bool) -> None:
        steps = route_steps(self._cicd, retrain=retrain)
        for env in stages:
            mine = [step for step in steps if step.stage == env.name]
            pre: list[pipelines.Step] = [
                pipelines.ManualApprovalStep("Approve", comment=f"Deploy to {env.name}?")
                for step in mine if step.kind == "approve"
            ]
            post: list[pipelines.Step] = [
                self._stage_step(route, env, step) for step in mine if step.kind in ("retrain", "check")
            ]
            # The images are built in the stage's own account by the containers stack's CodeBuild project,
            # started as the stage's ml-engineer: pushes never cross accounts (no ECR or KMS grant to the
            # tooling account), the build reads the very image sources the stage deployed, and the tooling
            # account needs no privileged (Docker) build. The pipeline stack depends on the containers stack,
            # so CDK Pipelines deploys it only after this step.
            containers = self.stages[env.name].stacks.containers
            stack_steps = [pipelines.StackSteps(stack=containers, post=[self._stage_step(route, env, step)])
                           for step in mine if step.kind == "images"]
            route.add_stage(self.stages[env.name], pre=pre, post=post, stack_steps=stack_steps)

    def _stage_step(self, route: pipelines.CodePipeline, env: EnvironmentConfig, step: RouteStep) -> pipelines.Step:
        return pipelines.CodeBuildStep(
            STEP_NAMES[step.kind],
            input=self._sources[route.node.id],
            commands=stage_commands(str(step.command)),
            env={"AWS_CONFIG_FILE": ROUTE_AWS_CONFIG, "AWS_PROFILE": env.name, "AWS_SDK_LOAD_CONFIG": "1"},
            role=self.stage_access_role,
        )

    def _notify_approvals(self, key: kms.IKey, topic_name: str, stages: list[EnvironmentConfig]) -> None:
        """A manual approval is waiting: mail the alert addresses of the stages it gates."""
        topic = sns.Topic(self, "ApprovalTopic", topic_name=topic_name, master_key=key, enforce_ssl=True)
        gated = [env for env in stages if env.name in self._cicd.approval_before]
        for email in sorted({email for env in gated for email in env.alerts.emails}):
            sns.Subscription(self, f"Mail{email}", topic=topic, protocol=sns.SubscriptionProtocol.EMAIL,
                             endpoint=email)
        key.grant_encrypt_decrypt(iam.ServicePrincipal("codestar-notifications.amazonaws.com"))
        for route_id, route in (("Commit", self.commit_route), ("Approval", self.approval_route)):
            notifications.NotificationRule(
                self, f"{route_id}ApprovalNeeded", source=route.pipeline, events=[APPROVAL_NEEDED_EVENT],
                targets=[topic], detail_type=notifications.DetailType.BASIC,
            )
        self.approval_topic = topic

    def _roll_out_on_approval(self, stages: list[EnvironmentConfig]) -> None:
        """Each stage's registry rule forwards Approved events here; this rule starts the approval route."""
        for account in sorted({env.account for env in stages}):
            events.CfnEventBusPolicy(
                self, f"AcceptApprovalsFrom{account}", statement_id=f"approvals-from-{account}",
                event_bus_name="default",
                statement={"Sid": f"approvals-from-{account}", "Effect": "Allow", "Action": "events:PutEvents",
                           "Principal": {"AWS": arn("iam", "root", region=self._cicd.region, account=account,
                                                    global_service=True)},
                           "Resource": arn("events", "event-bus/default", region=self._cicd.region,
                                           account=self._cicd.account)},
            )
        pattern = approval_route_pattern(stages)
        self.approval_rule = events.Rule(
            self, "ModelApproved", rule_name=f"{route_names(self._project)['approval']}-start",
            description="A stage's model version turned Approved: roll it out without a commit",
            event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"],
                                              account=pattern["account"], detail=pattern["detail"]),
            targets=[targets.CodePipeline(self.approval_route.pipeline)],
        )

    def _forward_approvals(self, stages: list[EnvironmentConfig]) -> None:
        bus_arn = arn("events", "event-bus/default", region=self._cicd.region, account=self._cicd.account)
        for env in stages:
            registry = self.stages[env.name].stacks.registry
            tooling_bus = events.EventBus.from_event_bus_arn(registry, "ToolingBus", bus_arn)
            registry.approval_rule.add_target(targets.EventBus(tooling_bus))


def _environment_stage(scope: Construct, env: EnvironmentConfig, model_version: str | None) -> MlopsStage:
    # The served version is passed only when known: a stage without one deploys no endpoint (with a note).
    served: dict[str, Any] = {"model_version": model_version} if model_version else {}
    return MlopsStage(scope, env.name.capitalize(), env_config=env, **served)


def _ml_engineer_role_arn(env: EnvironmentConfig) -> str:
    names = Names.of(env)
    return names.arn("iam", f"role/{names.persona_role('ml-engineer')}", global_service=True)


def _acknowledge_route(stack: CicdStack) -> None:
    """The findings CDK Pipelines' generated resources raise, each accepted with a reason in REASONS."""
    acknowledge(
        stack,
        f"{AWS}IAM5[Action::kms:GenerateDataKey*]",
        f"{AWS}IAM5[Action::kms:ReEncrypt*]",
        f"{AWS}IAM5[Action::s3:Abort*]",
        f"{AWS}IAM5[Action::s3:DeleteObject*]",
        f"{AWS}IAM5[Action::s3:GetBucket*]",
        f"{AWS}IAM5[Action::s3:GetObject*]",
        f"{AWS}IAM5[Action::s3:List*]",
        f"{AWS}IAM5[Resource::*]",
        f"{AWS}IAM5[Resource::arn:*:iam::{stack.account}:role/*]",
        f"{NIST}IAMNoInlinePolicy",
    )
    partition = partition_of(stack.region)
    for route in (stack.commit_route, stack.approval_route):
        bucket = route.pipeline.artifact_bucket
        acknowledge(bucket, f"{AWS}S1", f"{NIST}S3BucketLoggingEnabled",
                    f"{NIST}S3BucketReplicationEnabled", f"{NIST}S3BucketVersioningEnabled")
        bucket_resource = bucket.node.default_child
        assert isinstance(bucket_resource, cdk.CfnElement)
        acknowledge(stack, f"{AWS}IAM5[Resource::<{stack.get_logical_id(bucket_resource)}.Arn>/*]")
    # Project-named report groups and log groups of each build project the routes create.
    for project in stack.node.find_all():
        if isinstance(project, codebuild.CfnProject):
            logical = stack.get_logical_id(project)
            acknowledge(
                stack,
                f"{AWS}IAM5[Resource::arn:{partition}:codebuild:{stack.region}:{stack.account}:report-group/"
                f"<{logical}>-*]",
                f"{AWS}IAM5[Resource::arn:{partition}:logs:{stack.region}:{stack.account}:log-group:/aws/codebuild/"
                f"<{logical}>:*]",
            )
    for shared in ("report-group/*", "log-group:/aws/codebuild/*"):
        service = "codebuild" if shared.startswith("report") else "logs"
        acknowledge(stack, f"{AWS}IAM5[Resource::arn:{partition}:{service}:{stack.region}:"
                           f"{stack.account}:{shared}]")
