"""The merge of captured requests with uploaded ground truth (what Model Monitor's merge job does).

Only captures in the job's window that have a label are kept; a label matches a capture whose
`inferenceId` (or, without one, `eventId`) equals the label's `eventMetadata.eventId`. When the
same id was uploaded twice, the later file (in path order) wins, as a correction would.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from containers.contracts.capture import CaptureRecord, parse_capture_time
from containers.contracts.ground_truth import (
    GroundTruthError,
    GroundTruthRecord,
    MergedRecord,
    merge_key,
    merge_record,
    parse_ground_truth_line,
    parse_merged_line,
)
from containers.monitor.errors import MonitorError
from containers.monitor.reader import list_capture_files, read_capture_records


def read_ground_truth(source: Path) -> dict[str, GroundTruthRecord]:
    """Every upload under `source` (`*.jsonl`, any depth), by event id."""
    if not source.is_dir():
        raise MonitorError(f"ground_truth_source {source} does not exist or is not a folder")
    labels: dict[str, GroundTruthRecord] = {}
    for path in sorted(source.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = parse_ground_truth_line(line)
                except GroundTruthError as error:
                    raise MonitorError(f"{path}:{number}: {error}") from error
                labels[record.event_metadata.event_id] = record
    return labels


def merge_with_ground_truth(
    captures: Iterable[CaptureRecord], labels: dict[str, GroundTruthRecord]
) -> Iterator[MergedRecord]:
    for capture in captures:
        label = labels.get(merge_key(capture))
        if label is not None:
            yield merge_record(capture, label)


def merged_from_capture(
    capture_source: Path, ground_truth_source: Path, start: datetime | None, end: datetime | None
) -> list[MergedRecord]:
    files = list_capture_files(capture_source, start, end)
    labels = read_ground_truth(ground_truth_source)
    merged = list(merge_with_ground_truth(read_capture_records(files, start, end), labels))
    if not merged:
        raise MonitorError(
            f"no captured request in the window has ground truth under {ground_truth_source} "
            "(labels join on the capture's inferenceId, or eventId when it has none)"
        )
    return merged


def read_merged(source: Path, start: datetime | None, end: datetime | None) -> list[MergedRecord]:
    """Merged records (`sagemakerMergeJson`) under `source` whose inferenceTime is in [start, end)."""
    records = []
    for path in list_capture_files(source, start, end):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = parse_merged_line(line)
                except GroundTruthError as error:
                    raise MonitorError(f"{path}:{number}: {error}") from error
                when = parse_capture_time(record.event_metadata.inference_time)
                if (start and when < start) or (end and when >= end):
                    continue
                records.append(record)
    if not records:
        raise MonitorError(f"no merged capture + ground-truth records in the window under dataset_source {source}")
    return records


def write_merged(folder: Path, endpoint: str, variant: str, records: Iterable[MergedRecord]) -> list[Path]:
    """The merge output layout: `<folder>/<endpoint>/<variant>/yyyy/mm/dd/hh/merged.jsonl`."""
    by_hour: dict[str, list[str]] = {}
    for record in records:
        when = parse_capture_time(record.event_metadata.inference_time)
        by_hour.setdefault(f"{when:%Y/%m/%d/%H}", []).append(record.to_line())
    written = []
    for hour, lines in sorted(by_hour.items()):
        path = folder / endpoint / variant / hour / "merged.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        written.append(path)
    return written
