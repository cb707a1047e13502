"""The framework-container convention: a user's `code/inference.py` in the model artifact overrides any of
`model_fn`, `input_fn`, `predict_fn`, `output_fn` (or all of them with `transform_fn`); the server's own
code runs for the rest.

Signatures and semantics follow the SageMaker inference toolkit (sagemaker-inference-toolkit's
Transformer and the scikit-learn container's default handlers):
    model_fn(model_dir) -> model                      (default: our sklearn pipeline + metadata.json)
    input_fn(input_data: bytes, content_type) -> data (default: our CSV/JSON codec -> RowBatch)
    predict_fn(data, model) -> prediction             (default: our fast path; a DataFrame, a 2-D array,
                                                       rows or records from a custom input_fn are accepted)
    output_fn(prediction, accept) -> body | (body, content_type)
                                                      (default: our encoders for our Predictions, else
                                                       JSON of the array, or one CSV line per row)
    transform_fn(model, input_data, content_type, accept) -> body | (body, content_type)
A handler's exception becomes the response: its `status_code` attribute (4xx/5xx, as the toolkit's
GenericInferenceToolkitError carries) or 400 from input_fn and 500 from the others, with its message.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from containers.inference.codec import (
    ENCODERS,
    JSONLINES,
    NPY,
    PARSERS,
    RESPONSE_TYPES,
    BadRequestError,
    FeatureLayout,
    Predictions,
    RowBatch,
    media_type,
    negotiate_accept,
)

CODE_DIR = "code"
INFERENCE_MODULE = "inference.py"
HANDLER_NAMES = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


class HandlerError(Exception):
    """A user handler failed (or cannot be loaded); carries the HTTP status and the handler's message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


def inference_script(model_dir: Path) -> Path:
    return Path(model_dir) / CODE_DIR / INFERENCE_MODULE


def _import(path: Path) -> ModuleType:
    # The toolkit puts code/ on sys.path so inference.py can import its helper modules.
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location("user_inference", path)
    if spec is None or spec.loader is None:
        raise HandlerError(500, f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's module may raise anything at import: name it, keep serving 503
        raise HandlerError(500, f"{path}: import failed: {type(error).__name__}: {error}") from error
    return module


@dataclass(frozen=True)
class UserHandlers:
    """The functions inference.py defines (None where the server's default applies)."""

    source: Path
    model_fn: Callable[..., Any] | None = None
    input_fn: Callable[..., Any] | None = None
    predict_fn: Callable[..., Any] | None = None
    output_fn: Callable[..., Any] | None = None
    transform_fn: Callable[..., Any] | None = None

    @classmethod
    def load(cls, model_dir: Path) -> UserHandlers | None:
        """The handlers of `<model_dir>/code/inference.py`, or None when the artifact ships no code."""
        path = inference_script(model_dir)
        if not path.is_file():
            return None
        module = _import(path)
        found = {name: getattr(module, name, None) for name in HANDLER_NAMES}
        not_callable = [name for name, value in found.items() if value is not None and not callable(value)]
        if not_callable:
            raise HandlerError(500, f"{path}: {', '.join(not_callable)} must be functions")
        if found["transform_fn"] is not None and any(found[name] for name in ("input_fn", "predict_fn", "output_fn")):
            # The toolkit refuses the same mix: transform_fn replaces the other three.
            raise HandlerError(500, f"{path}: transform_fn cannot be combined with input_fn, predict_fn or output_fn")
        return cls(source=path, **found)

    @property
    def names(self) -> list[str]:
        return [name for name in HANDLER_NAMES if getattr(self, name) is not None]

    @property
    def custom_input(self) -> bool:
        return self.input_fn is not None or self.transform_fn is not None

    @property
    def custom_output(self) -> bool:
        return self.output_fn is not None or self.transform_fn is not None


def call_handler(name: str, function: Callable[..., Any], *arguments: Any) -> Any:
    """Run one user handler; its failure becomes a HandlerError with its status and message."""
    try:
        return function(*arguments)
    except HandlerError:
        raise
    except Exception as error:  # user code: any exception is an answer, never a dead worker
        status = getattr(error, "status_code", None)
        if not (isinstance(status, int) and 400 <= status <= 599):
            status = 400 if name == "input_fn" else 500
        message = str(getattr(error, "message", "") or error) or type(error).__name__
        raise HandlerError(status, f"{name} failed: {type(error).__name__}: {message}") from error


def _frame_to_batch(frame: Any, layout: FeatureLayout) -> RowBatch:
    import pandas as pd

    missing = [name for name in layout.names if name not in frame.columns]
    if missing:
        raise BadRequestError(400, f"input_fn's rows lack feature(s) {missing}", column=missing[0])
    numeric = np.empty((len(frame), len(layout.numeric)), dtype=np.float64)
    for k, position in enumerate(layout.numeric):
        name = layout.names[position]
        column = frame[name]
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        bad = (np.isnan(numbers) & column.notna().to_numpy()) | np.isinf(numbers)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise BadRequestError(400, f"row {row}, column {name!r}: {column.iloc[row]!r} is not a finite number",
                                  row=row, column=name)
        numeric[:, k] = numbers
    categorical = np.empty((len(frame), len(layout.categorical)), dtype=object)
    for k, position in enumerate(layout.categorical):
        values = frame[layout.names[position]].to_numpy(dtype=object)
        absent = pd.isna(values) | (values == "")
        categorical[:, k] = [None if gone else str(value) for value, gone in zip(values, absent, strict=True)]
    return RowBatch(numeric=numeric, categorical=categorical)


def as_row_batch(data: Any, layout: FeatureLayout) -> RowBatch:
    """What a custom input_fn returned, as the rows the default predict_fn scores."""
    import pandas as pd

    if isinstance(data, RowBatch):
        return data
    if isinstance(data, pd.DataFrame):
        return _frame_to_batch(data, layout)
    if isinstance(data, dict):
        data = [data]
    if isinstance(data, np.ndarray | list | tuple):
        rows = list(data)
        if rows and all(isinstance(row, dict) for row in rows):
            return _frame_to_batch(pd.DataFrame.from_records(rows), layout)
        array = np.asarray(rows, dtype=object)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.ndim != 2 or array.shape[1] != len(layout.names):
            raise BadRequestError(400, f"input_fn returned rows of shape {array.shape}; the model takes "
                                       f"{len(layout.names)} features ({', '.join(layout.names)})")
        return _frame_to_batch(pd.DataFrame(array, columns=list(layout.names)), layout)
    raise HandlerError(500, f"input_fn returned a {type(data).__name__}; the default predict_fn takes a "
                            "DataFrame, a 2-D array, a list of rows or of records")


def default_input(body: bytes, content_type: str, layout: FeatureLayout) -> RowBatch:
    parse = PARSERS.get(media_type(content_type))
    if parse is None:
        raise BadRequestError(415, f"Content-Type {content_type!r} not supported; use one of {', '.join(PARSERS)}")
    return parse(body, layout)


def default_output(prediction: Any, accept: str | None, default_accept: str) -> tuple[bytes, str]:
    """Our encoders for our Predictions; otherwise the toolkit's: JSON of the array or CSV rows."""
    response_type = negotiate_accept(accept, default_accept)
    if response_type is None:
        raise BadRequestError(406, f"Accept {accept!r} not supported; use one of {', '.join(RESPONSE_TYPES)}")
    if isinstance(prediction, Predictions):
        return ENCODERS[response_type](prediction), response_type
    values = prediction.tolist() if hasattr(prediction, "tolist") else prediction
    if response_type == "application/json":
        return json.dumps(values).encode(), response_type
    if response_type == JSONLINES:
        rows = values if isinstance(values, list) else [values]
        return "".join(json.dumps(row) + "\n" for row in rows).encode(), response_type
    if response_type == NPY:
        return _npy_bytes(values), response_type
    rows = values if isinstance(values, list) else [values]
    lines = [",".join(map(str, row)) if isinstance(row, list | tuple) else str(row) for row in rows]
    return ("\n".join(lines) + "\n").encode(), response_type


def _npy_bytes(values: Any) -> bytes:
    """A custom predict_fn's result as .npy, never pickled: numbers as they are, anything else as text."""
    import io

    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        array = array.astype(str)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def encoded_response(result: Any, accept: str) -> tuple[bytes, str]:
    """A handler's return value as (body, content type): `body` or `(body, content_type)`."""
    content_type = accept
    if isinstance(result, tuple) and len(result) == 2:
        result, content_type = result
    if isinstance(result, str):
        result = result.encode()
    if not isinstance(result, bytes | bytearray):
        raise HandlerError(500, f"output_fn returned a {type(result).__name__}; return bytes or str "
                                "(optionally with a content type)")
    return bytes(result), str(content_type)
