"""Replay traffic: test rows in the model's feature order and a drifted copy."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from containers.contracts.ground_truth import parse_ground_truth_line
from mlops.local.errors import LocalModeError
from mlops.local.loop.traffic import (
    Feature,
    csv_payloads,
    drifted,
    for_capture,
    ground_truth_lines,
    read_labels,
    read_rows,
)

FEATURES = [Feature("b", "numeric"), Feature("color", "categorical"), Feature("a", "numeric")]


def write_split(path: Path) -> Path:
    path.write_text("target,a,b,color\n" + "".join(f"{i % 2},{i},{i * 2},{'red' if i % 3 else ''}\n"
                                                    for i in range(20)))
    return path


def test_rows_follow_the_model_feature_order(tmp_path: Path) -> None:
    rows = read_rows(write_split(tmp_path / "test.csv"), FEATURES)
    assert rows[1] == ["2", "red", "1"]
    assert len(rows) == 20


def test_a_missing_feature_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(LocalModeError, match="zip"):
        read_rows(write_split(tmp_path / "test.csv"), [*FEATURES, Feature("zip", "categorical")])


def test_drift_moves_numeric_features_and_leaves_the_rest(tmp_path: Path) -> None:
    rows = read_rows(write_split(tmp_path / "test.csv"), FEATURES)
    shifted, changed = drifted(rows, FEATURES, count=1)
    assert [item.name for item in changed] == ["b"]
    before = [float(row[0]) for row in rows]
    after = [float(row[0]) for row in shifted]
    assert statistics.fmean(after) > statistics.fmean(before) + statistics.pstdev(before)
    assert [row[1:] for row in shifted] == [row[1:] for row in rows]


def test_drift_without_numeric_features_collapses_a_category() -> None:
    rows = [["red"], ["red"], ["blue"]]
    shifted, changed = drifted(rows, [Feature("color", "categorical")])
    assert changed[0].name == "color"
    assert shifted == [["blue"], ["blue"], ["blue"]]


def test_payloads_are_headerless_csv_chunks() -> None:
    payloads = csv_payloads([["1", "a,b"], ["2", "c"], ["3", "d"]], rows_per_request=2)
    assert payloads == [b'1,"a,b"\n2,c\n', b"3,d\n"]


def test_sampled_capture_gets_each_row_repeated() -> None:
    rows = [[str(i)] for i in range(10)]
    assert for_capture(rows, 100.0) == rows
    assert for_capture(rows, 20.0) == rows * 5
    assert len(for_capture(rows, 1.0, limit=300)) == 300


def test_ground_truth_is_one_upload_line_per_request_with_its_rows_labels(tmp_path: Path) -> None:
    labels = read_labels(write_split(tmp_path / "test.csv"), "target")
    assert labels[:3] == ["0", "1", "0"]
    ids = [f"run-test-{index}" for index in range(2)]
    lines = ground_truth_lines(labels[:13], ids, rows_per_request=10).splitlines()
    records = [parse_ground_truth_line(line) for line in lines]
    assert [record.event_metadata.event_id for record in records] == ids
    assert records[0].ground_truth_data.data.splitlines() == labels[:10]
    assert records[1].ground_truth_data.data == "0\n1\n0"
    assert records[1].ground_truth_data.encoding == "CSV"


def test_a_split_without_the_target_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(LocalModeError, match="'label'"):
        read_labels(write_split(tmp_path / "test.csv"), "label")
