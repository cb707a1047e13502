"""The SageMaker Pipeline, deployed from the one definition that `mlops` and local mode also run."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.naming import Names
from config.settings import EnvironmentConfig
from pipelines.definition import definition_json


class PipelineStack(cdk.Stack):
    """`AWS::SageMaker::Pipeline` with the environment's definition, run by the governance execution role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_config: EnvironmentConfig,
        execution_role_arn: str,
        image_tag: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = Names.of(env_config)
        # The definition names its role, buckets and images by the naming module, so it needs no
        # CloudFormation tokens: the template carries exactly the JSON `mlops pipeline definition` prints.
        self.definition_body = definition_json(env_config, image_tag=image_tag)
        pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=names.pipeline,
            pipeline_display_name=names.pipeline,
            pipeline_description=(
                "preprocess -> data-quality baseline -> train -> evaluate -> quality gate -> register or fail"
            ),
            role_arn=execution_role_arn,
            pipeline_definition={"PipelineDefinitionBody": self.definition_body},
        )
        self.pipeline_name = pipeline.pipeline_name
        cdk.CfnOutput(self, "PipelineName", value=names.pipeline)
