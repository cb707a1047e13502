"""Ground-truth uploads and the merged capture + ground-truth records model-quality monitoring reads.

Upload contract (AWS developer guide, model-monitor-model-quality-merge): one JSON object per line,
`{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "<id>"},
"eventVersion": "0"}`, stored under `<ground truth prefix>/yyyy/mm/dd/hh/` (the hour the labels were
collected). `eventId` names the captured request: its `inferenceId` when the caller set one
(InvokeEndpoint's InferenceId), otherwise its `eventId`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from containers.contracts.capture import CaptureData, CaptureRecord, EventMetadata


class GroundTruthError(ValueError):
    """A ground-truth or merged line that is not valid JSON or lacks a required key."""


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow", frozen=True)


class GroundTruthData(_Model):
    data: str
    encoding: str = "CSV"


class GroundTruthMetadata(_Model):
    event_id: str = Field(alias="eventId")


class GroundTruthRecord(_Model):
    """One uploaded label line."""

    ground_truth_data: GroundTruthData = Field(alias="groundTruthData")
    event_metadata: GroundTruthMetadata = Field(alias="eventMetadata")
    event_version: str = Field(default="0", alias="eventVersion")


class MergedRecord(_Model):
    """A captured request with its ground truth, as the merge job writes it (key order kept)."""

    event_version: str = Field(default="0", alias="eventVersion")
    ground_truth_data: GroundTruthData = Field(alias="groundTruthData")
    capture_data: CaptureData = Field(alias="captureData")
    event_metadata: EventMetadata = Field(alias="eventMetadata")

    def to_line(self) -> str:
        """Compact JSON in the merge job's key order (its payload keys are alphabetical)."""
        sides = {}
        for name, payload in (
            ("endpointInput", self.capture_data.endpoint_input),
            ("endpointOutput", self.capture_data.endpoint_output),
        ):
            if payload is not None:
                sides[name] = {
                    "data": payload.data,
                    "encoding": payload.encoding,
                    "mode": payload.mode,
                    "observedContentType": payload.observed_content_type,
                }
        record = {
            "eventVersion": self.event_version,
            "groundTruthData": self.ground_truth_data.model_dump(by_alias=True),
            "captureData": sides,
            "eventMetadata": self.event_metadata.model_dump(by_alias=True, exclude_none=True),
        }
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "<line>"
    return f"{where}: {first['msg']}"


def parse_ground_truth_line(line: str) -> GroundTruthRecord:
    try:
        return GroundTruthRecord.model_validate_json(line)
    except ValidationError as error:
        raise GroundTruthError(f"not a ground-truth line: {_first_problem(error)}") from error


def parse_merged_line(line: str) -> MergedRecord:
    try:
        return MergedRecord.model_validate_json(line)
    except ValidationError as error:
        raise GroundTruthError(f"not a merged capture + ground-truth line: {_first_problem(error)}") from error


def merge_key(record: CaptureRecord) -> str:
    """What a ground-truth line's `eventId` must equal: the inferenceId if set, else the eventId."""
    metadata = record.event_metadata
    return metadata.inference_id or metadata.event_id


def merge_record(capture: CaptureRecord, ground_truth: GroundTruthRecord) -> MergedRecord:
    return MergedRecord(
        event_version=capture.event_version,
        ground_truth_data=ground_truth.ground_truth_data,
        capture_data=capture.capture_data,
        event_metadata=capture.event_metadata,
    )


def encode_ground_truth_line(data: str, event_id: str, encoding: str = "CSV") -> str:
    """One upload line (no newline) in the documented key order."""
    record = {
        "groundTruthData": {"data": data, "encoding": encoding},
        "eventMetadata": {"eventId": event_id},
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def ground_truth_relative_path(when: datetime, name: str) -> str:
    """Where an upload goes under the ground-truth prefix: `yyyy/mm/dd/hh/<name>`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return f"{when.astimezone(UTC):%Y/%m/%d/%H}/{name}"
