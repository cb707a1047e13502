"""Pipeline parameters: each declared parameter's value from an override or its default, converted to
its declared Type as SageMaker converts it (mirrors sagemaker/workflow/parameters.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops.local.engine.expressions import ExpressionError
from mlops.local.errors import UnsupportedDefinitionError

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")


def convert_parameter(name: str, kind: str, value: Any) -> Any:
    """A parameter value as its declared Type; ExpressionError naming the parameter otherwise."""
    text = value if isinstance(value, str) else json.dumps(value)
    if kind == "String":
        return value if isinstance(value, str) else text
    if kind == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(text.strip())
        except ValueError:
            raise ExpressionError(f"parameter {name!r} is an Integer; {value!r} is not a whole number") from None
    if kind == "Float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            number = float(text.strip())
        except ValueError:
            raise ExpressionError(f"parameter {name!r} is a Float; {value!r} is not a number") from None
        if not math.isfinite(number):
            raise ExpressionError(f"parameter {name!r} is a Float; {value!r} is not a finite number")
        return number
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise ExpressionError(f"parameter {name!r} is a Boolean; use true or false, not {value!r}")
    raise UnsupportedDefinitionError(
        f"parameter {name!r} has type {kind!r} (supported: {', '.join(PARAMETER_TYPES)})"
    )


def resolve_parameters(declared: Sequence[Mapping[str, Any]], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Every declared parameter's value: the override converted to its Type, else its default."""
    names = [str(item["Name"]) for item in declared]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ExpressionError(
            f"--param {unknown[0]!r} is not a pipeline parameter; known: {', '.join(names)}"
        )
    values: dict[str, Any] = {}
    for item in declared:
        name, kind = str(item["Name"]), str(item.get("Type", "String"))
        if name in overrides:
            value = convert_parameter(name, kind, overrides[name])
        elif "DefaultValue" in item:
            value = convert_parameter(name, kind, item["DefaultValue"])
        else:
            raise ExpressionError(f"parameter {name!r} has no default; give it with --param {name}=VALUE")
        allowed = item.get("EnumValues")
        if allowed and value not in allowed:
            raise ExpressionError(f"parameter {name!r} must be one of {', '.join(map(str, allowed))}; got {value!r}")
        values[name] = value
    return values
