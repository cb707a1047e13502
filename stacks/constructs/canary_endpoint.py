"""A SageMaker endpoint over the L1s (CDK has no L2): model from a package, capture, canary, autoscaling.

CDK lacks endpoint, deployment-guardrail and data-capture L2s (aws-cdk#23150, #23152, rfcs#431), so this
construct renders an EndpointSpec's API-shaped blocks as property overrides: what the template holds
is exactly what the spec says.
"""

from __future__ import annotations

from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from deployment.endpoint import EndpointSpec


class CanaryEndpoint(Construct):
    """Exposes `model`, `endpoint_config`, `endpoint` and, for instance variants, `scalable_target`."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: EndpointSpec,
                 rollback_alarms: list[cloudwatch.CfnAlarm]) -> None:
        super().__init__(scope, construct_id)
        # Model and endpoint config keep CloudFormation's generated names: they are immutable, so a
        # change replaces them, and a fixed name would make the replacement collide with itself.
        self.model = sagemaker.CfnModel(
            self, "Model",
            execution_role_arn=spec.execution_role_arn,
            enable_network_isolation=spec.network_isolation,
            containers=[sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=spec.served.package_arn, environment=spec.serving_environment)],
        )
        vpc = spec.vpc_config()
        if vpc is not None:
            self.model.add_property_override("VpcConfig", vpc)

        variant = spec.variant.production_variant()
        variant["ModelName"] = self.model.attr_model_name
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self, "Config", production_variants=[], kms_key_id=None if spec.variant.serverless else spec.kms_key)
        self.endpoint_config.add_property_override("ProductionVariants", [variant])
        if spec.capture is not None:
            self.endpoint_config.add_property_override("DataCaptureConfig", spec.capture.data_capture_config())

        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_name=spec.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name)
        if spec.canary is not None:
            self.endpoint.add_property_override("DeploymentConfig", spec.canary.deployment_config())
        for alarm in rollback_alarms:
            # The alarms must exist before an update can watch them.
            self.endpoint.add_resource_dependency(alarm)

        self.scalable_target: autoscaling.CfnScalableTarget | None = None
        if spec.autoscaling is not None:
            scaling = spec.autoscaling
            self.scalable_target = autoscaling.CfnScalableTarget(
                self, "ScalableTarget", service_namespace="sagemaker", resource_id=scaling.resource_id,
                scalable_dimension=scaling.scalable_dimension, min_capacity=scaling.min_capacity,
                max_capacity=scaling.max_capacity)
            self.scalable_target.add_resource_dependency(self.endpoint)
            autoscaling.CfnScalingPolicy(
                self, "ScalingPolicy", policy_name=f"{spec.endpoint_name}-invocations",
                policy_type="TargetTrackingScaling", scaling_target_id=self.scalable_target.ref,
                target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                    target_value=float(scaling.target_invocations),
                    predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                        predefined_metric_type=scaling.metric),
                    scale_in_cooldown=scaling.scale_in_cooldown_s,
                    scale_out_cooldown=scaling.scale_out_cooldown_s,
                ),
            )
