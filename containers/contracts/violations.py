"""constraint_violations.json: what a data-quality monitoring run found wrong with the live data."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

# The data-quality check types the analyzer documents.
CheckType = Literal[
    "data_type_check",
    "completeness_check",
    "baseline_drift_check",
    "missing_column_check",
    "extra_column_check",
    "categorical_values_check",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Violation(_Model):
    feature_name: str
    constraint_check_type: CheckType
    description: str


class ConstraintViolations(_Model):
    violations: list[Violation]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True)


def parse_violations(text: str | bytes) -> ConstraintViolations:
    """Parse constraint_violations.json text (raises pydantic.ValidationError naming the bad key)."""
    return ConstraintViolations.model_validate_json(text)
