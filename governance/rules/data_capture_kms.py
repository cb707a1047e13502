"""Endpoint data capture writes the captured requests and responses under a KMS key."""

from __future__ import annotations

from governance.rules.base import Resource, Rule, is_set


def _complies(resource: Resource) -> bool:
    capture = resource.get("DataCaptureConfig")
    return not isinstance(capture, dict) or is_set(capture.get("KmsKeyId"))


RULE = Rule(
    name="DataCaptureKms",
    resource_types=frozenset({"AWS::SageMaker::EndpointConfig"}),
    description="An endpoint config captures data without DataCaptureConfig.KmsKeyId: captured payloads are "
    "personal or business data and must be encrypted with the project key.",
    complies=_complies,
)
