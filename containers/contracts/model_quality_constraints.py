"""Model-quality constraints.json and constraint_violations.json (the `*_constraints` shapes).

Constraints: `{"version": 0.0, "regression_constraints": {"mae": {"threshold": x,
"comparison_operator": "GreaterThanThreshold"}, ...}}` (SDK quality_check_step test data).
Violations: `{"constraint_check_type": "LessThanThreshold", "description": "Metric auc with
0.515453080147537 +/- 8.080858763541535E-4 was LessThanThreshold '0.9395127993393898'",
"metric_name": "auc"}`; inside violations the metric names are camelCase (`truePositiveRate`).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

ComparisonOperator = Literal["LessThanThreshold", "GreaterThanThreshold"]

CONSTRAINTS_KEYS: dict[str, str] = {
    "BinaryClassification": "binary_classification_constraints",
    "MulticlassClassification": "multiclass_classification_constraints",
    "Regression": "regression_constraints",
}


class ModelQualityContractError(ValueError):
    """A model-quality constraints or violations file that does not have the documented shape."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricConstraint(_Model):
    threshold: float
    comparison_operator: ComparisonOperator


class ModelQualityConstraints(_Model):
    version: float = 0.0
    binary_classification_constraints: dict[str, MetricConstraint] | None = None
    multiclass_classification_constraints: dict[str, MetricConstraint] | None = None
    regression_constraints: dict[str, MetricConstraint] | None = None

    @model_validator(mode="after")
    def _exactly_one_section(self) -> ModelQualityConstraints:
        present = [key for key in CONSTRAINTS_KEYS.values() if getattr(self, key) is not None]
        if len(present) != 1:
            raise ValueError(f"expected exactly one of {sorted(CONSTRAINTS_KEYS.values())}, found {present}")
        return self

    @property
    def constraints_key(self) -> str:
        return next(key for key in CONSTRAINTS_KEYS.values() if getattr(self, key) is not None)

    @property
    def metrics(self) -> dict[str, MetricConstraint]:
        found: dict[str, MetricConstraint] = getattr(self, self.constraints_key)
        return found

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2) + "\n"


class ModelQualityViolation(_Model):
    constraint_check_type: ComparisonOperator
    description: str
    metric_name: str


class ModelQualityViolations(_Model):
    violations: list[ModelQualityViolation]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def parse_model_quality_constraints(text: str | bytes, source: str = "constraints file") -> ModelQualityConstraints:
    try:
        return ModelQualityConstraints.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<document>"
        raise ModelQualityContractError(f"{source}: not model-quality constraints: {where}: {first['msg']}") from error


def parse_model_quality_violations(text: str | bytes) -> ModelQualityViolations:
    return ModelQualityViolations.model_validate_json(text)


def camel_case(name: str) -> str:
    """`true_positive_rate` -> `truePositiveRate`; an underscore before a digit stays (`f0_5`)."""
    head, *rest = name.split("_")
    out = head
    for part in rest:
        out += part[:1].upper() + part[1:] if part[:1].isalpha() else "_" + part
    return out


def java_double(value: float | str) -> str:
    """A double as Java's Double.toString writes it (the analyzer is Scala): `0.5`, `1.0`,
    `8.080858763541535E-4`, `1.2E7`; "NaN" stays "NaN"."""
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(str(digit) for digit in digits)
    power = exponent + len(text) - 1
    mantissa = text[0] + "." + (text[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{power}"


def violation_description(metric: str, value: float, spread: float | str, operator: str, threshold: float) -> str:
    return (
        f"Metric {camel_case(metric)} with {java_double(value)} +/- {java_double(spread)} "
        f"was {operator} '{java_double(threshold)}'"
    )
