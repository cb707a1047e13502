"""`python -m containers.monitor` as a subprocess: baselining, monitoring, metrics and failures."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from containers.contracts.capture import capture_file_relative_path, encode_capture_line
from tests.containers.conftest import run_monitor_job
from tests.fixtures import SAGEMAKER_REFERENCE as REFERENCE

CSV_FORMAT = '{"csv": {"header": true, "output_columns_position": "START"}}'
CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}'


def _data(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": (rng.normal(50_000 + shift * 10_000, 8_000, n)).round(2),
            "city": rng.choice(["lyon", "oslo", "rome"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def _run(base: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_monitor_job(base / "ml", env)


def _message(base: Path) -> str:
    return (base / "ml" / "output" / "message").read_text()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baselining run on a generated CSV (with a header, features only)."""
    base = tmp_path_factory.mktemp("baseline")
    (base / "input").mkdir()
    frame = _data(seed=1, n=3000)
    frame["income"] = frame["income"].astype(object)
    frame.loc[::40, "income"] = None
    frame.to_csv(base / "input" / "baseline.csv", index=False)
    result = _run(
        base,
        dataset_format=CSV_FORMAT,
        dataset_source=str(base / "input"),
        output_path=str(base / "out"),
        publish_cloudwatch_metrics="Disabled",
    )
    assert result.returncode == 0, result.stderr
    return base


def _capture(root: Path, frame: pd.DataFrame, when: datetime) -> None:
    path = root / capture_file_relative_path("ep-dev", "AllTraffic", when)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    path.write_text("\n".join(lines) + "\n")


def _monitor(baseline: Path, base: Path, live: pd.DataFrame) -> subprocess.CompletedProcess[str]:
    _capture(base / "capture", live, datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    return _run(
        base,
        dataset_format=CAPTURE_FORMAT,
        dataset_source=str(base / "capture"),
        output_path=str(base / "out"),
        baseline_statistics=str(baseline / "out" / "statistics.json"),
        baseline_constraints=str(baseline / "out" / "constraints.json"),
        publish_cloudwatch_metrics="Enabled",
        sagemaker_endpoint_name="ep-dev",
        sagemaker_monitoring_schedule_name="ep-dev-data-quality",
        metric_time="2024-05-06T08:00:00Z",
        start_time="2024-05-06T07:00:00Z",
        end_time="2024-05-06T08:00:00Z",
    )


def _assert_same_shape(ours: Any, reference: Any, path: str = "$") -> None:
    """Same keys at every level, same JSON value types (int vs float vs str vs bool)."""
    if isinstance(reference, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(reference), f"{path}: {sorted(set(ours) ^ set(reference))}"
        for key in reference:
            _assert_same_shape(ours[key], reference[key], f"{path}.{key}")
    elif isinstance(reference, list):
        assert isinstance(ours, list), path
        if reference:
            for item in ours:
                _assert_same_shape(item, reference[0], f"{path}[]")
    else:
        assert type(ours) is type(reference), f"{path}: {type(ours).__name__} != {type(reference).__name__}"


def test_baselining_writes_statistics_constraints_and_message(baseline: Path) -> None:
    assert sorted(p.name for p in (baseline / "out").iterdir()) == ["constraints.json", "statistics.json"]
    assert _message(baseline) == "Completed: Job completed successfully with no violations."
    statistics = json.loads((baseline / "out" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 3000
    income = next(f for f in statistics["features"] if f["name"] == "income")
    assert income["numerical_statistics"]["common"]["num_missing"] == 75
    assert not (baseline / "ml" / "output" / "metrics").exists()


def test_written_files_have_the_reference_shapes(baseline: Path) -> None:
    ours = json.loads((baseline / "out" / "statistics.json").read_text())
    reference = json.loads((REFERENCE / "statistics.json").read_text())
    top = {key: value for key, value in ours.items() if key != "features"}
    _assert_same_shape(top, {key: value for key, value in reference.items() if key != "features"})
    by_name = {f["name"]: f for f in ours["features"]}
    ref_by_name = {f["name"]: f for f in reference["features"]}
    _assert_same_shape(by_name["income"], ref_by_name["price"])  # Fractional
    _assert_same_shape(by_name["age"], ref_by_name["above_avg_price_per_sqft"])  # Integral
    _assert_same_shape(by_name["city"], ref_by_name["state"])  # low-cardinality String
    constraints = json.loads((baseline / "out" / "constraints.json").read_text())
    ref_constraints = json.loads((REFERENCE / "constraints.json").read_text())
    _assert_same_shape(constraints["monitoring_config"], ref_constraints["monitoring_config"])
    c_by_name = {f["name"]: f for f in constraints["features"]}
    rc_by_name = {f["name"]: f for f in ref_constraints["features"]}
    _assert_same_shape(c_by_name["income"], rc_by_name["price"])
    _assert_same_shape(c_by_name["age"], rc_by_name["above_avg_price_per_sqft"])
    _assert_same_shape(c_by_name["city"], rc_by_name["state"])


def test_monitoring_same_distribution_completes_without_violations(baseline: Path, tmp_path: Path) -> None:
    result = _monitor(baseline, tmp_path, _data(seed=2, n=2000))
    assert result.returncode == 0, result.stderr
    assert _message(tmp_path) == "Completed: Job completed successfully with no violations."
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    assert violations == {"violations": []}
    assert (tmp_path / "out" / "statistics.json").exists()


def test_monitoring_drifted_capture_reports_violations_and_metrics(baseline: Path, tmp_path: Path) -> None:
    result = _monitor(baseline, tmp_path, _data(seed=3, n=2000, shift=2.0))
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in document["violations"]}
    assert kinds == {("income", "baseline_drift_check")}
    reference = json.loads((REFERENCE / "constraint_violations.json").read_text())
    _assert_same_shape(document, reference)
    assert _message(tmp_path) == "CompletedWithViolations: Job completed successfully with 1 violations."
    metrics_file = tmp_path / "ml" / "output" / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl"
    lines = metrics_file.read_text().splitlines()
    records = {r["MetricName"]: r for r in map(json.loads, lines)}
    assert set(records) >= {
        "feature_data_income",
        "feature_non_null_income",
        "feature_baseline_drift_income",
        "feature_non_null_city",
        "feature_baseline_drift_city",
        "feature_data_age",
    }
    drift = records["feature_baseline_drift_income"]
    assert drift["Value"] > 0.5
    assert drift["Timestamp"] == "2024-05-06T08:00:00Z"
    assert drift["Dimensions"] == [
        {"Name": "Endpoint", "Value": "ep-dev"},
        {"Name": "MonitoringSchedule", "Value": "ep-dev-data-quality"},
    ]
    stats = records["feature_data_age"]["StatisticValues"]
    assert stats["SampleCount"] == 2000.0
    assert set(stats) == {"SampleCount", "Sum", "Minimum", "Maximum"}
    assert records["feature_non_null_city"]["Value"] == 1.0


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_data", "no data files found"),
        ("bad_csv", "cannot read CSV file"),
        ("bad_format", "dataset_format is not valid JSON"),
        ("missing_baseline", "baseline_constraints file"),
    ],
)
def test_bad_input_fails_with_a_clear_message_and_nonzero_exit(tmp_path: Path, case: str, expected: str) -> None:
    source = tmp_path / "input"
    source.mkdir()
    env = {"dataset_format": CSV_FORMAT, "dataset_source": str(source), "output_path": str(tmp_path / "out")}
    if case == "bad_csv":
        (source / "data.csv").write_bytes(b'a,b\n1,2\n\xff\xfe\x00\x01,"open\n3,4,5,6,7\n')
    if case == "bad_format":
        env["dataset_format"] = "{csv: header}"
    if case == "missing_baseline":
        (source / "data.csv").write_text("a,b\n1,2\n")
        env["baseline_constraints"] = str(tmp_path / "nowhere" / "constraints.json")
    result = _run(tmp_path, **env)
    assert result.returncode != 0
    message = _message(tmp_path)
    assert message.startswith("ClientError: ")
    assert expected in message
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [message]
