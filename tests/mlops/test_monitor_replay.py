"""`mlops monitor replay` against moto: an endpoint with data capture, a registered version with its
drift baselines, and hourly capture files in S3 of which the last hours drifted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.naming import Names
from config.settings import EnvironmentConfig
from containers.contracts.capture import capture_file_relative_path, encode_capture_line
from containers.contracts.violations import parse_violations
from containers.monitor import analyze, settings_from_environ
from mlops import monitor_replay
from mlops.aws import AwsTarget, client
from mlops.cli import main

FIRST_HOUR = datetime(2024, 5, 6, 0, tzinfo=UTC)
HOURS = 6
DRIFTED_HOURS = {4, 5}
ROWS_PER_HOUR = 300


def _rows(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": (rng.normal(50_000 + shift * 8_000, 8_000, n)).round(2),
            "city": rng.choice(["lyon", "oslo", "rome"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def _baseline_files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "train").mkdir()
    _rows(1, 3000).to_csv(tmp_path / "train" / "train.csv", index=False)
    result = analyze(
        settings_from_environ(
            {"dataset_format": '{"csv": {"header": true}}', "dataset_source": str(tmp_path / "train")}
        )
    )
    assert result.constraints is not None
    return result.statistics.to_json(), result.constraints.to_json()


def _seed_account(target: AwsTarget, env: EnvironmentConfig, tmp_path: Path) -> None:
    names = Names.of(env)
    sm, s3 = client("sagemaker", target), client("s3", target)
    location = {"LocationConstraint": target.region}
    for purpose in ("capture", "artifacts"):
        s3.create_bucket(Bucket=names.bucket(purpose), CreateBucketConfiguration=location)
    statistics, constraints = _baseline_files(tmp_path)
    artifacts = names.bucket("artifacts")
    s3.put_object(Bucket=artifacts, Key="baselines/v1/statistics.json", Body=statistics.encode())
    s3.put_object(Bucket=artifacts, Key="baselines/v1/constraints.json", Body=constraints.encode())
    sm.create_model_package_group(ModelPackageGroupName=names.model_package_group)
    image = names.image_uri("inference", "v1")
    arn: str = sm.create_model_package(
        ModelPackageGroupName=names.model_package_group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": f"s3://{artifacts}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{artifacts}/baselines/v1/statistics.json",
                },
                "Constraints": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{artifacts}/baselines/v1/constraints.json",
                },
            }
        },
    )["ModelPackageArn"]
    sm.create_model(
        ModelName=f"{names.endpoint}-v1",
        PrimaryContainer={"ModelPackageName": arn},
        ExecutionRoleArn=names.execution_role_arn,
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{names.endpoint}-v1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{names.endpoint}-v1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{names.bucket('capture')}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName=names.endpoint, EndpointConfigName=f"{names.endpoint}-v1")
    for hour in range(HOURS):
        when = FIRST_HOUR + timedelta(hours=hour, minutes=20)
        frame = _rows(10 + hour, ROWS_PER_HOUR, shift=1.0 if hour in DRIFTED_HOURS else 0.0)
        lines = [
            encode_capture_line(
                input_data=",".join(str(v) for v in row),
                input_content_type="text/csv",
                output_data="0.5",
                output_content_type="text/csv",
                inference_time=when,
            )
            for row in frame.itertuples(index=False)
        ]
        key = "datacapture/" + capture_file_relative_path(names.endpoint, "AllTraffic", when)
        s3.put_object(Bucket=names.bucket("capture"), Key=key, Body="".join(line + "\n" for line in lines).encode())


def test_replay_reruns_the_window_and_backtests_thresholds(
    aws: AwsTarget, dev: EnvironmentConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed_account(aws, dev, tmp_path)
    out = tmp_path / "replay"
    code = main(
        ["monitor", "replay", "--env", "dev", "--window", "2024-05-06T05", "--backtest", "8", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"{ROWS_PER_HOUR} rows" in printed
    assert "model version 1" in printed
    violations = parse_violations((out / "result" / "constraint_violations.json").read_text())
    assert {(v.feature_name, v.constraint_check_type) for v in violations.violations} == {
        ("income", "baseline_drift_check")
    }
    # The schedule's threshold is the environment's, not the baseline's suggested 0.1.
    scheduled = json.loads((out / "baseline" / "schedule" / "constraints.json").read_text())
    assert (
        scheduled["monitoring_config"]["distribution_constraints"]["comparison_threshold"]
        == dev.monitoring.drift_threshold
    )
    report = (out / "replay-report.html").read_text()
    assert "<h2>Threshold backtest (8 windows)</h2>" in report
    assert report.count(monitor_replay.NO_TRAFFIC) == 2  # the two hours before any traffic


def test_backtest_fires_only_in_the_drifted_hours(aws: AwsTarget, dev: EnvironmentConfig, tmp_path: Path) -> None:
    _seed_account(aws, dev, tmp_path)
    window = monitor_replay.parse_window("2024-05-06T05:00:00Z")
    result = monitor_replay.replay(
        client("sagemaker", aws), client("s3", aws), dev, window, tmp_path / "out", backtest_count=HOURS
    )
    by_threshold = {item.threshold: item for item in result.backtest}
    fired = by_threshold[dev.monitoring.drift_threshold].fired
    assert [window.start.hour for window, _ in fired] == sorted(DRIFTED_HOURS)
    assert all(features == ["income"] for _, features in fired)
    assert len(by_threshold[0.05].fired) >= len(fired)  # a lower threshold never fires less
    assert [outcome.rows for outcome in result.history] == [ROWS_PER_HOUR] * HOURS


def test_replay_of_a_version_by_number_and_errors_name_what_is_missing(
    aws: AwsTarget, dev: EnvironmentConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed_account(aws, dev, tmp_path)
    assert main(["monitor", "replay", "--env", "dev", "--window", "2023-01-01T00", "--out", str(tmp_path / "a")]) == 1
    assert "no capture files under s3://" in capsys.readouterr().err
    assert (
        main(
            [
                "monitor",
                "replay",
                "--env",
                "dev",
                "--window",
                "2024-05-06T03",
                "--version",
                "7",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 1
    )
    assert "has no version 7" in capsys.readouterr().err
    assert main(["monitor", "replay", "--env", "dev", "--window", "yesterday", "--out", str(tmp_path / "c")]) == 1
    assert "--window start 'yesterday' is not an ISO time" in capsys.readouterr().err
    client("sagemaker", aws).delete_endpoint(EndpointName=Names.of(dev).endpoint)
    assert main(["monitor", "replay", "--env", "dev", "--window", "2024-05-06T03", "--out", str(tmp_path / "d")]) == 1
    assert "give --capture-uri and --version" in capsys.readouterr().err
    capture = f"s3://{Names.of(dev).bucket('capture')}/datacapture"
    assert (
        main(
            [
                "monitor",
                "replay",
                "--env",
                "dev",
                "--window",
                "2024-05-06T03",
                "--version",
                "1",
                "--capture-uri",
                capture,
                "--backtest",
                "1",
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    assert (tmp_path / "e" / "result" / "statistics.json").is_file()
