"""The data contract in monitoring: captured requests checked against the model's data-schema.json.

The job finds the schema through the `data_schema` environment variable (a file, or a folder holding
data-schema.json: the unpacked model artifact); without it, monitoring is what it was. Violations go to
data_schema_violations.json beside constraint_violations.json, in the same shape plus counts, because
SageMaker's check types have no range or allowed-category rule of a declared contract.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from containers.contracts.data_schema import (
    SCHEMA_FILE,
    SCHEMA_VIOLATIONS_FILE,
    DataSchema,
    DataSchemaError,
    check_columns,
    parse_schema,
)
from containers.monitor.errors import MonitorError

SCHEMA_ENVIRONMENT_KEY = "data_schema"


def schema_from_environ(environ: Mapping[str, str]) -> DataSchema | None:
    value = environ.get(SCHEMA_ENVIRONMENT_KEY, "").strip()
    if not value:
        return None
    path = Path(value)
    if path.is_dir():
        path = path / SCHEMA_FILE
    try:
        return parse_schema(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise MonitorError(f"{SCHEMA_ENVIRONMENT_KEY} file {path} cannot be read: {error.strerror}") from error
    except DataSchemaError as error:
        raise MonitorError(str(error)) from error


def schema_violations(frame: Any, schema: DataSchema) -> list[dict[str, Any]]:
    """One record per broken rule: feature, check, description, how many rows, the first rows."""
    return [
        {
            "feature_name": violation.column,
            "constraint_check_type": f"data_schema_{violation.check}_check",
            "description": violation.message(),
            "row_count": violation.count,
            "example_rows": list(violation.rows),
        }
        for violation in check_columns(schema, frame)
    ]


def report_schema_violations(frame: Any, schema: DataSchema | None, output_path: Path) -> int:
    """Write data_schema_violations.json (when a schema is given) and return how many rules broke."""
    if schema is None:
        return 0
    found = schema_violations(frame, schema)
    output_path.mkdir(parents=True, exist_ok=True)
    (output_path / SCHEMA_VIOLATIONS_FILE).write_text(json.dumps({"violations": found}, indent=2) + "\n",
                                                      encoding="utf-8")
    print(f"Data schema: {len(found)} violation(s) in {len(frame)} captured rows", flush=True)
    return len(found)
