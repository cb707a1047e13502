"""Training hyperparameters: SageMaker's all-string hyperparameters.json, typed and validated."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from containers.contracts.model_artifact import ProblemType


class HyperparameterError(ValueError):
    """A hyperparameters.json that is unreadable, has an unknown key or a bad value."""


class Hyperparameters(BaseModel):
    """What the training job accepts; defaults suit small tabular data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(default="target", min_length=1)
    # None: inferred from the target column (see containers.training.train.infer_problem_type).
    problem_type: ProblemType | None = None
    n_estimators: int = Field(default=100, ge=1, le=5000)
    max_depth: int = Field(default=3, ge=1, le=32)
    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    subsample: float = Field(default=1.0, gt=0.0, le=1.0)
    min_samples_leaf: int = Field(default=1, ge=1)
    random_state: int = Field(default=0, ge=0, le=2**32 - 1)


def _unquote(value: Any) -> Any:
    # SageMaker framework estimators JSON-encode each value ('"target"'); generic ones send str(v).
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_hyperparameters(raw: dict[str, Any]) -> Hyperparameters:
    """Type the raw mapping; unknown keys and bad values raise HyperparameterError naming them."""
    known = set(Hyperparameters.model_fields)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {', '.join(repr(k) for k in unknown)}; "
            f"accepted: {', '.join(sorted(known))}"
        )
    values = {key: _unquote(value) for key, value in raw.items()}
    try:
        return Hyperparameters.model_validate(values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            problems.append(f"{key}={values.get(key)!r}: {item['msg']}")
        raise HyperparameterError("bad hyperparameter " + "; ".join(problems)) from error


def parse_hyperparameters_json(text: str, source: str = "hyperparameters.json") -> Hyperparameters:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(raw, dict):
        raise HyperparameterError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    return parse_hyperparameters(raw)
