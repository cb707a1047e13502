"""The data contract in monitoring: captured requests checked against the model's data-schema.json."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from containers.contracts.data_schema import SCHEMA_FILE, SCHEMA_VIOLATIONS_FILE, ColumnSchema, DataSchema
from tests.containers.test_monitor_job import CAPTURE_FORMAT, _capture, _data, _message, _run, baseline

__all__ = ["baseline"]  # the module-scoped baselining run, shared with the monitor job tests

SCHEMA = DataSchema(columns={
    "age": ColumnSchema(type="integer", required=True, min=18, max=90),
    "income": ColumnSchema(type="numeric", min=0),
    "city": ColumnSchema(type="categorical", categories=("lyon", "oslo", "rome")),
})


def _monitor_with_schema(baseline: Path, base: Path, live: pd.DataFrame, schema_location: Path | None) -> None:
    _capture(base / "capture", live, datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC))
    extra = {"data_schema": str(schema_location)} if schema_location is not None else {}
    result = _run(
        base, dataset_format=CAPTURE_FORMAT, dataset_source=str(base / "capture"), output_path=str(base / "out"),
        baseline_statistics=str(baseline / "out" / "statistics.json"),
        baseline_constraints=str(baseline / "out" / "constraints.json"), publish_cloudwatch_metrics="Disabled",
        start_time="2024-05-06T07:00:00Z", end_time="2024-05-06T08:00:00Z", **extra,
    )
    assert result.returncode == 0, result.stderr


def test_capture_breaking_the_schema_is_reported_per_column_with_counts(baseline: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"  # the schema as the model artifact carries it
    model_dir.mkdir()
    (model_dir / SCHEMA_FILE).write_text(SCHEMA.to_json())
    live = _data(seed=2, n=500)
    live.loc[[4, 9], "city"] = "paris"
    live.loc[7, "age"] = 130
    live.loc[[1, 2, 3], "income"] = -5.0
    _monitor_with_schema(baseline, tmp_path, live, model_dir)
    found = json.loads((tmp_path / "out" / SCHEMA_VIOLATIONS_FILE).read_text())["violations"]
    by_feature = {item["feature_name"]: item for item in found}
    assert set(by_feature) == {"age", "income", "city"}
    assert by_feature["city"]["constraint_check_type"] == "data_schema_categories_check"
    assert by_feature["city"]["row_count"] == 2
    assert by_feature["city"]["example_rows"] == [4, 9]
    assert "'paris' not among the allowed categories" in by_feature["city"]["description"]
    assert by_feature["age"]["constraint_check_type"] == "data_schema_range_check"
    assert "130 is above the maximum 90" in by_feature["age"]["description"]
    assert by_feature["income"]["row_count"] == 3
    # SageMaker's own checks run as before, in their own file: only the baseline domain check sees 'paris'.
    own = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in own] == [("city", "categorical_values_check")]
    assert _message(tmp_path) == "CompletedWithViolations: Job completed successfully with 1 violations."


def test_capture_within_the_schema_reports_no_violation(baseline: Path, tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(SCHEMA.to_json())
    _monitor_with_schema(baseline, tmp_path, _data(seed=3, n=300), schema_file)
    assert json.loads((tmp_path / "out" / SCHEMA_VIOLATIONS_FILE).read_text()) == {"violations": []}


def test_without_a_schema_monitoring_writes_no_schema_report(baseline: Path, tmp_path: Path) -> None:
    _monitor_with_schema(baseline, tmp_path, _data(seed=3, n=300), None)
    assert not (tmp_path / "out" / SCHEMA_VIOLATIONS_FILE).exists()


def test_an_unreadable_schema_fails_the_job_naming_the_file(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text('{"columns": {"age": {"type": "integer", "min": 5, "max": 1}}}')
    (tmp_path / "capture").mkdir()
    result = _run(tmp_path, dataset_format=CAPTURE_FORMAT, dataset_source=str(tmp_path / "capture"),
                  output_path=str(tmp_path / "out"), baseline_constraints=str(tmp_path / "missing.json"),
                  data_schema=str(schema_file))
    assert result.returncode == 1
    assert f"ClientError: {schema_file}: columns.age: Value error, min 5 is above max 1" in _message(tmp_path)


def test_local_monitoring_job_mounts_the_schema_and_names_it_in_the_environment() -> None:
    from config.naming import Names
    from config.settings import load_environment
    from deployment.monitoring import BASELINE_DIR
    from mlops.local.loop.monitoring import monitoring_job

    names = Names.of(load_environment("dev"))
    when = datetime(2024, 5, 6, 8, tzinfo=UTC)
    common = {"analyzer_image": "img", "capture_uri": "s3://c/p/", "statistics_uri": "s3://r/b/statistics.json",
              "constraints_uri": "s3://r/b/constraints.json", "output_uri": "s3://r/o/", "start": when,
              "end": when, "metric_time": when}
    plain = monitoring_job(names, **common)  # type: ignore[arg-type]
    assert "data_schema" not in plain["Environment"]
    job = monitoring_job(names, **common, schema_uri="s3://r/b/schema/data-schema.json")  # type: ignore[arg-type]
    mounted = {item["InputName"]: item["S3Input"] for item in job["ProcessingInputs"]}
    assert mounted["data_schema"]["S3Uri"] == "s3://r/b/schema/data-schema.json"
    assert mounted["data_schema"]["LocalPath"] == f"{BASELINE_DIR}/schema"
    assert job["Environment"]["data_schema"] == f"{BASELINE_DIR}/schema/data-schema.json"
