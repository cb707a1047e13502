"""Reading the job's dataset into a typed frame: CSV/JSON files, or endpoint data-capture files."""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from containers.contracts.capture import (
    CapturedPayload,
    CaptureError,
    CaptureRecord,
    format_capture_time,
    parse_capture_line,
)
from containers.monitor.errors import MonitorError
from containers.monitor.scripts import Preprocessor, Row, load_preprocessor, preprocessed_rows
from containers.monitor.settings import AnalyzerSettings, OutputColumnsPosition

CaptureSide = Literal["endpointInput", "endpointOutput"]


def positional_names(width: int, feature_names: Sequence[str]) -> list[str]:
    """Names for positional columns (headerless CSV, JSON arrays): the baseline's feature names in
    order, then Spark-style `_c<i>` for columns beyond them (they become extra columns)."""
    return [feature_names[i] if i < len(feature_names) else f"_c{i}" for i in range(width)]


def list_data_files(source: Path) -> list[Path]:
    """Every non-hidden file under `source` (or `source` itself), sorted for a stable row order."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise MonitorError(f"dataset_source {source} does not exist")
    files = sorted(
        path
        for path in source.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(source).parts)
    )
    if not files:
        raise MonitorError(f"no data files found under dataset_source {source}")
    return files


# ---------------------------------------------------------------- CSV and JSON datasets


def _known_dtypes(
    names: Sequence[str], string_features: Collection[str], fractional_features: Collection[str] = ()
) -> dict[str, str]:
    # Columns the baseline calls String are read as text, so "007" or "1" keep their spelling;
    # as categoricals, parsed and counted by code (baselines keep a value distribution only for
    # low-cardinality strings, and codes stay cheap for the others). Fractional columns are read
    # straight into float64 (missing = NaN), without the masked arrays' chunk concatenation.
    dtypes = {name: "category" for name in names if name in string_features}
    dtypes.update({name: "float64" for name in names if name in fractional_features})
    return dtypes


def read_csv_file(
    path: Path,
    header: bool,
    feature_names: Sequence[str] = (),
    string_features: Collection[str] = (),
    fractional_features: Collection[str] = (),
) -> pd.DataFrame:
    """One CSV file with pandas' C reader; nullable dtypes so integer columns with gaps stay integral."""
    try:
        if header:
            try:
                frame = _read_with_header(path, _known_dtypes(feature_names, string_features, fractional_features))
            except ValueError:
                if not fractional_features:
                    raise
                # Text in a column the baseline calls Fractional: read it as it is, so the data
                # type check reports it instead of the read failing.
                frame = _read_with_header(path, _known_dtypes(feature_names, string_features))
            frame.columns = [str(name) for name in frame.columns]
            return _as_strings(frame, string_features)
        frame = pd.read_csv(path, header=None, dtype_backend="numpy_nullable")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise MonitorError(f"cannot read CSV file {path}: {str(error).splitlines()[0]}") from error
    frame.columns = positional_names(frame.shape[1], feature_names)
    return _as_strings(frame, string_features)


def _read_with_header(path: Path, dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.read_csv(path, header=0, dtype_backend="numpy_nullable", dtype=dtypes or None)


def _as_strings(frame: pd.DataFrame, string_features: Collection[str]) -> pd.DataFrame:
    for name in frame.columns:
        dtype = frame[name].dtype
        textual = pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype)
        if name in string_features and not textual:
            frame[name] = frame[name].astype("string")
    return frame


def read_json_file(path: Path, lines: bool, feature_names: Sequence[str] = ()) -> list[Row]:
    """Rows of a JSON (one document) or JSON-lines file."""
    try:
        text = path.read_text(encoding="utf-8")
        documents = [json.loads(line) for line in text.splitlines() if line.strip()] if lines else [json.loads(text)]
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MonitorError(f"cannot read JSON file {path}: {error}") from error
    rows: list[Row] = []
    for document in documents:
        rows.extend(json_document_rows(document))
    return rows


def json_document_rows(document: Any) -> list[Row]:
    """Rows of one JSON payload: `{"instances": [...]}`, a list of instances, or one record.

    An instance is a list (positional), `{"features": [...]}` (positional), a dict (named), or a
    scalar (a one-column row, as in TF-Serving's `{"instances": [1.0, 2.0]}`). A top-level list
    of scalars is one positional row.
    """
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        items = instances if isinstance(instances, list) else [instances]
        return [_instance_row(item) for item in items]
    if isinstance(document, list):
        if all(not isinstance(item, list | dict) for item in document):
            return [list(document)]
        return [_instance_row(item) for item in document]
    return [_instance_row(document)]


def _instance_row(instance: Any) -> Row:
    if isinstance(instance, list):
        return instance
    if isinstance(instance, dict):
        if list(instance) == ["features"] and isinstance(instance["features"], list):
            return list(instance["features"])
        return instance
    return [instance]


def rows_to_frame(rows: Sequence[Row], feature_names: Sequence[str] = ()) -> pd.DataFrame:
    """A typed frame from positional and/or named rows; each column's dtype is inferred by pandas
    (ints -> Int64, numbers -> Float64, text -> string, mixed -> object)."""
    if all(isinstance(row, list) for row in rows):
        width = max((len(row) for row in rows), default=0)
        columns = list(zip_longest(*rows, fillvalue=None)) if rows else []
        names = positional_names(width, feature_names)
        return pd.DataFrame({name: _column(values) for name, values in zip(names, columns, strict=True)})
    records: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, dict):
            records.append({str(key): value for key, value in row.items()})
        else:
            records.append(dict(zip(positional_names(len(row), feature_names), row, strict=True)))
    keys = list(dict.fromkeys(key for record in records for key in record))
    return pd.DataFrame({key: _column([record.get(key) for record in records]) for key in keys})


def _column(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    plain = [json.dumps(value) if isinstance(value, list | dict) else value for value in values]
    try:
        array: pd.api.extensions.ExtensionArray = pd.array(plain)
    except (TypeError, ValueError):
        return pd.array([None if value is None else str(value) for value in plain], dtype="string")
    return array


def read_table_dataset(
    settings: AnalyzerSettings,
    feature_names: Sequence[str] = (),
    string_features: Collection[str] = (),
    fractional_features: Collection[str] = (),
) -> pd.DataFrame:
    """A CSV or JSON dataset (every file under dataset_source)."""
    files = list_data_files(settings.dataset_source)
    fmt = settings.dataset_format
    if fmt.kind == "csv":
        frames = [
            read_csv_file(path, fmt.header, feature_names, string_features, fractional_features) for path in files
        ]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    else:
        rows = [row for path in files for row in read_json_file(path, fmt.lines, feature_names)]
        frame = _as_strings(rows_to_frame(rows, feature_names), string_features)
    if frame.empty:
        raise MonitorError(f"dataset_source {settings.dataset_source} holds no data rows")
    return frame


# ---------------------------------------------------------------- data capture


def _hour_of(path: Path) -> datetime | None:
    # Capture files live in <endpoint>/<variant>/yyyy/mm/dd/hh/; other layouts are read unfiltered.
    parts = path.parent.parts[-4:]
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        year, month, day, hour = (int(part) for part in parts)
        try:
            return datetime(year, month, day, hour, tzinfo=UTC)
        except ValueError:
            return None
    return None


def list_capture_files(source: Path, start: datetime | None, end: datetime | None) -> list[Path]:
    """The `*.jsonl` capture files under `source`, skipping hour folders outside [start, end)."""
    if not source.is_dir():
        raise MonitorError(f"dataset_source {source} does not exist or is not a folder")
    files = []
    for path in sorted(source.rglob("*.jsonl")):
        hour = _hour_of(path)
        if hour is not None and ((end and hour >= end) or (start and hour + timedelta(hours=1) <= start)):
            continue
        files.append(path)
    if not files:
        raise MonitorError(f"no data-capture files (*.jsonl) found under dataset_source {source}")
    return files


def read_capture_records(
    files: Sequence[Path], start: datetime | None, end: datetime | None
) -> Iterator[CaptureRecord]:
    """Capture records whose inferenceTime lies in [start, end) (all when no window)."""
    # inferenceTime is fixed-format UTC text, so the window compares as strings.
    low = format_capture_time(start) if start else None
    high = format_capture_time(end) if end else None
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = parse_capture_line(line)
                except CaptureError as error:
                    raise MonitorError(f"{path}:{number}: {error}") from error
                when = record.event_metadata.inference_time
                if (low and when < low) or (high and when >= high):
                    continue
                yield record


def _payload_kind(payload: CapturedPayload) -> str:
    media = payload.observed_content_type.split(";", 1)[0].strip().lower()
    if payload.encoding == "CSV" or media == "text/csv":
        return "csv"
    return "json"


def _payload_rows(payload: CapturedPayload, feature_names: Sequence[str], where: str) -> list[Row]:
    text = payload.text()
    if _payload_kind(payload) == "csv":
        return [line.split(",") for line in text.splitlines() if line.strip()]
    try:
        if "jsonlines" in payload.observed_content_type:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            documents = [json.loads(text)]
    except json.JSONDecodeError as error:
        raise MonitorError(f"{where}: payload is not valid JSON: {error}") from error
    return [row for document in documents for row in json_document_rows(document)]


def _csv_frame(lines: list[str], feature_names: Sequence[str], string_features: Collection[str]) -> pd.DataFrame:
    width = max(line.count(",") for line in lines) + 1
    names = positional_names(width, feature_names)
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            header=None,
            names=names,
            dtype_backend="numpy_nullable",
            dtype=_known_dtypes(names, string_features) or None,
        )
    except (pd.errors.ParserError, ValueError) as error:
        raise MonitorError(f"cannot parse captured CSV payloads: {str(error).splitlines()[0]}") from error
    return frame


def capture_frame(
    records: Iterator[CaptureRecord],
    *,
    output_position: OutputColumnsPosition = "NONE",
    feature_names: Sequence[str] = (),
    string_features: Collection[str] = (),
    preprocessor: Preprocessor | None = None,
    side: CaptureSide = "endpointInput",
) -> pd.DataFrame:
    """The features of the captured requests (or, with `side` endpointOutput, of the responses).

    CSV payloads have no header: columns map by position onto `feature_names` (the baseline's
    order; extras become `_c<i>`). JSON payloads give positional or named rows. With
    `output_position` START or END the endpointOutput columns are joined to each row (the
    analyzer's `output_columns_position`); by default only endpointInput becomes features.
    A `preprocessor` replaces all of this: each record goes to `preprocess_handler`.
    """
    csv_lines: list[str] = []
    rows: list[Row] = []
    for record in records:
        where = f"capture event {record.event_metadata.event_id}"
        if preprocessor is not None:
            rows.extend(preprocessed_rows(preprocessor, record, where))
            continue
        data = record.capture_data
        payload = data.endpoint_input if side == "endpointInput" else data.endpoint_output
        if payload is None:
            continue
        if _payload_kind(payload) == "csv":
            lines = [line for line in payload.text().splitlines() if line.strip()]
            if output_position != "NONE":
                lines = _join_output_lines(record, lines, output_position, feature_names, where)
            csv_lines.extend(lines)
            continue
        inputs = _payload_rows(payload, feature_names, where)
        if output_position != "NONE":
            inputs = _join_outputs(record, inputs, output_position, feature_names, where)
        rows.extend(inputs)
    frames = []
    if csv_lines:
        frames.append(_csv_frame(csv_lines, feature_names, string_features))
    if rows:
        frames.append(_as_strings(rows_to_frame(rows, feature_names), string_features))
    if not frames:
        raise MonitorError("the data-capture files hold no records in the requested time window")
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _output_lines(record: CaptureRecord, feature_names: Sequence[str], where: str) -> list[str]:
    payload = record.capture_data.endpoint_output
    if payload is None:
        return []
    if _payload_kind(payload) == "csv":
        return [line for line in payload.text().splitlines() if line.strip()]
    lines = []
    for row in _payload_rows(payload, feature_names, where):
        values = row.values() if isinstance(row, dict) else row
        lines.append(",".join("" if value is None else str(value) for value in values))
    return lines


def _join_output_lines(
    record: CaptureRecord,
    lines: list[str],
    position: OutputColumnsPosition,
    feature_names: Sequence[str],
    where: str,
) -> list[str]:
    outputs = _output_lines(record, feature_names, where)
    if len(outputs) != len(lines):
        raise MonitorError(f"{where}: {len(lines)} input rows but {len(outputs)} output rows")
    if position == "START":
        return [f"{produced},{given}" for given, produced in zip(lines, outputs, strict=True)]
    return [f"{given},{produced}" for given, produced in zip(lines, outputs, strict=True)]


def _join_outputs(
    record: CaptureRecord,
    inputs: list[Row],
    position: OutputColumnsPosition,
    feature_names: Sequence[str],
    where: str,
) -> list[Row]:
    payload = record.capture_data.endpoint_output
    outputs = _payload_rows(payload, feature_names, where) if payload is not None else []
    if len(outputs) != len(inputs):
        raise MonitorError(f"{where}: {len(inputs)} input rows but {len(outputs)} output rows")
    joined: list[Row] = []
    for given, produced in zip(inputs, outputs, strict=True):
        if isinstance(given, dict) or isinstance(produced, dict):
            raise MonitorError(f"{where}: output columns can only be joined to positional (CSV/array) rows")
        joined.append(produced + given if position == "START" else given + produced)
    return joined


def read_capture_dataset(
    settings: AnalyzerSettings, feature_names: Sequence[str] = (), string_features: Collection[str] = ()
) -> pd.DataFrame:
    """The captured requests under dataset_source within the job's time window."""
    files = list_capture_files(settings.dataset_source, settings.start_time, settings.end_time)
    preprocessor = (
        load_preprocessor(settings.record_preprocessor_script) if settings.record_preprocessor_script else None
    )
    position: OutputColumnsPosition = settings.endpoint_output_columns_position
    indexes = settings.dataset_format.capture_index_names
    # captureIndexNames says which side is profiled; with only endpointOutput, the responses are
    # the features (no input columns to join them to).
    side: CaptureSide = "endpointInput" if "endpointInput" in indexes else "endpointOutput"
    if "endpointOutput" not in indexes or side == "endpointOutput":
        position = "NONE"
    records = read_capture_records(files, settings.start_time, settings.end_time)
    return capture_frame(
        records,
        output_position=position,
        feature_names=feature_names,
        string_features=string_features,
        preprocessor=preprocessor,
        side=side,
    )


def read_dataset(
    settings: AnalyzerSettings,
    feature_names: Sequence[str] = (),
    string_features: Collection[str] = (),
    fractional_features: Collection[str] = (),
) -> pd.DataFrame:
    """The job's dataset as a frame whose columns are the features."""
    if settings.dataset_format.kind == "capture":
        return read_capture_dataset(settings, feature_names, string_features)
    return read_table_dataset(settings, feature_names, string_features, fractional_features)
