"""Batch transform's record handling, as SageMaker does it around the model container.

Records come from splitting each input object (`SplitType` None or Line); `BatchStrategy` packs them
into requests (one each, or as many lines as fit `MaxPayloadInMB`); `DataProcessing` selects part of
each input record (`InputFilter`), joins the input record to its prediction (`JoinSource: Input`) and
selects part of the result (`OutputFilter`), with SageMaker's JSONPath subset: `$`, `$.key`,
`$['a','b']`, `$[1]`, `$[1:]`, `$[0,-1]`, `$[1,3:5]`. A CSV record is a JSON array of its fields;
a joined JSON object gets the prediction as `SageMakerOutput`. Outputs are assembled per input object
(`AssembleWith` Line: one line per record, None: as returned).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.local.errors import UnsupportedDefinitionError

CSV = "text/csv"
JSON_TYPES = ("application/json", "application/jsonlines")
JOINED_OUTPUT_KEY = "SageMakerOutput"
SPLIT_TYPES = ("None", "Line")
BATCH_STRATEGIES = ("SingleRecord", "MultiRecord")
ASSEMBLE_WITH = ("None", "Line")
_STEP = re.compile(r"\.(?P<key>[A-Za-z_][\w-]*)|\[(?P<items>[^\]]+)\]")
_SLICE = re.compile(r"^(-?\d*):(-?\d*)$")


class RecordError(ValueError):
    """A record the filters or the join cannot handle (the transform job fails with it)."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed JSONPath of SageMaker's subset: steps of keys, or one bracket of indexes/slices/keys."""

    text: str
    steps: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        source = text.strip()
        if not source.startswith("$"):
            raise UnsupportedDefinitionError(f"JSONPath {text!r} must start with '$'")
        steps: list[tuple[str, tuple[Any, ...]]] = []
        position = 1
        while position < len(source):
            match = _STEP.match(source, position)
            if match is None:
                raise UnsupportedDefinitionError(
                    f"JSONPath {text!r}: only $, .key and [index, start:end, 'key', ...] are supported "
                    "(SageMaker's batch transform subset)")
            if match.group("key"):
                steps.append(("key", (match.group("key"),)))
            else:
                steps.append(("items", tuple(_item(part.strip(), text) for part in match.group("items").split(","))))
            position = match.end()
        return cls(text=text, steps=tuple(steps))

    def select(self, value: Any) -> Any:
        for kind, items in self.steps:
            if kind == "key":
                value = _key(value, items[0], self.text)
                continue
            if len(items) == 1 and not isinstance(items[0], slice):
                value = _key(value, items[0], self.text) if isinstance(items[0], str) else _index(
                    value, items[0], self.text)
                continue
            if all(isinstance(item, str) for item in items):
                value = {item: _key(value, item, self.text) for item in items}
                continue
            if not isinstance(value, list):
                raise RecordError(f"{self.text}: indexes apply to an array, the record is {type(value).__name__}")
            picked: list[Any] = []
            for item in items:
                if isinstance(item, slice):
                    picked.extend(value[item])
                else:
                    picked.append(_index(value, item, self.text))
            value = picked
        return value


def _item(part: str, text: str) -> Any:
    if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
        return part[1:-1]
    match = _SLICE.match(part)
    if match:
        start, end = (int(value) if value not in ("", "-") else None for value in match.groups())
        return slice(start, end)
    try:
        return int(part)
    except ValueError:
        raise UnsupportedDefinitionError(f"JSONPath {text!r}: {part!r} is not an index, a slice or a quoted key") \
            from None


def _key(value: Any, key: str, text: str) -> Any:
    if not isinstance(value, dict) or key not in value:
        raise RecordError(f"{text}: the record has no key {key!r}")
    return value[key]


def _index(value: Any, index: int, text: str) -> Any:
    if not isinstance(value, list):
        raise RecordError(f"{text}: indexes apply to an array, the record is {type(value).__name__}")
    try:
        return value[index]
    except IndexError:
        raise RecordError(f"{text}: index {index} is outside a record of {len(value)} field(s)") from None


def media(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def split_records(data: bytes, split_type: str) -> list[bytes]:
    """`SplitType` None: the object is one record; Line: each non-empty line (without its newline)."""
    if split_type == "None":
        return [data] if data else []
    return [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]


def batches(records: Sequence[bytes], strategy: str, max_payload_bytes: int) -> Iterator[list[bytes]]:
    """Requests: one record each, or as many newline-joined records as fit the payload limit."""
    if strategy == "SingleRecord":
        for record in records:
            yield [record]
        return
    batch: list[bytes] = []
    size = 0
    for record in records:
        if batch and size + len(record) + 1 > max_payload_bytes:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record) + 1
    if batch:
        yield batch


def parse_record(record: bytes, content_type: str) -> Any:
    kind = media(content_type)
    text = record.decode("utf-8")
    if kind == CSV:
        return next(csv.reader([text]), [])
    if kind in JSON_TYPES:
        try:
            return json.loads(text)
        except ValueError as error:
            raise RecordError(f"a record is not JSON ({error})") from None
    raise RecordError(f"cannot filter or join records of content type {content_type!r}")


def render_record(value: Any, content_type: str) -> bytes:
    if media(content_type) == CSV:
        fields = value if isinstance(value, list) else [value]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(fields)
        return buffer.getvalue().encode()
    return json.dumps(value, separators=(",", ":")).encode()


def filtered_input(record: bytes, content_type: str, input_filter: JsonPath | None) -> bytes:
    if input_filter is None or input_filter.text.strip() == "$":
        return record
    return render_record(input_filter.select(parse_record(record, content_type)), content_type)


def joined_output(record: bytes, output: bytes, content_type: str, accept: str, *, join_input: bool,
                  output_filter: JsonPath | None) -> bytes:
    """One record's output, joined to its (unfiltered) input record and filtered as DataProcessing says."""
    if not join_input and (output_filter is None or output_filter.text.strip() == "$"):
        return output
    if join_input:
        source = parse_record(record, content_type)
        result = parse_record(output, accept)
        if media(content_type) == CSV:
            joined: Any = [*source, *(result if isinstance(result, list) else [result])]
        elif isinstance(source, dict):
            joined = {**source, JOINED_OUTPUT_KEY: result}
        elif isinstance(source, list):
            joined = [*source, result]
        else:
            raise RecordError("JoinSource Input needs a JSON object or array as the input record")
        kind = content_type
    else:
        joined, kind = parse_record(output, accept), accept
    if output_filter is not None:
        joined = output_filter.select(joined)
    return render_record(joined, kind)


def check_data_processing(processing: dict[str, Any], content_type: str, accept: str, step: str) -> None:
    """Before the run: the filters parse, and a join is between formats SageMaker joins."""
    for key in ("InputFilter", "OutputFilter"):
        if processing.get(key) is not None:
            JsonPath.parse(str(processing[key]))
    join = processing.get("JoinSource", "None")
    if join not in ("None", "Input"):
        raise UnsupportedDefinitionError(f"step {step}: JoinSource {join!r} (supported: None, Input)")
    uses_records = join == "Input" or any(str(processing.get(key) or "$").strip() != "$"
                                          for key in ("InputFilter", "OutputFilter"))
    if uses_records:
        for name, value in (("ContentType", content_type), ("Accept", accept)):
            if media(value) not in (CSV, *JSON_TYPES):
                raise UnsupportedDefinitionError(
                    f"step {step}: DataProcessing needs CSV or JSON records, and {name} is {value!r}")
    if join == "Input" and (media(content_type) == CSV) != (media(accept) == CSV):
        raise UnsupportedDefinitionError(
            f"step {step}: JoinSource Input between {content_type!r} input and {accept!r} output is not emulated")
