"""Reading captured traffic and files into frames: CSV and JSON payloads, time window, preprocessor."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from containers.contracts.capture import capture_file_relative_path, encode_capture_line
from containers.monitor.errors import MonitorError
from containers.monitor.reader import json_document_rows, read_csv_file, read_dataset
from containers.monitor.settings import settings_from_environ
from tests.fixtures import SAGEMAKER_REFERENCE

CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}'


def _write_capture(root: Path, when: datetime, lines: list[str]) -> None:
    path = root / capture_file_relative_path("ep", "AllTraffic", when)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def _line(data: str, content_type: str, when: datetime, output: str = "0.5") -> str:
    return encode_capture_line(
        input_data=data,
        input_content_type=content_type,
        output_data=output,
        output_content_type=content_type,
        inference_time=when,
    )


def _settings(source: Path, **extra: str):  # type: ignore[no-untyped-def]
    return settings_from_environ({"dataset_format": CAPTURE_FORMAT, "dataset_source": str(source), **extra})


def test_csv_capture_maps_columns_by_position_onto_baseline_names(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    _write_capture(
        tmp_path, when, [_line("30,1.5,lyon", "text/csv", when), _line("40,2.5,oslo\n50,,rome", "text/csv", when)]
    )
    frame = read_dataset(_settings(tmp_path), ["age", "income", "city"], {"city"})
    assert list(frame.columns) == ["age", "income", "city"]
    assert frame["age"].tolist() == [30, 40, 50]
    assert pd.api.types.is_integer_dtype(frame["age"].dtype)
    assert frame["income"].isna().tolist() == [False, False, True]
    assert frame["city"].tolist() == ["lyon", "oslo", "rome"]


def test_csv_capture_wider_than_baseline_gets_extra_positional_names(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, tzinfo=UTC)
    _write_capture(tmp_path, when, [_line("1,2", "text/csv", when), _line("1,2,3", "text/csv", when)])
    frame = read_dataset(_settings(tmp_path), ["a", "b"])
    assert list(frame.columns) == ["a", "b", "_c2"]
    assert frame["_c2"].isna().tolist() == [True, False]


def test_json_capture_instances_and_records_become_rows(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, tzinfo=UTC)
    _write_capture(
        tmp_path,
        when,
        [
            _line(json.dumps({"instances": [[1, 2.5], [3, 4.5]]}), "application/json", when),
            _line(json.dumps({"instances": [{"features": [5, 6.5]}]}), "application/json", when),
        ],
    )
    frame = read_dataset(_settings(tmp_path), ["x", "y"])
    assert frame["x"].tolist() == [1, 3, 5]
    assert frame["y"].tolist() == [2.5, 4.5, 6.5]
    assert json_document_rows([{"x": 1}, {"x": 2}]) == [{"x": 1}, {"x": 2}]
    assert json_document_rows({"instances": [1.0, 2.0]}) == [[1.0], [2.0]]


def test_reference_capture_files_read_into_frames(tmp_path: Path) -> None:
    source = tmp_path / "ep" / "AllTraffic" / "2022" / "04" / "18" / "00"
    source.mkdir(parents=True)
    for name in ("capture_csv.jsonl", "capture_json.jsonl", "capture_jsonlines.jsonl"):
        (source / name).write_text((SAGEMAKER_REFERENCE / name).read_text())
    frame = read_dataset(_settings(tmp_path))
    assert len(frame) == 3 + 3 + 3  # 3 CSV lines; 1+2 JSON instances; 1+2 jsonlines rows
    assert frame.shape[1] == 69  # the widest payload (the churn CSV) sets the column count


def test_time_window_keeps_only_records_inside_it(tmp_path: Path) -> None:
    early, inside, late = (datetime(2024, 1, 2, hour, 30, tzinfo=UTC) for hour in (1, 2, 3))
    for when, value in ((early, "1"), (inside, "2"), (late, "3")):
        _write_capture(tmp_path, when, [_line(value, "text/csv", when)])
    settings = _settings(tmp_path, start_time="2024-01-02T02:00:00Z", end_time="2024-01-02T03:00:00Z")
    assert read_dataset(settings, ["v"])["v"].tolist() == [2]


def test_output_columns_join_at_start_when_configured(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, tzinfo=UTC)
    _write_capture(tmp_path, when, [_line("1,2", "text/csv", when, output="0.9")])
    frame = read_dataset(_settings(tmp_path, endpoint_output_columns_position="START"), ["label", "a", "b"])
    assert list(frame.columns) == ["label", "a", "b"]
    assert frame.iloc[0].tolist() == [0.9, 1, 2]
    assert pd.api.types.is_float_dtype(frame["label"].dtype)
    assert pd.api.types.is_integer_dtype(frame["a"].dtype)
    ignored = read_dataset(_settings(tmp_path), ["a", "b"])
    assert list(ignored.columns) == ["a", "b"]


def test_record_preprocessor_turns_each_record_into_a_named_row(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, tzinfo=UTC)
    _write_capture(tmp_path / "data", when, [_line("1,2", "text/csv", when), _line("9,9", "text/csv", when)])
    script = tmp_path / "pre.py"
    script.write_text(
        "def preprocess_handler(inference_record):\n"
        "    a, b = inference_record.endpoint_input.data.split(',')\n"
        "    if a == '9':\n"
        "        return []\n"
        "    return {'first': int(a), 'total': int(a) + int(b)}\n"
    )
    settings = replace(_settings(tmp_path / "data"), record_preprocessor_script=script)
    frame = read_dataset(settings)
    assert frame.to_dict("list") == {"first": [1], "total": [3]}


def test_headerless_csv_file_uses_baseline_names_and_bad_csv_is_named(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("1,a\n2,b\n")
    assert list(read_csv_file(good, header=False, feature_names=["n"]).columns) == ["n", "_c1"]
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n3,4,5,6\n"unterminated\n')
    with pytest.raises(MonitorError, match=r"bad\.csv"):
        read_csv_file(bad, header=True)
