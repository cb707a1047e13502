"""Data-capture lines: the JSON record SageMaker writes per endpoint request, typed and encoded fast."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The content types captured as text, as in the SDK's defaults (`CaptureContentTypeHeader`);
# everything else is captured base64-encoded. jsonlines is listed because the AWS jsonlines
# samples configure it and their capture lines say `"encoding":"JSON"`.
DEFAULT_CSV_CONTENT_TYPES: tuple[str, ...] = ("text/csv",)
DEFAULT_JSON_CONTENT_TYPES: tuple[str, ...] = ("application/json", "application/jsonlines")

Encoding = Literal["CSV", "JSON", "BASE64"]


class CaptureError(ValueError):
    """A capture line that is not valid JSON or does not have the data-capture shape."""


class _Model(BaseModel):
    # Field names are snake_case in Python, camelCase on the wire (aliases), unknown keys kept.
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)


class CapturedPayload(_Model):
    """One side of a request (`endpointInput` or `endpointOutput`)."""

    observed_content_type: str = Field(alias="observedContentType")
    mode: Literal["INPUT", "OUTPUT"]
    data: str
    encoding: str

    def text(self) -> str:
        """The payload as text, decoding base64 captures as UTF-8."""
        if self.encoding == "BASE64":
            return base64.b64decode(self.data).decode("utf-8")
        return self.data


class CaptureData(_Model):
    endpoint_input: CapturedPayload | None = Field(default=None, alias="endpointInput")
    endpoint_output: CapturedPayload | None = Field(default=None, alias="endpointOutput")


class EventMetadata(_Model):
    event_id: str = Field(alias="eventId")
    inference_id: str | None = Field(default=None, alias="inferenceId")
    inference_time: str = Field(alias="inferenceTime")

    def inference_datetime(self) -> datetime:
        """`inferenceTime` as an aware UTC datetime (`2022-04-18T00:21:48Z`)."""
        return parse_capture_time(self.inference_time)


class CaptureRecord(_Model):
    """One line of a data-capture file."""

    capture_data: CaptureData = Field(alias="captureData")
    event_metadata: EventMetadata = Field(alias="eventMetadata")
    event_version: str = Field(default="0", alias="eventVersion")

    def to_line(self) -> str:
        """The record as SageMaker writes it: compact JSON, camelCase keys, absent fields omitted."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


def parse_capture_time(text: str) -> datetime:
    """Parse the capture timestamp format (`...Z`, second resolution; fractions accepted)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def format_capture_time(when: datetime) -> str:
    """Format a datetime like `inferenceTime`: UTC, second resolution, trailing `Z`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encoding_for_content_type(
    content_type: str,
    csv_content_types: tuple[str, ...] = DEFAULT_CSV_CONTENT_TYPES,
    json_content_types: tuple[str, ...] = DEFAULT_JSON_CONTENT_TYPES,
) -> Encoding:
    """The capture `encoding` label for a Content-Type header (parameters like charset ignored)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in csv_content_types:
        return "CSV"
    if media_type in json_content_types:
        return "JSON"
    return "BASE64"


def _payload(data: str | bytes, content_type: str, mode: str, encoding: Encoding) -> dict[str, str]:
    if encoding == "BASE64":
        raw = data.encode("utf-8") if isinstance(data, str) else data
        text = base64.b64encode(raw).decode("ascii")
    elif isinstance(data, bytes):
        # Text captures of undecodable bytes would corrupt the line; replacement keeps it valid JSON.
        text = data.decode("utf-8", errors="replace")
    else:
        text = data
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def encode_capture_line(
    *,
    input_data: str | bytes,
    input_content_type: str,
    output_data: str | bytes,
    output_content_type: str,
    event_id: str | None = None,
    inference_id: str | None = None,
    inference_time: datetime | None = None,
    csv_content_types: tuple[str, ...] = DEFAULT_CSV_CONTENT_TYPES,
    json_content_types: tuple[str, ...] = DEFAULT_JSON_CONTENT_TYPES,
) -> str:
    """One capture line (no trailing newline) for a request/response pair; cheap enough per request.

    Builds the dict directly and dumps it once (no pydantic on this path); key order and compact
    separators match SageMaker's lines. `event_id` defaults to a random UUID, `inference_time`
    to now (UTC, seconds).
    """
    in_enc = encoding_for_content_type(input_content_type, csv_content_types, json_content_types)
    out_enc = encoding_for_content_type(output_content_type, csv_content_types, json_content_types)
    metadata: dict[str, str] = {"eventId": event_id or str(uuid.uuid4())}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = format_capture_time(inference_time or datetime.now(UTC))
    record = {
        "captureData": {
            "endpointInput": _payload(input_data, input_content_type, "INPUT", in_enc),
            "endpointOutput": _payload(output_data, output_content_type, "OUTPUT", out_enc),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def parse_capture_line(line: str) -> CaptureRecord:
    """Parse one capture line; raises CaptureError naming what is wrong."""
    try:
        return CaptureRecord.model_validate_json(line)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<line>"
        raise CaptureError(f"not a data-capture line: {where}: {first['msg']}") from error


def capture_file_relative_path(
    endpoint_name: str, variant_name: str, when: datetime, file_id: str | None = None
) -> str:
    """Where a capture file goes under the capture destination, as SageMaker lays it out:
    `<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<mmm>-<uuid>.jsonl`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    millis = when.microsecond // 1000
    name = f"{when:%M-%S}-{millis:03d}-{file_id or uuid.uuid4()}.jsonl"
    return f"{endpoint_name}/{variant_name}/{when:%Y/%m/%d/%H}/{name}"
