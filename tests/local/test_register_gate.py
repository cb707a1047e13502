"""Local mode renders the execution role's registration rule: a RegisterModel step asking for any status
but PendingManualApproval fails as SageMaker's AccessDenied would, and registers nothing."""

from __future__ import annotations

import pytest

from mlops.local.aws.moto_server import LocalAws
from mlops.local.errors import StepFailedError
from mlops.local.workdir import WorkDir
from tests.local.conftest import BUCKET, TRAINING_IMAGE, definition, executor

GROUP = "demo-gated-models"


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_a_register_step_cannot_register_an_approved_version(work: WorkDir, aws: LocalAws, status: str) -> None:
    sm = aws.client("sagemaker")
    step = {"Name": "Register-RegisterModel", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": GROUP,
        "InferenceSpecification": {"Containers": [{"Image": TRAINING_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": {"Get": "Parameters.Status"},
    }}
    pipeline = definition(step, parameters=[{"Name": "Status", "Type": "String", "DefaultValue": status}])
    with pytest.raises(StepFailedError, match="AccessDenied: the execution role may only register versions as "
                                              f"PendingManualApproval, not '{status}'"):
        executor(pipeline, work, f"run-{status.lower()}", sagemaker=sm).run()
    groups = sm.list_model_package_groups(NameContains=GROUP)["ModelPackageGroupSummaryList"]
    packages = sm.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] if groups else []
    assert [p for p in packages if p["ModelApprovalStatus"] == status] == []
