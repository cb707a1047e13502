"""MLOps pack, serving: data capture under KMS, models isolated or in a VPC, prod endpoints on two instances."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sagemaker as sagemaker

from governance.rules import data_capture_kms, model_isolation_or_vpc, prod_endpoint_instances
from tests.governance.rule_stacks import KEY, ROLE, broken_by

PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-kit-dev-models/3"


def endpoint_config(*, capture_key: str | None = KEY, instances: int = 2) -> Any:
    def build(stack: cdk.Stack) -> None:
        sagemaker.CfnEndpointConfig(
            stack, "Config", kms_key_id=KEY,
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name="AllTraffic", model_name="mlops-kit-dev-model", initial_instance_count=instances,
                instance_type="ml.m5.large", initial_variant_weight=1.0)],
            data_capture_config=sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input")],
                destination_s3_uri="s3://mlops-kit-dev-capture/capture", initial_sampling_percentage=100,
                enable_capture=True, kms_key_id=capture_key))
    return build


def model(*, isolated: bool, vpc: bool) -> Any:
    def build(stack: cdk.Stack) -> None:
        sagemaker.CfnModel(
            stack, "Model", execution_role_arn=ROLE, enable_network_isolation=isolated,
            containers=[sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=PACKAGE)],
            vpc_config=sagemaker.CfnModel.VpcConfigProperty(security_group_ids=["sg-0123456789abcdef0"],
                                                            subnets=["subnet-0123456789abcdef0"]) if vpc else None)
    return build


def test_capture_without_a_key_breaks_data_capture_kms() -> None:
    assert broken_by(data_capture_kms.RULE, endpoint_config(capture_key=None)) == ["Config"]


def test_capture_with_the_project_key_passes_data_capture_kms() -> None:
    assert broken_by(data_capture_kms.RULE, endpoint_config()) == []


def test_model_neither_isolated_nor_in_a_vpc_breaks_model_rule() -> None:
    assert broken_by(model_isolation_or_vpc.RULE, model(isolated=False, vpc=False)) == ["Model"]


def test_isolated_model_or_model_in_a_vpc_passes_model_rule() -> None:
    assert broken_by(model_isolation_or_vpc.RULE, model(isolated=True, vpc=False)) == []
    assert broken_by(model_isolation_or_vpc.RULE, model(isolated=False, vpc=True)) == []


def test_prod_endpoint_on_one_instance_breaks_prod_endpoint_instances() -> None:
    assert broken_by(prod_endpoint_instances.RULE, endpoint_config(instances=1), {"environment": "prod"}) == ["Config"]


def test_prod_endpoint_on_two_instances_passes_and_dev_may_run_one() -> None:
    assert broken_by(prod_endpoint_instances.RULE, endpoint_config(instances=2), {"environment": "prod"}) == []
    assert broken_by(prod_endpoint_instances.RULE, endpoint_config(instances=1), {"environment": "dev"}) == []
