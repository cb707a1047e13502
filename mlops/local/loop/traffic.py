"""Replay traffic: the test split as request rows, a drifted copy with some features moved, and the
test rows' labels as ground-truth uploads for the requests that carried them."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops.local.errors import LocalModeError

# The drifted sample moves each chosen numeric feature by this many standard deviations and widens
# its spread by this factor: far enough that drift shows even mixed 1:1 with normal traffic.
SHIFT_IN_STD = 2.0
SCALE = 1.5
MAX_DRIFTED_FEATURES = 3
MAX_REPLAY_ROWS = 2000
ROWS_PER_REQUEST = 10


@dataclass(frozen=True)
class Feature:
    name: str
    type: str  # "numeric" | "categorical"


@dataclass(frozen=True)
class DriftedFeature:
    name: str
    how: str


def read_rows(test_csv: Path, features: Sequence[Feature], limit: int = MAX_REPLAY_ROWS) -> list[list[str]]:
    """The features of the test split (header row, target first) in the model's inference order."""
    files = [test_csv] if test_csv.is_file() else sorted(test_csv.rglob("*.csv"))
    rows: list[list[str]] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            missing = [feature.name for feature in features if feature.name not in header]
            if missing:
                raise LocalModeError(
                    f"{path}: the served model expects column(s) {', '.join(missing)}, which the test split lacks"
                )
            positions = [header.index(feature.name) for feature in features]
            for line in reader:
                rows.append([line[position] if position < len(line) else "" for position in positions])
                if len(rows) >= limit:
                    return rows
    if not rows:
        raise LocalModeError(f"{test_csv}: the test split has no rows to replay")
    return rows


def read_labels(test_csv: Path, target: str, limit: int = MAX_REPLAY_ROWS) -> list[str]:
    """The target column of the test split, row for row in the order read_rows reads the features."""
    files = [test_csv] if test_csv.is_file() else sorted(test_csv.rglob("*.csv"))
    labels: list[str] = []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if target not in header:
                raise LocalModeError(f"{path}: the test split has no target column {target!r} to label requests with")
            position = header.index(target)
            for number, line in enumerate(reader, start=2):
                if position >= len(line) or line[position] == "":
                    raise LocalModeError(f"{path}: row {number} has no {target!r} label")
                labels.append(line[position])
                if len(labels) >= limit:
                    return labels
    return labels


def ground_truth_lines(labels: Sequence[str], inference_ids: Sequence[str],
                       rows_per_request: int = ROWS_PER_REQUEST) -> str:
    """SageMaker's ground-truth upload, one JSON line per request: its rows' labels as CSV (one per
    line, as the request sent its rows) keyed by the request's inference id."""
    lines = []
    for index, start in enumerate(range(0, len(labels), rows_per_request)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([label] for label in labels[start:start + rows_per_request])
        lines.append(json.dumps({"groundTruthData": {"data": buffer.getvalue().rstrip("\n"), "encoding": "CSV"},
                                 "eventMetadata": {"eventId": inference_ids[index]}, "eventVersion": "0"},
                                separators=(",", ":")))
    return "".join(line + "\n" for line in lines)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def drifted(rows: Sequence[Sequence[str]], features: Sequence[Feature],
            count: int = MAX_DRIFTED_FEATURES) -> tuple[list[list[str]], list[DriftedFeature]]:
    """A copy of `rows` with up to `count` numeric features shifted and scaled (the first ones in
    inference order); with no numeric feature, the first categorical one collapses onto its rarest value."""
    copy = [list(row) for row in rows]
    changed: list[DriftedFeature] = []
    for index, feature in enumerate(features):
        if feature.type != "numeric" or len(changed) >= count:
            continue
        values = [value for value in (_number(row[index]) for row in copy) if value is not None]
        if len(values) < 2:
            continue
        mean, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
        for row in copy:
            value = _number(row[index])
            if value is not None:
                row[index] = repr(mean + (value - mean) * SCALE + SHIFT_IN_STD * spread)
        changed.append(DriftedFeature(feature.name, f"shifted +{SHIFT_IN_STD:g} sd, spread x{SCALE:g}"))
    if not changed:
        for index, feature in enumerate(features):
            counts = Counter(row[index] for row in copy if row[index] != "")
            if feature.type == "categorical" and counts:
                rarest = min(counts, key=lambda value: (counts[value], value))
                for row in copy:
                    row[index] = rarest
                changed.append(DriftedFeature(feature.name, f"every value set to {rarest!r}"))
                break
    return copy, changed


def for_capture(rows: Sequence[Sequence[str]], capture_percent: float,
                limit: int = MAX_REPLAY_ROWS) -> list[list[str]]:
    """The rows repeated (in order) so that sampled capture still keeps about one copy of each:
    at 20 % capture every row is sent five times. Up to `limit` rows."""
    fraction = max(min(capture_percent, 100.0), 1.0) / 100.0
    count = min(limit, max(len(rows), math.ceil(len(rows) / fraction)))
    return [list(rows[index % len(rows)]) for index in range(count)] if rows else []


def csv_payloads(rows: Sequence[Sequence[str]], rows_per_request: int = ROWS_PER_REQUEST) -> list[bytes]:
    """Request bodies: CSV without a header, a few rows each."""
    payloads = []
    for start in range(0, len(rows), rows_per_request):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows[start:start + rows_per_request])
        payloads.append(buffer.getvalue().encode("utf-8"))
    return payloads
