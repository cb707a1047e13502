"""Hypothesis fuzz of the inference codecs against plain reference readers.

Parsing: a CSV or JSON body decodes to exactly what the reference reader below gives (the stdlib csv
and json modules plus the documented value rules), or both refuse it and the codec says so with a 4xx
BadRequestError; never another exception. Rendering: what encode_csv / encode_json write reads back
(csv module, strict JSON) to the same labels and the same float64 values.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from containers.contracts.model_artifact import ModelMetadata
from containers.inference.codec import (
    BadRequestError,
    FeatureLayout,
    Predictions,
    RowBatch,
    encode_csv,
    encode_json,
    parse_csv,
    parse_json,
)

EXAMPLES = 400


class RefusedError(Exception):
    """The reference reader refuses the body."""


def layout(*features: tuple[str, str]) -> FeatureLayout:
    metadata = ModelMetadata.model_validate({
        "problem_type": "BinaryClassification", "target": "y", "classes": [0, 1], "sklearn_version": "test",
        "features": [{"name": name, "type": kind} for name, kind in features],
    })
    return FeatureLayout.from_metadata(metadata)


LAYOUTS = {
    "numeric": layout(("a", "numeric"), ("b", "numeric"), ("c", "numeric")),
    "mixed": layout(("a", "numeric"), ("color", "categorical"), ("b", "numeric")),
    "one numeric": layout(("a", "numeric"),),
    "one categorical": layout(("color", "categorical"),),
}

# -- the reference reader: the documented contract, written plainly ------------------------------------


def reference_number(value: Any) -> float:
    """Missing (None, "", NaN) -> NaN; a number or numeric text -> its float64; anything else refused."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RefusedError(value)
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise RefusedError(value) from None
    if math.isinf(number):
        raise RefusedError(value)
    return number


def reference_category(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise RefusedError(value)


def reference_batch(features: FeatureLayout, rows: list[list[Any]]) -> tuple[list[list[float]], list[list[Any]]]:
    if not rows:
        raise RefusedError("no rows")
    if any(len(row) != len(features.names) for row in rows):
        raise RefusedError("width")
    numeric = [[reference_number(row[j]) for j in features.numeric] for row in rows]
    categorical = [[reference_category(row[j]) for j in features.categorical] for row in rows]
    return numeric, categorical


def reference_text(body: bytes) -> str:
    if not body.strip():  # only ASCII whitespace: empty (a lone U+2028 is a value)
        raise RefusedError("empty")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedError("not UTF-8") from None


def reference_csv(body: bytes, features: FeatureLayout) -> tuple[list[list[float]], list[list[Any]]]:
    """The csv module's reading (an empty line is one empty field), then the value rules."""
    try:
        rows = [row or [""] for row in csv.reader(io.StringIO(reference_text(body)))]
    except csv.Error:
        raise RefusedError("csv") from None
    return reference_batch(features, rows)


def reference_json(body: bytes, features: FeatureLayout) -> tuple[list[list[float]], list[list[Any]]]:
    try:
        document = json.loads(reference_text(body))
    except (ValueError, RecursionError):  # JSONDecodeError, and integers over Python's digit limit
        raise RefusedError("json") from None
    if isinstance(document, dict):
        if set(document) != {"instances"}:
            raise RefusedError("keys")
        document = document["instances"]
    if not isinstance(document, list):
        raise RefusedError("shape")
    rows: list[list[Any]] = []
    for item in document:
        instance = item
        if isinstance(item, dict) and set(item) == {"features"} and isinstance(item["features"], list):
            instance = item["features"]
        if isinstance(instance, dict):
            if set(instance) - set(features.names):
                raise RefusedError("unknown feature")
            rows.append([instance.get(name) for name in features.names])
        elif isinstance(instance, list):
            rows.append(instance)
        else:
            raise RefusedError("row")
    return reference_batch(features, rows)


def assert_same_outcome(parse: Any, reference: Any, body: bytes, features: FeatureLayout) -> None:
    try:
        expected = reference(body, features)
    except RefusedError:
        expected = None
    refusal: BadRequestError | None = None
    try:
        batch: RowBatch | None = parse(body, features)
    except BadRequestError as error:
        refusal, batch = error, None
    if refusal is not None:
        assert 400 <= refusal.status < 500
        assert json.loads(refusal.body())["error"]
    assert (batch is None) == (expected is None), f"codec {'refused' if batch is None else 'accepted'} {body[:200]!r}"
    if batch is not None and expected is not None:
        numeric, categorical = expected
        assert np.array_equal(batch.numeric, np.array(numeric, dtype=np.float64).reshape(batch.numeric.shape),
                              equal_nan=True)
        assert batch.categorical.tolist() == categorical


# -- generated bodies ---------------------------------------------------------------------------------

huge_integer = st.integers(min_value=300, max_value=6000).map(lambda digits: "9" * digits)
number_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:E}"),  # Java-like 1.5E10
    st.integers().map(str),
    st.sampled_from(["1.0E10", "-2.5E-3", "NaN", "Infinity", "-Infinity", "nan", "inf", "1e400", "-0", "1_000",
                     " 7 ", ".5", "5.", "1e", "0x10", "+3"]),
    huge_integer,
)
category_text = st.one_of(st.sampled_from(["red", "green", "", "a,b", 'say "hi"', "line\nbreak", "cr\ronly",
                                           "é", "日本", "\u2028", "\x00"]), st.text(max_size=6))
field = st.one_of(number_text, category_text)
row_fields = st.lists(field, min_size=0, max_size=4)
line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def csv_bodies(draw: st.DrawFn) -> bytes:
    rows = draw(st.lists(row_fields, min_size=0, max_size=5))
    end = draw(line_end)
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=end).writerows(rows)
        text = buffer.getvalue()
    else:  # as a careless client writes it: no quoting
        text = end.join(",".join(row) for row in rows) + draw(st.sampled_from(["", end]))
    return text.encode("utf-8")


json_scalar = st.one_of(
    st.sampled_from(["null", "true", "false"]), st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=6).map(json.dumps), st.sampled_from(["1.0E10", "NaN", "Infinity", "-Infinity", "1e400",
                                                          '"3.5"', '""', "[]", "{}", "[1]"]),
    huge_integer,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    names = ["a", "b", "c", "color", "extra"]
    instances = []
    for _ in range(draw(st.integers(0, 4))):
        shape = draw(st.sampled_from(["list", "record", "features", "scalar"]))
        values = draw(st.lists(json_scalar, min_size=0, max_size=4))
        if shape == "record":
            keys = draw(st.lists(st.sampled_from(names), min_size=len(values), max_size=len(values)))
            instances.append("{" + ",".join(f"{json.dumps(k)}: {v}" for k, v in zip(keys, values, strict=True)) + "}")
        elif shape == "features":
            instances.append('{"features": [' + ",".join(values) + "]}")
        elif shape == "scalar":
            instances.append(values[0] if values else "null")
        else:
            instances.append("[" + ",".join(values) + "]")
    rows = "[" + ",".join(instances) + "]"
    wrapper = draw(st.sampled_from(["{0}", '{{"instances": {0}}}', '{{"rows": {0}}}', "{0}x", "[{0}", "{0}"]))
    return wrapper.format(rows).encode("utf-8")


garbage = st.one_of(
    st.binary(max_size=64), st.integers(1, 3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.just(100_000).map(lambda depth: b"[" * depth),  # past the recursion limit
    st.sampled_from([b"\xef\xbb\xbf1,2,3", b"\xed\xa0\x80,1,2"]),  # a BOM; an encoded surrogate (not UTF-8)
)


@pytest.mark.parametrize("name", list(LAYOUTS))
@settings(max_examples=EXAMPLES, deadline=None)
@given(body=st.one_of(csv_bodies(), garbage))
def test_csv_bodies_parse_like_the_csv_module_or_get_a_4xx(name: str, body: bytes) -> None:
    assert_same_outcome(parse_csv, reference_csv, body, LAYOUTS[name])


@pytest.mark.parametrize("name", list(LAYOUTS))
@settings(max_examples=EXAMPLES, deadline=None)
@given(body=st.one_of(json_bodies(), garbage))
def test_json_bodies_parse_like_the_json_module_or_get_a_4xx(name: str, body: bytes) -> None:
    assert_same_outcome(parse_json, reference_json, body, LAYOUTS[name])


def test_a_json_integer_over_pythons_digit_limit_is_a_400_with_a_reason() -> None:
    with pytest.raises(BadRequestError) as refused:
        parse_json(b"[[" + b"1" * 4301 + b", 2, 3]]", LAYOUTS["numeric"])
    assert refused.value.status == 400
    assert "4300 digits" in refused.value.message


def test_an_empty_line_is_a_row_whether_or_not_the_body_has_quotes() -> None:
    features = LAYOUTS["one categorical"]
    for body in (b"red\n\nblue\n", b'"red"\n\nblue\n'):
        assert parse_csv(body, features).categorical.tolist() == [["red"], [None], ["blue"]]


# -- rendering ----------------------------------------------------------------------------------------

probability = st.floats(min_value=0.0, max_value=1.0)
label_sets = st.one_of(
    st.lists(st.integers(), min_size=2, max_size=4, unique=True),
    st.lists(st.text(max_size=8), min_size=2, max_size=4, unique=True),
)


@st.composite
def classifications(draw: st.DrawFn) -> Predictions:
    classes = draw(label_sets)
    rows = draw(st.integers(1, 5))
    values = [draw(st.sampled_from(classes)) for _ in range(rows)]
    probabilities = np.array(draw(st.lists(st.lists(probability, min_size=len(classes), max_size=len(classes)),
                                           min_size=rows, max_size=rows)), dtype=np.float64)
    return Predictions(values, probabilities, tuple(classes))


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


@settings(max_examples=EXAMPLES, deadline=None)
@given(predictions=classifications())
def test_rendered_classifications_read_back_to_the_same_labels_and_floats(predictions: Predictions) -> None:
    assert predictions.probabilities is not None
    assert predictions.classes is not None
    probabilities = predictions.probabilities.tolist()
    lines = list(csv.reader(io.StringIO(encode_csv(predictions).decode("utf-8"))))
    assert [line[0] for line in lines] == [str(value) for value in predictions.values]
    assert [[float(p) for p in line[1:]] for line in lines] == probabilities
    items = strict_json(encode_json(predictions).decode("utf-8"))["predictions"]
    assert [item["predicted_label"] for item in items] == predictions.values
    assert [item["probabilities"] for item in items] == [
        dict(zip(map(str, predictions.classes), row, strict=True)) for row in probabilities]
    binary = len(predictions.classes) == 2
    assert [item["score"] for item in items] == [row[1] if binary else max(row) for row in probabilities]


@settings(max_examples=EXAMPLES, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=6))
def test_rendered_regressions_read_back_to_the_same_floats(values: list[float]) -> None:
    predictions = Predictions(values, None, None)
    assert [float(line) for line in encode_csv(predictions).decode().splitlines()] == values
    assert [item["score"] for item in strict_json(encode_json(predictions).decode())["predictions"]] == values
