"""The Endpoint stack renders the endpoint spec: the named version, capture with KMS, canary, autoscaling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from config.naming import Names
from config.settings import EnvironmentConfig
from deployment.alarms import endpoint_alarms
from deployment.endpoint import endpoint_spec, served_version
from deployment.errors import DeploymentError
from stacks.stage import add_environment
from tests.conftest import ENVIRONMENTS, SERVED_VERSION, SynthesizedApp
from tests.stacks.conftest import Variant


def _endpoint(synthesized_app: SynthesizedApp, env: EnvironmentConfig) -> Template:
    return Template.from_json(synthesized_app.template(Names.of(env).stack("endpoint")))


def _only(template: Template, kind: str) -> dict[str, Any]:
    found = template.find_resources(kind)
    assert len(found) == 1, f"{kind}: {len(found)}"
    return dict(next(iter(found.values())))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_endpoint_serves_exactly_the_named_version_from_its_model_package(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    spec = endpoint_spec(env, served_version(names, SERVED_VERSION))
    template = _endpoint(synthesized_app, env)
    model = _only(template, "AWS::SageMaker::Model")["Properties"]
    assert model["Containers"] == [{"ModelPackageName": names.model_package_arn(3),
                                    "Environment": spec.serving_environment}]
    assert model["ExecutionRoleArn"] == spec.execution_role_arn
    assert model["EnableNetworkIsolation"] is True
    assert {"Key": "model-version", "Value": "3"} in model["Tags"]
    if env.vpc is not None:
        assert model["VpcConfig"] == {"Subnets": list(env.vpc.subnet_ids),
                                      "SecurityGroupIds": list(env.vpc.security_group_ids)}
    else:
        assert "VpcConfig" not in model
    template.has_output("ServedModelVersion", {"Value": "3"})
    template.has_resource_properties("AWS::SageMaker::Endpoint", {"EndpointName": names.endpoint})


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_data_capture_is_kms_encrypted_into_the_capture_layout(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    names = Names.of(env)
    spec = endpoint_spec(env, served_version(names, SERVED_VERSION))
    assert spec.capture is not None
    template = _endpoint(synthesized_app, env)
    config = _only(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["DataCaptureConfig"] == spec.capture.data_capture_config()
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == env.endpoint.data_capture_percent
    assert capture["KmsKeyId"] == f"arn:aws:kms:{env.region}:{env.account}:alias/{names.prefix}"
    assert capture["DestinationS3Uri"] == f"s3://{names.bucket('capture')}/datacapture"
    assert [option["CaptureMode"] for option in capture["CaptureOptions"]] == ["Input", "Output"]
    assert config["KmsKeyId"] == capture["KmsKeyId"]
    (model_id,) = template.find_resources("AWS::SageMaker::Model")
    expected = {**spec.variant.production_variant(), "ModelName": {"Fn::GetAtt": [model_id, "ModelName"]}}
    assert config["ProductionVariants"] == [expected]
    assert expected["InstanceType"] == env.endpoint.instance_type


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_canary_updates_roll_back_on_the_endpoints_5xx_and_latency_alarms(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    template = _endpoint(synthesized_app, env)
    endpoint = _only(template, "AWS::SageMaker::Endpoint")
    deployment = endpoint["Properties"]["DeploymentConfig"]
    routing = deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    canary = {"Type": "CAPACITY_PERCENT", "Value": env.endpoint.canary_percent}
    assert routing == {"Type": "CANARY", "CanarySize": canary,
                       "WaitIntervalInSeconds": env.endpoint.canary_wait_minutes * 60}
    rollback = [alarm["AlarmName"] for alarm in deployment["AutoRollbackConfiguration"]["Alarms"]]
    alarms = {key: value["Properties"] for key, value in template.find_resources("AWS::CloudWatch::Alarm").items()}
    by_name = {props["AlarmName"]: key for key, props in alarms.items()}
    specs = {spec.name: spec for spec in endpoint_alarms(env)}
    assert sorted(rollback) == sorted(specs)
    assert set(endpoint["DependsOn"]) == {by_name[alarm] for alarm in rollback}
    latency = alarms[by_name[f"{Names.of(env).prefix}-endpoint-p99-latency"]]
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["MetricName"] == "ModelLatency"
    assert latency["Threshold"] == env.endpoint.latency_p99_ms * 1000
    errors = alarms[by_name[f"{Names.of(env).prefix}-endpoint-5xx"]]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/SageMaker", "Invocation5XXErrors",
                                                                              "Sum")
    assert errors["Dimensions"] == [{"Name": "EndpointName", "Value": Names.of(env).endpoint},
                                    {"Name": "VariantName", "Value": "AllTraffic"}]


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_autoscaling_tracks_invocations_between_the_configured_instance_counts(
    synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig], name: str
) -> None:
    env = environments[name]
    template = _endpoint(synthesized_app, env)
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalableTarget", {
        "ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{Names.of(env).endpoint}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": env.endpoint.instance_count, "MaxCapacity": env.endpoint.max_instance_count})
    template.has_resource_properties("AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": Match.object_like({
            "TargetValue": env.endpoint.invocations_per_instance,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})})


def test_serverless_variant_has_no_capture_canary_scaling_or_monitoring(variants: dict[str, Variant]) -> None:
    variant = variants["serverless"]
    template = Template.from_json(variant.template("endpoint"))
    config = _only(template, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in config["ProductionVariants"][0]
    assert "DataCaptureConfig" not in config
    assert "DeploymentConfig" not in _only(template, "AWS::SageMaker::Endpoint")["Properties"]
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    # No monitoring stack at all; the alerts stack still holds the topic.
    assert f"{variant.env.project}-{variant.env.name}-monitoring" not in variant.templates
    Template.from_json(variant.template("alerts")).resource_count_is("AWS::SNS::Topic", 1)


def test_a_deploy_without_a_model_version_skips_endpoint_and_monitoring_with_a_note(
    environments: dict[str, EnvironmentConfig],
) -> None:
    stacks = add_environment(cdk.App(), environments["staging"])
    assert stacks.endpoint is None
    assert stacks.monitoring is None
    assert len(stacks.notes) == 1
    assert "-c model_version=N" in stacks.notes[0]
    assert "mlops registry newest-approved --env staging" in stacks.notes[0]


def test_serverless_deploy_notes_that_nothing_is_monitored(variants: dict[str, Variant]) -> None:
    stacks = add_environment(cdk.App(), variants["serverless"].env, SERVED_VERSION)
    assert stacks.endpoint is not None
    assert stacks.monitoring is None
    assert any("no data capture" in note for note in stacks.notes)


@pytest.mark.parametrize(
    ("value", "message"),
    [("three", "neither a version number"), ("0", "neither a version number"),
     ("arn:aws:sagemaker:eu-west-1:111111111111:model-package/other-group/3", "not a version of mlops-kit-dev-models")],
)
def test_a_model_version_that_names_no_version_of_this_group_is_refused(
    environments: dict[str, EnvironmentConfig], value: str, message: str
) -> None:
    with pytest.raises(DeploymentError, match=message):
        served_version(Names.of(environments["dev"]), value)


def test_a_package_arn_of_this_group_serves_that_version(environments: dict[str, EnvironmentConfig]) -> None:
    names = Names.of(environments["dev"])
    assert served_version(names, names.model_package_arn(7)).version == 7
