"""Every resource name, computed once: stacks, the mlops command, local mode and tests use these."""

from __future__ import annotations

from dataclasses import dataclass

from config.arns import arn, partition_of
from config.settings import EnvironmentConfig

# Model Monitor publishes data-quality metrics for endpoints in this namespace, with the
# dimensions Endpoint and MonitoringSchedule (tests/fixtures/sagemaker/README.md, item 7).
DATA_QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MODEL_QUALITY_NAMESPACE = "aws/sagemaker/Endpoints/model-metrics"
BUCKET_PURPOSES = ("data", "artifacts", "capture", "reports")


@dataclass(frozen=True)
class Names:
    """Names of one environment's resources: `<project>-<env>-<part>`."""

    project: str
    env: str
    account: str
    region: str

    @classmethod
    def of(cls, env: EnvironmentConfig) -> Names:
        return cls(project=env.project, env=env.name, account=env.account, region=env.region)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def arn(self, service: str, resource: str, *, account: str | None = None, global_service: bool = False) -> str:
        """An ARN of this environment's partition, region and account (or another `account`)."""
        return arn(service, resource, region=self.region, account=self.account if account is None else account,
                   global_service=global_service)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.env}"

    def stack(self, part: str) -> str:
        return f"{self.prefix}-{part}"

    def bucket(self, purpose: str) -> str:
        # Bucket names are global: account and region keep two installs from colliding.
        if purpose not in (*BUCKET_PURPOSES, "logs"):
            raise ValueError(f"unknown bucket purpose {purpose!r}")
        return f"{self.prefix}-{purpose}-{self.account}-{self.region}"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}"

    @property
    def execution_role(self) -> str:
        return f"{self.prefix}-sagemaker-execution"

    @property
    def execution_role_arn(self) -> str:
        return self.arn("iam", f"role/{self.execution_role}", global_service=True)

    def persona_role(self, persona: str) -> str:
        return f"{self.prefix}-{persona}"

    @property
    def permission_boundary(self) -> str:
        return f"{self.prefix}-persona-boundary"

    @property
    def model_package_group(self) -> str:
        return f"{self.prefix}-models"

    @property
    def model_package_group_arn(self) -> str:
        return self.arn("sagemaker", f"model-package-group/{self.model_package_group}")

    @property
    def model_packages_arn_pattern(self) -> str:
        return self.arn("sagemaker", f"model-package/{self.model_package_group}/*")

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-training"

    @property
    def pipeline_arn(self) -> str:
        return self.arn("sagemaker", f"pipeline/{self.pipeline}")

    @property
    def endpoint(self) -> str:
        return f"{self.prefix}-endpoint"

    # --- experiment tracking (issue 16): the experimentation stack's managed MLflow server ---

    @property
    def mlflow_tracking_server(self) -> str:
        return f"{self.prefix}-mlflow"

    @property
    def mlflow_tracking_server_arn(self) -> str:
        return self.arn("sagemaker", f"mlflow-tracking-server/{self.mlflow_tracking_server}")

    @property
    def monitoring_schedule(self) -> str:
        return f"{self.prefix}-data-quality"

    @property
    def alerts_topic(self) -> str:
        return f"{self.prefix}-alerts"

    # --- endpoint and monitoring (deployment/ specs) ---

    def model(self, version: int) -> str:
        """The SageMaker Model of one served version (a new name per version: models are immutable)."""
        return f"{self.prefix}-model-v{version}"

    def endpoint_config(self, version: int) -> str:
        return f"{self.prefix}-endpoint-v{version}"

    def model_package_arn(self, version: int) -> str:
        return self.arn("sagemaker", f"model-package/{self.model_package_group}/{version}")

    @property
    def model_quality_schedule(self) -> str:
        return f"{self.prefix}-model-quality"

    def alarm(self, part: str) -> str:
        return f"{self.prefix}-{part}"

    @property
    def dashboard(self) -> str:
        return f"{self.prefix}-monitoring"

    def ecr_repository(self, image: str) -> str:
        return f"{self.prefix}-{image}"

    def image_uri(self, image: str, tag: str = "latest") -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{self.ecr_repository(image)}:{tag}"

    def drift_metric(self, feature: str) -> str:
        """The metric Model Monitor (and our analyzer) publishes for one feature's drift distance."""
        return f"feature_baseline_drift_{feature}"

    def drift_alarm(self, feature: str) -> str:
        return f"{self.prefix}-drift-{feature}"

    @property
    def metric_dimensions(self) -> dict[str, str]:
        return {"Endpoint": self.endpoint, "MonitoringSchedule": self.monitoring_schedule}

    # --- operations: the image build the route starts, the Studio domain, the endpoint's time-to-live ---

    @property
    def image_build_project(self) -> str:
        return f"{self.prefix}-images"

    @property
    def image_build_project_arn(self) -> str:
        return self.arn("codebuild", f"project/{self.image_build_project}")

    @property
    def image_build_log_group(self) -> str:
        return f"/aws/codebuild/{self.image_build_project}"

    @property
    def studio_domain(self) -> str:
        return f"{self.prefix}-studio"

    @property
    def endpoint_teardown(self) -> str:
        return f"{self.prefix}-endpoint-ttl"
