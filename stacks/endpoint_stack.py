"""The endpoint: one named, Approved model version, with data capture, canary updates and autoscaling."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from config.settings import EnvironmentConfig
from deployment.alarms import endpoint_alarms
from deployment.endpoint import EndpointSpec, ServedVersion, endpoint_spec
from deployment.teardown import time_to_live_spec
from governance.compliance import NIST, acknowledge
from stacks.constructs.canary_endpoint import CanaryEndpoint
from stacks.constructs.endpoint_time_to_live import EndpointTimeToLive
from stacks.constructs.metric_alarm import metric_alarm


class EndpointStack(cdk.Stack):
    """Exposes `spec` (what is served) and `endpoint_name`. The 5XX and p99 latency alarms live here
    because the canary rolls back on them; they notify the alerts topic of the alerts stack by ARN."""

    def __init__(self, scope: Construct, construct_id: str, *, env_config: EnvironmentConfig,
                 served: ServedVersion, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.spec: EndpointSpec = endpoint_spec(env_config, served)
        alarms = [metric_alarm(self, f"Alarm{index}", spec) for index, spec in enumerate(endpoint_alarms(env_config))]
        endpoint = CanaryEndpoint(self, "Serving", spec=self.spec, rollback_alarms=alarms)
        self.endpoint_name = self.spec.endpoint_name
        if self.spec.variant.serverless:
            acknowledge(endpoint.endpoint_config, f"{NIST}SageMakerEndpointConfigurationKMSKeyConfigured")
        cdk.Tags.of(endpoint).add("model-version", str(served.version))
        # The timer lives with what it times: this stack is deleted last, with one DeleteStack call that
        # returns at once, so the Lambda has followed the monitoring stack's deletion to its end before
        # its own role goes. In the monitoring stack it would lose its role while waiting on that
        # deletion; a separate stack would outlive the endpoint and run hourly with nothing to do, and
        # need its own deploy and destroy. The next deploy of this stack brings the timer back with it.
        time_to_live = time_to_live_spec(env_config)
        self.time_to_live = EndpointTimeToLive(self, "TimeToLive", spec=time_to_live) if time_to_live else None
        cdk.CfnOutput(self, "EndpointName", value=self.spec.endpoint_name)
        cdk.CfnOutput(self, "ServedModelVersion", value=str(served.version),
                      description=f"model package {served.package_arn}")
