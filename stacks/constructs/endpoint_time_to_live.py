"""An endpoint's time-to-live: an hourly rule runs a small Lambda that tears serving down once it is old.

The Lambda's code is mlops/teardown.py (with mlops/aws.py and mlops/errors.py), the module `mlops teardown`
runs, configured from the same spec (deployment/teardown.py). It asks CloudFormation to delete the
environment's monitoring and endpoint stacks; CloudFormation deletes their resources with each stack's
service role, so this role may only delete and read those two stacks.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.images import REPO_ROOT
from deployment.teardown import STACK_READ_ACTIONS, TimeToLiveSpec
from governance.compliance import AWS, NIST, acknowledge

# What the Lambda ships: the teardown and the two modules it imports (boto3 is in the runtime).
LAMBDA_MODULES = ("mlops/__init__.py", "mlops/aws.py", "mlops/errors.py", "mlops/teardown.py")
HANDLER = "mlops.teardown.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # cdk-nag AwsSolutions-L1 wants the newest


@lru_cache(maxsize=1)
def stage_teardown_code() -> Path:
    staging = Path(tempfile.mkdtemp(prefix="mlops-teardown-code-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)  # synthesis copies the asset
    for module in LAMBDA_MODULES:
        (staging / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / module, staging / module)
    return staging


class EndpointTimeToLive(Construct):
    """Exposes `function` and `rule`."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: TimeToLiveSpec) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"Tears {spec.name} down after {spec.hours} h")
        # Retained: the teardown deletes this stack, its runs' logs stay (a year). Unnamed, so the next
        # deploy creates a new group instead of colliding with the retained one.
        log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=cdk.RemovalPolicy.RETAIN)
        policy = iam.ManagedPolicy(self, "Policy", roles=[role], statements=[
            # No sagemaker:* and no iam:PassRole: CloudFormation deletes with the stack's own service role.
            iam.PolicyStatement(actions=["cloudformation:DeleteStack", *STACK_READ_ACTIONS],
                                resources=list(spec.stack_arns)),
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[log_group.log_group_arn]),
        ])
        self.function = lambda_.Function(
            self, "Function", function_name=spec.name, runtime=RUNTIME, handler=HANDLER,
            code=lambda_.Code.from_asset(str(stage_teardown_code())), role=role,
            environment=spec.environment, memory_size=256,
            # Lambda's longest: it follows the monitoring stack's deletion before starting its own stack's.
            timeout=cdk.Duration.minutes(15),
            # One teardown at a time; the next hourly run repeats whatever one left undone.
            reserved_concurrent_executions=1, log_group=log_group,
            description=f"Deletes the monitoring and endpoint stacks once the endpoint is {spec.hours} h old",
        )
        # CDK makes the function depend on its role, which its Role GetAtt already does (cfn-lint W3005);
        # what it needs first is the role's permissions, i.e. the managed policy.
        function_resource, policy_resource = self.function.node.default_child, policy.node.default_child
        assert isinstance(function_resource, cdk.CfnResource)
        assert isinstance(policy_resource, cdk.CfnResource)
        function_resource.add_override("DependsOn", [cdk.Stack.of(self).get_logical_id(policy_resource)])
        self.rule = events.Rule(
            self, "Schedule", rule_name=spec.name, schedule=events.Schedule.expression(spec.schedule_expression),
            description=f"Checks the endpoint's age hourly; time-to-live {spec.hours} h",
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        acknowledge(policy, *(f"{AWS}IAM5[Resource::{arn}]" for arn in spec.stack_arns))
        acknowledge(self.function, f"{NIST}LambdaDLQ", f"{NIST}LambdaInsideVPC")
        acknowledge(log_group, f"{NIST}CloudWatchLogGroupEncrypted")
