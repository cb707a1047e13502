"""data.schema in the Preprocess step: read the argument, check the raw data, leave the schema for training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from containers.contracts.data_schema import SCHEMA_FILE, DataSchema, DataSchemaError, check_columns, parse_schema
from pipelines.steps.job import StepError


def schema_problems(data: pd.DataFrame, schema: DataSchema, target: str, locations: list[str]) -> list[str]:
    """The data contract (`data.schema`): every column listed, every value within its rule."""
    unlisted = [str(column) for column in data.columns if str(column) not in schema.columns and str(column) != target]
    problems = [f"column {name!r} is not in data.schema; add it to the schema or drop it from the data"
                for name in unlisted]
    columns = {str(name): data[name].to_numpy() for name in data.columns}
    problems += [violation.message(locations) for violation in check_columns(schema, columns)]
    return problems


def write_schema(schema: DataSchema, mapping: dict[str, str], train_folder: Path) -> None:
    """The schema in feature names, beside train.csv: training ships it in the model artifact."""
    features = DataSchema(columns={name: rule for name, rule in schema.columns.items() if name in mapping})
    (train_folder / SCHEMA_FILE).write_text(features.renamed(mapping).to_json(), encoding="utf-8")


def schema_argument(chunks: Sequence[str]) -> DataSchema | None:
    """`--data-schema` given once or in pieces (a processing job's arguments are 256 characters each)."""
    if not chunks:
        return None
    try:
        return parse_schema("".join(chunks), "--data-schema")
    except DataSchemaError as exc:
        raise StepError(str(exc)) from exc
