"""A Condition step's conditions, evaluated as SageMaker does: the comparisons, In, Not and Or (mirrors
sagemaker/workflow/conditions.py). Any other type is refused by name."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from mlops.local.engine.expressions import ExpressionError, Scope, evaluate
from mlops.local.errors import UnsupportedDefinitionError

COMPARISONS = ("Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")
CONDITION_TYPES = (*COMPARISONS, "In", "Not", "Or")


def _comparable(left: Any, right: Any, kind: str) -> tuple[Any, Any]:
    def number(value: Any) -> float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None

    left_number, right_number = number(left), number(right)
    if left_number is not None and right_number is not None and not (
        isinstance(left, str) and isinstance(right, str)
    ):
        if math.isnan(left_number) or math.isnan(right_number):
            raise ExpressionError(f"condition {kind}: cannot compare NaN ({left!r}, {right!r})")
        return left_number, right_number
    if type(left) is type(right):
        return left, right
    raise ExpressionError(f"condition {kind}: cannot compare {left!r} ({type(left).__name__}) "
                          f"with {right!r} ({type(right).__name__})")


def compare(kind: str, left: Any, right: Any) -> bool:
    a, b = _comparable(left, right, kind)
    if kind == "Equals":
        return bool(a == b)
    try:
        if kind == "GreaterThan":
            return bool(a > b)
        if kind == "GreaterThanOrEqualTo":
            return bool(a >= b)
        if kind == "LessThan":
            return bool(a < b)
        if kind == "LessThanOrEqualTo":
            return bool(a <= b)
    except TypeError as error:
        raise ExpressionError(f"condition {kind}: cannot order {left!r} and {right!r}") from error
    raise UnsupportedDefinitionError(f"condition type {kind!r} is not supported")


def condition_holds(condition: Mapping[str, Any], scope: Scope) -> bool:
    """One condition of a Condition step (`Type` plus its operands)."""
    kind = condition.get("Type")
    if kind in COMPARISONS:
        return compare(str(kind), evaluate(condition["LeftValue"], scope), evaluate(condition["RightValue"], scope))
    if kind == "In":
        query = evaluate(condition["QueryValue"], scope)
        values = evaluate(condition["Values"], scope)
        return any(compare("Equals", query, value) for value in values)
    if kind == "Not":
        return not condition_holds(condition["Condition"], scope)
    if kind == "Or":
        return any(condition_holds(item, scope) for item in condition["Conditions"])
    raise UnsupportedDefinitionError(
        f"condition type {kind!r} is not supported (supported: {', '.join(CONDITION_TYPES)})"
    )


def condition_types_in(condition: Mapping[str, Any]) -> Iterator[str]:
    kind = str(condition.get("Type"))
    yield kind
    if kind == "Not" and isinstance(condition.get("Condition"), Mapping):
        yield from condition_types_in(condition["Condition"])
    if kind == "Or":
        for item in condition.get("Conditions", []):
            yield from condition_types_in(item)
