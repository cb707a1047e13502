"""Request decoding (CSV, JSON, JSON Lines, NPY) into feature arrays and response encoding; pure functions, no I/O."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import operator
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from containers.contracts.model_artifact import ModelMetadata
from containers.inference.npy_format import NpyFormatError, read_npy, write_npy
from containers.inference.settings import CSV, JSON

# The media types of SageMaker's inference toolkit (sagemaker_inference/content_types.py): batch
# transform and Clarify send JSON Lines; the SDK's NumpySerializer sends numpy's .npy format.
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
RESPONSE_TYPES = (JSON, CSV, JSONLINES, NPY)


class BadRequestError(Exception):
    """A request the server refuses; carries the HTTP status and where in the payload it went wrong."""

    def __init__(self, status: int, message: str, *, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.row = row
        self.column = column

    def body(self) -> bytes:
        payload: dict[str, Any] = {"error": self.message}
        if self.row is not None:
            payload["row"] = self.row
        if self.column is not None:
            payload["column"] = self.column
        return json.dumps(payload).encode()


@dataclass(frozen=True)
class FeatureLayout:
    """Metadata's features split by type, with positions in the inference column order."""

    names: tuple[str, ...]
    numeric: tuple[int, ...]
    categorical: tuple[int, ...]
    index: dict[str, int] = field(compare=False)

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> FeatureLayout:
        names = tuple(metadata.feature_names)
        return cls(
            names=names,
            numeric=tuple(i for i, f in enumerate(metadata.features) if f.type == "numeric"),
            categorical=tuple(i for i, f in enumerate(metadata.features) if f.type == "categorical"),
            index={name: i for i, name in enumerate(names)},
        )


# Made per request and per batch: a slotted, non-frozen dataclass builds several times faster than a
# frozen one (whose __init__ goes through object.__setattr__). Nothing mutates them.
@dataclass(slots=True)
class RowBatch:
    """Decoded rows: numeric features as float64 (NaN = missing), categorical as str or None."""

    numeric: np.ndarray  # shape (rows, numeric features), float64
    categorical: np.ndarray  # shape (rows, categorical features), object

    @property
    def rows(self) -> int:
        return int(self.numeric.shape[0])

    @staticmethod
    def concatenate(batches: list[RowBatch]) -> RowBatch:
        if len(batches) == 1:
            return batches[0]
        return RowBatch(
            numeric=np.concatenate([b.numeric for b in batches]),
            categorical=np.concatenate([b.categorical for b in batches]),
        )


# Clients send the same few header values request after request: parsed once, looked up after (a
# bounded cache, so headers a client varies cannot grow it).
@functools.lru_cache(maxsize=256)
def media_type(header: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`."""
    return header.split(";", 1)[0].strip().lower()


@functools.lru_cache(maxsize=256)
def negotiate_accept(header: str | None, default: str) -> str | None:
    """The response type for an Accept header: the first supported entry by preference, the default for
    a missing header or `*/*`, None when nothing listed is supported (-> 406)."""
    if header is None or not header.strip():
        return default
    candidates: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        pieces = part.split(";")
        kind = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if kind and quality > 0:
            candidates.append((-quality, position, kind))
    for _, _, kind in sorted(candidates):
        if kind in RESPONSE_TYPES:
            return kind
        if kind == "*/*":
            return default
        if kind == "text/*":
            return CSV
        if kind == "application/*":
            return JSON
    return None


def _decode(body: bytes) -> str:
    if not body.strip():
        raise BadRequestError(400, "empty request body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequestError(400, f"body is not UTF-8 text (byte {error.start})") from None


def _bad_number(layout: FeatureLayout, rows: list[list[Any]], column_positions: tuple[int, ...]) -> BadRequestError:
    """Locate the first value that is not a finite number, for the error message (slow path only)."""
    for row_number, values in enumerate(rows):
        for position in column_positions:
            value = values[position]
            if value is None or value == "":
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
                ok = False
            else:
                ok = not math.isinf(number) and not (isinstance(value, bool))
            if not ok:
                name = layout.names[position]
                return BadRequestError(
                    400, f"row {row_number}, column {name!r}: {value!r} is not a finite number",
                    row=row_number, column=name,
                )
    return BadRequestError(400, "a numeric feature holds a value that is not a finite number")


def _picked(rows: list[list[str]], positions: tuple[int, ...]) -> list[Any]:
    """Each row's fields at `positions`, picked in C (itemgetter), as tuples (one position: the field)."""
    return list(map(operator.itemgetter(*positions), rows))


def _numeric_block(layout: FeatureLayout, rows: list[list[str]], empty: bool | None) -> np.ndarray:
    """float64 (NaN = empty field) for the numeric columns, converted in one C-level call. `empty`: whether
    the rows may hold empty fields (None: not known; an exception tells)."""
    positions = layout.numeric
    if not positions:
        return np.empty((len(rows), 0), dtype=np.float64)
    picked = _picked(rows, positions)
    try:
        if empty is not True:
            try:
                numbers = np.array(picked, dtype=np.float64)
            except ValueError:
                if empty is False:
                    raise
                empty = True
        if empty:
            # Missing values: empty fields read as NaN, a pass in Python over the values.
            numbers = np.array([v or "nan" for v in picked] if len(positions) == 1 else
                               [[v or "nan" for v in values] for values in picked], dtype=np.float64)
    except ValueError:
        raise _bad_number(layout, rows, positions) from None
    if np.isinf(numbers).any():
        raise _bad_number(layout, rows, positions)
    return numbers.reshape(len(rows), len(positions))


def _categorical_block(layout: FeatureLayout, rows: list[list[str]], empty: bool | None) -> np.ndarray:
    positions = layout.categorical
    if not positions:
        return np.empty((len(rows), 0), dtype=object)
    values = np.array(_picked(rows, positions), dtype=object).reshape(len(rows), len(positions))
    if empty is not False:
        values[values == ""] = None
    return values


# Up to this many rows the fields become arrays through Python floats, one numpy call per block: for
# single-row traffic that is cheaper than the column-wise conversion's several numpy calls. Python's
# float() is the conversion numpy applies to text too (the codec fuzz test holds both to it).
TINY_ROWS = 4


def _tiny_row_batch(layout: FeatureLayout, rows: list[list[str]]) -> RowBatch:
    numbers: list[list[float]] = []
    for row in rows:
        values = []
        for j in layout.numeric:
            text = row[j]
            if not text:
                values.append(math.nan)
                continue
            try:
                number = float(text)
            except ValueError:
                raise _bad_number(layout, rows, layout.numeric) from None
            if math.isinf(number):
                raise _bad_number(layout, rows, layout.numeric)
            values.append(number)
        numbers.append(values)
    categories = [[row[j] or None for j in layout.categorical] for row in rows]
    # Lists of equal lengths: numpy makes them (rows, columns) arrays, (rows, 0) for empty ones.
    return RowBatch(numeric=np.array(numbers, dtype=np.float64), categorical=np.array(categories, dtype=object))


def _row_batch(layout: FeatureLayout, rows: list[list[str]], empty: bool | None = None) -> RowBatch:
    if len(rows) <= TINY_ROWS:
        return _tiny_row_batch(layout, rows)
    return RowBatch(numeric=_numeric_block(layout, rows, empty), categorical=_categorical_block(layout, rows, empty))


def _has_empty_field(text: str) -> bool:
    """Whether plain CSV text (no quotes, \n line ends) holds an empty field: a few substring scans."""
    return (",," in text or ",\n" in text or "\n," in text or "\n\n" in text or text.startswith((",", "\n"))
            or text.endswith(","))


def _all_numeric_csv(text: str, layout: FeatureLayout) -> RowBatch | None:
    """The vectorized path for numeric-only models: one split of the whole body and one C-level
    conversion, no Python loop per value. None when the body needs the general path (quotes,
    empty fields, a bad value to locate)."""
    if layout.categorical:
        return None
    plain = _plain_csv_lines(text)
    if plain is None or plain[1]:
        return None
    lines = plain[0]
    commas = len(layout.names) - 1
    if not lines or any(line.count(",") != commas for line in lines):
        return None
    flat = ",".join(lines).split(",")
    try:
        numbers = np.array(flat, dtype=np.float64).reshape(len(lines), commas + 1)
    except ValueError:
        return None
    if np.isinf(numbers).any():
        return None
    return RowBatch(numeric=numbers, categorical=np.empty((len(lines), 0), dtype=object))


def _plain_csv_lines(text: str) -> tuple[list[str], bool] | None:
    """The lines of a body the csv module would read the same way by splitting (no quotes, no lone CR:
    the common case, read without it), and whether they hold an empty field; None for the rest."""
    if '"' in text:
        return None
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, _has_empty_field(text)


def _split_csv_rows(text: str) -> tuple[list[list[str]], bool | None]:
    """The rows, and whether they hold an empty field (None: not known)."""
    plain = _plain_csv_lines(text)
    if plain is not None:
        lines, empty = plain
        return [line.split(",") for line in lines], empty
    # Quoted fields may hold commas or line breaks: let the csv module read them. It gives an empty
    # line no field; a split gives it one empty field (one missing value), as every line is a row.
    return [row or [""] for row in csv.reader(io.StringIO(text))], None


def parse_csv(body: bytes, layout: FeatureLayout) -> RowBatch:
    """text/csv: one row per line, no header, features in metadata order, empty field = missing."""
    text = _decode(body)
    fast = _all_numeric_csv(text, layout)
    if fast is not None:
        return fast
    try:
        rows, empty = _split_csv_rows(text)
    except csv.Error as error:
        raise BadRequestError(400, f"malformed CSV: {error}") from None
    width = len(layout.names)
    if set(map(len, rows)) - {width}:  # counted in C; the loop below only names the first bad row
        for row_number, row in enumerate(rows):
            if len(row) != width:
                raise BadRequestError(
                    400, f"row {row_number}: {len(row)} column(s), the model takes {width} ({', '.join(layout.names)})",
                    row=row_number,
                )
    if not rows:
        raise BadRequestError(400, "no rows in the CSV body")
    return _row_batch(layout, rows, empty)


def _json_value_to_text(value: Any, row: int, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise BadRequestError(400, f"row {row}, column {name!r}: {type(value).__name__} is not a feature value",
                     row=row, column=name)


def _json_rows(document: Any, layout: FeatureLayout) -> list[list[str]]:
    """Accepted shapes: {"instances": [...]} or a bare list, of lists (metadata order), records
    ({"feature": value}) or {"features": [...]} objects."""
    instances = document.get("instances") if isinstance(document, dict) else document
    if isinstance(document, dict) and set(document) != {"instances"}:
        raise BadRequestError(400, 'JSON object body must be {"instances": [...]}')
    if not isinstance(instances, list):
        raise BadRequestError(400, 'JSON body must be a list of rows or {"instances": [...]}')
    if not instances:
        raise BadRequestError(400, "no rows in the JSON body")
    width = len(layout.names)
    rows: list[list[str]] = []
    for row_number, instance in enumerate(instances):
        item = instance
        if isinstance(item, dict) and set(item) == {"features"} and isinstance(item["features"], list):
            item = item["features"]
        if isinstance(item, list):
            if len(item) != width:
                raise BadRequestError(
                    400, f"row {row_number}: {len(item)} value(s), the model takes {width} ({', '.join(layout.names)})",
                    row=row_number,
                )
            rows.append([_json_value_to_text(v, row_number, layout.names[i]) for i, v in enumerate(item)])
        elif isinstance(item, dict):
            unknown = sorted(str(key) for key in item if key not in layout.index)
            if unknown:
                raise BadRequestError(400, f"row {row_number}: unknown feature(s) {unknown}; the model takes "
                                 f"{list(layout.names)}", row=row_number, column=unknown[0])
            rows.append([_json_value_to_text(item.get(name), row_number, name) for name in layout.names])
        else:
            raise BadRequestError(400, f"row {row_number}: expected a list of values or an object of features",
                             row=row_number)
    return rows


def parse_json(body: bytes, layout: FeatureLayout) -> RowBatch:
    text = _decode(body)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequestError(400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise BadRequestError(400, "malformed JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to convert integers longer than this (a quadratic-time guard) with a plain ValueError.
        raise BadRequestError(
            400, f"malformed JSON: an integer of more than {sys.get_int_max_str_digits()} digits") from None
    rows = _json_rows(document, layout)
    return _row_batch(layout, rows)


def parse_jsonlines(body: bytes, layout: FeatureLayout) -> RowBatch:
    """application/jsonlines: one row per line, each a list (metadata order), a record or {"features": [...]}."""
    document: list[Any] = []
    for line_number, line in enumerate(_decode(body).splitlines()):
        if not line.strip():
            continue
        try:
            document.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise BadRequestError(400, f"line {line_number}: malformed JSON: {error.msg} at column {error.colno}",
                                  row=line_number) from None
        except (RecursionError, ValueError):
            raise BadRequestError(400, f"line {line_number}: malformed JSON (nested too deeply or an integer too "
                                       "long)", row=line_number) from None
    if not document:
        raise BadRequestError(400, "no rows in the JSON Lines body")
    return _row_batch(layout, _json_rows(document, layout))


def parse_npy(body: bytes, layout: FeatureLayout) -> RowBatch:
    """application/x-npy: one numpy array in .npy format, 1-D (one row) or 2-D (rows x features).
    Object arrays are refused: loading them would unpickle the client's bytes."""
    try:
        array = read_npy(body)
    except NpyFormatError as error:
        raise BadRequestError(400, f"malformed .npy body: {error}") from None
    if array.ndim == 1:
        array = array.reshape(1, -1)
    width = len(layout.names)
    if array.ndim != 2 or array.shape[1] != width:
        raise BadRequestError(400, f"array of shape {array.shape}; the model takes rows of {width} features "
                                   f"({', '.join(layout.names)})")
    if array.shape[0] == 0:
        raise BadRequestError(400, "no rows in the .npy array")
    if array.dtype.kind not in "biufUS":
        raise BadRequestError(400, f"array of dtype {array.dtype} is not numbers or text")
    if array.dtype.kind in "biuf" and not layout.categorical:
        numbers = array.astype(np.float64)
        if np.isinf(numbers).any():
            rows = numbers.tolist()
            raise _bad_number(layout, rows, layout.numeric)
        return RowBatch(numeric=numbers, categorical=np.empty((len(numbers), 0), dtype=object))
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8", errors="replace")
    # Mixed models: as text, through the CSV path's per-column conversion (NaN reads back as missing).
    return _row_batch(layout, array.astype(str).tolist())


PARSERS = {CSV: parse_csv, JSON: parse_json, JSONLINES: parse_jsonlines, NPY: parse_npy}


@dataclass(slots=True)
class Predictions:
    """Model output for a batch: labels + class probabilities, or regression values."""

    values: list[Any]  # predicted labels (classification) or numbers (regression)
    probabilities: np.ndarray | None  # (rows, classes) in `classes` order, or None
    classes: tuple[Any, ...] | None

    def slice(self, start: int, stop: int) -> Predictions:
        probabilities = None if self.probabilities is None else self.probabilities[start:stop]
        return Predictions(self.values[start:stop], probabilities, self.classes)


def _csv_field(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


@functools.lru_cache(maxsize=16)
def _label_fields(classes: tuple[Any, ...]) -> dict[Any, str]:
    """Each class label as its CSV field: the same model's few classes, made once."""
    return {label: _csv_field(label) for label in classes}


def encode_csv(predictions: Predictions) -> bytes:
    """One line per row: `label,p(class 0),p(class 1),...` (classes in metadata order) or `value`.
    Floats are written with repr: the shortest text that reads back as the same float64."""
    if predictions.probabilities is None:
        return "".join([_csv_field(value) + "\n" for value in predictions.values]).encode()
    label_text = _label_fields(predictions.classes or ())
    labels = [label_text.get(value) or _csv_field(value) for value in predictions.values]
    probabilities = predictions.probabilities.tolist()
    if predictions.probabilities.shape[1] == 2:
        lines = [f"{label},{p0!r},{p1!r}\n" for label, (p0, p1) in zip(labels, probabilities, strict=True)]
    else:
        lines = [label + "," + ",".join(map(repr, row)) + "\n" for label, row in zip(labels, probabilities,
                                                                                       strict=True)]
    return "".join(lines).encode()


def _json_items(predictions: Predictions) -> list[dict[str, Any]]:
    if predictions.probabilities is None or predictions.classes is None:
        if predictions.classes is None:
            items: list[dict[str, Any]] = [{"score": value} for value in predictions.values]
        else:
            items = [{"predicted_label": value} for value in predictions.values]
        return items
    keys = [str(label) for label in predictions.classes]
    binary = len(keys) == 2
    items = []
    for value, probabilities in zip(predictions.values, predictions.probabilities.tolist(), strict=True):
        score = probabilities[1] if binary else max(probabilities)
        items.append({"predicted_label": value, "score": score, "probabilities": dict(zip(keys, probabilities,
                                                                                            strict=True))})
    return items


def encode_json(predictions: Predictions) -> bytes:
    """`{"predictions": [{"predicted_label", "score", "probabilities"} | {"score"}]}` (see the package doc)."""
    return json.dumps({"predictions": _json_items(predictions)}).encode()


def encode_jsonlines(predictions: Predictions) -> bytes:
    """One JSON object per line, the items of `encode_json` (batch transform joins lines back to rows)."""
    return "".join([json.dumps(item) + "\n" for item in _json_items(predictions)]).encode()


def encode_npy(predictions: Predictions) -> bytes:
    """The CSV encoder's table as one .npy array: regression values (rows,); classification
    (rows, 1 + classes) of `label, p(class 0), ...` as float64 when labels are numbers, else as text.
    Never an object array: the SDK's NumpyDeserializer and `np.load(allow_pickle=False)` both read it."""
    values = np.asarray(predictions.values)
    if predictions.probabilities is None:
        array = values if values.dtype.kind in "biuf" else values.astype(str)
    elif values.dtype.kind in "biuf":
        array = np.column_stack([values.astype(np.float64), predictions.probabilities])
    else:
        probabilities = [[repr(p) for p in row] for row in predictions.probabilities.tolist()]
        array = np.array([[str(label), *row] for label, row in zip(predictions.values, probabilities, strict=True)])
    return write_npy(array)


ENCODERS = {CSV: encode_csv, JSON: encode_json, JSONLINES: encode_jsonlines, NPY: encode_npy}
