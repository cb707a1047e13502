"""Batch transform's record handling: SageMaker's JSONPath subset, splitting, batching, joining, filtering."""

from __future__ import annotations

import pytest

from mlops.local.engine.batch_records import (
    JsonPath,
    RecordError,
    batches,
    check_data_processing,
    filtered_input,
    joined_output,
    split_records,
)
from mlops.local.errors import UnsupportedDefinitionError


@pytest.mark.parametrize(("path", "value", "selected"), [
    ("$", [1, 2, 3], [1, 2, 3]),
    ("$[1:]", ["id", "a", "b"], ["a", "b"]),
    ("$[0,-1]", ["id", "a", "b", "out"], ["id", "out"]),
    ("$[1,3:5]", [0, 1, 2, 3, 4, 5], [1, 3, 4]),
    ("$[:-1]", [0, 1, 2], [0, 1]),
    ("$[2]", [0, 1, 2], 2),
    ("$.features", {"id": 1, "features": [1, 2]}, [1, 2]),
    ("$['id','SageMakerOutput']", {"id": 1, "x": 2, "SageMakerOutput": 0.5}, {"id": 1, "SageMakerOutput": 0.5}),
    ("$.data.features[1:]", {"data": {"features": [9, 1, 2]}}, [1, 2]),
])
def test_json_path_subset_selects_as_sagemaker_documents(path: str, value: object, selected: object) -> None:
    assert JsonPath.parse(path).select(value) == selected


@pytest.mark.parametrize("path", ["$..id", "$[*]", "$[?(@.a > 1)]", "features"])
def test_json_path_outside_the_subset_is_refused_before_the_run(path: str) -> None:
    with pytest.raises(UnsupportedDefinitionError, match="JSONPath"):
        JsonPath.parse(path)


def test_a_missing_index_fails_the_record_with_its_reason() -> None:
    with pytest.raises(RecordError, match="index 5"):
        JsonPath.parse("$[5]").select([1, 2])


def test_line_split_drops_empty_lines_and_none_keeps_the_object_whole() -> None:
    assert split_records(b"1,2\r\n3,4\n\n", "Line") == [b"1,2", b"3,4"]
    assert split_records(b"1,2\n3,4\n", "None") == [b"1,2\n3,4\n"]


def test_multi_record_batches_fill_the_payload_limit_and_single_record_sends_one() -> None:
    records = [b"x" * 9] * 5  # 10 bytes each with its newline
    assert [len(batch) for batch in batches(records, "MultiRecord", 25)] == [2, 2, 1]
    assert [len(batch) for batch in batches(records, "SingleRecord", 25)] == [1] * 5


def test_csv_input_filter_sends_the_selected_fields() -> None:
    assert filtered_input(b"7,1.5,2.5", "text/csv", JsonPath.parse("$[1:]")) == b"1.5,2.5"
    assert filtered_input(b"7,1.5", "text/csv", None) == b"7,1.5"


def test_csv_join_appends_the_prediction_to_the_unfiltered_input_then_filters() -> None:
    joined = joined_output(b"7,1.5,2.5", b"0.9", "text/csv", "text/csv", join_input=True,
                           output_filter=JsonPath.parse("$[0,-1]"))
    assert joined == b"7,0.9"


def test_json_join_adds_sagemaker_output_to_an_object() -> None:
    joined = joined_output(b'{"id":3,"x":[1,2]}', b"[0.25]", "application/jsonlines", "application/jsonlines",
                           join_input=True, output_filter=JsonPath.parse("$['id','SageMakerOutput']"))
    assert joined == b'{"id":3,"SageMakerOutput":[0.25]}'


def test_without_join_or_filter_the_output_is_returned_as_is() -> None:
    assert joined_output(b"1,2", b"0.5", "text/csv", "text/csv", join_input=False, output_filter=None) == b"0.5"


def test_join_between_csv_and_json_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedDefinitionError, match="JoinSource Input"):
        check_data_processing({"JoinSource": "Input"}, "text/csv", "application/json", "Score")
    with pytest.raises(UnsupportedDefinitionError, match="ContentType"):
        check_data_processing({"InputFilter": "$[1:]"}, "application/x-npy", "text/csv", "Score")
