"""Training hyperparameters: SageMaker's all-string hyperparameters.json, split into what the trainer
reads itself (target, problem type, estimator) and what it hands to the estimator."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from containers.contracts.model_artifact import ProblemType
from containers.training.estimators import DEFAULT_ESTIMATOR, RESERVED_HYPERPARAMETERS, check_reference_syntax


class HyperparameterError(ValueError):
    """A hyperparameters.json that is unreadable or has a bad value for a key the trainer reads."""


class Hyperparameters(BaseModel):
    """The trainer's own keys, typed; every other key is the estimator's and is checked by it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(default="target", min_length=1)
    # None: inferred from the target column (see containers.training.train.infer_problem_type).
    problem_type: ProblemType | None = None
    estimator: str = Field(default=DEFAULT_ESTIMATOR, min_length=1)
    # The estimator's hyperparameters as SageMaker sent them (strings); estimators.build_estimator types them.
    estimator_hyperparameters: dict[str, Any] = Field(default_factory=dict)


def _unquote(value: Any) -> Any:
    # SageMaker framework estimators JSON-encode each value ('"target"'); generic ones send str(v).
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def parse_hyperparameters(raw: dict[str, Any]) -> Hyperparameters:
    """Type the trainer's keys; bad values raise HyperparameterError naming them. Keys SageMaker
    reserves (`sagemaker_*`, e.g. sagemaker_program) are not the estimator's."""
    values = {key: _unquote(value) for key, value in raw.items()}
    own = {key: values[key] for key in RESERVED_HYPERPARAMETERS if key in values}
    rest = {key: value for key, value in values.items()
            if key not in RESERVED_HYPERPARAMETERS and not key.startswith("sagemaker_")}
    try:
        params = Hyperparameters.model_validate({**own, "estimator_hyperparameters": rest})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            problems.append(f"{key}={values.get(key)!r}: {item['msg']}")
        raise HyperparameterError("bad hyperparameter " + "; ".join(problems)) from error
    try:
        check_reference_syntax(params.estimator)
    except ValueError as error:
        raise HyperparameterError(str(error)) from error
    return params


def parse_hyperparameters_json(text: str, source: str = "hyperparameters.json") -> Hyperparameters:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise HyperparameterError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(raw, dict):
        raise HyperparameterError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    return parse_hyperparameters(raw)
