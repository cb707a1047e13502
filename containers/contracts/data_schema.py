"""The data contract: data-schema.json (column -> type, categories, range, required), one checker for
preprocess, the inference server and the monitor, so the three refuse or report the same rows."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA_FILE = "data-schema.json"
ColumnType = Literal["numeric", "integer", "categorical"]
# How many offending rows a message quotes; the count is always complete.
EXAMPLES = 3
# How the server's refusal message starts; local mode tells contract refusals from failures by it.
SCHEMA_REFUSAL = "request breaks the data schema"
# The monitor's report of captured rows that break the schema (beside constraint_violations.json).
SCHEMA_VIOLATIONS_FILE = "data_schema_violations.json"


class DataSchemaError(ValueError):
    """A schema that cannot be used, or data that breaks it; the message names the column (and row)."""


class ColumnSchema(BaseModel):
    """What one column may hold. Missing values are allowed unless `required`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ColumnType
    required: bool = False
    categories: tuple[str, ...] | None = Field(None, min_length=1)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> ColumnSchema:
        if self.categories is not None and self.type != "categorical":
            raise ValueError(f"categories are for categorical columns, not {self.type}")
        if self.type == "categorical" and (self.min is not None or self.max is not None):
            raise ValueError("min/max are for numeric or integer columns")
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise ValueError("min/max must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class DataSchema(BaseModel):
    """Every feature column the data (and each request) must have, by its original name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, ColumnSchema] = Field(min_length=1)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2, sort_keys=True) + "\n"

    def compact_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), separators=(",", ":"), sort_keys=True)

    def renamed(self, mapping: Mapping[str, str]) -> DataSchema:
        """The schema keyed by the model's feature names (preprocess sanitizes column names)."""
        return DataSchema(columns={mapping.get(name, name): column for name, column in self.columns.items()})


def parse_schema(text: str, source: str = SCHEMA_FILE) -> DataSchema:
    """Validate schema JSON text; the error names the source and the first bad key."""
    try:
        return DataSchema.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise DataSchemaError(f"{source}: {where}: {first['msg']}") from error


def load_schema(folder: Path) -> DataSchema | None:
    """The schema shipped in a folder (model artifact, train split), or None: a schema is optional."""
    path = Path(folder) / SCHEMA_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataSchemaError(f"{path}: cannot read ({error.strerror})") from error
    return parse_schema(text, str(path))


@dataclass(frozen=True)
class SchemaViolation:
    """One rule one column breaks: how many rows, which (positions), and what the rule is."""

    column: str
    check: Literal["missing_column", "required", "type", "categories", "range"]
    rows: tuple[int, ...]  # positions of the first offending rows (at most EXAMPLES)
    count: int
    description: str

    def message(self, where: Sequence[str] | None = None) -> str:
        """`column 'x' row 3: ...`; `where` turns row positions into `file:line` for preprocess."""
        if not self.rows:
            return f"column {self.column!r}: {self.description}"
        labels = [where[row] if where is not None else str(row) for row in self.rows]
        more = f" and {self.count - len(self.rows)} more row(s)" if self.count > len(self.rows) else ""
        noun = "at" if where is not None else "row"
        return f"column {self.column!r} {noun} {', '.join(labels)}{more}: {self.description}"


def _positions(mask: Any) -> tuple[tuple[int, ...], int]:
    import numpy as np

    hits = np.flatnonzero(mask)
    return tuple(int(i) for i in hits[:EXAMPLES]), int(hits.size)


def _examples(values: Any, mask: Any) -> str:
    seen: list[str] = []
    for value in values[mask][: EXAMPLES * 4]:
        text = repr(value.item() if hasattr(value, "item") else value)
        if text not in seen:
            seen.append(text)
        if len(seen) == EXAMPLES:
            break
    return ", ".join(seen)


def _number(value: float) -> str:
    """`10`, `0.3`: whole bounds without `.0`, others as the shortest text that reads back exactly
    (`:g` would print 0.029839999999999995 as 0.02984, beside a value of 0.02984 said to exceed it)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _missing(values: Any) -> Any:
    import numpy as np
    import pandas as pd

    if values.dtype.kind == "f":  # the server's numeric columns: no pandas on the request path
        return np.isnan(values)
    missing = np.asarray(pd.isna(values), dtype=bool)
    if values.dtype == object:
        missing |= values == ""
    return missing


def _as_numbers(values: Any) -> Any:
    import numpy as np
    import pandas as pd

    if values.dtype.kind in "fiu":
        return values.astype(np.float64, copy=False)
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=np.float64)


def _outside_categories(values: Any, present: Any, categories: tuple[str, ...]) -> Any:
    import numpy as np

    allowed = frozenset(categories)
    # A set lookup per value: np.isin sorts object arrays, ten times slower on a request's few rows.
    inside = np.fromiter((str(value) in allowed for value in values), dtype=bool, count=len(values))
    return present & ~inside


def check_column(name: str, rule: ColumnSchema, values: Any) -> list[SchemaViolation]:
    """Violations of one column's rule by a 1-D array (numbers, or str/None for text)."""
    import numpy as np

    found: list[SchemaViolation] = []
    values = np.asarray(values)
    missing = _missing(values)
    if rule.required and missing.any():
        rows, count = _positions(missing)
        found.append(SchemaViolation(name, "required", rows, count, "value is required but missing"))
    present = ~missing
    if rule.type == "categorical":
        if rule.categories is not None:
            bad = _outside_categories(values, present, rule.categories)
            if bad.any():
                rows, count = _positions(bad)
                found.append(SchemaViolation(
                    name, "categories", rows, count,
                    f"{_examples(values, bad)} not among the allowed categories {list(rule.categories)}"))
        return found
    numbers = _as_numbers(values)
    finite = np.isfinite(numbers)
    not_number = present & ~finite
    if not_number.any():
        rows, count = _positions(not_number)
        found.append(SchemaViolation(name, "type", rows, count,
                                     f"{_examples(values, not_number)} is not a finite number ({rule.type})"))
    valid = present & finite
    if rule.type == "integer":
        fractional = valid & (np.floor(np.where(valid, numbers, 0.0)) != np.where(valid, numbers, 0.0))
        if fractional.any():
            rows, count = _positions(fractional)
            found.append(SchemaViolation(name, "type", rows, count,
                                         f"{_examples(values, fractional)} is not a whole number (integer)"))
    for bound, word in ((rule.min, "below the minimum"), (rule.max, "above the maximum")):
        if bound is None:
            continue
        bad = valid & ((numbers < bound) if word.startswith("below") else (numbers > bound))
        if bad.any():
            rows, count = _positions(bad)
            found.append(SchemaViolation(name, "range", rows, count,
                                         f"{_examples(values, bad)} is {word} {_number(bound)}"))
    return found


def check_columns(schema: DataSchema, columns: Mapping[str, Any]) -> list[SchemaViolation]:
    """Violations of the whole schema by named columns (a DataFrame or a dict of arrays)."""
    found: list[SchemaViolation] = []
    for name, rule in schema.columns.items():
        if name not in columns:
            found.append(SchemaViolation(name, "missing_column", (), 0, "column required by the data schema is absent"))
            continue
        found += check_column(name, rule, columns[name])
    return found
