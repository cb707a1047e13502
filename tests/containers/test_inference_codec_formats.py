"""Hypothesis fuzz of the x-npy and JSON Lines codecs: a body decodes to the same rows as its CSV
twin, or is refused with a 4xx BadRequestError, never another exception; what encode_npy /
encode_jsonlines write reads back (np.load without pickle, one JSON object a line) to the same values."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from containers.inference.codec import (
    BadRequestError,
    FeatureLayout,
    Predictions,
    encode_csv,
    encode_json,
    encode_jsonlines,
    encode_npy,
    parse_csv,
    parse_jsonlines,
    parse_npy,
)
from tests.containers.test_inference_codec_fuzz import LAYOUTS

EXAMPLES = 300
NUMERIC = LAYOUTS["numeric"]
MIXED = LAYOUTS["mixed"]


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def refusal_status(parse: Callable[[bytes, FeatureLayout], object], body: bytes) -> int | None:
    """None when the body parses; the status when it is refused; any other exception fails the test."""
    try:
        parse(body, MIXED if parse is parse_jsonlines else NUMERIC)
    except BadRequestError as error:
        return error.status
    return None


def same(left: np.ndarray, right: np.ndarray) -> bool:
    return left.shape == right.shape and bool(np.all((left == right) | (np.isnan(left) & np.isnan(right))))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_rows_or_a_4xx(body: bytes) -> None:
    for parse in (parse_npy, parse_jsonlines):
        assert refusal_status(parse, body) in (None, 400, 413, 415)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 400))
def test_a_damaged_npy_body_is_rows_or_a_4xx(tail: bytes, cut: int) -> None:
    body = npy(np.arange(9, dtype=np.float64).reshape(3, 3))
    for damaged in (body[:cut] + tail, body[:cut], body + tail):
        assert refusal_status(parse_npy, damaged) in (None, 400)


@settings(max_examples=EXAMPLES, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5).map(
    lambda shape: (shape[0], 3)), elements=st.floats(allow_infinity=False, width=64)))
def test_numeric_npy_reads_as_its_csv_twin(array: np.ndarray) -> None:
    twin = "".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in array.tolist())
    assert same(parse_npy(npy(array), NUMERIC).numeric, parse_csv(twin.encode(), NUMERIC).numeric)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
                          st.one_of(st.none(), st.sampled_from(["red", "blue", "a,b"])),
                          st.one_of(st.none(), st.integers(-10**6, 10**6))), min_size=1, max_size=6))
def test_jsonlines_reads_as_its_json_records(rows: list[tuple[float | None, str | None, int | None]]) -> None:
    records = [{"a": a, "color": color, "b": b} for a, color, b in rows]
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    batch = parse_jsonlines(body, MIXED)
    twin = parse_csv("".join(",".join("" if v is None else (f'"{v}"' if isinstance(v, str) else repr(v))
                                      for v in (a, color, b)) + "\n" for a, color, b in rows).encode(), MIXED)
    assert same(batch.numeric, twin.numeric)
    assert batch.categorical.tolist() == twin.categorical.tolist()


@pytest.mark.parametrize("labels", [[0, 1, 1], ["no", "yes", "yes"]])
def test_npy_and_jsonlines_encode_what_csv_and_json_say(labels: list[object]) -> None:
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [1 / 3, 2 / 3]])
    predictions = Predictions(labels, probabilities, tuple(sorted(set(labels), key=str)))
    table = np.load(io.BytesIO(encode_npy(predictions)), allow_pickle=False)
    csv_rows = [line.split(",") for line in encode_csv(predictions).decode().splitlines()]
    assert table.shape == (3, 3)
    assert [str(value) for value in table[:, 0].tolist()] == [str(float(v)) if isinstance(v, int) else str(v)
                                                             for v in labels]
    np.testing.assert_array_equal(table[:, 1:].astype(np.float64), np.array(csv_rows)[:, 1:].astype(np.float64))
    lines = [json.loads(line) for line in encode_jsonlines(predictions).decode().splitlines()]
    assert lines == json.loads(encode_json(predictions))["predictions"]


def test_regression_npy_is_one_value_a_row() -> None:
    predictions = Predictions([1.5, -2.25], None, None)
    assert np.load(io.BytesIO(encode_npy(predictions)), allow_pickle=False).tolist() == [1.5, -2.25]
