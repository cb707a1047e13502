"""Experimentation: a SageMaker Studio domain with one user profile per persona, and a managed MLflow server."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config.naming import Names
from config.settings import ConfigError, EnvironmentConfig
from deployment.endpoint import kms_key_alias_arn
from governance.trust import studio_personas

# The persona whose role a profile falls back to when it names none (least of the writers).
DEFAULT_PERSONA = "data-scientist"
MLFLOW_PREFIX = "mlflow"


def persona_role_arn(names: Names, persona: str) -> str:
    return names.arn("iam", f"role/{names.persona_role(persona)}", global_service=True)


class ExperimentationStack(cdk.Stack):
    """Exposes `domain`, `profiles` (by persona) and `tracking_server`."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = Names.of(env_config)
        settings = env_config.experimentation
        vpc = env_config.vpc
        if vpc is None:
            raise ConfigError(f"environment {env_config.name!r}: the experimentation stack's Studio domain needs "
                              "the vpc block (its home storage lives in a VPC)")
        security_groups = list(vpc.security_group_ids)
        # SageMaker's own idle shutdown for the apps people leave running (the console's "idle shutdown"):
        # no lifecycle script to download an extension, which a VPC-only domain could not reach anyway.
        idle = {"AppLifecycleManagement": {"IdleSettings": {
            "LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": settings.idle_timeout_minutes,
            "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": settings.idle_timeout_minutes}}}
        self.domain = sagemaker.CfnDomain(
            self, "StudioDomain", domain_name=names.studio_domain, auth_mode="IAM",
            kms_key_id=kms_key_alias_arn(names),
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=persona_role_arn(names, DEFAULT_PERSONA), security_groups=security_groups),
            # VPC-only: every app's traffic stays in the configured subnets, under their security groups.
            app_network_access_type="VpcOnly", vpc_id=vpc.vpc_id, subnet_ids=list(vpc.subnet_ids),
        )
        # Overrides keep the idle settings in CloudFormation's words (the same block for both app types).
        self.domain.add_property_override("DefaultUserSettings.JupyterLabAppSettings", idle)
        self.domain.add_property_override("DefaultUserSettings.CodeEditorAppSettings", idle)
        self.domain.add_property_override("DefaultUserSettings.SharingSettings", {"NotebookOutputOption": "Disabled"})
        self.profiles: dict[str, sagemaker.CfnUserProfile] = {}
        # The same personas whose roles trust SageMaker (governance/trust.py): a profile's role must.
        for persona in studio_personas(env_config):
            self.profiles[persona] = sagemaker.CfnUserProfile(
                self, f"Profile{''.join(part.capitalize() for part in persona.split('-'))}",
                domain_id=self.domain.attr_domain_id, user_profile_name=persona,
                user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                    execution_role=persona_role_arn(names, persona), security_groups=security_groups))
        self.tracking_server = sagemaker.CfnMlflowTrackingServer(
            self, "MlflowTrackingServer", tracking_server_name=names.mlflow_tracking_server,
            artifact_store_uri=f"s3://{names.bucket('artifacts')}/{MLFLOW_PREFIX}/",
            # The execution role already reads and writes the artifacts bucket under the project key;
            # training jobs log to the server with it.
            role_arn=names.execution_role_arn, tracking_server_size=settings.mlflow_server_size,
            automatic_model_registration=False)
        cdk.CfnOutput(self, "StudioDomainId", value=self.domain.attr_domain_id)
        cdk.CfnOutput(self, "MlflowTrackingServerArn", value=self.tracking_server.attr_tracking_server_arn)
