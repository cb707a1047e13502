"""The data contract at serving: requests are checked against the data-schema.json the model ships."""

from __future__ import annotations

from typing import Any

from containers.contracts.data_schema import SCHEMA_REFUSAL, DataSchema, check_columns
from containers.inference.codec import BadRequestError, FeatureLayout, RowBatch


class SchemaGuard:
    """Refuses a batch that breaks the schema with 400 naming the column and the row."""

    def __init__(self, schema: DataSchema, layout: FeatureLayout):
        unknown = sorted(set(schema.columns) - set(layout.names))
        if unknown:
            raise ValueError(f"data-schema.json names column(s) {unknown} the model does not take")
        self.schema = schema
        self.layout = layout

    def columns(self, batch: RowBatch) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for k, position in enumerate(self.layout.numeric):
            found[self.layout.names[position]] = batch.numeric[:, k]
        for k, position in enumerate(self.layout.categorical):
            found[self.layout.names[position]] = batch.categorical[:, k]
        return found

    def check(self, batch: RowBatch) -> None:
        violations = check_columns(self.schema, self.columns(batch))
        if violations:
            first = violations[0]
            message = "; ".join(violation.message() for violation in violations)
            raise BadRequestError(400, f"{SCHEMA_REFUSAL}: {message}",
                                  row=first.rows[0] if first.rows else None, column=first.column)
