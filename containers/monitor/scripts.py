"""The user's scripts the analyzer runs: `preprocess_handler` per record, `postprocess_handler` at the end."""

from __future__ import annotations

import importlib.util
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from containers.contracts.capture import CapturedPayload, CaptureRecord
from containers.monitor.errors import MonitorError

Preprocessor = Callable[["InferenceRecord"], Any]
Row = list[Any] | dict[str, Any]


@dataclass(frozen=True)
class CapturedData:
    """One side of a record as `preprocess_handler` sees it (attribute names as AWS documents)."""

    data: str
    encoding: str
    observedContentType: str  # noqa: N815 - AWS's attribute name
    mode: str


@dataclass(frozen=True)
class EventMetadata:
    event_id: str
    event_time: str
    inference_id: str | None
    custom_attribute: list[str]


@dataclass(frozen=True)
class InferenceRecord:
    endpoint_input: CapturedData | None
    endpoint_output: CapturedData | None
    event_metadata: EventMetadata
    event_version: str
    ground_truth: Any = None


def _side(payload: CapturedPayload | None) -> CapturedData | None:
    if payload is None:
        return None
    return CapturedData(payload.data, payload.encoding, payload.observed_content_type, payload.mode)


def inference_record(record: CaptureRecord) -> InferenceRecord:
    metadata = record.event_metadata
    return InferenceRecord(
        endpoint_input=_side(record.capture_data.endpoint_input),
        endpoint_output=_side(record.capture_data.endpoint_output),
        event_metadata=EventMetadata(metadata.event_id, metadata.inference_time, metadata.inference_id, []),
        event_version=record.event_version,
    )


def _load_script(path: Path, key: str, function: str) -> Callable[..., Any]:
    if not path.is_file():
        raise MonitorError(f"{key} {path} does not exist")
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise MonitorError(f"{key} {path} cannot be loaded as a Python module")
    module: ModuleType = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's script: any import-time failure is reported by name
        raise MonitorError(f"{key} {path} failed to load: {error!r}") from error
    handler = getattr(module, function, None)
    if not callable(handler):
        raise MonitorError(f"{key} {path} defines no {function} function")
    return cast(Callable[..., Any], handler)


def load_preprocessor(path: Path) -> Preprocessor:
    """`preprocess_handler` from a record preprocessor script; `(record)` or `(record, logger)`."""
    handler = _load_script(path, "record_preprocessor_script", "preprocess_handler")
    if len(inspect.signature(handler).parameters) >= 2:
        logger = logging.getLogger("record_preprocessor")
        return lambda record: handler(record, logger)
    return cast(Preprocessor, handler)


def preprocessed_rows(preprocessor: Preprocessor, record: CaptureRecord, where: str) -> list[Row]:
    try:
        result = preprocessor(inference_record(record))
    except Exception as error:  # the user's code: report which record broke it
        raise MonitorError(f"preprocess_handler failed on {where}: {error!r}") from error
    if result is None or result == []:
        return []
    if isinstance(result, dict):
        return [result]
    if isinstance(result, list) and all(isinstance(item, dict) for item in result):
        return list(result)
    raise MonitorError(f"preprocess_handler returned {type(result).__name__} for {where}; expected a dict or []")


def run_postprocessor(path: Path) -> None:
    """Call `postprocess_handler()` of the post-analytics script, as SageMaker does after a
    successful analysis; its failure fails the job (the analysis's files stay written)."""
    handler = _load_script(path, "post_analytics_processor_script", "postprocess_handler")
    try:
        handler()
    except Exception as error:  # the user's code: report it by the setting's name
        raise MonitorError(f"post_analytics_processor_script {path} failed: {error!r}") from error
