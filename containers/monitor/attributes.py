"""Locating predictions, probabilities and labels in a payload: a CSV column index or a JSON path.

The SDK documents `inference_attribute`, `probability_attribute` and `ground_truth_attribute` as
"index or JSONpath": `0` picks the first CSV column of every line; `predictions[*].score` walks a
JSON document (`name`, `[*]` for every item of a list, `[n]` for one item). Unset, a CSV payload
gives its first column and a JSON payload must itself be a value or a list of values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from containers.monitor.errors import MonitorError

_STEP = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)")


def csv_column(text: str, attribute: str | None, key: str, where: str) -> list[str]:
    """The attribute's column of every non-empty CSV line."""
    index = 0
    if attribute is not None:
        if not attribute.strip().isdigit():
            raise MonitorError(f"{key} {attribute!r} must be a 0-based column index for CSV data ({where})")
        index = int(attribute)
    values = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        cells = line.split(",")
        if index >= len(cells):
            raise MonitorError(f"{where}: line {number} has {len(cells)} columns, {key} asks for column {index}")
        values.append(cells[index].strip())
    return values


def json_path_values(document: Any, path: str, key: str, where: str) -> list[Any]:
    """Every value `path` reaches in `document` (a list: `[*]` fans out)."""
    current: list[Any] = [document]
    for match in _STEP.finditer(path):
        index, name = match.groups()
        found: list[Any] = []
        for item in current:
            if name is not None:
                if not isinstance(item, dict) or name not in item:
                    raise MonitorError(f"{where}: {key} {path!r}: no key {name!r} in the payload")
                found.append(item[name])
            elif index == "*":
                if not isinstance(item, list):
                    raise MonitorError(f"{where}: {key} {path!r}: [*] applied to a non-list")
                found.extend(item)
            else:
                if not isinstance(item, list) or int(index) >= len(item):
                    raise MonitorError(f"{where}: {key} {path!r}: no item [{index}]")
                found.append(item[int(index)])
        current = found
    return current


def json_values(text: str, content_type: str, attribute: str | None, key: str, where: str) -> list[Any]:
    """Values of a JSON (or JSON-lines) payload at the attribute's path."""
    try:
        if "jsonlines" in content_type:
            documents = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            documents = [json.loads(text)]
    except json.JSONDecodeError as error:
        raise MonitorError(f"{where}: payload is not valid JSON: {error}") from error
    values: list[Any] = []
    for document in documents:
        if attribute is not None:
            values.extend(json_path_values(document, attribute, key, where))
        elif isinstance(document, list):
            values.extend(document)
        elif isinstance(document, dict):
            raise MonitorError(f"{where}: the JSON payload is an object; set {key} (e.g. predictions[*].score)")
        else:
            values.append(document)
    return values


def payload_values(
    text: str, encoding: str, content_type: str, attribute: str | None, *, key: str, where: str
) -> list[Any]:
    media = content_type.split(";", 1)[0].strip().lower()
    if encoding == "CSV" or media == "text/csv":
        return list(csv_column(text, attribute, key, where))
    return json_values(text, content_type, attribute, key, where)


def label_text(value: Any) -> str:
    """A class label as text, the same whichever way it was written: 1, 1.0, "1" and "1.0" -> "1"."""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return text


def number(value: Any, key: str, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise MonitorError(f"{where}: {key} value {value!r} is not a number") from error
