"""Capture-line contract: real SageMaker lines parse and re-encode byte for byte; our encoder matches."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from containers.contracts.capture import (
    CaptureError,
    capture_file_relative_path,
    encode_capture_line,
    encoding_for_content_type,
    parse_capture_line,
)
from tests.fixtures import SAGEMAKER_REFERENCE as REFERENCE

CAPTURE_FILES = sorted(REFERENCE.glob("capture_*.jsonl"))


def _reference_lines() -> list[str]:
    return [line.rstrip("\n") for path in CAPTURE_FILES for line in path.read_text().splitlines() if line.strip()]


def test_reference_capture_files_exist() -> None:
    assert len(CAPTURE_FILES) >= 5


@pytest.mark.parametrize("line", _reference_lines())
def test_reference_capture_line_parses_and_round_trips_exactly(line: str) -> None:
    record = parse_capture_line(line)
    assert record.capture_data.endpoint_input is not None
    assert record.capture_data.endpoint_input.mode == "INPUT"
    assert record.to_line() == line


def _key_order(document: object) -> object:
    if isinstance(document, dict):
        return [(key, _key_order(value)) for key, value in document.items()]
    return type(document).__name__


def test_encoded_line_has_reference_keys_order_and_types() -> None:
    reference = json.loads((REFERENCE / "capture_csv_with_inference_id.jsonl").read_text().splitlines()[0])
    line = encode_capture_line(
        input_data=b"1,2,3",
        input_content_type="text/csv",
        output_data="0.5",
        output_content_type="text/csv; charset=utf-8",
        inference_id="57",
        inference_time=datetime(2021, 10, 27, 21, 47, 16, 123456, tzinfo=UTC),
    )
    ours = json.loads(line)
    assert _key_order(ours) == _key_order(reference)
    assert ours["eventMetadata"]["inferenceTime"] == "2021-10-27T21:47:16Z"
    assert ours["captureData"]["endpointOutput"]["encoding"] == "CSV"
    assert "\n" not in line
    assert ", " not in line.replace('", "', "")


def test_encoded_line_without_inference_id_omits_the_key_and_parses_back() -> None:
    line = encode_capture_line(
        input_data='{"instances": [[1, 2]]}',
        input_content_type="application/json",
        output_data='{"predictions": [0.1]}',
        output_content_type="application/json",
        event_id="e-1",
    )
    record = parse_capture_line(line)
    assert record.event_metadata.inference_id is None
    assert "inferenceId" not in line
    assert record.event_metadata.event_id == "e-1"
    assert record.capture_data.endpoint_input is not None
    assert record.capture_data.endpoint_input.encoding == "JSON"


def test_unlisted_content_type_is_captured_base64_and_decodes_back() -> None:
    line = encode_capture_line(
        input_data=b"\x00binary",
        input_content_type="application/x-npy",
        output_data="ok",
        output_content_type="text/plain",
    )
    record = parse_capture_line(line)
    payload = record.capture_data.endpoint_input
    assert payload is not None
    assert payload.encoding == "BASE64"
    assert base64.b64decode(payload.data) == b"\x00binary"
    assert encoding_for_content_type("text/csv; charset=utf-8") == "CSV"
    assert encoding_for_content_type("application/jsonlines") == "JSON"


@pytest.mark.parametrize("line", ["not json", '{"captureData": {}}', '{"eventMetadata": {"eventId": "x"}}'])
def test_malformed_capture_line_raises_capture_error_naming_the_problem(line: str) -> None:
    with pytest.raises(CaptureError, match="not a data-capture line"):
        parse_capture_line(line)


def test_capture_file_path_follows_sagemaker_layout() -> None:
    when = datetime(2022, 4, 18, 0, 20, 48, 871000, tzinfo=UTC)
    path = capture_file_relative_path("ep", "AllTraffic", when, file_id="abc")
    assert path == "ep/AllTraffic/2022/04/18/00/20-48-871-abc.jsonl"
