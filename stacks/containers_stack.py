"""The project's images: ECR repositories and the CodeBuild project that builds them in the cloud.

Synthesis only zips the image sources (containers/ and pipelines/) as an asset: no Docker engine is
needed here. The build runs in CodeBuild, tags every image with `config.images.source_tag()` (the
same tag the pipeline definition names) and skips an image whose tag already exists, since tags are
immutable.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from config.images import IMAGE_SOURCES, IMAGES, REPO_ROOT
from config.naming import Names
from config.settings import EnvironmentConfig
from governance.compliance import AWS, NIST, acknowledge

KEEP_IMAGES = 20


@lru_cache(maxsize=1)
def stage_image_sources() -> Path:
    """A copy of just what the images are built from, laid out as in the repository.

    Pointing the asset at the repository root with exclusions would make CDK walk .venv and
    node_modules on every synthesis (seconds); copying a few dozen files is instant.
    """
    staging = Path(tempfile.mkdtemp(prefix="mlops-image-sources-"))
    # Synthesis copies the asset into the cloud assembly; the staging copy is not needed afterwards.
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in IMAGE_SOURCES:
        shutil.copytree(REPO_ROOT / folder, staging / folder, ignore=ignore)
        for parent in Path(folder).parents:
            init = REPO_ROOT / parent / "__init__.py"
            if parent != Path(".") and init.exists():
                shutil.copy2(init, staging / parent / "__init__.py")
    return staging


def build_commands(names: Names, tag: str) -> list[str]:
    """Shell of the build phase: build and push each image unless its immutable tag exists."""
    registry = f"{names.account}.dkr.ecr.{names.region}.amazonaws.com"
    commands = [
        f"aws ecr get-login-password --region {names.region} | docker login --username AWS --password-stdin {registry}"
    ]
    for image in IMAGES:
        repo = names.ecr_repository(image)
        uri = names.image_uri(image, tag)
        commands.append(
            f"if aws ecr describe-images --repository-name {repo} --image-ids imageTag={tag} >/dev/null 2>&1; "
            f'then echo "{uri} exists"; '
            f"else docker build -f containers/{image}/Dockerfile -t {uri} . && docker push {uri}; fi"
        )
    return commands


class ContainersStack(cdk.Stack):
    """Exposes `repositories` (by image name), `image_uris` and `build_project` (started by CI/CD)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        key: kms.IKey,
        image_tag: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = Names.of(env_config)
        self.repositories: dict[str, ecr.Repository] = {}
        self.image_uris: dict[str, str] = {}
        for image in IMAGES:
            repository = ecr.Repository(
                self,
                f"{image.capitalize()}Repository",
                repository_name=names.ecr_repository(image),
                image_scan_on_push=True,
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                encryption=ecr.RepositoryEncryption.KMS,
                encryption_key=key,
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        description="Drop untagged layers after a week",
                        tag_status=ecr.TagStatus.UNTAGGED,
                        max_image_age=cdk.Duration.days(7),
                        rule_priority=1,
                    ),
                    ecr.LifecycleRule(
                        description=f"Keep the newest {KEEP_IMAGES} images",
                        tag_status=ecr.TagStatus.ANY,
                        max_image_count=KEEP_IMAGES,
                        rule_priority=2,
                    ),
                ],
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            self.repositories[image] = repository
            self.image_uris[image] = names.image_uri(image, image_tag)
            cdk.CfnOutput(self, f"{image.capitalize()}ImageUri", value=self.image_uris[image])

        source = s3_assets.Asset(
            self,
            "ImageSources",
            path=str(stage_image_sources()),
        )
        log_group = logs.LogGroup(
            self,
            "BuildLogs",
            log_group_name=names.image_build_log_group,
            encryption_key=key,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.build_project = codebuild.Project(
            self,
            "ImageBuild",
            project_name=names.image_build_project,
            description=f"Builds the {', '.join(IMAGES)} images of {names.prefix} with tag {image_tag}",
            source=codebuild.Source.s3(bucket=source.bucket, path=source.s3_object_key),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.MEDIUM,
                privileged=True,
            ),
            encryption_key=key,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
            timeout=cdk.Duration.minutes(60),
            build_spec=codebuild.BuildSpec.from_object(
                {"version": "0.2", "phases": {"build": {"commands": build_commands(names, image_tag)}}}
            ),
        )
        for repository in self.repositories.values():
            repository.grant_pull_push(self.build_project)
        # `describe-images` proves a tag exists before building; the login token call has no resource scope.
        self.build_project.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecr:DescribeImages"], resources=[r.repository_arn for r in self.repositories.values()]
            )
        )
        acknowledge(
            self.build_project,
            f"{AWS}CB3",
            f"{NIST}IAMNoInlinePolicy",
            f"{AWS}IAM5[Resource::*]",
            f"{AWS}IAM5[Action::s3:GetObject*]",
            f"{AWS}IAM5[Action::s3:GetBucket*]",
            f"{AWS}IAM5[Action::s3:List*]",
            f"{AWS}IAM5[Action::kms:GenerateDataKey*]",
            f"{AWS}IAM5[Action::kms:ReEncrypt*]",
            # CodeBuild's own grants; cdk.json's feature flags render the partition literally.
            f"{AWS}IAM5[Resource::{names.arn('codebuild', 'report-group/')}<ImageBuild30B7C98D>-*]",
            f"{AWS}IAM5[Resource::{names.arn('logs', 'log-group:')}/aws/codebuild/<ImageBuild30B7C98D>:*]",
        )
        cdk.CfnOutput(self, "ImageBuildProject", value=self.build_project.project_name)
