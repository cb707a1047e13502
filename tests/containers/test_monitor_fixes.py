"""Analyzer fixes from review: String data types, captureIndexNames, and settings that were ignored.

The SDK's quality-check test data (tests/fixtures/sagemaker_sdk/, byte-identical copies) is what
the real analyzer passes (good case) and fails (bad case) in the SDK's own integration tests.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from containers.contracts.capture import capture_file_relative_path, encode_capture_line
from containers.contracts.statistics import Statistics
from containers.contracts.violations import ConstraintViolations
from containers.monitor.checks import type_match_share
from containers.monitor.errors import MonitorError
from containers.monitor.job import analyze
from containers.monitor.reader import read_dataset
from containers.monitor.settings import AnalyzerSettings, settings_from_environ
from tests.containers.conftest import run_monitor_job

REPO = Path(__file__).resolve().parents[2]
SDK = REPO / "tests" / "fixtures" / "sagemaker_sdk"
CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}'
OUTPUT_ONLY_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}}'


def _sdk_check(tmp_path: Path, constraints: str, **extra: str) -> list[tuple[str, str]]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "baseline.csv").write_bytes((SDK / "data_quality_baseline_dataset.csv").read_bytes())
    settings = settings_from_environ(
        {
            "dataset_format": '{"csv": {"header": false}}',
            "dataset_source": str(tmp_path / "data"),
            "output_path": str(tmp_path / "out"),
            "baseline_statistics": str(SDK / "data_quality_statistics.json"),
            "baseline_constraints": str(SDK / constraints),
            **extra,
        }
    )
    violations = analyze(settings).violations
    assert isinstance(violations, ConstraintViolations)
    return [(v.feature_name, v.constraint_check_type) for v in violations.violations]


def test_sdk_good_case_constraints_pass_on_their_baseline_dataset(tmp_path: Path) -> None:
    assert _sdk_check(tmp_path, "data_quality_good_cases_constraints.json") == []


def test_sdk_bad_case_string_constraint_on_numbers_is_a_data_type_violation(tmp_path: Path) -> None:
    assert _sdk_check(tmp_path, "data_quality_bad_cases_constraints.json") == [("_c5", "data_type_check")]


def test_string_type_share_counts_values_that_are_not_numbers() -> None:
    assert type_match_share(pd.Series(["a", "b"], dtype="string"), "String") == 1.0
    assert type_match_share(pd.Series(["a", "1", "2.5", None], dtype="string"), "String") == pytest.approx(1 / 3)
    assert type_match_share(pd.Series([1.0, 2.0]), "String") == 0.0
    assert type_match_share(pd.Series([None, None], dtype="string"), "String") is None


def _capture(root: Path, inputs: list[str], outputs: list[str]) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    path = root / capture_file_relative_path("ep", "AllTraffic", when)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        encode_capture_line(
            input_data=given, input_content_type="text/csv", output_data=produced,
            output_content_type="text/csv", inference_time=when,
        )
        for given, produced in zip(inputs, outputs, strict=True)
    ]
    path.write_text("".join(line + "\n" for line in lines))


def test_capture_index_endpoint_output_profiles_the_outputs_not_the_inputs(tmp_path: Path) -> None:
    _capture(tmp_path, ["1,2,3", "4,5,6"], ["0.25", "0.75"])
    settings = settings_from_environ({"dataset_format": OUTPUT_ONLY_FORMAT, "dataset_source": str(tmp_path)})
    frame = read_dataset(settings, ["score"])
    assert list(frame.columns) == ["score"]
    assert frame["score"].tolist() == [0.25, 0.75]
    inputs = read_dataset(settings_from_environ({"dataset_format": CAPTURE_FORMAT, "dataset_source": str(tmp_path)}))
    assert inputs.shape == (2, 3)


def test_exclude_features_attribute_leaves_the_named_columns_out(tmp_path: Path) -> None:
    names = _sdk_check(tmp_path, "data_quality_bad_cases_constraints.json", exclude_features_attribute="_c5")
    assert names == []
    (tmp_path / "base").mkdir()
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]}).to_csv(tmp_path / "base" / "d.csv", index=False)
    settings = settings_from_environ(
        {
            "dataset_format": '{"csv": {"header": true}}',
            "dataset_source": str(tmp_path / "base"),
            "output_path": str(tmp_path / "out"),
            "exclude_features_attribute": "b, 2",
        }
    )
    statistics = analyze(settings).statistics
    assert isinstance(statistics, Statistics)
    assert [feature.name for feature in statistics.features] == ["a"]
    with pytest.raises(MonitorError, match=r"exclude_features_attribute.*'nope'"):
        analyze(settings_from_environ({**_environ(settings), "exclude_features_attribute": "nope"}))


def _environ(settings: AnalyzerSettings) -> dict[str, str]:
    return {"dataset_format": '{"csv": {"header": true}}', "dataset_source": str(settings.dataset_source),
            "output_path": str(settings.output_path)}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("analysis_type", "MODEL_BIAS", "analysis_type must be one of DATA_QUALITY, MODEL_QUALITY"),
        ("problem_type", "Regression", "problem_type is only used with analysis_type MODEL_QUALITY"),
        ("inference_attribute", "0", "inference_attribute is only used with analysis_type MODEL_QUALITY"),
    ],
)
def test_settings_that_do_not_apply_are_refused_by_name(key: str, value: str, expected: str) -> None:
    with pytest.raises(MonitorError, match=expected):
        settings_from_environ({"dataset_format": '{"csv": {"header": true}}', key: value})


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "d.csv").write_text("a,b\n1,x\n2,y\n")
    return run_monitor_job(tmp_path / "ml", {
        "dataset_format": '{"csv": {"header": true}}',
        "dataset_source": str(tmp_path / "data"),
        "output_path": str(tmp_path / "out"),
        **env,
    })


def test_post_analytics_processor_script_runs_after_a_successful_analysis(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "postprocessor.py"
    script.parent.mkdir()
    script.write_bytes((SDK / "postprocessor.py.txt").read_bytes())
    result = _run(tmp_path, post_analytics_processor_script=str(script))
    assert result.returncode == 0, result.stderr
    assert "postprocessor.py::postprocess_handler was called." in result.stdout
    assert result.stdout.index("Completed: Job completed") < result.stdout.index("postprocess_handler was called")


def test_failing_post_analytics_processor_fails_the_job_naming_the_script(tmp_path: Path) -> None:
    script = tmp_path / "post.py"
    script.write_text("def postprocess_handler():\n    raise RuntimeError('boom')\n")
    result = _run(tmp_path, post_analytics_processor_script=str(script))
    assert result.returncode == 1
    message = (tmp_path / "ml" / "output" / "message").read_text()
    assert message.startswith("ClientError: post_analytics_processor_script")
    assert "boom" in message
    assert (tmp_path / "out" / "statistics.json").is_file()  # the analysis's files are kept


def test_text_in_a_fractional_csv_column_is_a_type_violation_not_a_read_failure(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "live").mkdir()
    baseline_rows = pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5], "c": ["a", "b", "a", "b"]})
    baseline_rows.to_csv(tmp_path / "base" / "d.csv", index=False)
    (tmp_path / "live" / "d.csv").write_text("x,c\n0.5,a\noops,b\n2.5,a\n3.5,b\n")
    csv = '{"csv": {"header": true}}'
    baseline = analyze(settings_from_environ({"dataset_format": csv, "dataset_source": str(tmp_path / "base")}))
    (tmp_path / "statistics.json").write_text(baseline.statistics.to_json())
    assert baseline.constraints is not None
    (tmp_path / "constraints.json").write_text(baseline.constraints.to_json())
    violations = analyze(settings_from_environ({
        "dataset_format": csv, "dataset_source": str(tmp_path / "live"),
        "baseline_statistics": str(tmp_path / "statistics.json"),
        "baseline_constraints": str(tmp_path / "constraints.json"),
    })).violations
    assert isinstance(violations, ConstraintViolations)
    found = {(v.feature_name, v.constraint_check_type): v.description for v in violations.violations}
    assert "Only 75.0% of data is Fractional" in found[("x", "data_type_check")]


_CAPTURE_ENV = {"dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}'}


def test_monitoring_window_seconds_sets_the_start_from_the_scheduled_end() -> None:
    # The scheduled-job engine: Scheduler passes only the scheduled time as end_time.
    settings = settings_from_environ({**_CAPTURE_ENV, "end_time": "2026-11-25T08:00:00Z",
                                      "monitoring_window_seconds": "3600"})
    assert settings.start_time == datetime(2026, 11, 25, 7, tzinfo=UTC)
    assert settings.end_time == datetime(2026, 11, 25, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"end_time": "2026-11-25T08:00:00Z", "monitoring_window_seconds": "0"}, "positive whole number"),
        ({"end_time": "2026-11-25T08:00:00Z", "monitoring_window_seconds": "1h"}, "positive whole number"),
        ({"monitoring_window_seconds": "3600"}, "needs end_time"),
        ({"start_time": "2026-11-25T07:00:00Z", "end_time": "2026-11-25T08:00:00Z",
          "monitoring_window_seconds": "3600"}, "not both"),
    ],
)
def test_a_bad_monitoring_window_is_refused_by_name(extra: dict[str, str], expected: str) -> None:
    with pytest.raises(MonitorError, match=expected):
        settings_from_environ({**_CAPTURE_ENV, **extra})
