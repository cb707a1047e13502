"""Model quality in the monitor image: baselining, checks, the ground-truth merge and metric publishing.

Real files: tests/fixtures/sagemaker/ (byte-identical copies of SageMaker reference files, provenance in
its README) and tests/fixtures/sagemaker_sdk/ (the SDK's quality-check test data).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from config import naming
from containers.contracts.capture import capture_file_relative_path, parse_capture_line
from containers.contracts.ground_truth import (
    encode_ground_truth_line,
    merge_key,
    parse_ground_truth_line,
    parse_merged_line,
)
from containers.contracts.model_quality import parse_model_quality
from containers.contracts.model_quality_constraints import (
    camel_case,
    java_double,
    parse_model_quality_constraints,
    parse_model_quality_violations,
    violation_description,
)
from containers.monitor import metrics
from containers.monitor.job import run_job
from tests.containers.conftest import run_monitor_job

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "sagemaker"
SDK = REPO / "tests" / "fixtures" / "sagemaker_sdk"
MERGE_FORMAT = '{"sagemakerMergeJson":{"captureIndexNames":["endpointOutput"]}}'
CAPTURE_FORMAT = '{"sagemakerCaptureJson":{"captureIndexNames":["endpointInput","endpointOutput"]}}'


def _run(base: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_monitor_job(base / "ml", {"output_path": str(base / "out"), **env})


def _regression_env(base: Path, **extra: str) -> dict[str, str]:
    (base / "data").mkdir(parents=True, exist_ok=True)
    (base / "data" / "baseline.csv").write_bytes((SDK / "model_quality_baseline_dataset.csv").read_bytes())
    return {
        "analysis_type": "MODEL_QUALITY",
        "problem_type": "Regression",
        "inference_attribute": "Prediction",
        "ground_truth_attribute": "Label",
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": str(base / "data"),
        **extra,
    }


def test_regression_baseline_of_the_sdk_dataset_equals_the_analyzers_statistics(tmp_path: Path) -> None:
    result = _run(tmp_path, **_regression_env(tmp_path))
    assert result.returncode == 0, result.stderr
    ours = parse_model_quality((tmp_path / "out" / "statistics.json").read_text())
    reference = parse_model_quality((FIXTURES / "model_quality_regression.json").read_text())
    assert ours.dataset == reference.dataset
    for metric in ("mae", "mse", "rmse"):
        assert ours.scalar(metric) == pytest.approx(reference.scalar(metric), rel=1e-12)
    # r2 is the one difference, on purpose: the analyzer divides by the spread of the predictions
    # (Spark's RegressionMetrics given (label, prediction) swapped); ours divides by the spread of
    # the labels, like the Evaluate step and scikit-learn, so registry and monitor agree.
    frame = pd.read_csv(SDK / "model_quality_baseline_dataset.csv")
    errors = float(((frame.Label - frame.Prediction) ** 2).sum())
    assert ours.scalar("r2") == pytest.approx(1 - errors / float(((frame.Label - frame.Label.mean()) ** 2).sum()))
    assert reference.scalar("r2") == pytest.approx(
        1 - errors / float(((frame.Prediction - frame.Prediction.mean()) ** 2).sum()), rel=1e-12
    )
    suggested = parse_model_quality_constraints((tmp_path / "out" / "constraints.json").read_text())
    expected = parse_model_quality_constraints((FIXTURES / "model_quality_constraints_regression.json").read_text())
    assert suggested.metrics.keys() == expected.metrics.keys()
    for metric, constraint in expected.metrics.items():
        assert suggested.metrics[metric].comparison_operator == constraint.comparison_operator
        if metric != "r2":
            assert suggested.metrics[metric].threshold == pytest.approx(constraint.threshold, rel=1e-12)


@pytest.mark.parametrize(
    ("constraints", "expected"),
    [
        (FIXTURES / "model_quality_constraints_regression.json", []),
        (SDK / "model_quality_bad_cases_constraints.json", [("mse", "GreaterThanThreshold")]),
    ],
)
def test_sdk_good_and_bad_model_quality_constraints(
    tmp_path: Path, constraints: Path, expected: list[tuple[str, str]]
) -> None:
    result = _run(tmp_path, **_regression_env(tmp_path, baseline_constraints=str(constraints)))
    assert result.returncode == 0, result.stderr
    violations = parse_model_quality_violations((tmp_path / "out" / "constraint_violations.json").read_text())
    assert [(v.metric_name, v.constraint_check_type) for v in violations.violations] == expected
    message = (tmp_path / "ml" / "output" / "message").read_text()
    if expected:
        assert violations.violations[0].description.startswith("Metric mse with 0.333649336098")
        assert violations.violations[0].description.endswith(" +/- NaN was GreaterThanThreshold '0.03364933609800973'")
        assert message == "CompletedWithViolations: Job completed successfully with 1 violations."
    else:
        assert message == "Completed: Job completed successfully with no violations."


def test_violation_wording_and_names_match_the_analyzers() -> None:
    reference = parse_model_quality_violations(
        (FIXTURES / "model_quality_constraint_violations.transcribed.json").read_text()
    )
    first = reference.violations[0]
    assert (
        violation_description("auc", 0.515453080147537, 8.080858763541535e-4, "LessThanThreshold", 0.9395127993393898)
        == first.description
    )
    assert camel_case("true_positive_rate") == "truePositiveRate"
    assert camel_case("f1") == "f1"
    assert {v.metric_name for v in reference.violations} >= {"truePositiveRate", "falseNegativeRate", "auc"}
    assert [java_double(x) for x in (1.0, 0.0, 1e-4, 12345678.0, -0.5)] == [
        "1.0",
        "0.0",
        "1.0E-4",
        "1.2345678E7",
        "-0.5",
    ]


def _write_merged_layout(root: Path, line: str) -> None:
    record = parse_merged_line(line)
    when = record.event_metadata.inference_datetime()
    path = root / "ep" / "AllTraffic" / f"{when:%Y/%m/%d/%H}" / "part-00000.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(line)


def test_reference_merged_record_gives_binary_metrics_violations_and_metric_records(tmp_path: Path) -> None:
    line = (FIXTURES / "merged_capture_groundtruth.jsonl").read_text()
    assert parse_merged_line(line).to_line() == line.strip()  # the contract keeps the key order
    _write_merged_layout(tmp_path / "merged", line)
    constraints = tmp_path / "constraints.json"
    constraints.write_text(
        json.dumps(
            {
                "version": 0.0,
                "binary_classification_constraints": {
                    "auc": {"threshold": 1.0, "comparison_operator": "LessThanThreshold"},
                    "false_positive_rate": {"threshold": 1.0, "comparison_operator": "GreaterThanThreshold"},
                },
            }
        )
    )
    result = _run(
        tmp_path,
        analysis_type="MODEL_QUALITY",
        problem_type="BinaryClassification",
        dataset_format=MERGE_FORMAT,
        dataset_source=str(tmp_path / "merged"),
        baseline_constraints=str(constraints),
        inference_attribute="predictions[*].predicted_label",
        probability_attribute="predictions[*].score",
        ground_truth_attribute="instances[*].label",
        publish_cloudwatch_metrics="Enabled",
        sagemaker_endpoint_name="ep",
        sagemaker_monitoring_schedule_name="ep-model-quality",
        start_time="2024-01-19T20:00:00Z",
        end_time="2024-01-19T21:00:00Z",
        metric_time="2024-01-19T20:00:00Z",
    )
    assert result.returncode == 0, result.stderr
    statistics = parse_model_quality((tmp_path / "out" / "statistics.json").read_text())
    assert statistics.dataset is not None
    assert statistics.dataset.item_count == 334
    auc = statistics.scalar("auc")
    assert isinstance(auc, float)
    assert 0.0 <= auc <= 1.0
    raw = json.loads(line)
    truth = [item["label"] for item in json.loads(raw["groundTruthData"]["data"])["instances"]]
    answers = [
        item["predicted_label"] for item in json.loads(raw["captureData"]["endpointOutput"]["data"])["predictions"]
    ]
    assert statistics.scalar("accuracy") == pytest.approx(
        sum(a == b for a, b in zip(truth, answers, strict=True)) / 334
    )
    violations = parse_model_quality_violations((tmp_path / "out" / "constraint_violations.json").read_text())
    assert [v.metric_name for v in violations.violations] == ["auc"]
    records = [
        json.loads(x)
        for x in (tmp_path / "ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl").read_text().splitlines()
    ]
    by_name = {record["MetricName"]: record for record in records}
    assert by_name["auc"]["Value"] == auc
    assert "confusion_matrix" not in by_name
    assert by_name["f1"]["Dimensions"] == [
        {"Name": "Endpoint", "Value": "ep"},
        {"Name": "MonitoringSchedule", "Value": "ep-model-quality"},
    ]


def _capture_with_ground_truth(tmp_path: Path) -> list[str]:
    """The reference capture lines (they carry inferenceIds) under the S3 layout, and labels for them."""
    lines = (FIXTURES / "capture_csv_with_inference_id.jsonl").read_text().splitlines()
    records = [parse_capture_line(line) for line in lines]
    for record, line in zip(records, lines, strict=True):
        when = record.event_metadata.inference_datetime()
        path = tmp_path / "capture" / capture_file_relative_path("ep", "AllTraffic", when, "f")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(line + "\n")
    labels = tmp_path / "ground-truth" / "2021" / "10" / "28" / "09" / "labels.jsonl"
    labels.parent.mkdir(parents=True)
    # A label for the first capture only, plus one for a request that was never captured.
    labels.write_text(
        encode_ground_truth_line("1", merge_key(records[0]))
        + "\n"
        + encode_ground_truth_line("0", "not-captured")
        + "\n"
    )
    return [merge_key(record) for record in records]


def test_ground_truth_upload_lines_parse_and_join_on_the_inference_id(tmp_path: Path) -> None:
    for line in (FIXTURES / "ground_truth.sdk_test_template.jsonl").read_text().splitlines():
        assert parse_ground_truth_line(line).ground_truth_data.data == "1"
    keys = _capture_with_ground_truth(tmp_path)
    assert keys[0] == "57"  # the inferenceId, not the eventId
    result = _run(
        tmp_path,
        analysis_type="MODEL_QUALITY",
        problem_type="BinaryClassification",
        dataset_format=CAPTURE_FORMAT,
        dataset_source=str(tmp_path / "capture"),
        ground_truth_source=str(tmp_path / "ground-truth"),
        probability_attribute="0",
        probability_threshold_attribute="0.5",
        sagemaker_endpoint_name="ep",
    )
    assert result.returncode == 0, result.stderr
    statistics = parse_model_quality((tmp_path / "out" / "statistics.json").read_text())
    assert statistics.dataset is not None
    assert statistics.dataset.item_count == 1
    merged = list((tmp_path / "out" / "merge" / "ep" / "AllTraffic").rglob("*.jsonl"))
    assert len(merged) == 1
    record = parse_merged_line(merged[0].read_text())
    assert record.event_metadata.inference_id == "57"
    assert record.ground_truth_data.data == "1"


def test_capture_without_any_matching_label_fails_naming_the_join(tmp_path: Path) -> None:
    _capture_with_ground_truth(tmp_path)
    (tmp_path / "empty").mkdir()
    result = _run(
        tmp_path,
        analysis_type="MODEL_QUALITY",
        problem_type="BinaryClassification",
        dataset_format=CAPTURE_FORMAT,
        dataset_source=str(tmp_path / "capture"),
        ground_truth_source=str(tmp_path / "empty"),
    )
    assert result.returncode == 1
    assert "no captured request in the window has ground truth" in (tmp_path / "ml/output/message").read_text()


def test_scheduled_job_engine_puts_its_metrics_into_cloudwatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    env = _regression_env(
        tmp_path,
        baseline_constraints=str(FIXTURES / "model_quality_constraints_regression.json"),
        publish_cloudwatch_metrics="Enabled",
        monitoring_engine="scheduled-job",
        sagemaker_endpoint_name="mlops-kit-dev-endpoint",
        sagemaker_monitoring_schedule_name="mlops-kit-dev-mq",
        metric_time=datetime(2024, 1, 19, 20, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        SAGEMAKER_BASE_DIR=str(tmp_path / "ml"),
        output_path=str(tmp_path / "out"),
    )
    with mock_aws():
        assert run_job(env) == 0
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        listed = cloudwatch.list_metrics(Namespace=naming.MODEL_QUALITY_NAMESPACE)["Metrics"]
        assert {metric["MetricName"] for metric in listed} == {"mae", "mse", "rmse", "r2"}
        assert {d["Name"]: d["Value"] for d in listed[0]["Dimensions"]} == {
            "Endpoint": "mlops-kit-dev-endpoint",
            "MonitoringSchedule": "mlops-kit-dev-mq",
        }
    with mock_aws():  # the model-monitor engine leaves publishing to the platform
        assert run_job({**env, "monitoring_engine": "model-monitor"}) == 0
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        assert cloudwatch.list_metrics(Namespace=naming.MODEL_QUALITY_NAMESPACE)["Metrics"] == []


def test_the_image_and_the_naming_module_agree_on_namespaces() -> None:
    assert metrics.DATA_QUALITY_NAMESPACE == naming.DATA_QUALITY_NAMESPACE
    assert metrics.MODEL_QUALITY_NAMESPACE == naming.MODEL_QUALITY_NAMESPACE
