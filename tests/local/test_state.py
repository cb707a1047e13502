"""Control-plane state: saved from one local AWS, re-seeded into a fresh one, identical."""

from __future__ import annotations

from pathlib import Path

from config.settings import load_environment
from deployment.alarms import drift_alarms
from mlops.local.aws.moto_server import local_aws
from mlops.local.aws.provision import provision
from mlops.local.aws.state import load_state, save_state, snapshot_alarms, snapshot_registry, snapshot_topics
from mlops.local.loop.alarm_evaluation import put_alarms
from tests.local.conftest import ACCOUNT, REGION

SPEC = {"Containers": [{"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]}


def test_registry_alarms_and_topics_survive_a_fresh_server(tmp_path: Path) -> None:
    env = load_environment("dev")
    with local_aws(REGION, ACCOUNT) as aws:
        group = provision(aws, env).group
        sm = aws.client("sagemaker")
        for _ in range(3):
            sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=SPEC,
                                    ModelApprovalStatus="PendingManualApproval",
                                    DriftCheckBaselines={"ModelDataQuality": {"Statistics": {
                                        "ContentType": "application/json", "S3Uri": "s3://b/statistics.json"}}})
        sm.update_model_package(ModelPackageArn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/2",
                                ModelApprovalStatus="Approved", ApprovalDescription="better auc")
        cloudwatch = aws.client("cloudwatch")
        alarm = drift_alarms(env, ["age"])[0]
        put_alarms(cloudwatch, [alarm])
        cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue="ALARM", StateReason="drift")
        save_state(aws, tmp_path)
        before = (snapshot_registry(sm), snapshot_alarms(cloudwatch), snapshot_topics(aws.client("sns")))
    with local_aws(REGION, ACCOUNT) as fresh:
        assert snapshot_registry(fresh.client("sagemaker"))["packages"] == []
        load_state(fresh, tmp_path)
        after = (snapshot_registry(fresh.client("sagemaker")), snapshot_alarms(fresh.client("cloudwatch")),
                 snapshot_topics(fresh.client("sns")))
    registry_before, registry_after = before[0], after[0]
    assert [(p["ModelPackageVersion"], p["ModelApprovalStatus"], p["CreationTime"], p.get("ApprovalDescription"))
            for p in registry_after["packages"]] == \
        [(p["ModelPackageVersion"], p["ModelApprovalStatus"], p["CreationTime"], p.get("ApprovalDescription"))
         for p in registry_before["packages"]]
    assert registry_after["packages"][0]["DriftCheckBaselines"] == registry_before["packages"][0]["DriftCheckBaselines"]
    assert [(a["AlarmName"], a["StateValue"]) for a in after[1]["alarms"]] == [(alarm.name, "ALARM")]
    assert after[2] == before[2]
